package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir/upstream"
)

// Fault upstreams: servers that answer what no FHIR server should, and
// what the proxy (confined to p1) makes of it.

const (
	faultTimeout  = 200 * time.Millisecond
	faultMaxBytes = 1024
)

// quirkyUpstream serves h (behind a recorder) as a FHIR base; handlers
// that hang return when the client goes away or the test ends.
func quirkyUpstream(t *testing.T, h http.HandlerFunc) (base string, rec *recorder) {
	t.Helper()
	rec = &recorder{next: h}
	ts := httptest.NewServer(rec)
	t.Cleanup(ts.Close)
	return ts.URL + "/fhir", rec
}

// faultProxy is the proxy (confined to p1) over base, with faultTimeout
// and faultMaxBytes.
func faultProxy(t *testing.T, base string, obs *observer, mod func(*upstream.Config)) string {
	t.Helper()
	st := newStore(t, base, obs, func(c *upstream.Config) {
		c.Timeout, c.MaxResponseBytes = faultTimeout, faultMaxBytes
		if mod != nil {
			mod(c)
		}
	})
	return newProxy(t, st, "p1", nil)
}

func jsonBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	switch b := v.(type) {
	case string:
		w.Write([]byte(b))
	default:
		json.NewEncoder(w).Encode(v)
	}
}

func answer(status int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { jsonBody(w, status, v) }
}

// versioned sets meta.versionId of a resource.
func versioned(m map[string]any, v string) map[string]any {
	m["meta"] = map[string]any{"versionId": v}
	return m
}

func searchset(total int, entries ...any) map[string]any {
	return map[string]any{"resourceType": "Bundle", "type": "searchset", "total": total, "entry": entries}
}

func match(res map[string]any) any {
	return map[string]any{"resource": res, "search": map[string]any{"mode": "match"}}
}

func include(res map[string]any) any {
	return map[string]any{"resource": res, "search": map[string]any{"mode": "include"}}
}

// hang blocks until the client gives up or the test ends.
func hang(t *testing.T) http.HandlerFunc {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

// TestUpstreamFaults runs one request through the proxy over each fault
// upstream: the proxy answers a gateway error as an OperationOutcome (or
// drops what the upstream slipped in), never the upstream's garbage.
func TestUpstreamFaults(t *testing.T) {
	t.Parallel()
	p1 := versioned(patient("p1", "One"), "1")
	p2 := versioned(patient("p2", "Two"), "1")
	o1 := versioned(observation("o1", "p1"), "1")
	o2 := versioned(observation("o2", "p2"), "1")
	big := versioned(patient("p1", strings.Repeat("x", 2*faultMaxBytes)), "1")
	cases := []struct {
		name    string
		handler func(t *testing.T) http.HandlerFunc
		dead    bool // the upstream is not listening
		method  string
		path    string
		body    any
		status  int
		diag    string // in the OperationOutcome's diagnostics
		// absent must not appear in the proxy's answer.
		absent []string
		check  func(t *testing.T, r *response)
	}{
		{name: "500", handler: func(*testing.T) http.HandlerFunc {
			return answer(500, map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{"diagnostics": "db at 10.0.0.7 down"}}})
		}, path: "/Patient/p1", status: 502, diag: "status 500", absent: []string{"10.0.0.7"}},
		{name: "closes the connection", handler: func(t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				c, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				c.Close()
			}
		}, path: "/Patient/p1", status: 502, diag: "could not be reached"},
		{name: "not listening", dead: true, path: "/Patient/p1", status: 502, diag: "could not be reached", absent: []string{"127.0.0.1", "refused"}},
		{name: "hangs past the timeout", handler: hang, path: "/Patient/p1", status: 504, diag: "did not answer in time"},
		{name: "hangs past the timeout on a search", handler: hang, path: "/Observation", status: 504, diag: "did not answer in time"},
		{name: "not JSON", handler: func(*testing.T) http.HandlerFunc { return answer(200, "<html>hello</html>") },
			path: "/Patient/p1", status: 502, diag: "not FHIR JSON"},
		{name: "JSON that is not a resource", handler: func(*testing.T) http.HandlerFunc { return answer(200, `{"hello":"world"}`) },
			path: "/Patient/p1", status: 502, diag: "not a resource"},
		{name: "search answered with a resource", handler: func(*testing.T) http.HandlerFunc { return answer(200, o1) },
			path: "/Observation", status: 502, diag: "not a Bundle"},
		{name: "search answered with not JSON", handler: func(*testing.T) http.HandlerFunc { return answer(200, "[1,2") },
			path: "/Observation", status: 502, diag: "not a Bundle"},
		{name: "search answered with a history Bundle", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, map[string]any{"resourceType": "Bundle", "type": "history", "entry": []any{match(o1)}})
		}, path: "/Observation", status: 502, diag: `"history" Bundle`},
		{name: "another resource than asked", handler: func(*testing.T) http.HandlerFunc { return answer(200, p2) },
			path: "/Patient/p1", status: 502, diag: "another resource", absent: []string{"p2", "Two"}},
		{name: "another type than asked", handler: func(*testing.T) http.HandlerFunc { return answer(200, o1) },
			path: "/Patient/p1", status: 502, diag: "another resource"},
		{name: "another version than asked", handler: func(*testing.T) http.HandlerFunc { return answer(200, versioned(patient("p1", "One"), "2")) },
			path: "/Patient/p1/_history/1", status: 502, diag: "version 2 for 1"},
		// FHIR JSON has each property once: a resource that says two
		// things is not one (encoding/json, which the access decision's
		// search.Decode uses, takes the last of duplicate keys).
		{name: "duplicate id naming the caller last", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p2","meta":{"versionId":"1"},"name":[{"family":"Two"}],"id":"p1"}`)
		}, path: "/Patient/p2", status: 502, diag: "not FHIR JSON", absent: []string{"Two"}},
		{name: "duplicate escaped id naming the caller last", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p2","meta":{"versionId":"1"},"name":[{"family":"Two"}],"\u0069d":"p1"}`)
		}, path: "/Patient/p2", status: 502, diag: "not FHIR JSON", absent: []string{"Two"}},
		{name: "duplicate id naming the caller first", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p1","meta":{"versionId":"1"},"id":"p2"}`)
		}, path: "/Patient/p1", status: 502, diag: "not FHIR JSON"},
		{name: "duplicate resourceType", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p1","resourceType":"Observation"}`)
		}, path: "/Patient/p1", status: 502, diag: "not FHIR JSON"},
		{name: "duplicate versionId", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p1","meta":{"versionId":"1","versionId":"x"}}`)
		}, path: "/Patient/p1", status: 502, diag: "not FHIR JSON"},
		{name: "duplicate meta", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p1","meta":{"versionId":"1"},"meta":{"versionId":"x"}}`)
		}, path: "/Patient/p1", status: 502, diag: "not FHIR JSON"},
		{name: "meta not an object", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p1","meta":[{"versionId":"x"}]}`)
		}, path: "/Patient/p1", status: 502, diag: "not FHIR JSON"},
		{name: "numeric versionId", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p1","meta":{"versionId":2}}`)
		}, path: "/Patient/p1", status: 502, diag: "not FHIR JSON"},
		{name: "data after the resource", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"resourceType":"Patient","id":"p1"} {"resourceType":"Patient","id":"p2"}`)
		}, path: "/Patient/p1", status: 502, diag: "not FHIR JSON"},
		{name: "contained resources and nested ids are not the resource's", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, `{"contained":[{"resourceType":"Observation","id":"x","meta":{"versionId":"9"}}],"resourceType":"Patient",`+
				`"extension":[{"id":"e","url":"u","valueString":"\"id\":\"p2\""}],"id":"p1","meta":{"tag":[{"versionId":"8"}],"versionId":"3"}}`)
		}, path: "/Patient/p1", status: 200, check: func(t *testing.T, r *response) {
			if r.header.Get("ETag") != `W/"3"` || str(r.body, "id") != "p1" {
				t.Errorf("ETag %q, body %s", r.header.Get("ETag"), r.raw)
			}
		}},
		{name: "larger than MaxResponseBytes", handler: func(*testing.T) http.HandlerFunc { return answer(200, big) },
			path: "/Patient/p1", status: 502, diag: "larger than 1024 bytes", absent: []string{"xxxx"}},
		{name: "non-numeric versionId", handler: func(*testing.T) http.HandlerFunc { return answer(200, versioned(patient("p1", "One"), "abc")) },
			path: "/Patient/p1", status: 502, diag: "not a positive number"},
		{name: "zero versionId", handler: func(*testing.T) http.HandlerFunc { return answer(200, versioned(patient("p1", "One"), "0")) },
			path: "/Patient/p1", status: 502, diag: "not a positive number"},
		{name: "non-numeric versionId of another's slipped entry", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, searchset(2, match(o1), match(versioned(observation("o2", "p2"), "v-secret"))))
		}, path: "/Observation", status: 502, diag: "not a positive number", absent: []string{"o2", "v-secret"}},
		{name: "slipped another patient's observation into a search", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, searchset(2, match(o1), match(o2)))
		}, path: "/Observation", status: 200, absent: []string{"o2", "Patient/p2"}, check: func(t *testing.T, r *response) {
			if got := r.entries("match"); !slices.Equal(got, []string{"Observation/o1"}) {
				t.Errorf("matches %v, want only p1's", got)
			}
			if _, ok := r.body["total"]; ok {
				t.Errorf("a Bundle with a dropped entry has a total: %s", r.raw)
			}
		}},
		{name: "slipped an entry of another type into a search", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, searchset(2, match(o1), match(p1)))
		}, path: "/Observation", status: 200, check: func(t *testing.T, r *response) {
			if got := r.entries(""); !slices.Equal(got, []string{"Observation/o1"}) {
				t.Errorf("entries %v, want only the Observation", got)
			}
			if _, ok := r.body["total"]; ok {
				t.Errorf("a Bundle with a dropped entry has a total: %s", r.raw)
			}
		}},
		{name: "included another patient", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, searchset(1, match(o1), include(p1), include(p2)))
		}, path: "/Observation?_include=Observation:subject", status: 200, absent: []string{"p2", "Two"}, check: func(t *testing.T, r *response) {
			if got := r.entries("match"); !slices.Equal(got, []string{"Observation/o1"}) {
				t.Errorf("matches %v", got)
			}
			if got := r.entries("include"); !slices.Equal(got, []string{"Patient/p1"}) {
				t.Errorf("includes %v, want only p1", got)
			}
			if r.total() != 1 {
				t.Errorf("total %d, want the upstream's 1", r.total())
			}
		}},
		{name: "401", handler: func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="upstream", error="invalid_token"`)
				jsonBody(w, 401, `{"resourceType":"OperationOutcome","issue":[{"diagnostics":"bad api key"}]}`)
			}
		}, path: "/Patient/p1", status: 502, diag: "refused smartgate's credentials", absent: []string{"bad api key"}, check: func(t *testing.T, r *response) {
			if h := r.header.Get("WWW-Authenticate"); h != "" {
				t.Errorf("the upstream's challenge reached the client: %q", h)
			}
		}},
		{name: "403", handler: func(*testing.T) http.HandlerFunc { return answer(403, "") },
			path: "/Observation", status: 502, diag: "refused smartgate's credentials"},
		{name: "407", handler: func(*testing.T) http.HandlerFunc { return answer(407, "") },
			path: "/Patient/p1", status: 502, diag: "refused smartgate's credentials"},
		{name: "422 with an OperationOutcome", handler: func(*testing.T) http.HandlerFunc {
			return answer(422, map[string]any{"resourceType": "OperationOutcome", "issue": []any{
				map[string]any{"severity": "error", "code": "processable", "diagnostics": "Observation.category is required here"}}})
		}, method: "POST", path: "/Observation", body: observation("", "p1"), status: 422, diag: "Observation.category is required here"},
		{name: "400 with details text", handler: func(*testing.T) http.HandlerFunc {
			return answer(400, map[string]any{"resourceType": "OperationOutcome", "issue": []any{
				map[string]any{"severity": "error", "code": "invalid", "details": map[string]any{"text": "unknown parameter"}}}})
		}, path: "/Observation?code=x", status: 400, diag: "unknown parameter"},
		{name: "404", handler: func(*testing.T) http.HandlerFunc { return answer(404, "") },
			path: "/Patient/p1", status: 404},
		{name: "429", handler: func(*testing.T) http.HandlerFunc { return answer(429, "") },
			path: "/Patient/p1", status: 503},
		{name: "412 on a write", handler: func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					jsonBody(w, 200, versioned(observation("o1", "p1"), "1"))
					return
				}
				jsonBody(w, 412, "")
			}
		}, method: "PUT", path: "/Observation/o1", body: observation("o1", "p1"), status: 409},
		{name: "transaction-response with a failed entry", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": []any{
				map[string]any{"response": map[string]any{"status": "201 Created"}},
				map[string]any{"response": map[string]any{"status": "400 Bad Request"}}}})
		}, method: "POST", path: "", body: map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
			map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
			map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
		}}, status: 502, diag: "failed"},
		{name: "transaction-response missing entries", handler: func(*testing.T) http.HandlerFunc {
			return answer(200, map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": []any{
				map[string]any{"response": map[string]any{"status": "201 Created"}}}})
		}, method: "POST", path: "", body: map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
			map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
			map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
		}}, status: 502, diag: "does not answer every entry"},
		{name: "next link leaving the base", handler: func(*testing.T) http.HandlerFunc {
			b := searchset(1, match(o1))
			b["link"] = []any{map[string]any{"relation": "next", "url": "http://elsewhere.example/admin?page=2"}}
			return answer(200, b)
		}, path: "/Observation", status: 502, diag: "leaves its FHIR base"},
		{name: "next link leaving the base by dot segments", handler: func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				b := searchset(1, match(o1))
				b["link"] = []any{map[string]any{"relation": "next", "url": "http://" + r.Host + "/fhir/../admin?page=2"}}
				jsonBody(w, 200, b)
			}
		}, path: "/Observation", status: 502, diag: "leaves its FHIR base"},
		{name: "redirect", handler: func(t *testing.T) http.HandlerFunc {
			target, rec := quirkyUpstream(t, answer(200, p1))
			t.Cleanup(func() {
				if reqs := rec.requests(); len(reqs) != 0 {
					t.Errorf("the redirect was followed: %v", reqs)
				}
			})
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target+"/Patient/p1", http.StatusFound)
			}
		}, path: "/Patient/p1", status: 502, diag: "status 302"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var base string
			var rec *recorder
			if c.dead {
				base = "http://" + deadAddress(t) + "/fhir"
			} else {
				base, rec = quirkyUpstream(t, c.handler(t))
			}
			proxy := faultProxy(t, base, nil, nil)
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			start := time.Now()
			r := client(t, method, proxy+c.path, c.body)
			if c.status >= 400 {
				r.wantOutcome(t, c.status, c.diag)
			} else {
				r.want(t, c.status)
			}
			if c.status == 504 {
				if d := time.Since(start); d < faultTimeout || d > 20*faultTimeout {
					t.Errorf("answered after %v, want about %v", d, faultTimeout)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(string(r.raw), a) {
					t.Errorf("the answer shows %q: %s", a, r.raw)
				}
			}
			if base := strings.TrimSuffix(base, "/fhir"); strings.Contains(string(r.raw), strings.TrimPrefix(base, "http://")) {
				t.Errorf("the answer names the upstream: %s", r.raw)
			}
			if rec != nil && len(rec.requests()) == 0 {
				t.Errorf("the upstream was not asked")
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

// TestUpstreamCredentialsFailure: when Config.Authorize cannot give the
// proxy's credentials, nothing is sent and the client gets a 502.
func TestUpstreamCredentialsFailure(t *testing.T) {
	t.Parallel()
	base, rec := quirkyUpstream(t, answer(200, versioned(patient("p1", "One"), "1")))
	proxy := faultProxy(t, base, nil, func(c *upstream.Config) {
		c.Authorize = func(_ context.Context, r *http.Request) error { return errors.New("token endpoint at 10.1.2.3 down") }
	})
	r := client(t, http.MethodGet, proxy+"/Patient/p1", nil).wantOutcome(t, http.StatusBadGateway, "no credentials")
	if strings.Contains(string(r.raw), "10.1.2.3") {
		t.Errorf("the answer shows the credentials error: %s", r.raw)
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Errorf("the upstream was asked %v without credentials", reqs)
	}
}
