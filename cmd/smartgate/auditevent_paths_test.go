package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// auditEventsIn returns the ids of every AuditEvent resource anywhere in
// a JSON answer (entries, nested batch responses, contained resources).
func auditEventsIn(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if x["resourceType"] == "AuditEvent" {
			id, _ := x["id"].(string)
			out = append(out, "AuditEvent/"+id)
		}
		for _, c := range x {
			out = append(out, auditEventsIn(c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, auditEventsIn(c)...)
		}
	}
	return out
}

// storeAuditEvents puts AuditEvent resources into the FHIR store itself,
// as an import of a Bundle that carries some would (fhir.Import writes any
// type), with a Provenance pointing at one of them and at the patient, so
// that the store has AuditEvents for _include, _revinclude, chains and
// history to find, if any of them asked the store for the type.
func storeAuditEvents(t *testing.T, h *harness, patient string) {
	t.Helper()
	ae := func(id string) map[string]any {
		return map[string]any{"resourceType": "AuditEvent", "id": id,
			"type":     map[string]any{"system": "http://dicom.nema.org/resources/ossdicom/DCM", "code": "110110"},
			"action":   "R",
			"recorded": "2024-01-02T03:04:05Z",
			"outcome":  "0",
			"agent": []any{map[string]any{"requestor": true, "who": map[string]any{"reference": "Patient/" + patient}},
				map[string]any{"requestor": false, "who": map[string]any{"reference": "Practitioner/doc-1"}}},
			"source": map[string]any{"observer": map[string]any{"display": "stored"}},
			"entity": []any{map[string]any{"what": map[string]any{"reference": "Patient/" + patient}}},
		}
	}
	prov := map[string]any{"resourceType": "Provenance", "id": "prov-ae",
		"target":   []any{map[string]any{"reference": "AuditEvent/stored-ae-1"}, map[string]any{"reference": "Patient/" + patient}},
		"recorded": "2024-01-02T03:04:05Z",
		"agent":    []any{map[string]any{"who": map[string]any{"reference": "Patient/" + patient}}},
		"entity":   []any{map[string]any{"role": "source", "what": map[string]any{"reference": "AuditEvent/stored-ae-2"}}},
	}
	var entries []any
	for _, r := range []map[string]any{ae("stored-ae-1"), ae("stored-ae-2"), prov} {
		entries = append(entries, map[string]any{"fullUrl": r["resourceType"].(string) + "/" + r["id"].(string), "resource": r,
			"request": map[string]any{"method": "PUT", "url": r["resourceType"].(string) + "/" + r["id"].(string)}})
	}
	raw, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fhir.Import(context.Background(), h.data, strings.NewReader(string(raw)), fhir.ImportOptions{Registry: reg}); err != nil {
		t.Fatalf("import: %v", err)
	}
	// The store answers for them when asked without access control.
	if ids := h.searchUnchecked(reg)("AuditEvent?_id=stored-ae-1,stored-ae-2"); len(ids) != 2 {
		t.Fatalf("stored AuditEvents: %v", ids)
	}
}

// TestAuditEventOnlyThroughItsView: with AuditEvent resources in the store
// and real audit records in the trail, no path other than
// /fhir/AuditEvent and /fhir/AuditEvent/{id} (the view, administrators
// only) returns an AuditEvent, to an administrator, a practitioner or a
// patient: not _include or _revinclude naming AuditEvent, not chains or
// _has through it, not type, instance or system history, not a system
// search, not batch or transaction entries. Each answer is an
// OperationOutcome with the FHIR status for it, or a Bundle without
// AuditEvents.
func TestAuditEventOnlyThroughItsView(t *testing.T) {
	h := newHarness(t)
	lind := h.patients["Lind"]
	storeAuditEvents(t, h, lind)

	tokens := map[string]string{
		"administrator": h.owin("admin", adminPassword),
		"practitioner":  h.code(codeLaunch{user: "doc", password: userPassword, scope: "user/*.rs"}).str("access_token"),
		"patient":       h.code(codeLaunch{user: "lind", password: userPassword, scope: "launch/patient patient/*.rs"}).str("access_token"),
	}
	for role, tok := range tokens {
		if tok == "" {
			t.Fatalf("no %s token", role)
		}
		h.do("GET", "Patient/"+lind, tok, nil) // a fhir audit record each
	}
	h.waitAuditFilter(audit.Filter{Kind: "fhir", Patient: lind})
	evs, err := h.db.AuditEvents(context.Background(), audit.Filter{Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("audit records: %v %v", evs, err)
	}
	recordID := strconv.FormatInt(evs[0].ID, 10)
	// The view answers the administrator with real records: the trail is
	// there to leak.
	if r := h.do("GET", "AuditEvent/"+recordID, tokens["administrator"], nil); r.status != http.StatusOK || len(auditEventsIn(r.json)) != 1 {
		t.Fatalf("administrator's read of record %s: %d %.300s", recordID, r.status, r.body)
	}

	bundle := func(typ string, urls ...string) map[string]any {
		var es []any
		for _, u := range urls {
			es = append(es, map[string]any{"request": map[string]any{"method": "GET", "url": u}})
		}
		return map[string]any{"resourceType": "Bundle", "type": typ, "entry": es}
	}
	lenient := http.Header{"Prefer": {"handling=lenient"}}
	const (
		same = 0 // admin: the status of the others
	)
	cases := []struct {
		name, method, path string
		body               any
		hdr                http.Header
		status             int // a 200 is a Bundle, anything else an OperationOutcome
		admin              int // the administrator's status, when it differs
		// found must be in a 200's entries (the path works, it only
		// leaves AuditEvents out).
		found string
	}{
		// _include and _revinclude naming AuditEvent: left out (the
		// Bundle says so in an outcome entry), never read from the store.
		{name: "revinclude AuditEvent:patient", path: "Patient?_id=" + lind + "&_revinclude=AuditEvent:patient", status: 200, found: "Patient/" + lind},
		{name: "revinclude AuditEvent:entity", path: "Patient?_id=" + lind + "&_revinclude=AuditEvent:entity", status: 200, found: "Patient/" + lind},
		{name: "revinclude AuditEvent:agent", path: "Patient?_id=" + lind + "&_revinclude=AuditEvent:agent", status: 200, found: "Patient/" + lind},
		{name: "include of a reference to any type", path: "Provenance?_id=prov-ae&_include=Provenance:target", status: 200, found: "Provenance/prov-ae"},
		{name: "include targeting AuditEvent", path: "Provenance?_id=prov-ae&_include=Provenance:target:AuditEvent", status: 200, found: "Provenance/prov-ae"},
		{name: "include Provenance:entity", path: "Provenance?_id=prov-ae&_include=Provenance:entity", status: 200, found: "Provenance/prov-ae"},
		{name: "include iterate", path: "Patient?_id=" + lind + "&_revinclude=Provenance:patient&_include:iterate=Provenance:target", status: 200, found: "Provenance/prov-ae"},
		{name: "include AuditEvent:patient from Patient", path: "Patient?_id=" + lind + "&_include=AuditEvent:patient", status: 400},
		{name: "include wildcard", path: "Provenance?_id=prov-ae&_include=*", status: 400},
		{name: "revinclude wildcard", path: "Patient?_id=" + lind + "&_revinclude=*", status: 400},
		// Chains through AuditEvent reach none of it; _has is not supported.
		{name: "chain through AuditEvent", path: "Provenance?target:AuditEvent.type=110110", status: 200},
		{name: "chain through AuditEvent by id", path: "Provenance?target:AuditEvent._id=stored-ae-1", status: 200},
		{name: "has AuditEvent:patient", path: "Patient?_has:AuditEvent:patient:type=110110", status: 400},
		{name: "has AuditEvent:entity", path: "Patient?_has:AuditEvent:entity:_id=stored-ae-1", status: 400},
		{name: "has AuditEvent, lenient", path: "Patient?_id=" + lind + "&_has:AuditEvent:patient:type=110110", hdr: lenient, status: 200, found: "Patient/" + lind},
		// The view itself: administrators only, and only the trail.
		{name: "view chain", path: "AuditEvent?patient.name=Lind", status: 403, admin: 400},
		{name: "view search", path: "AuditEvent?patient=" + lind, status: 403, admin: 200},
		{name: "view POST _search", method: "POST", path: "AuditEvent/_search", body: url.Values{"patient": {lind}}, status: 403, admin: 200},
		{name: "view search by a stored id", path: "AuditEvent?_id=stored-ae-1", status: 403, admin: 400},
		{name: "view read of a stored id", path: "AuditEvent/stored-ae-1", status: 403, admin: 404},
		{name: "view read of a record", path: "AuditEvent/" + recordID, status: 403, admin: 200},
		// History: not an interaction of the view; the system's leaves it out.
		{name: "type history", path: "AuditEvent/_history", status: 405},
		{name: "instance history, stored", path: "AuditEvent/stored-ae-1/_history", status: 405},
		{name: "instance history, record", path: "AuditEvent/" + recordID + "/_history", status: 405},
		{name: "vread, stored", path: "AuditEvent/stored-ae-1/_history/1", status: 405},
		{name: "system history", path: "_history?_count=1000", status: 200, found: "Provenance/prov-ae"},
		// No system-level search (the CapabilityStatement lists none).
		{name: "system search _type", path: h.baseA + "/fhir?_type=AuditEvent", status: 404},
		{name: "system search _type, slash", path: h.baseA + "/fhir/?_type=AuditEvent", status: 404},
		// Batch and transaction entries naming AuditEvent: the Bundle is
		// refused; searches through it in entries find none.
		{name: "batch read of a record", method: "POST", body: bundle("batch", "Patient/"+lind, "AuditEvent/"+recordID), status: 405},
		{name: "batch read of a stored id", method: "POST", body: bundle("batch", "AuditEvent/stored-ae-1"), status: 405},
		{name: "batch search", method: "POST", body: bundle("batch", "AuditEvent?patient="+lind), status: 405},
		{name: "batch history", method: "POST", body: bundle("batch", "AuditEvent/stored-ae-1/_history"), status: 405},
		{name: "batch chain", method: "POST", body: bundle("batch", "Provenance?target:AuditEvent._id=stored-ae-1", "Patient/"+lind), status: 200, found: "Patient/" + lind},
		{name: "batch revinclude", method: "POST", body: bundle("batch", "Patient?_id="+lind+"&_revinclude=AuditEvent:patient"), status: 200, found: "Patient/" + lind},
		{name: "transaction revinclude", method: "POST", body: bundle("transaction", "Patient?_id="+lind+"&_revinclude=AuditEvent:patient"), status: 200, found: "Patient/" + lind},
		{name: "transaction include", method: "POST", body: bundle("transaction", "Provenance?_id=prov-ae&_include=Provenance:target"), status: 400},
		{name: "transaction read", method: "POST", body: bundle("transaction", "AuditEvent/"+recordID), status: 405},
		{name: "transaction search", method: "POST", body: bundle("transaction", "AuditEvent?patient="+lind), status: 405},
		{name: "transaction chain", method: "POST", body: bundle("transaction", "Provenance?target:AuditEvent._id=stored-ae-1", "Patient/"+lind), status: 200, found: "Patient/" + lind},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, role := range []string{"administrator", "practitioner", "patient"} {
				method := tc.method
				if method == "" {
					method = "GET"
				}
				want := tc.status
				if role == "administrator" && tc.admin != same {
					want = tc.admin
				}
				r := h.fhirRequest(t, method, tc.path, tokens[role], tc.body, tc.hdr)
				if r.status != want {
					t.Errorf("%s: %d, want %d: %.300s", role, r.status, want, r.body)
					continue
				}
				aes := auditEventsIn(r.json)
				view := role == "administrator" && strings.HasPrefix(tc.path, "AuditEvent") && want == 200
				switch {
				case view:
					// The view answers from the trail, never the store.
					if len(aes) == 0 || slices.ContainsFunc(aes, func(id string) bool { return strings.HasPrefix(id, "AuditEvent/stored-") }) {
						t.Errorf("%s: the view answered %v", role, aes)
					}
				case len(aes) > 0:
					t.Errorf("%s: AuditEvent leaked: %v in %.300s", role, aes, r.body)
				}
				if want != 200 {
					if r.json["resourceType"] != "OperationOutcome" {
						t.Errorf("%s: %d without an OperationOutcome: %.300s", role, want, r.body)
					}
					continue
				}
				if !view && r.json["resourceType"] != "Bundle" {
					t.Errorf("%s: 200 without a Bundle: %.300s", role, r.body)
				}
				if tc.found != "" && !strings.Contains(string(r.body), `"fullUrl":"`+h.baseA+"/fhir/"+tc.found+`"`) {
					t.Errorf("%s: %s not in the answer: %.500s", role, tc.found, r.body)
				}
				if tc.name == "system history" {
					// The total counts what the caller may see, not the
					// stored AuditEvents (no count oracle, no short pages).
					es, _ := r.json["entry"].([]any)
					if total, ok := r.json["total"].(float64); ok && int(total) != len(es) {
						t.Errorf("%s: system history total %v, %d entries", role, total, len(es))
					}
				}
			}
		})
	}
	// A short page of the system history is full: the store left the
	// AuditEvents out instead of the endpoint dropping them from the page.
	for role, tok := range tokens {
		r := h.do("GET", "_history?_count=3", tok, nil)
		if es, _ := r.json["entry"].([]any); r.status != 200 || len(es) != 3 {
			t.Errorf("%s: _history?_count=3: %d, %d entries", role, r.status, len(es))
		}
	}
}
