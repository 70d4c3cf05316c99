package fhir_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir"
)

// pagingFixture is one database served twice: without access control (the
// writer) and to a caller confined to Patient pa's compartment.
type pagingFixture struct {
	admin, pa *client
}

func newPagingFixture(t *testing.T) *pagingFixture {
	t.Helper()
	db := openStore(t)
	serve := func(cfg fhir.Config) *client {
		cfg.Registry, cfg.MaxBodyBytes = registry(t), 8<<20
		mux := http.NewServeMux()
		fhir.New(cfg, db, nil).Register(mux)
		ts := httptest.NewServer(mux)
		t.Cleanup(ts.Close)
		return &client{t: t, base: ts.URL + "/fhir", db: db}
	}
	f := &pagingFixture{admin: serve(fhir.Config{AccessControlOff: true}), pa: serve(fhir.Config{Auth: compartmentOnly{patient: "pa"}})}
	for _, p := range []string{"pa", "pb"} {
		res := patient(p)
		res["id"] = p
		f.admin.do("PUT", "/Patient/"+p, res).want(t, http.StatusCreated)
	}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("o-pa-%d", i)
		f.admin.do("PUT", "/Observation/"+id, labObservation(id, "pa", "laboratory")).want(t, http.StatusCreated)
	}
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("o-pb-%d", i)
		f.admin.do("PUT", "/Observation/"+id, labObservation(id, "pb", "laboratory")).want(t, http.StatusCreated)
	}
	for _, id := range []string{"o-pa-1", "o-pa-2", "o-pb-1"} {
		owner := strings.Split(id, "-")[1]
		f.admin.do("PUT", "/Observation/"+id, labObservation(id, owner, "laboratory")).want(t, http.StatusOK)
	}
	return f
}

// pagingWriter writes while a listing is paged: on each tick two new
// Observations (one of pa, one of pb) and a new version of o-pa-1, at the
// same time as the page request. It records when each version's write
// started.
type pagingWriter struct {
	t       *testing.T
	base    string
	tick    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	started map[string]time.Time // "Type/id/version" → start of its write
	n       int
}

func startWriter(t *testing.T, admin *client) *pagingWriter {
	w := &pagingWriter{t: t, base: admin.base, tick: make(chan struct{}), done: make(chan struct{}), started: map[string]time.Time{}}
	go func() {
		defer close(w.done)
		for range w.tick {
			w.n++
			w.put(fmt.Sprintf("w-%d-pa", w.n), "pa")
			w.put(fmt.Sprintf("w-%d-pb", w.n), "pb")
			w.put("o-pa-1", "pa")
		}
	}()
	t.Cleanup(func() { close(w.tick); <-w.done })
	return w
}

func (w *pagingWriter) put(id, owner string) {
	body, _ := json.Marshal(labObservation(id, owner, "laboratory"))
	req, _ := http.NewRequest("PUT", w.base+"/Observation/"+id, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Error(err)
		return
	}
	defer resp.Body.Close()
	var res map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 || json.Unmarshal(raw, &res) != nil {
		w.t.Errorf("concurrent write of %s: %d %s", id, resp.StatusCode, raw)
		return
	}
	w.mu.Lock()
	w.started["Observation/"+id+"/"+str(res, "meta", "versionId")] = start
	w.mu.Unlock()
}

// startedAt returns when the write of version key started (ok false: not
// written by w).
func (w *pagingWriter) startedAt(key string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.started[key]
	return at, ok
}

// Paging a search and a history with _count 1 to 3, while another client
// writes (new resources in and out of the caller's compartment, new
// versions of listed ones), reaches every entry visible when the listing
// began exactly once, shows nothing outside the caller's compartment, and
// nothing written after the first page (the snapshot).
func TestPagingUnderConcurrentWrites(t *testing.T) {
	paObs := []string{"Observation/o-pa-1", "Observation/o-pa-2", "Observation/o-pa-3", "Observation/o-pa-4", "Observation/o-pa-5"}
	paVersions := []string{"Observation/o-pa-1/1", "Observation/o-pa-1/2", "Observation/o-pa-2/1", "Observation/o-pa-2/2",
		"Observation/o-pa-3/1", "Observation/o-pa-4/1", "Observation/o-pa-5/1"}
	cases := []struct {
		name, query string
		history     bool
		want        []string // keys: Type/id for searches, Type/id/version for histories
	}{
		{"search", "Observation?", false, paObs},
		{"search on the index alone", "Observation?category=laboratory&", false, paObs},
		{"sorted search", "Observation?_sort=-_id&", false, paObs},
		{"type history", "Observation/_history?", true, paVersions},
		{"instance history", "Observation/o-pa-1/_history?", true, paVersions[:2]},
		{"system history", "_history?", true, append([]string{"Patient/pa/1"}, paVersions...)},
	}
	for _, tc := range cases {
		for count := 1; count <= 3; count++ {
			t.Run(fmt.Sprintf("%s/_count=%d", tc.name, count), func(t *testing.T) {
				f := newPagingFixture(t)
				w := startWriter(t, f.admin)
				seen := map[string]bool{}
				var firstPageDone time.Time
				next := f.pa.base + "/" + tc.query + fmt.Sprintf("_count=%d", count)
				for pages := 0; next != ""; pages++ {
					if pages > 40 {
						t.Fatal("more than 40 pages")
					}
					w.tick <- struct{}{} // the writer writes during this page request
					r := f.pa.do("GET", strings.TrimPrefix(next, f.pa.base), nil).want(t, http.StatusOK)
					if pages == 0 {
						firstPageDone = time.Now()
					}
					list, _ := r.body["entry"].([]any)
					if len(list) > count {
						t.Fatalf("page of %d entries with _count=%d", len(list), count)
					}
					for _, e := range list {
						res, _ := e.(map[string]any)["resource"].(map[string]any)
						key := str(res, "resourceType") + "/" + str(res, "id")
						if tc.history {
							key += "/" + str(res, "meta", "versionId")
						}
						if seen[key] {
							t.Errorf("%s listed twice", key)
						}
						seen[key] = true
						if owner := str(res, "subject", "reference"); owner != "Patient/pa" && key != "Patient/pa/1" {
							t.Errorf("%s (subject %q) is outside the caller's compartment", key, owner)
						}
						if !tc.history {
							continue // a search lists resources; the writer's new versions do not move them
						}
						if at, ok := w.startedAt(key); ok && at.After(firstPageDone) {
							t.Errorf("%s, written after the first page, is listed (no snapshot)", key)
						}
					}
					next = ""
					for _, l := range r.body["link"].([]any) {
						if str(l, "relation") == "next" {
							next = str(l, "url")
						}
					}
				}
				for _, k := range tc.want {
					if !seen[k] {
						t.Errorf("%s not reached (listed: %v)", k, keys(seen))
					}
				}
				for k := range seen {
					if !contains(tc.want, k) && !w.before(k, firstPageDone, tc.history) {
						t.Errorf("%s listed: neither visible at the start nor written before the first page", k)
					}
				}
			})
		}
	}
}

// before reports whether the writer wrote key (a version, or for a search
// a resource's first version) before t.
func (w *pagingWriter) before(key string, t time.Time, history bool) bool {
	if !history {
		key += "/1"
	}
	at, ok := w.startedAt(key)
	return ok && at.Before(t)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// A _cursor the store did not make, or one changed by the client, gets a
// 400 OperationOutcome or moves the listing, and never shows a resource
// outside the caller's grant: the cursor says where a listing continues,
// the grant what it shows, on every page.
func TestForgedCursors(t *testing.T) {
	f := newPagingFixture(t)
	cursorOf := func(path string) string {
		r := f.pa.do("GET", path, nil).want(t, http.StatusOK)
		for _, l := range r.body["link"].([]any) {
			if str(l, "relation") == "next" {
				u, err := url.Parse(str(l, "url"))
				if err != nil {
					t.Fatal(err)
				}
				return u.Query().Get("_cursor")
			}
		}
		t.Fatalf("%s: no next link", path)
		return ""
	}
	listings := map[string]string{
		"search":         "/Observation?_count=1",
		"sorted search":  "/Observation?_sort=_id&_count=1",
		"type history":   "/Observation/_history?_count=1",
		"system history": "/_history?_count=1",
	}
	// Histories of a type and of the system page alike; searches page by
	// row (default order) or by position (sorted).
	kind := func(listing string) string {
		return strings.TrimPrefix(strings.TrimPrefix(listing, "type "), "system ")
	}
	cursors := map[string]string{}
	for name, path := range listings {
		cursors[name] = cursorOf(path)
	}
	garbage := []string{"garbage", "%25%25", "AAAA", "AQ", "0", "12345", "_-_-", strings.Repeat("A", 300),
		cursors["search"] + "A", cursors["search"][:len(cursors["search"])-1]}
	for name, path := range listings {
		refused := append([]string{}, garbage...)
		for other, c := range cursors {
			if kind(other) != kind(name) {
				refused = append(refused, c) // a cursor of another kind of listing
			}
		}
		for _, c := range refused {
			r := f.pa.do("GET", path+"&_cursor="+url.QueryEscape(c), nil)
			if r.status != http.StatusBadRequest || r.body["resourceType"] != "OperationOutcome" {
				t.Errorf("%s with _cursor=%.40q: %d %.200s, want a 400 OperationOutcome", name, c, r.status, r.raw)
			}
		}
		// Every one-character change of a real cursor.
		c := cursors[name]
		for i := range c {
			for _, ch := range "AB_-z09" {
				forged := c[:i] + string(ch) + c[i+1:]
				if forged == c {
					continue
				}
				r := f.pa.do("GET", path+"&_cursor="+url.QueryEscape(forged), nil)
				switch r.status {
				case http.StatusOK:
				case http.StatusBadRequest:
					if r.body["resourceType"] != "OperationOutcome" {
						t.Errorf("%s with a changed cursor: 400 without an OperationOutcome: %s", name, r.raw)
					}
					continue
				default:
					t.Errorf("%s with a changed cursor %q: %d %.200s", name, forged, r.status, r.raw)
					continue
				}
				list, _ := r.body["entry"].([]any)
				for _, e := range list {
					res, _ := e.(map[string]any)["resource"].(map[string]any)
					if str(res, "subject", "reference") != "Patient/pa" && str(res, "id") != "pa" {
						t.Errorf("%s with a changed cursor %q shows %s/%s, outside the grant", name, forged, str(res, "resourceType"), str(res, "id"))
					}
				}
			}
		}
	}
	// The paging parameters of links made before cursors became opaque.
	for _, q := range []string{"/Observation?_snapshot=9&_cursor=3", "/Observation?_sort=_id&_snapshot=9&_offset=2", "/Observation/_history?_before_seq=4"} {
		f.pa.do("GET", q, nil).wantOutcome(t, http.StatusBadRequest)
	}
}
