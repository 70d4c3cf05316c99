package main

// Regression tests of issue 9, defect 2 (patient-context writes: the owner
// element decides, not any compartment link) and defect 9 (a deleted
// resource is decided on its last content), against the server as newApp
// wires it, with real tokens. ME is the Lind record, OTHER Yundt's.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// sec9Token is one token of ME whose writes reach only ME's compartment.
type sec9Token struct{ name, token string }

// sec9PatientTokens returns one token per way a grant is limited to ME's
// compartment: patient/ v2 scopes of the patient user, patient/ v1 scopes
// of a practitioner's launch for ME, user/ scopes of the patient user, and
// the patient user's OWin token.
func sec9PatientTokens(t *testing.T, h *harness, me string) []sec9Token {
	t.Helper()
	types := []string{"Observation", "Condition", "AllergyIntolerance", "Basic", "Patient"}
	scopes := func(ctx, perm string) string {
		var s []string
		for _, typ := range types {
			s = append(s, ctx+"/"+typ+"."+perm)
		}
		return strings.Join(s, " ")
	}
	v2 := h.code(codeLaunch{user: "lind", password: userPassword, scope: "launch/patient " + scopes("patient", "cruds")})
	v1 := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient " + scopes("patient", "*"), patient: me})
	for _, tr := range []tokenResponse{v2, v1} {
		if tr.str("patient") != me {
			t.Fatalf("patient context %q, want %q", tr.str("patient"), me)
		}
	}
	user := h.code(codeLaunch{user: "lind", password: userPassword, scope: scopes("user", "cruds")})
	return []sec9Token{
		{"patient-v2/patient-user", v2.str("access_token")},
		{"patient-v1/practitioner-launch", v1.str("access_token")},
		{"user-v2/patient-user", user.str("access_token")},
		{"owin/patient-user", h.owin("lind", userPassword)},
	}
}

// sec9Marked gives res an identifier urn:sec9|mark, to count what is stored.
func sec9Marked(res map[string]any, mark string) map[string]any {
	res["identifier"] = []any{map[string]any{"system": "urn:sec9", "value": mark}}
	return res
}

// sec9Count counts the resources of typ marked mark (searched as admin).
func sec9Count(h *harness, admin, typ, mark string) int {
	h.t.Helper()
	return len(h.searchIDs(admin, typ+"?identifier="+url.QueryEscape("urn:sec9|"+mark)))
}

func sec9Entry(method, u string, res map[string]any) map[string]any {
	e := map[string]any{"request": map[string]any{"method": method, "url": u}}
	if res != nil {
		e["resource"] = res
	}
	return e
}

// sec9Statuses returns the status codes of a batch-response's entries.
func sec9Statuses(t *testing.T, r *response) []string {
	t.Helper()
	status(200)(t, r)
	list, _ := r.json["entry"].([]any)
	var got []string
	for _, e := range list {
		resp, _ := e.(map[string]any)["response"].(map[string]any)
		s, _ := resp["status"].(string)
		got = append(got, strings.Fields(s + " ?")[0])
	}
	return got
}

func sec9WantStatuses(t *testing.T, r *response, want ...string) {
	t.Helper()
	if got := sec9Statuses(t, r); !slices.Equal(got, want) {
		t.Fatalf("entry statuses %v, want %v: %.400s", got, want, r.body)
	}
}

// sec9Obs is an Observation of patient (subject; "" for none) with extra
// elements.
func sec9Obs(subject string, extra map[string]any) map[string]any {
	o := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "sec9"}}
	if subject != "" {
		o["subject"] = ref(subject)
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// TestSec9D2_PerformerLinkDoesNotAdmitWrite is the repro of defect 2: a
// resource whose owner element is OTHER may not be written by a token of
// ME because ME appears in a performer/asserter/recorder link; OTHER's chart
// stays unchanged. Plain POST, transaction and batch entries.
func TestSec9D2_PerformerLinkDoesNotAdmitWrite(t *testing.T) {
	h := newHarness(t)
	me, other := h.patients["Lind"], h.patients["Yundt"]
	admin := h.owin("admin", adminPassword)
	chart := func() any { return h.do("GET", "Observation?_summary=count&patient="+other, admin, nil).json["total"] }
	others := chart()
	baits := func(mark string) []map[string]any {
		return []map[string]any{
			sec9Marked(sec9Obs("Patient/"+other, map[string]any{"performer": []any{ref("Patient/" + me)}}), mark),
			sec9Marked(map[string]any{"resourceType": "Condition", "code": map[string]any{"text": "sec9"},
				"subject": ref("Patient/" + other), "asserter": ref("Patient/" + me)}, mark),
			sec9Marked(map[string]any{"resourceType": "AllergyIntolerance", "code": map[string]any{"text": "sec9"},
				"patient": ref("Patient/" + other), "recorder": ref("Patient/" + me)}, mark),
			sec9Marked(map[string]any{"resourceType": "AllergyIntolerance", "code": map[string]any{"text": "sec9"},
				"patient": ref("Patient/" + other), "asserter": ref("Patient/" + me)}, mark),
		}
	}
	count := func(mark string) int {
		n := 0
		for _, typ := range []string{"Observation", "Condition", "AllergyIntolerance"} {
			n += sec9Count(h, admin, typ, mark)
		}
		return n
	}
	for _, tk := range sec9PatientTokens(t, h, me) {
		t.Run(tk.name, func(t *testing.T) {
			mark := "d2-link-" + tk.name
			forbidden(t, h.do("POST", "Observation", tk.token, sec9Marked(sec9Obs("Patient/"+other, nil), mark)))
			for _, res := range baits(mark) {
				forbidden(t, h.do("POST", res["resourceType"].(string), tk.token, res))
			}
			for _, res := range baits(mark) {
				forbidden(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("transaction",
					sec9Entry("POST", "Observation", sec9Marked(sec9Obs("Patient/"+me, nil), mark+"-own")),
					sec9Entry("POST", res["resourceType"].(string), res))))
			}
			var es []map[string]any
			for _, res := range baits(mark) {
				es = append(es, sec9Entry("POST", res["resourceType"].(string), res))
			}
			sec9WantStatuses(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("batch", es...)), "403", "403", "403", "403")
			// Conditional create (If-None-Exist matching nothing), plain and
			// as a transaction entry.
			bait := baits(mark)[0]
			req, _ := http.NewRequest("POST", h.baseA+"/fhir/Observation", strings.NewReader(string(mustJSON(bait))))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Authorization", "Bearer "+tk.token)
			req.Header.Set("If-None-Exist", "identifier=urn:sec9|"+mark)
			forbidden(t, h.send(req))
			cond := sec9Entry("POST", "Observation", bait)
			cond["request"].(map[string]any)["ifNoneExist"] = "identifier=urn:sec9|" + mark
			forbidden(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("transaction", cond)))
			if n := count(mark) + count(mark+"-own"); n != 0 {
				t.Fatalf("%d resources stored by refused writes", n)
			}
		})
	}
	if n := chart(); n != others || n == nil {
		t.Fatalf("OTHER's chart has %v Observations, had %v", n, others)
	}
}

// TestSec9D2_OwnerElementMustBeContextPatient: a patient-context write is
// admitted only when the owner element references the context patient
// (relative Patient/ID), every compartment the content lands in is the
// context patient's, and the type is in the owner table. Unrestricted
// grants are unaffected.
func TestSec9D2_OwnerElementMustBeContextPatient(t *testing.T) {
	h := newHarness(t)
	me, other := h.patients["Lind"], h.patients["Yundt"]
	admin := h.owin("admin", adminPassword)
	patientMe := h.do("GET", "Patient/"+me, admin, nil)
	status(200)(t, patientMe)
	for _, tk := range sec9PatientTokens(t, h, me) {
		t.Run(tk.name, func(t *testing.T) {
			mark := "d2-owner-" + tk.name
			status(201)(t, h.do("POST", "Observation", tk.token, sec9Marked(sec9Obs("Patient/"+me, nil), mark+"-ok")))
			for name, res := range map[string]map[string]any{
				"performer-other":  sec9Obs("Patient/"+me, map[string]any{"performer": []any{ref("Patient/" + other)}}),
				"no-subject":       sec9Obs("", map[string]any{"performer": []any{ref("Patient/" + me)}}),
				"absolute-subject": sec9Obs("https://elsewhere.example/fhir/Patient/"+me, nil),
				"group-subject":    sec9Obs("Group/"+me, map[string]any{"performer": []any{ref("Patient/" + me)}}),
				"type-not-in-table": {"resourceType": "Basic", "code": map[string]any{"text": "sec9"},
					"subject": ref("Patient/" + me)},
			} {
				r := h.do("POST", res["resourceType"].(string), tk.token, sec9Marked(res, mark))
				if r.status != http.StatusForbidden {
					t.Errorf("%s: status %d, want 403: %.300s", name, r.status, r.body)
				}
			}
			if n := sec9Count(h, admin, "Observation", mark) + sec9Count(h, admin, "Basic", mark); n != 0 {
				t.Fatalf("%d refused resources stored", n)
			}
			// Patient: the owner is its own id.
			pat := map[string]any{}
			for k, v := range patientMe.json {
				pat[k] = v
			}
			delete(pat, "meta")
			status(200)(t, h.do("PUT", "Patient/"+me, tk.token, pat))
			pat["link"] = []any{map[string]any{"type": "seealso", "other": ref("Patient/" + other)}}
			forbidden(t, h.do("PUT", "Patient/"+me, tk.token, pat))
			delete(pat, "link")
			delete(pat, "id")
			forbidden(t, h.do("POST", "Patient", tk.token, pat))
			sec9WantStatuses(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("batch",
				sec9Entry("POST", "Observation", sec9Marked(sec9Obs("Patient/"+me, nil), mark+"-ok")),
				sec9Entry("POST", "Observation", sec9Obs("", map[string]any{"performer": []any{ref("Patient/" + me)}})),
				sec9Entry("POST", "Basic", map[string]any{"resourceType": "Basic", "code": map[string]any{"text": "sec9"},
					"subject": ref("Patient/" + me)}))), "201", "403", "403")
		})
	}
	// A practitioner's user/ scopes are not limited to a compartment.
	prac := h.code(codeLaunch{user: "doc", password: userPassword, scope: "user/Observation.cruds user/Basic.cruds"}).str("access_token")
	status(201)(t, h.do("POST", "Observation", prac, sec9Obs("Patient/"+other, map[string]any{"performer": []any{ref("Patient/" + me)}})))
	status(201)(t, h.do("POST", "Basic", prac, map[string]any{"resourceType": "Basic", "code": map[string]any{"text": "sec9"},
		"subject": ref("Patient/" + me)}))
}

// TestSec9D2_UpdateAndDeleteNeedOwnerOldAndNew: an update needs the stored
// content and the new content to be the context patient's; a delete the
// stored content. A resource of OTHER that only links to ME stays
// unchanged through plain, conditional and Bundle writes (403: it is in
// ME's compartment, so readable, but not ME's to change).
func TestSec9D2_UpdateAndDeleteNeedOwnerOldAndNew(t *testing.T) {
	h := newHarness(t)
	me, other := h.patients["Lind"], h.patients["Yundt"]
	admin := h.owin("admin", adminPassword)
	bait := h.create(admin, sec9Marked(sec9Obs("Patient/"+other, map[string]any{"performer": []any{ref("Patient/" + me)}}), "d2-bait"))
	cond := "Observation?identifier=" + url.QueryEscape("urn:sec9|d2-bait")
	mine := sec9Obs("Patient/"+me, nil)
	for _, tk := range sec9PatientTokens(t, h, me) {
		t.Run(tk.name, func(t *testing.T) {
			status(200)(t, h.do("GET", "Observation/"+bait, tk.token, nil)) // reads are unchanged
			takeover := sec9Obs("Patient/"+me, map[string]any{"id": bait})
			forbidden(t, h.do("PUT", "Observation/"+bait, tk.token, takeover))
			forbidden(t, h.do("DELETE", "Observation/"+bait, tk.token, nil))
			forbidden(t, h.do("PUT", cond, tk.token, sec9Obs("Patient/"+me, nil)))
			forbidden(t, h.do("DELETE", cond, tk.token, nil))
			forbidden(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("transaction",
				sec9Entry("PUT", "Observation/"+bait, takeover))))
			forbidden(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("transaction",
				sec9Entry("PUT", cond, sec9Obs("Patient/"+me, nil)))))
			sec9WantStatuses(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("batch",
				sec9Entry("PUT", "Observation/"+bait, takeover), sec9Entry("DELETE", "Observation/"+bait, nil),
				sec9Entry("DELETE", cond, nil))), "403", "403", "403")

			own := h.create(admin, mine)
			moved := sec9Obs("Patient/"+other, map[string]any{"id": own})
			linked := sec9Obs("Patient/"+me, map[string]any{"id": own, "performer": []any{ref("Patient/" + other)}})
			forbidden(t, h.do("PUT", "Observation/"+own, tk.token, moved))
			forbidden(t, h.do("PUT", "Observation/"+own, tk.token, linked))
			sec9WantStatuses(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("batch",
				sec9Entry("PUT", "Observation/"+own, linked))), "403")
			status(200)(t, h.do("PUT", "Observation/"+own, tk.token, sec9Obs("Patient/"+me, map[string]any{"id": own})))
			status(204)(t, h.do("DELETE", "Observation/"+own, tk.token, nil))
		})
	}
	r := h.do("GET", "Observation/"+bait, admin, nil)
	status(200)(t, r)
	if meta, _ := r.json["meta"].(map[string]any); meta["versionId"] != "1" || !strings.Contains(string(r.body), "Patient/"+other) {
		t.Fatalf("OTHER's Observation was changed: %s", r.body)
	}
}

// sec9History returns the fullUrl of every entry of a history Bundle
// (deletions included).
func sec9History(t *testing.T, r *response) []string {
	t.Helper()
	status(200)(t, r)
	list, _ := r.json["entry"].([]any)
	var out []string
	for _, e := range list {
		full, _ := e.(map[string]any)["fullUrl"].(string)
		out = append(out, full)
	}
	return out
}

// sec9Deleted creates a resource as admin and deletes it.
func sec9Deleted(h *harness, admin string, res map[string]any) string {
	h.t.Helper()
	id := h.create(admin, res)
	status(204)(h.t, h.do("DELETE", res["resourceType"].(string)+"/"+id, admin, nil))
	return id
}

// TestSec9D9_DeletedOtherPatientsResourceNotTakenOver: a PUT over OTHER's
// deleted Observation (plain, conditional, transaction and batch entry) is
// decided on its last content: 404 as for any resource out of reach, and
// OTHER's history is unchanged. ME's own deleted resource is re-created.
func TestSec9D9_DeletedOtherPatientsResourceNotTakenOver(t *testing.T) {
	h := newHarness(t)
	me, other := h.patients["Lind"], h.patients["Yundt"]
	admin := h.owin("admin", adminPassword)
	gone := sec9Deleted(h, admin, sec9Obs("Patient/"+other, nil))
	takeover := sec9Obs("Patient/"+me, map[string]any{"id": gone})
	noMatch := "Observation?identifier=" + url.QueryEscape("urn:sec9|no-such-marker")
	for _, tk := range sec9PatientTokens(t, h, me) {
		t.Run(tk.name, func(t *testing.T) {
			hidden(t, h.do("PUT", "Observation/"+gone, tk.token, takeover))
			hidden(t, h.do("PUT", noMatch, tk.token, takeover))
			hidden(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("transaction",
				sec9Entry("PUT", "Observation/"+gone, takeover))))
			sec9WantStatuses(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("batch",
				sec9Entry("PUT", "Observation/"+gone, takeover), sec9Entry("PUT", noMatch, takeover))), "404", "404")
			mine := sec9Deleted(h, admin, sec9Obs("Patient/"+me, nil))
			status(201)(t, h.do("PUT", "Observation/"+mine, tk.token, sec9Obs("Patient/"+me, map[string]any{"id": mine})))
		})
	}
	status(410)(t, h.do("GET", "Observation/"+gone, admin, nil))
	if es := sec9History(t, h.do("GET", "Observation/"+gone+"/_history", admin, nil)); len(es) != 2 {
		t.Fatalf("OTHER's deleted Observation has %d versions, want 2 (create, delete)", len(es))
	}
}

// TestSec9D9_DeletedOtherPatientsResourceLooksUnknown: OTHER's deleted
// resource answers a token of ME like an id that never existed (read,
// vread, instance history, batch and transaction GET, delete), while ME's
// own deleted resource keeps 410 and its history; a type history of a
// query-restricted grant lists no deletion of a resource outside it.
func TestSec9D9_DeletedOtherPatientsResourceLooksUnknown(t *testing.T) {
	h := newHarness(t)
	me, other := h.patients["Lind"], h.patients["Yundt"]
	admin := h.owin("admin", adminPassword)
	gone := sec9Deleted(h, admin, sec9Obs("Patient/"+other, nil))
	mine := sec9Deleted(h, admin, sec9Obs("Patient/"+me, nil))
	const unknown = "sec9-never-existed"
	for _, tk := range sec9PatientTokens(t, h, me) {
		t.Run(tk.name, func(t *testing.T) {
			for _, id := range []string{unknown, gone} {
				hidden(t, h.do("GET", "Observation/"+id, tk.token, nil))
				hidden(t, h.do("GET", "Observation/"+id+"/_history/1", tk.token, nil))
				hidden(t, h.do("GET", "Observation/"+id+"/_history/2", tk.token, nil))
				hidden(t, h.do("GET", "Observation/"+id+"/_history", tk.token, nil))
				hidden(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("transaction", sec9Entry("GET", "Observation/"+id, nil))))
				r := h.do("DELETE", "Observation/"+id, tk.token, nil)
				status(204)(t, r)
				if e := r.header.Get("ETag"); e != "" {
					t.Errorf("DELETE %s: ETag %q reveals a version", id, e)
				}
			}
			sec9WantStatuses(t, h.do("POST", h.baseA+"/fhir", tk.token, bundleOf("batch",
				sec9Entry("GET", "Observation/"+unknown, nil), sec9Entry("GET", "Observation/"+gone, nil),
				sec9Entry("GET", "Observation/"+mine, nil))), "404", "404", "410")
			status(410)(t, h.do("GET", "Observation/"+mine, tk.token, nil))
			if es := sec9History(t, h.do("GET", "Observation/"+mine+"/_history", tk.token, nil)); len(es) != 2 {
				t.Fatalf("own deleted resource: %d history entries, want 2", len(es))
			}
		})
	}
	// Type history under a query-restricted grant: the deletion of a
	// vital-signs Observation is not a laboratory one's.
	vital := sec9Deleted(h, admin, observation(other, "vital-signs", nil))
	lab := sec9Deleted(h, admin, observation(other, "laboratory", nil))
	tok := h.code(codeLaunch{user: "doc", password: userPassword, scope: "user/Observation.rs?category=" + labCategory}).str("access_token")
	var seen []string
	for _, full := range sec9History(t, h.do("GET", "Observation/_history?_count=50", tok, nil)) {
		seen = append(seen, full[strings.LastIndex(full, "/")+1:])
	}
	if slices.Contains(seen, vital) || !slices.Contains(seen, lab) {
		t.Fatalf("type history lists %v: want the laboratory deletion %s, not the vital-signs one %s", seen, lab, vital)
	}
	hidden(t, h.do("GET", "Observation/"+vital+"/_history", tok, nil))
}
