package main

// Issue 9, defect 3 and the include cap: every search path goes through one
// search-authorisation decision (fhir/search_access.go).

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// includeCap is fhir.DefaultMaxIncluded, the documented cap (written out so
// that the test also builds on code without the cap).
const includeCap = 1000

// reqWith sends a request with extra headers; body is JSON unless it is a
// url.Values (then a form).
func (h *harness) reqWith(method, target, token string, body any, hdr map[string]string) *response {
	h.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = h.baseA + "/fhir/" + strings.TrimPrefix(target, "/")
	}
	var rd *strings.Reader
	ct := "application/fhir+json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		rd = strings.NewReader(string(mustJSON(b)))
	}
	var req *http.Request
	if rd != nil {
		req, _ = http.NewRequest(method, target, rd)
		req.Header.Set("Content-Type", ct)
	} else {
		req, _ = http.NewRequest(method, target, nil)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return h.send(req)
}

// bundleOf builds a batch or transaction Bundle from entries.
func bundleOf(kind string, es ...map[string]any) map[string]any {
	list := make([]any, len(es))
	for i, e := range es {
		list[i] = e
	}
	return map[string]any{"resourceType": "Bundle", "type": kind, "entry": list}
}

func reqEntry(method, u string, res map[string]any, extra map[string]any) map[string]any {
	rq := map[string]any{"method": method, "url": u}
	for k, v := range extra {
		rq[k] = v
	}
	e := map[string]any{"request": rq}
	if res != nil {
		e["resource"] = res
	}
	return e
}

// entryAnswer is the status code of a Bundle response entry and, for a
// search entry, its number of matches.
func entryAnswer(t *testing.T, r *response, i int) string {
	t.Helper()
	if r.status != http.StatusOK {
		return fmt.Sprintf("bundle %d", r.status)
	}
	list, _ := r.json["entry"].([]any)
	if len(list) <= i {
		t.Fatalf("no entry %d: %s", i, r.body)
	}
	e, _ := list[i].(map[string]any)
	resp, _ := e["response"].(map[string]any)
	st, _ := resp["status"].(string)
	out := strings.Fields(st)[0]
	if res, ok := e["resource"].(map[string]any); ok && res["type"] == "searchset" {
		ids, _ := entries(res, "match")
		out += fmt.Sprintf(" matches=%d", len(ids))
	}
	return out
}

func searchAnswer(r *response) string {
	if r.status != http.StatusOK {
		return fmt.Sprint(r.status)
	}
	ids, _ := entries(r.json, "match")
	return fmt.Sprintf("200 matches=%d", len(ids))
}

func birthDate(t *testing.T, h *harness, admin, id string) string {
	t.Helper()
	r := h.do("GET", "Patient/"+id, admin, nil)
	bd, _ := r.json["birthDate"].(string)
	if r.status != 200 || bd == "" {
		t.Fatalf("Patient/%s birthDate: %d %s", id, r.status, r.body)
	}
	return bd
}

// TestSec9D3_ChainNoOracleOnAnyPath: a chained parameter through another
// patient's record answers the same whether that record matches or not, on
// every search path: plain GET, POST _search, batch and transaction GET
// entries, conditional create/update/delete (plain and in Bundles). The
// bait is an Observation in the own compartment (performer) whose subject
// is the other patient; the chain tests the other patient's birthDate.
func TestSec9D3_ChainNoOracleOnAnyPath(t *testing.T) {
	h := newHarness(t)
	f := newFixture(t, h)
	bait := h.create(f.admin, observation(f.other, "laboratory", map[string]any{"performer": []any{ref("Patient/" + f.own)}}))
	otherBD := birthDate(t, h, f.admin, f.other)
	yes := "_id=" + bait + "&subject:Patient.birthdate=" + otherBD // true for the other patient
	no := "_id=" + bait + "&subject:Patient.birthdate=ne" + otherBD
	// The admin sees the difference: the probe is a real oracle.
	if a, b := searchAnswer(h.do("GET", "Observation?"+yes, f.admin, nil)), searchAnswer(h.do("GET", "Observation?"+no, f.admin, nil)); a != "200 matches=1" || b != "200 matches=0" {
		t.Fatalf("admin: %s / %s", a, b)
	}
	lind := h.owin("lind", userPassword)
	v2 := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Observation.cruds patient/Patient.rs", patient: f.own}).str("access_token")
	own := observation(f.own, "laboratory", nil)
	paths := []struct {
		name   string
		answer func(tok, cond string) string
	}{
		{"get", func(tok, cond string) string { return searchAnswer(h.do("GET", "Observation?"+cond, tok, nil)) }},
		{"post-search", func(tok, cond string) string {
			v, _ := url.ParseQuery(cond)
			return searchAnswer(h.reqWith("POST", "Observation/_search", tok, v, nil))
		}},
		{"batch-get", func(tok, cond string) string {
			return entryAnswer(t, h.do("POST", h.baseA+"/fhir", tok, bundleOf("batch", reqEntry("GET", "Observation?"+cond, nil, nil))), 0)
		}},
		{"transaction-get", func(tok, cond string) string {
			return entryAnswer(t, h.do("POST", h.baseA+"/fhir", tok, bundleOf("transaction", reqEntry("GET", "Observation?"+cond, nil, nil))), 0)
		}},
		{"if-none-exist", func(tok, cond string) string {
			return fmt.Sprint(h.reqWith("POST", "Observation", tok, own, map[string]string{"If-None-Exist": cond}).status)
		}},
		{"conditional-update", func(tok, cond string) string {
			return fmt.Sprint(h.reqWith("PUT", "Observation?"+cond, tok, own, nil).status)
		}},
		{"conditional-delete", func(tok, cond string) string {
			st := h.reqWith("DELETE", "Observation?"+cond, tok, nil, nil).status
			return fmt.Sprint(st, " bait:", h.do("GET", "Observation/"+bait, f.admin, nil).status)
		}},
		{"batch-if-none-exist", func(tok, cond string) string {
			return entryAnswer(t, h.do("POST", h.baseA+"/fhir", tok, bundleOf("batch", reqEntry("POST", "Observation", own, map[string]any{"ifNoneExist": cond}))), 0)
		}},
		{"transaction-conditional-update", func(tok, cond string) string {
			return entryAnswer(t, h.do("POST", h.baseA+"/fhir", tok, bundleOf("transaction", reqEntry("PUT", "Observation?"+cond, own, nil))), 0)
		}},
		{"batch-conditional-delete", func(tok, cond string) string {
			a := entryAnswer(t, h.do("POST", h.baseA+"/fhir", tok, bundleOf("batch", reqEntry("DELETE", "Observation?"+cond, nil, nil))), 0)
			return fmt.Sprint(a, " bait:", h.do("GET", "Observation/"+bait, f.admin, nil).status)
		}},
	}
	for _, tok := range []struct{ name, tok string }{{"owin-patient", lind}, {"v2-launch", v2}} {
		for _, p := range paths {
			t.Run(tok.name+"/"+p.name, func(t *testing.T) {
				a, b := p.answer(tok.tok, yes), p.answer(tok.tok, no)
				if a != b {
					t.Fatalf("the answer depends on the other patient's birthDate: %q (true) vs %q (false)", a, b)
				}
				if strings.Contains(a, "matches=1") {
					t.Fatalf("a chain through the other patient matched: %s", a)
				}
			})
		}
	}
}

// TestSec9D3_OwnChainWorks: a chain whose target is the token's own patient
// (in its compartment) is answered with the matches, on the plain and the
// Bundle paths; the same chain on a value the own patient does not have
// matches nothing.
func TestSec9D3_OwnChainWorks(t *testing.T) {
	h := newHarness(t)
	f := newFixture(t, h)
	ownBD := birthDate(t, h, f.admin, f.own)
	lind := h.owin("lind", userPassword)
	hit := "_id=" + f.labOwn + "&subject:Patient.birthdate=" + ownBD
	miss := "_id=" + f.labOwn + "&subject:Patient.birthdate=ne" + ownBD
	if got := searchAnswer(h.do("GET", "Observation?"+hit, lind, nil)); got != "200 matches=1" {
		t.Fatalf("own chain, plain GET: %s", got)
	}
	if got := searchAnswer(h.do("GET", "Observation?"+miss, lind, nil)); got != "200 matches=0" {
		t.Fatalf("own chain (no match), plain GET: %s", got)
	}
	r := h.do("POST", h.baseA+"/fhir", lind, bundleOf("batch", reqEntry("GET", "Observation?"+hit, nil, nil), reqEntry("GET", "Observation?"+miss, nil, nil)))
	if a, b := entryAnswer(t, r, 0), entryAnswer(t, r, 1); a != "200 matches=1" || b != "200 matches=0" {
		t.Fatalf("own chain in a batch: %s / %s", a, b)
	}
	// Conditional create on an own chain finds the existing resource.
	r = h.reqWith("POST", "Observation", lind, observation(f.own, "laboratory", nil), map[string]string{"If-None-Exist": hit})
	if r.status != http.StatusOK || r.json["id"] != f.labOwn {
		t.Fatalf("If-None-Exist on an own chain: %d %.200s", r.status, r.body)
	}
	// A chain through a type the token may not search stays 403.
	obsOnly := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Observation.rs", patient: f.own}).str("access_token")
	forbidden(t, h.do("GET", "Observation?"+hit, obsOnly, nil))
	if got := entryAnswer(t, h.do("POST", h.baseA+"/fhir", obsOnly, bundleOf("batch", reqEntry("GET", "Observation?"+hit, nil, nil))), 0); got != "403" {
		t.Fatalf("batch chain through an unscoped type: %s", got)
	}
}

func includedIDs(r *response) []string {
	ids, _ := entries(r.json, "include")
	return ids
}

func outcomeText(r *response) string {
	_, res := entries(r.json, "outcome")
	return string(mustJSON(res))
}

// TestSec9T_IncludedResourcesWithinReach: _include and _revinclude (with
// :iterate) show only resources the token may read, across patients, and
// iterate only through such resources: a link through a resource the
// token may not read does not show what it points to.
func TestSec9T_IncludedResourcesWithinReach(t *testing.T) {
	h := newHarness(t)
	f := newFixture(t, h)
	bait := h.create(f.admin, observation(f.other, "laboratory", map[string]any{"performer": []any{ref("Patient/" + f.own)}}))
	lind := h.owin("lind", userPassword)
	for _, q := range []string{
		"Observation?_id=" + bait + "&_include=Observation:subject",
		"Patient?_id=" + f.own + "&_revinclude=Observation:performer&_include:iterate=Observation:subject",
		"Patient?_id=" + f.own + "&_revinclude=Observation:subject&_include:iterate=Observation:encounter&_count=1",
		"Encounter?_id=" + f.encOther + "&_revinclude=Observation:encounter",
	} {
		r := h.do("GET", q, lind, nil)
		status(200)(t, r)
		for _, id := range includedIDs(r) {
			if id == f.other || id == "Encounter/"+f.encOther {
				t.Fatalf("%s: the other patient's %s was included", q, id)
			}
		}
	}
	// No Observation scope: the Observations are not included, and neither
	// are the Encounters reached only through them.
	noObs := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Patient.rs patient/Encounter.rs", patient: f.own}).str("access_token")
	r := h.do("GET", "Patient?_id="+f.own+"&_revinclude=Observation:subject&_include:iterate=Observation:encounter", noObs, nil)
	status(200)(t, r)
	if inc := includedIDs(r); len(inc) != 0 {
		t.Fatalf("included through unreadable Observations: %v", inc)
	}
	if !strings.Contains(outcomeText(r), "no read access") {
		t.Fatalf("the left-out includes are not reported: %s", r.body)
	}
}

// TestSec9T_IncludeIterateCapped: the included resources of a page are cut
// off at the documented cap (1000), and the Bundle says so in an
// OperationOutcome entry (search.mode outcome).
func TestSec9T_IncludeIterateCapped(t *testing.T) {
	h := newHarness(t)
	admin := h.owin("admin", adminPassword)
	pid := h.create(admin, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Capped"}}})
	enc := h.create(admin, map[string]any{"resourceType": "Encounter", "status": "finished",
		"class": map[string]any{"code": "AMB"}, "subject": ref("Patient/" + pid)})
	var es []map[string]any
	for i := 0; i < includeCap+5; i++ {
		es = append(es, reqEntry("POST", "Observation", observation(pid, "laboratory", nil), nil))
	}
	status(200)(t, h.do("POST", h.baseA+"/fhir", admin, bundleOf("transaction", es...)))
	for _, q := range []string{
		"Patient?_id=" + pid + "&_revinclude=Observation:subject",
		"Encounter?_id=" + enc + "&_include=Encounter:subject&_revinclude:iterate=Observation:subject",
	} {
		r := h.do("GET", q, admin, nil)
		status(200)(t, r)
		if n := len(includedIDs(r)); n != includeCap {
			t.Fatalf("%s: %d included, want the cap %d", q, n, includeCap)
		}
		if !strings.Contains(outcomeText(r), "too-costly") {
			t.Fatalf("%s: no OperationOutcome saying the includes were cut", q)
		}
	}
	// Under the cap: everything, no warning.
	r := h.do("GET", "Encounter?_id="+enc+"&_include=Encounter:subject", admin, nil)
	if inc := includedIDs(r); len(inc) != 1 || strings.Contains(outcomeText(r), "too-costly") {
		t.Fatalf("under the cap: %v %s", inc, outcomeText(r))
	}
}
