package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store"
)

// hostile are headers of the client's request that must not reach the
// upstream: its credentials, hop-by-hop headers (one named by Connection)
// and its own X- headers.
var hostile = []string{
	"Cookie", "session=client-cookie",
	"Connection", "X-Secret",
	"X-Secret", "1",
	"Proxy-Authorization", "Basic Y2xpZW50OnNlY3JldA==",
	"Te", "trailers",
	"Upgrade", "websocket",
	"Keep-Alive", "timeout=5",
	"X-Custom", "client-custom",
	"X-Forwarded-For", "203.0.113.9",
	"X-Forwarded-Host", "evil.example",
	"Forwarded", "for=203.0.113.9",
	"Prefer", "respond-async",
}

// headerRecorder records the headers of the requests the proxy receives,
// to show that the client really sent what must not be forwarded.
type headerRecorder struct {
	mu   sync.Mutex
	seen []http.Header
}

func (h *headerRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, r.Header.Clone())
		h.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (h *headerRecorder) last() http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 {
		return nil
	}
	return h.seen[len(h.seen)-1]
}

// TestUpstreamHeadersNotForwarded sends each interaction through the proxy
// with the client's credentials and hostile headers: no upstream request
// carries any of them, every one carries Config.Authorize's API key and is
// addressed to the upstream's host.
func TestUpstreamHeadersNotForwarded(t *testing.T) {
	t.Parallel()
	tx := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
		map[string]any{"resource": observation("o1a", "p1", "status", "amended"), "request": map[string]any{"method": "PUT", "url": "Observation/o1a"}},
	}}
	cases := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
	}{
		{"read", "GET", "/Patient/p1", nil, nil, 200},
		{"read hidden", "GET", "/Patient/p2", nil, nil, 404},
		{"vread", "GET", "/Observation/o1a/_history/1", nil, nil, 200},
		{"search", "GET", "/Observation?_include=Observation:subject", nil, nil, 200},
		{"search page 2", "GET", "", nil, nil, 200}, // the next link of a _count=1 search
		{"history", "GET", "/Observation/o1a/_history", nil, nil, 200},
		{"type history", "GET", "/Observation/_history", nil, nil, 200},
		{"create", "POST", "/Observation", observation("", "p1"), nil, 201},
		{"conditional create", "POST", "/Observation", observation("", "p1"), []string{"If-None-Exist", "identifier=urn:x|h"}, 201},
		{"update", "PUT", "/Observation/o1a", observation("o1a", "p1", "status", "amended"), []string{"If-Match", `W/"1"`}, 200},
		{"delete", "DELETE", "/Observation/o1b", nil, nil, 204},
		{"transaction", "POST", "", tx, nil, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			hr := &headerRecorder{}
			proxy := newProxy(t, e.st, "p1", hr.wrap)
			url := proxy + c.path
			if c.name == "search page 2" {
				url = client(t, http.MethodGet, proxy+"/Observation?_count=1", nil).want(t, 200).link("next")
				if url == "" {
					t.Fatal("no next link")
				}
				e.up.rec.reset()
			}
			hdr := append(append([]string{"Host", "evil.example"}, hostile...), c.hdr...)
			r := client(t, c.method, url, c.body, hdr...)
			if c.status >= 400 {
				r.wantOutcome(t, c.status, "")
			} else {
				r.want(t, c.status)
			}
			// The client did send them.
			got := hr.last()
			for i := 0; i+1 < len(hostile); i += 2 {
				if got.Get(hostile[i]) != hostile[i+1] {
					t.Fatalf("the proxy did not receive %s: %q (received %v)", hostile[i], got.Get(hostile[i]), got)
				}
			}
			if got.Get("Authorization") == "" {
				t.Fatal("the proxy did not receive the client's Authorization")
			}
			reqs := e.up.rec.requests()
			if len(reqs) == 0 {
				t.Fatal("the upstream was not asked")
			}
			for _, s := range reqs {
				for i := 0; i < len(hostile); i += 2 {
					if v := s.Header.Values(hostile[i]); len(v) > 0 {
						t.Errorf("%s carries the client's %s: %q", s, hostile[i], v)
					}
				}
				if v := s.Header.Values("Authorization"); len(v) > 0 {
					t.Errorf("%s carries the client's Authorization: %q", s, v)
				}
				for k, vs := range s.Header {
					for _, v := range vs {
						if strings.Contains(v, clientToken) || strings.Contains(v, "client-cookie") || strings.Contains(v, "evil.example") {
							t.Errorf("%s carries the client's %s: %q", s, k, v)
						}
					}
				}
				if v := s.Header.Get(apiKeyHeader); v != apiKey {
					t.Errorf("%s: %s %q, want the proxy's key", s, apiKeyHeader, v)
				}
				if s.Host != e.up.host {
					t.Errorf("%s: Host %q, want the upstream's %q", s, s.Host, e.up.host)
				}
			}
		})
	}
}

// TestUpstreamPathEscapes sends ids and types that would name another
// upstream path: each is answered 4xx and none reaches the upstream.
func TestUpstreamPathEscapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hdr := []string{"Authorization", "Bearer " + clientToken}
	cases := []struct{ method, path string }{
		{"GET", "/fhir/Patient/..%2F..%2Fadmin"},
		{"GET", "/fhir/Patient/a%2Fb"},
		{"GET", "/fhir/..%2Fmetadata"},
		{"GET", "/fhir/..%2F..%2Fadmin"},
		{"GET", "/fhir/Patient/%2E%2E"},
		{"GET", "/fhir/Patient/.%2E"},
		{"GET", "/fhir/Patient/%2E"},
		{"GET", "/fhir/Patient/%2E%2E/_history"},
		{"GET", "/fhir/Observation/%2E/_history/1"},
		{"PUT", "/fhir/Patient/%2E%2E"},
		{"DELETE", "/fhir/Patient/%2E%2E"},
		{"GET", "/fhir/Patient/p1%2F_history%2F1"},
		{"GET", "/fhir/Patient/p1%3F_format=xml"},
		{"GET", "/fhir/Patient/p1/_history/1%2F..%2F..%2F..%2Fp2"},
		{"GET", "/fhir/Patient/p1%2F..%2Fp2/_history"},
		{"GET", "/fhir/Patient%2F..%2Fadmin?name=x"},
		{"PUT", "/fhir/Patient/..%2Fadmin"},
		{"DELETE", "/fhir/Patient/..%2F..%2Fadmin"},
		{"POST", "/fhir/..%2Fadmin"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			e.up.rec.reset()
			var body any
			if c.method == "PUT" || c.method == "POST" {
				body = patient("admin", "x")
			}
			r := call(t, c.method, strings.TrimSuffix(e.proxy, "/fhir")+c.path, body, hdr...)
			// A delete of an id that names nothing is a 204 (FHIR R4
			// 3.1.0.7), as for any id not there.
			deleted := c.method == "DELETE" && r.status == http.StatusNoContent && strings.Contains(c.path, "%2E")
			if (r.status < 400 || r.status >= 500) && !deleted {
				t.Errorf("status %d, want 4xx: %s", r.status, r.raw)
			}
			if reqs := e.up.rec.requests(); len(reqs) != 0 {
				t.Errorf("the upstream was asked %v", reqs)
			}
		})
	}
	bundles := []struct{ name, method, url string }{
		{"batch read escaping", "GET", "Patient/..%2Fadmin"},
		{"batch read with slash", "GET", "Patient/../metadata"},
		{"batch delete escaping", "DELETE", "Patient/a%2Fb"},
		{"batch read of dot-dot", "GET", "Patient/.."},
		{"batch delete of dot", "DELETE", "Patient/."},
	}
	for _, b := range bundles {
		t.Run(b.name, func(t *testing.T) {
			e.up.rec.reset()
			r := client(t, http.MethodPost, e.proxy, map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
				map[string]any{"request": map[string]any{"method": b.method, "url": b.url}}}})
			if r.status < 400 || r.status >= 500 {
				// A batch may answer 200 with the entry's own 4xx.
				list, _ := r.body["entry"].([]any)
				st := ""
				if len(list) == 1 {
					st = str(list[0], "response", "status")
				}
				if r.status != 200 || !(strings.HasPrefix(st, "4") || b.method == "DELETE" && st == "204 No Content") {
					t.Errorf("status %d, want a 4xx (for the entry): %s", r.status, r.raw)
				}
			}
			if reqs := e.up.rec.requests(); len(reqs) != 0 {
				t.Errorf("the upstream was asked %v", reqs)
			}
		})
	}
}

// TestUpstreamStoreRefusesBadReferences calls the Store directly with
// types and ids the endpoint would have refused: the Store does not rely
// on the endpoint and sends nothing.
func TestUpstreamStoreRefusesBadReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q, err := registry(t).ParseQuery("Patient", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	bad := *q
	bad.Type = "../admin"
	calls := map[string]func() error{
		"read ../": func() error { _, err := e.st.ReadResource(ctx, "Patient", "../admin"); return err },
		"read a/b": func() error { _, err := e.st.ReadResource(ctx, "Patient", "a/b"); return err },
		"read type": func() error {
			_, err := e.st.ReadResource(ctx, "../metadata", "x")
			return err
		},
		"read ..":  func() error { _, err := e.st.ReadResource(ctx, "Patient", ".."); return err },
		"read .":   func() error { _, err := e.st.ReadResource(ctx, "Patient", "."); return err },
		"vread":    func() error { _, err := e.st.ReadResourceVersion(ctx, "Patient", "p1/../p2", 1); return err },
		"vread ..": func() error { _, err := e.st.ReadResourceVersion(ctx, "Patient", "..", 1); return err },
		"history": func() error {
			_, err := e.st.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Patient", ID: "..", Count: 1})
			return err
		},
		"search": func() error {
			_, err := e.st.SearchResources(ctx, fhir.SearchRequest{Query: &bad})
			return err
		},
		"put": func() error {
			return e.st.TransactResources(ctx, func(tx fhir.Tx) error {
				return tx.Put(ctx, &fhir.Write{Resource: fhir.Resource{Type: "Patient", ID: "../admin", Version: 1, JSON: []byte(`{}`)}})
			})
		},
		"put ..": func() error {
			return e.st.TransactResources(ctx, func(tx fhir.Tx) error {
				return tx.Put(ctx, &fhir.Write{Resource: fhir.Resource{Type: "Patient", ID: "..", Version: 1, JSON: []byte(`{}`)}})
			})
		},
		"current ..": func() error {
			return e.st.TransactResources(ctx, func(tx fhir.Tx) error {
				_, err := tx.Current(ctx, "Patient", "..")
				return err
			})
		},
	}
	for name, f := range calls {
		t.Run(name, func(t *testing.T) {
			e.up.rec.reset()
			if err := f(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("err %v, want store.ErrNotFound", err)
			}
			if reqs := e.up.rec.requests(); len(reqs) != 0 {
				t.Errorf("the upstream was asked %v", reqs)
			}
		})
	}
}
