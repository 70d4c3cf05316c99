package main

// HTTP-level tests of SMART scope enforcement on the FHIR endpoint, with
// real tokens against the server as newApp wires it (see
// enforce_harness_test.go). The matrix is patient/user/system × v1/v2 ×
// read/search/write/include, allowed and refused; the other tests are named
// after the checklist item they prove (/work/shared/smart-checklist.md).

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// fixture holds resource ids of the demo data: "own" is the Lind record
// (the launch patient and the patient user "lind"), "other" Yundt's.
type fixture struct {
	own, other                       string // Patient ids
	labOwn, vitalOwn, labOther       string // Observation ids
	encOwn, encOther                 string // Encounter ids
	condOwn, condOther               string // Condition ids
	obsFocusOther, obsEncounterOther string // crafted Observations, see newFixture
	admin                            string // an OWin administrator token
}

func firstID(t *testing.T, h *harness, token, query string) string {
	t.Helper()
	ids := h.searchIDs(token, query)
	if len(ids) == 0 {
		t.Fatalf("no match for %s", query)
	}
	_, id, _ := strings.Cut(ids[0], "/")
	return id
}

func newFixture(t *testing.T, h *harness) *fixture {
	t.Helper()
	admin := h.owin("admin", adminPassword)
	f := &fixture{own: h.patients["Lind"], other: h.patients["Yundt"], admin: admin}
	f.labOwn = firstID(t, h, admin, "Observation?patient="+f.own+"&category=laboratory&_count=1")
	f.vitalOwn = firstID(t, h, admin, "Observation?patient="+f.own+"&category=vital-signs&_count=1")
	f.labOther = firstID(t, h, admin, "Observation?patient="+f.other+"&category=laboratory&_count=1")
	f.encOwn = firstID(t, h, admin, "Encounter?patient="+f.own+"&_count=1")
	f.encOther = firstID(t, h, admin, "Encounter?patient="+f.other+"&_count=1")
	f.condOwn = firstID(t, h, admin, "Condition?patient="+f.own+"&_count=1")
	f.condOther = firstID(t, h, admin, "Condition?patient="+f.other+"&_count=1")
	// In the other patient's compartment, but pointing at the own patient
	// (focus is not a compartment parameter): _revinclude bait.
	f.obsFocusOther = h.create(admin, observation(f.other, "laboratory", map[string]any{"focus": []any{ref("Patient/" + f.own)}}))
	// In the own compartment, pointing at the other patient's Encounter:
	// _include bait.
	f.obsEncounterOther = h.create(admin, observation(f.own, "laboratory", map[string]any{"encounter": ref("Encounter/" + f.encOther)}))
	return f
}

func ref(r string) map[string]any { return map[string]any{"reference": r} }

func observation(patient, category string, extra map[string]any) map[string]any {
	o := map[string]any{
		"resourceType": "Observation", "status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}}}},
		"code":    map[string]any{"text": "enforce test " + category},
		"subject": ref("Patient/" + patient),
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func condition(patient string) map[string]any {
	return map[string]any{"resourceType": "Condition", "code": map[string]any{"text": "enforce test"},
		"subject": ref("Patient/" + patient)}
}

// create stores a resource (must succeed) and returns its id.
func (h *harness) create(token string, res map[string]any) string {
	h.t.Helper()
	r := h.do("POST", res["resourceType"].(string), token, res)
	if r.status != http.StatusCreated {
		h.t.Fatalf("create %s: %d %s", res["resourceType"], r.status, r.body)
	}
	return r.json["id"].(string)
}

// subjects returns the subject/patient references of a Bundle's match
// entries.
func subjects(b map[string]any) []string {
	_, res := entries(b, "match")
	var out []string
	for _, r := range res {
		for _, k := range []string{"subject", "patient"} {
			if m, ok := r[k].(map[string]any); ok {
				s, _ := m["reference"].(string)
				out = append(out, s)
			}
		}
		if r["resourceType"] == "Patient" {
			out = append(out, "Patient/"+r["id"].(string))
		}
	}
	return out
}

// Expectations.
func status(want int) func(*testing.T, *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		if r.status != want {
			t.Fatalf("status %d, want %d: %.300s", r.status, want, r.body)
		}
	}
}

// forbidden is 403 with error="insufficient_scope" and an OperationOutcome.
func forbidden(t *testing.T, r *response) {
	t.Helper()
	if r.status != http.StatusForbidden {
		t.Fatalf("status %d, want 403: %.300s", r.status, r.body)
	}
	if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") || !strings.Contains(h, `error="insufficient_scope"`) {
		t.Fatalf("WWW-Authenticate %q", h)
	}
	if r.json["resourceType"] != "OperationOutcome" {
		t.Fatalf("body is not an OperationOutcome: %s", r.body)
	}
}

// hidden is 404 with an OperationOutcome: existence is not revealed.
func hidden(t *testing.T, r *response) {
	t.Helper()
	if r.status != http.StatusNotFound || r.json["resourceType"] != "OperationOutcome" {
		t.Fatalf("status %d, want 404 OperationOutcome: %.300s", r.status, r.body)
	}
}

// only: a 200 searchset whose matches are all in the named compartments,
// with at least one match.
func only(patients ...string) func(*testing.T, *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %.300s", r.status, r.body)
		}
		subs := subjects(r.json)
		if len(subs) == 0 {
			t.Fatalf("no matches: %.300s", r.body)
		}
		for _, s := range subs {
			if !slices.Contains(patients, strings.TrimPrefix(s, "Patient/")) {
				t.Fatalf("match in compartment %s, allowed only %v", s, patients)
			}
		}
	}
}

func empty(t *testing.T, r *response) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %.300s", r.status, r.body)
	}
	if ids, _ := entries(r.json, "match"); len(ids) != 0 {
		t.Fatalf("want no matches, got %v", ids)
	}
}

func includes(id string, want bool) func(*testing.T, *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %.300s", r.status, r.body)
		}
		ids, _ := entries(r.json, "include")
		if got := slices.Contains(ids, id); got != want {
			t.Fatalf("included %v; %s included: %v, want %v", ids, id, got, want)
		}
	}
}

// principalKind names a row of the matrix.
type principalKind struct {
	name string
	// allReach: the principal reaches every compartment (practitioner,
	// backend service); otherwise only the own patient's.
	allReach bool
	token    func(t *testing.T, h *harness, version string) string
}

func scopeSet(ctx, version string) string {
	if version == "v1" {
		return fmt.Sprintf("%[1]s/Patient.read %[1]s/Observation.read %[1]s/Encounter.read %[1]s/Condition.*", ctx)
	}
	return fmt.Sprintf("%[1]s/Patient.rs %[1]s/Observation.rs %[1]s/Encounter.rs %[1]s/Condition.cruds", ctx)
}

func matrixPrincipals(f *fixture) []principalKind {
	return []principalKind{
		{name: "patient/practitioner-launch", token: func(t *testing.T, h *harness, v string) string {
			tr := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient " + scopeSet("patient", v), patient: f.own})
			if tr.str("patient") != f.own {
				t.Fatalf("patient context %q, want %q (E1)", tr.str("patient"), f.own)
			}
			return tr.str("access_token")
		}},
		{name: "patient/patient-user", token: func(t *testing.T, h *harness, v string) string {
			tr := h.code(codeLaunch{user: "lind", password: userPassword, scope: "launch/patient " + scopeSet("patient", v)})
			if tr.str("patient") != f.own {
				t.Fatalf("patient context %q, want %q (E1)", tr.str("patient"), f.own)
			}
			return tr.str("access_token")
		}},
		{name: "user/practitioner", allReach: true, token: func(t *testing.T, h *harness, v string) string {
			return h.code(codeLaunch{user: "doc", password: userPassword, scope: scopeSet("user", v)}).str("access_token")
		}},
		{name: "user/patient-user", token: func(t *testing.T, h *harness, v string) string {
			return h.code(codeLaunch{user: "lind", password: userPassword, scope: scopeSet("user", v)}).str("access_token")
		}},
		{name: "system/backend", allReach: true, token: func(t *testing.T, h *harness, v string) string {
			return h.backendToken(scopeSet("system", v))
		}},
	}
}

// TestEnforce is the matrix: patient (launch by a practitioner, and a
// patient user), user (practitioner, patient user) and system × v1, v2 ×
// read, search, write, include; allowed and refused (F4, F6, F7, G2, G9).
func TestEnforce(t *testing.T) {
	h := newHarness(t)
	f := newFixture(t, h)
	for _, pk := range matrixPrincipals(f) {
		for _, v := range []string{"v1", "v2"} {
			t.Run(pk.name+"/"+v, func(t *testing.T) {
				tok := pk.token(t, h, v)
				reach := func(allowed, refused func(*testing.T, *response)) func(*testing.T, *response) {
					if pk.allReach {
						return allowed
					}
					return refused
				}
				condOther := h.create(f.admin, condition(f.other)) // deleted below by who may
				otherSearch := only(f.other)
				if !pk.allReach {
					otherSearch = empty
				}
				cases := []struct {
					name   string
					method string
					path   string
					body   any
					want   func(*testing.T, *response)
				}{
					// read
					{"read/own-patient", "GET", "Patient/" + f.own, nil, status(200)},
					{"read/own-observation", "GET", "Observation/" + f.labOwn, nil, status(200)},
					{"read/other-patient", "GET", "Patient/" + f.other, nil, reach(status(200), hidden)},
					{"read/other-observation", "GET", "Observation/" + f.labOther, nil, reach(status(200), hidden)},
					{"read/nonexistent", "GET", "Observation/does-not-exist", nil, hidden},
					{"read/type-not-granted", "GET", "MedicationRequest/any-id", nil, forbidden},
					{"read/vread-own", "GET", "Observation/" + f.labOwn + "/_history/1", nil, status(200)},
					{"read/vread-other", "GET", "Observation/" + f.labOther + "/_history/1", nil, reach(status(200), hidden)},
					// search
					{"search/own", "GET", "Observation?patient=" + f.own, nil, only(f.own)},
					{"search/other", "GET", "Observation?patient=" + f.other, nil, otherSearch},
					{"search/unfiltered", "GET", "Encounter?_count=200", nil, reach(only(f.own, f.other, h.patients["Gerhold"]), only(f.own))},
					{"search/post-other", "POST", "Observation/_search", "patient=" + f.other, otherSearch},
					{"search/post-own", "POST", "Observation/_search", "patient=" + f.own, only(f.own)},
					{"search/type-not-granted", "GET", "MedicationRequest?patient=" + f.own, nil, forbidden},
					// write
					{"write/create-own", "POST", "Condition", condition(f.own), status(201)},
					{"write/create-other", "POST", "Condition", condition(f.other), reach(status(201), forbidden)},
					{"write/create-not-granted", "POST", "Observation", observation(f.own, "laboratory", nil), forbidden},
					{"write/update-not-granted", "PUT", "Observation/" + f.labOwn, nil, forbidden},
					{"write/delete-other", "DELETE", "Condition/" + condOther, nil, reach(status(204), deletesNothing(h, f.admin, "Condition/"+condOther))},
					{"write/delete-not-granted", "DELETE", "Observation/" + f.vitalOwn, nil, forbidden},
					// include
					{"include/own-patient", "GET", "Observation?_id=" + f.labOwn + "&_include=Observation:patient", nil, includes(f.own, true)},
					{"include/other-encounter", "GET", "Observation?_id=" + f.obsEncounterOther + "&_include=Observation:encounter", nil, includes("Encounter/"+f.encOther, pk.allReach)},
					{"revinclude/other-observation", "GET", "Patient?_id=" + f.own + "&_revinclude=Observation:focus", nil, includes("Observation/"+f.obsFocusOther, pk.allReach)},
				}
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						if form, ok := c.body.(string); ok {
							c.want(t, h.postFormToken(h.baseA+"/fhir/"+c.path, form, tok))
							return
						}
						body := c.body
						if c.name == "write/update-not-granted" {
							body = observation(f.own, "laboratory", map[string]any{"id": f.labOwn})
						}
						c.want(t, h.do(c.method, c.path, tok, body))
					})
				}
				t.Run("write/update-own-then-move-then-delete", func(t *testing.T) {
					r := h.do("POST", "Condition", tok, condition(f.own))
					status(201)(t, r)
					id := r.json["id"].(string)
					upd := condition(f.own)
					upd["id"] = id
					upd["note"] = []any{map[string]any{"text": "updated"}}
					status(200)(t, h.do("PUT", "Condition/"+id, tok, upd))
					moved := condition(f.other)
					moved["id"] = id
					r = h.do("PUT", "Condition/"+id, tok, moved)
					if pk.allReach {
						status(200)(t, r)
					} else {
						forbidden(t, r) // may not move data into another compartment
						status(200)(t, h.do("GET", "Condition/"+id, tok, nil))
					}
					status(204)(t, h.do("DELETE", "Condition/"+id, tok, nil))
				})
			})
		}
	}
}

func (h *harness) postFormToken(target, form, token string) *response {
	h.t.Helper()
	req, _ := http.NewRequest("POST", target, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.httpc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, body: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

// deletesNothing: a delete outside the token's reach is answered as for an
// id that never existed (204, no ETag) and leaves the resource in place
// (read back with the administrator's token).
func deletesNothing(h *harness, admin, path string) func(*testing.T, *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		status(204)(t, r)
		if et := r.header.Get("ETag"); et != "" {
			t.Errorf("ETag %q on a delete outside reach", et)
		}
		status(200)(t, h.do("GET", path, admin, nil))
	}
}
