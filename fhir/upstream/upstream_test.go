package upstream_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestUpstreamReads reads and searches through the proxy (confined to p1)
// over the seeded real upstream, and checks what the upstream was asked.
func TestUpstreamReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, path string
		status     int
		// For a 200: the Bundle's match and include entries, its total
		// (-1: none) or, for a read, the resource's Type/id.
		matches, includes []string
		total             int
		read              string
		// upstream: what the upstream was asked (method path, query
		// parameters that must be in it).
		upstream []string
		params   url.Values
	}{
		{name: "read own patient", path: "/Patient/p1", status: 200, read: "Patient/p1", upstream: []string{"GET /fhir/Patient/p1"}},
		{name: "read own observation", path: "/Observation/o1a", status: 200, read: "Observation/o1a", upstream: []string{"GET /fhir/Observation/o1a"}},
		{name: "read other patient", path: "/Patient/p2", status: 404, upstream: []string{"GET /fhir/Patient/p2"}},
		{name: "read other's observation", path: "/Observation/o2", status: 404, upstream: []string{"GET /fhir/Observation/o2"}},
		{name: "read missing", path: "/Observation/nope", status: 404, upstream: []string{"GET /fhir/Observation/nope"}},
		{name: "vread own", path: "/Observation/o1a/_history/1", status: 200, read: "Observation/o1a",
			upstream: []string{"GET /fhir/Observation/o1a/_history/1", "GET /fhir/Observation/o1a"}},
		{name: "vread other's", path: "/Observation/o2/_history/1", status: 404,
			upstream: []string{"GET /fhir/Observation/o2/_history/1", "GET /fhir/Observation/o2"}},
		{name: "search observations", path: "/Observation", status: 200,
			matches: []string{"Observation/o1a", "Observation/o1b"}, total: 2,
			upstream: []string{"GET /fhir/Observation"}, params: url.Values{"subject": {"Patient/p1"}}},
		{name: "search patients", path: "/Patient", status: 200, matches: []string{"Patient/p1"}, total: 1,
			upstream: []string{"GET /fhir/Patient"}, params: url.Values{"_id": {"p1"}}},
		{name: "search for the other's observations", path: "/Observation?subject=Patient/p2", status: 200, total: 0,
			upstream: []string{"GET /fhir/Observation"}, params: url.Values{"subject": {"Patient/p2", "Patient/p1"}}},
		{name: "search with include", path: "/Observation?_include=Observation:subject", status: 200,
			matches: []string{"Observation/o1a", "Observation/o1b"}, includes: []string{"Patient/p1"}, total: 2,
			upstream: []string{"GET /fhir/Observation"}, params: url.Values{"_include": {"Observation:subject"}, "subject": {"Patient/p1"}}},
		{name: "search a type in no compartment", path: "/Organization", status: 200, total: 0},
		{name: "search count", path: "/Observation?_summary=count", status: 200, total: 2,
			upstream: []string{"GET /fhir/Observation"}, params: url.Values{"_summary": {"count"}, "subject": {"Patient/p1"}}},
		// Each version is decided for a confined caller: no total.
		{name: "history of own", path: "/Observation/o1a/_history", status: 200, matches: []string{"Observation/o1a"}, total: -1,
			upstream: []string{"GET /fhir/Observation/o1a", "GET /fhir/Observation/o1a/_history"}},
		{name: "history of other's", path: "/Observation/o2/_history", status: 404, upstream: []string{"GET /fhir/Observation/o2"}},
		{name: "type history", path: "/Observation/_history", status: 200, matches: []string{"Observation/o1a", "Observation/o1b"}, total: -1,
			upstream: []string{"GET /fhir/Observation/_history"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Sequential: each case checks the upstream's requests.
			e.up.rec.reset()
			r := client(t, http.MethodGet, e.proxy+c.path, nil)
			if c.status != 200 {
				r.wantOutcome(t, c.status, "")
			} else {
				r.want(t, 200)
				switch {
				case c.read != "":
					if got := str(r.body, "resourceType") + "/" + str(r.body, "id"); got != c.read {
						t.Errorf("read %s, want %s", got, c.read)
					}
				default:
					mode := "match"
					if str(r.body, "type") == "history" {
						mode = ""
					}
					if got := r.entries(mode); !slices.Equal(got, c.matches) {
						t.Errorf("matches %v, want %v", got, c.matches)
					}
					if got := r.entries("include"); !slices.Equal(got, c.includes) {
						t.Errorf("includes %v, want %v", got, c.includes)
					}
					if got := r.total(); got != c.total {
						t.Errorf("total %d, want %d", got, c.total)
					}
				}
			}
			reqs := e.up.rec.requests()
			var got []string
			for _, s := range reqs {
				got = append(got, s.Method+" "+s.Path)
			}
			if !slices.Equal(got, c.upstream) {
				t.Errorf("upstream asked %v, want %v", got, c.upstream)
			}
			if len(reqs) > 0 && c.params != nil {
				q, _ := url.ParseQuery(reqs[0].Query)
				for k, want := range c.params {
					if !slices.Equal(q[k], want) {
						t.Errorf("upstream query %s=%v, want %v (query %s)", k, q[k], want, reqs[0].Query)
					}
				}
			}
		})
	}
}

// upstreamObservations lists the Observations stored upstream (asked
// directly), as Type/id.
func (u *realUpstream) observations(t *testing.T, query string) []string {
	t.Helper()
	return call(t, http.MethodGet, u.url+"/Observation?_count=100&"+query, nil).want(t, 200).entries("match")
}

// version returns meta.versionId of typ/id stored upstream ("" when it is
// not readable).
func (u *realUpstream) version(t *testing.T, path string) string {
	t.Helper()
	r := call(t, http.MethodGet, u.url+path, nil)
	if r.status != 200 {
		return ""
	}
	return str(r.body, "meta", "versionId")
}

// TestUpstreamWrites writes through the proxy (confined to p1) and checks
// what reached the upstream and what it stored.
func TestUpstreamWrites(t *testing.T) {
	t.Parallel()
	all := []string{"Observation/o1a", "Observation/o1b", "Observation/o2"}
	cases := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		// writes: the method and path of every upstream request that is
		// not a GET, with its If-Match ("" for none).
		writes []string
		setup  func(t *testing.T, e *env)
		check  func(t *testing.T, e *env, r *response)
	}{
		{name: "create for the other patient", method: "POST", path: "/Observation", body: observation("", "p2"), status: 403,
			check: func(t *testing.T, e *env, r *response) {
				if got := e.up.observations(t, ""); !slices.Equal(got, all) {
					t.Errorf("upstream holds %v, want %v", got, all)
				}
			}},
		{name: "create own", method: "POST", path: "/Observation", body: observation("", "p1"), status: 201,
			writes: []string{"PUT /fhir/Observation/* If-Match="},
			check: func(t *testing.T, e *env, r *response) {
				id := str(r.body, "id")
				up := call(t, http.MethodGet, e.up.url+"/Observation/"+id, nil).want(t, 200)
				if str(up.body, "subject", "reference") != "Patient/p1" || str(up.body, "meta", "versionId") != "1" {
					t.Errorf("upstream holds %s", up.raw)
				}
			}},
		{name: "update own", method: "PUT", path: "/Observation/o1a", body: observation("o1a", "p1", "status", "amended"), status: 200,
			writes: []string{`PUT /fhir/Observation/o1a If-Match=W/"1"`},
			check: func(t *testing.T, e *env, r *response) {
				up := call(t, http.MethodGet, e.up.url+"/Observation/o1a", nil).want(t, 200)
				if str(up.body, "status") != "amended" || str(up.body, "meta", "versionId") != "2" {
					t.Errorf("upstream holds %s", up.raw)
				}
				if r.header.Get("ETag") != `W/"2"` {
					t.Errorf("ETag %q", r.header.Get("ETag"))
				}
			}},
		{name: "update own twice", method: "PUT", path: "/Observation/o1a", body: observation("o1a", "p1", "status", "amended"), status: 200,
			writes: []string{`PUT /fhir/Observation/o1a If-Match=W/"2"`},
			setup: func(t *testing.T, e *env) {
				client(t, http.MethodPut, e.proxy+"/Observation/o1a", observation("o1a", "p1", "status", "amended")).want(t, 200)
			},
			check: func(t *testing.T, e *env, r *response) {
				if v := e.up.version(t, "/Observation/o1a"); v != "3" {
					t.Errorf("upstream version %q, want 3", v)
				}
			}},
		{name: "update own with the client's If-Match", method: "PUT", path: "/Observation/o1a", body: observation("o1a", "p1", "status", "amended"),
			hdr: []string{"If-Match", `W/"1"`}, status: 200, writes: []string{`PUT /fhir/Observation/o1a If-Match=W/"1"`}},
		{name: "update own with a stale If-Match", method: "PUT", path: "/Observation/o1a", body: observation("o1a", "p1", "status", "amended"),
			hdr: []string{"If-Match", `W/"7"`}, status: 412,
			check: func(t *testing.T, e *env, r *response) {
				if v := e.up.version(t, "/Observation/o1a"); v != "1" {
					t.Errorf("upstream version %q, want 1", v)
				}
			}},
		{name: "update the other's", method: "PUT", path: "/Observation/o2", body: observation("o2", "p1"), status: 404,
			check: func(t *testing.T, e *env, r *response) {
				up := call(t, http.MethodGet, e.up.url+"/Observation/o2", nil).want(t, 200)
				if str(up.body, "subject", "reference") != "Patient/p2" || str(up.body, "meta", "versionId") != "1" {
					t.Errorf("upstream holds %s", up.raw)
				}
			}},
		{name: "move own into the other's compartment", method: "PUT", path: "/Observation/o1a", body: observation("o1a", "p2"), status: 403,
			check: func(t *testing.T, e *env, r *response) {
				if v := e.up.version(t, "/Observation/o1a"); v != "1" {
					t.Errorf("upstream version %q, want 1", v)
				}
			}},
		{name: "delete own", method: "DELETE", path: "/Observation/o1b", status: 204,
			writes: []string{`DELETE /fhir/Observation/o1b If-Match=W/"1"`},
			check: func(t *testing.T, e *env, r *response) {
				call(t, http.MethodGet, e.up.url+"/Observation/o1b", nil).wantOutcome(t, 410, "")
				// Through the proxy, the deletion reads as gone to its owner.
				client(t, http.MethodGet, e.proxy+"/Observation/o1b", nil).wantOutcome(t, 410, "")
			}},
		{name: "delete the other's", method: "DELETE", path: "/Observation/o2", status: 204,
			check: func(t *testing.T, e *env, r *response) {
				if v := e.up.version(t, "/Observation/o2"); v != "1" {
					t.Errorf("upstream version %q, want 1", v)
				}
			}},
		{name: "conditional create", method: "POST", path: "/Observation", status: 201,
			body: observation("", "p1", "identifier", []any{map[string]any{"system": "urn:x", "value": "c1"}}),
			hdr:  []string{"If-None-Exist", "identifier=urn:x|c1"}, writes: []string{"PUT /fhir/Observation/* If-Match="},
			check: func(t *testing.T, e *env, r *response) {
				first := str(r.body, "id")
				again := client(t, http.MethodPost, e.proxy+"/Observation",
					observation("", "p1", "identifier", []any{map[string]any{"system": "urn:x", "value": "c1"}}),
					"If-None-Exist", "identifier=urn:x|c1").want(t, 200)
				if str(again.body, "id") != first {
					t.Errorf("second conditional create answered %s, want the first's %s", str(again.body, "id"), first)
				}
				if got := e.up.observations(t, "identifier=urn:x|c1"); !slices.Equal(got, []string{"Observation/" + first}) {
					t.Errorf("upstream holds %v", got)
				}
			}},
		{name: "conditional create matching only the other's", method: "POST", path: "/Observation", status: 201,
			body: observation("", "p1", "identifier", []any{map[string]any{"system": "urn:x", "value": "c2"}}),
			hdr:  []string{"If-None-Exist", "identifier=urn:x|c2"}, writes: []string{"PUT /fhir/Observation/* If-Match="},
			setup: func(t *testing.T, e *env) {
				call(t, http.MethodPut, e.up.url+"/Observation/c2", observation("c2", "p2",
					"identifier", []any{map[string]any{"system": "urn:x", "value": "c2"}})).want(t, 201)
			},
			check: func(t *testing.T, e *env, r *response) {
				if got := e.up.observations(t, "identifier=urn:x|c2"); len(got) != 2 {
					t.Errorf("upstream holds %v, want the other's and the new one", got)
				}
			}},
		{name: "transaction of two", method: "POST", path: "", status: 200,
			body: map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
				map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
				map[string]any{"resource": observation("o1a", "p1", "status", "amended"), "request": map[string]any{"method": "PUT", "url": "Observation/o1a"}},
			}},
			writes: []string{"POST /fhir If-Match="},
			check: func(t *testing.T, e *env, r *response) {
				if got := r.entries(""); len(got) != 2 {
					t.Errorf("transaction-response entries %v", got)
				}
				if v := e.up.version(t, "/Observation/o1a"); v != "2" {
					t.Errorf("upstream version of o1a %q, want 2", v)
				}
				if got := e.up.observations(t, "subject=Patient/p1"); len(got) != 3 {
					t.Errorf("upstream holds %v for p1, want 3", got)
				}
				// One upstream transaction Bundle: the update on the version read.
				tx := e.up.rec.writes()[0]
				if !strings.Contains(string(tx.Body), `"ifMatch":"W/\"1\""`) || !strings.Contains(string(tx.Body), `"type":"transaction"`) {
					t.Errorf("upstream transaction %s", tx.Body)
				}
			}},
		{name: "transaction touching the other's", method: "POST", path: "", status: 403,
			body: map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
				map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
				map[string]any{"resource": observation("", "p2"), "request": map[string]any{"method": "POST", "url": "Observation"}},
			}},
			check: func(t *testing.T, e *env, r *response) {
				if got := e.up.observations(t, ""); !slices.Equal(got, all) {
					t.Errorf("upstream holds %v, want %v", got, all)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if c.setup != nil {
				c.setup(t, e)
				e.up.rec.reset()
			}
			r := client(t, c.method, e.proxy+c.path, c.body, c.hdr...)
			if c.status >= 400 {
				r.wantOutcome(t, c.status, "")
			} else {
				r.want(t, c.status)
			}
			var got []string
			for _, s := range e.up.rec.writes() {
				p := s.Path
				if c.method == "POST" && strings.HasPrefix(p, "/fhir/Observation/") {
					p = "/fhir/Observation/*"
				}
				got = append(got, s.Method+" "+p+" If-Match="+s.Header.Get("If-Match"))
			}
			if !slices.Equal(got, c.writes) {
				t.Errorf("upstream writes %q, want %q", got, c.writes)
			}
			if c.check != nil {
				c.check(t, e, r)
			}
		})
	}
}

// TestUpstreamWriteRacesUpstreamChange changes the resource upstream
// between the proxy's read and its write: the write, sent with If-Match
// on the version read, is refused (409) and the other writer's content
// stays.
func TestUpstreamWriteRacesUpstreamChange(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"update", "transaction"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.up.rec.setBefore(func(r *http.Request) {
				if r.Method == http.MethodPut || r.Method == http.MethodPost {
					e.up.rec.setBefore(nil)
					e.up.direct(t, http.MethodPut, "/Observation/o1a", observation("o1a", "p1", "status", "theirs")).want(t, 200)
				}
			})
			var r *response
			if via == "update" {
				r = client(t, http.MethodPut, e.proxy+"/Observation/o1a", observation("o1a", "p1", "status", "mine"))
			} else {
				r = client(t, http.MethodPost, e.proxy, map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
					map[string]any{"resource": observation("o1a", "p1", "status", "mine"), "request": map[string]any{"method": "PUT", "url": "Observation/o1a"}},
					map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
				}})
			}
			r.wantOutcome(t, http.StatusConflict, "")
			up := call(t, http.MethodGet, e.up.url+"/Observation/o1a", nil).want(t, 200)
			if str(up.body, "status") != "theirs" || str(up.body, "meta", "versionId") != "2" {
				t.Errorf("upstream holds %s, want the other writer's version 2", up.raw)
			}
			if got := e.up.observations(t, "subject=Patient/p1"); len(got) != 2 {
				t.Errorf("upstream holds %v for p1: the transaction was not all or nothing", got)
			}
		})
	}
}

// TestUpstreamPaging pages a search through the proxy and refuses
// cursors that were tampered with, borrowed by another confinement or
// moved to another query.
func TestUpstreamPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := client(t, http.MethodGet, e.proxy+"/Observation?_count=1", nil).want(t, 200)
	next := first.link("next")
	if !strings.HasPrefix(next, e.proxy+"/Observation?") {
		t.Fatalf("next link %q is not the proxy's", next)
	}
	if strings.Contains(next, e.up.host) {
		t.Errorf("next link %q names the upstream", next)
	}
	nu, err := url.Parse(next)
	if err != nil {
		t.Fatal(err)
	}
	cursor := nu.Query().Get("_cursor")
	if cursor == "" {
		t.Fatalf("next link %q has no _cursor", next)
	}
	if first.total() != 2 {
		t.Errorf("first page total %d, want 2", first.total())
	}

	t.Run("second page", func(t *testing.T) {
		second := client(t, http.MethodGet, next, nil).want(t, 200)
		p1, p2 := first.entries("match"), second.entries("match")
		if len(p1) != 1 || len(p2) != 1 || p1[0] == p2[0] {
			t.Fatalf("pages %v and %v", p1, p2)
		}
		if got := append(p1, p2...); !slices.Equal(got, []string{"Observation/o1a", "Observation/o1b"}) {
			t.Errorf("pages hold %v, want p1's two", got)
		}
		if n := second.link("next"); n != "" {
			// A further page, if the upstream offers one, holds nothing.
			if got := client(t, http.MethodGet, n, nil).want(t, 200).entries("match"); len(got) != 0 {
				t.Errorf("third page %v", got)
			}
		}
	})

	tampered := []byte(cursor)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == '-'^1 || tampered[len(tampered)/2] == '_'^1 {
		tampered[len(tampered)/2] = 'A'
	}
	withQuery := func(k, v string) string {
		q := nu.Query()
		q.Set(k, v)
		return e.proxy + "/Observation?" + q.Encode()
	}
	refused := []struct{ name, proxy, url string }{
		{"tampered cursor", e.proxy, withQuery("_cursor", string(tampered))},
		{"truncated cursor", e.proxy, withQuery("_cursor", cursor[:len(cursor)-3])},
		{"made-up cursor", e.proxy, withQuery("_cursor", "T2JzZXJ2YXRpb24_X2NvdW50PTE")},
		{"cursor of another query", e.proxy, withQuery("_count", "2")},
		{"cursor with another parameter", e.proxy, withQuery("status", "final")},
		{"cursor under another confinement", e.proxy2, strings.Replace(next, e.proxy, e.proxy2, 1)},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			e.up.rec.reset()
			client(t, http.MethodGet, c.url, nil).wantOutcome(t, http.StatusBadRequest, "_cursor")
			if reqs := e.up.rec.requests(); len(reqs) != 0 {
				t.Errorf("the upstream was asked %v", reqs)
			}
		})
	}
}

// TestUpstreamHistoryPaging pages a type history through the proxy.
func TestUpstreamHistoryPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var got []string
	next := e.proxy + "/Observation/_history?_count=1"
	for i := 0; next != "" && i < 10; i++ {
		r := client(t, http.MethodGet, next, nil).want(t, 200)
		got = append(got, r.entries("")...)
		next = r.link("next")
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"Observation/o1a", "Observation/o1b"}) {
		t.Errorf("history pages hold %v, want p1's two", got)
	}
	client(t, http.MethodGet, e.proxy+"/Observation/_history?_count=1&_cursor=bm9wZQ", nil).wantOutcome(t, http.StatusBadRequest, "_cursor")
}
