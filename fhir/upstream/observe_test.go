package upstream_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUpstreamObserve: Config.Observe is told about every upstream
// request, with its operation and the upstream's status, in the order
// they were sent.
func TestUpstreamObserve(t *testing.T) {
	t.Parallel()
	tx := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
		map[string]any{"resource": observation("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
	}}
	cases := []struct {
		name, method, path string
		body               any
		hdr                []string
		ops                []string // op of each upstream request, in order
	}{
		{name: "read", method: "GET", path: "/Patient/p1", ops: []string{"read"}},
		{name: "read missing", method: "GET", path: "/Patient/nope", ops: []string{"read"}},
		{name: "vread", method: "GET", path: "/Observation/o1a/_history/1", ops: []string{"vread", "read"}},
		{name: "vread missing version", method: "GET", path: "/Observation/o1a/_history/9", ops: []string{"vread"}},
		{name: "search", method: "GET", path: "/Observation", ops: []string{"search"}},
		{name: "instance history", method: "GET", path: "/Observation/o1a/_history", ops: []string{"read", "history"}},
		{name: "type history", method: "GET", path: "/Observation/_history", ops: []string{"history"}},
		{name: "create", method: "POST", path: "/Observation", body: observation("", "p1"), ops: []string{"write"}},
		{name: "conditional create", method: "POST", path: "/Observation", body: observation("", "p1"),
			hdr: []string{"If-None-Exist", "identifier=urn:x|o"}, ops: []string{"search", "write"}},
		{name: "update", method: "PUT", path: "/Observation/o1a", body: observation("o1a", "p1"), ops: []string{"read", "write"}},
		{name: "delete", method: "DELETE", path: "/Observation/o1a", ops: []string{"read", "write"}},
		{name: "transaction", method: "POST", path: "", body: tx, ops: []string{"transaction"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			client(t, c.method, e.proxy+c.path, c.body, c.hdr...)
			reqs, obs := e.up.rec.requests(), e.obs.list()
			var ops []string
			for _, o := range obs {
				ops = append(ops, o.op)
			}
			if !slices.Equal(ops, c.ops) {
				t.Fatalf("observed %v, want %v (upstream asked %v)", ops, c.ops, reqs)
			}
			if len(reqs) != len(obs) {
				t.Fatalf("observed %d requests, the upstream saw %d: %v", len(obs), len(reqs), reqs)
			}
			for i, o := range obs {
				if o.status != reqs[i].Status || o.status == 0 {
					t.Errorf("%s: observed status %d, the upstream answered %d", reqs[i], o.status, reqs[i].Status)
				}
				if o.d <= 0 {
					t.Errorf("%s: observed duration %v", reqs[i], o.d)
				}
			}
		})
	}
}

// TestUpstreamObserveFailures: a request that got no answer is observed
// with status 0, an error status as answered.
func TestUpstreamObserveFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		handler func(t *testing.T) http.HandlerFunc // nil: not listening
		status  int
		minD    time.Duration
	}{
		{"not listening", nil, 0, 0},
		{"hangs", hang, 0, faultTimeout},
		{"too large", func(*testing.T) http.HandlerFunc {
			return answer(200, versioned(patient("p1", strings.Repeat("x", 2*faultMaxBytes)), "1"))
		}, 0, 0},
		{"500", func(*testing.T) http.HandlerFunc { return answer(500, "") }, 500, 0},
		{"401", func(*testing.T) http.HandlerFunc { return answer(401, "") }, 401, 0},
		{"garbage", func(*testing.T) http.HandlerFunc { return answer(200, "nonsense") }, 200, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := "http://" + deadAddress(t) + "/fhir"
			if c.handler != nil {
				base, _ = quirkyUpstream(t, c.handler(t))
			}
			obs := &observer{}
			proxy := faultProxy(t, base, obs, nil)
			if r := client(t, http.MethodGet, proxy+"/Patient/p1", nil); r.status < 500 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			got := obs.list()
			if len(got) != 1 || got[0].op != "read" || got[0].status != c.status || got[0].d < c.minD {
				t.Errorf("observed %+v, want one read with status %d taking at least %v", got, c.status, c.minD)
			}
		})
	}
}
