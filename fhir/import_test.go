package fhir_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/internal/testdata"
	"github.com/smartgate/smartgate/store/sqlite"
)

func openStore(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fhir.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestTransactionEndpointSynthea posts the 30 Synthea transaction bundles
// to the server's base URL.
func TestTransactionEndpointSynthea(t *testing.T) {
	c := newServer(t, fhir.Config{})
	for _, f := range testdata.SyntheaBundles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := c.do("POST", "", raw).want(t, http.StatusOK)
		for i, e := range r.body["entry"].([]any) {
			if st := str(e, "response", "status"); st != "201 Created" {
				t.Fatalf("%s entry %d: %s", filepath.Base(f), i, st)
			}
		}
	}
	n := 0
	for typ, want := range map[string]int{"Observation": 4410, "Claim": 877, "Encounter": 701, "ExplanationOfBenefit": 701,
		"Immunization": 390, "Procedure": 375, "DiagnosticReport": 307, "Condition": 241, "MedicationRequest": 176,
		"CarePlan": 83, "Goal": 75, "Organization": 50, "Practitioner": 50, "Patient": 30, "AllergyIntolerance": 15, "ImagingStudy": 8} {
		got := int(c.do("GET", "/"+typ+"?_summary=count", nil).want(t, 200).body["total"].(float64))
		if got != want {
			t.Errorf("%s: %d stored, want %d", typ, got, want)
		}
		n += got
	}
	if n != 8489 {
		t.Fatalf("%d resources stored, want 8489", n)
	}
}

// smallestBundle returns the smallest Synthea bundle file.
func smallestBundle(t testing.TB) string {
	t.Helper()
	var best string
	var size int64
	for _, f := range testdata.SyntheaBundles(t) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if best == "" || st.Size() < size {
			best, size = f, st.Size()
		}
	}
	return best
}
