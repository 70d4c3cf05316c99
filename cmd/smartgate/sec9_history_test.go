package main

// Regression test of a leak found reviewing issue 9's fixes: a history
// Bundle's total counted versions the caller may not see.

import (
	"testing"
)

// TestSec9D9_HistoryTotalCountsNoHiddenVersions: an Observation that was
// OTHER's (v1) and then ME's (v2) shows ME's patient token only v2, and
// neither the instance nor the type history tells by its total that a
// hidden version exists; the administrator still gets the exact total.
func TestSec9D9_HistoryTotalCountsNoHiddenVersions(t *testing.T) {
	h := newHarness(t)
	me, other := h.patients["Lind"], h.patients["Yundt"]
	admin := h.owin("admin", adminPassword)
	patient := h.owin("lind", userPassword)
	id := h.create(admin, observation(other, "laboratory", nil))
	moved := observation(me, "laboratory", map[string]any{"id": id})
	if r := h.do("PUT", "Observation/"+id, admin, moved); r.status != 200 {
		t.Fatalf("admin PUT: %d %s", r.status, r.body)
	}
	for _, path := range []string{"Observation/" + id + "/_history?_count=1", "Observation/" + id + "/_history", "Observation/_history?_count=1"} {
		r := h.do("GET", path, patient, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		if total, ok := r.json["total"]; ok {
			t.Errorf("%s: total %v shown to the patient token (the store's count includes OTHER's version)", path, total)
		}
		for _, e := range historyEntries(r) {
			if subj, _ := e["subject"].(map[string]any); e["id"] == id && subj["reference"] != "Patient/"+me {
				t.Errorf("%s: lists OTHER's version of %s", path, id)
			}
		}
	}
	r := h.do("GET", "Observation/"+id+"/_history", admin, nil)
	if r.status != 200 || r.json["total"] != float64(2) {
		t.Fatalf("admin instance history: %d total %v, want 200 and total 2", r.status, r.json["total"])
	}
}
