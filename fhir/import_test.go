package fhir_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/internal/shareddata"
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
	t.Parallel()
	c := newServer(t, fhir.Config{})
	for _, f := range shareddata.SyntheaBundles(t) {
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
	for _, f := range shareddata.SyntheaBundles(t) {
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

func TestImportNDJSONAndCollection(t *testing.T) {
	c := newServer(t, fhir.Config{})
	var buf strings.Builder
	for i := range 1200 {
		fmt.Fprintf(&buf, `{"resourceType":"Patient","id":"nd-%d","gender":"other"}`+"\n", i)
	}
	var calls []fhir.ImportProgress
	res, err := fhir.Import(context.Background(), c.db, strings.NewReader(buf.String()), fhir.ImportOptions{
		Registry: registry(t), BatchSize: 500, Progress: func(p fhir.ImportProgress) { calls = append(calls, p) }})
	if err != nil || res.Resources != 1200 {
		t.Fatalf("import = %+v, %v", res, err)
	}
	if len(calls) != 3 || calls[2].Resources != 1200 || calls[2].Bytes != int64(buf.Len()) {
		t.Fatalf("progress calls %+v", calls)
	}
	c.do("GET", "/Patient/nd-1199", nil).want(t, http.StatusOK)

	coll := `{"resourceType":"Bundle","type":"collection","entry":[
	 {"fullUrl":"urn:uuid:5b3a1a8e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","name":[{"family":"Coll"}]}},
	 {"resource":{"resourceType":"Observation","id":"co-1","status":"final","code":{"text":"x"},
	  "subject":{"reference":"urn:uuid:5b3a1a8e-0000-4000-8000-000000000001"}}}]}`
	if _, err := fhir.Import(context.Background(), c.db, strings.NewReader(coll), fhir.ImportOptions{Registry: registry(t)}); err != nil {
		t.Fatal(err)
	}
	o := c.do("GET", "/Observation/co-1", nil).want(t, http.StatusOK)
	ref := str(o.body, "subject", "reference")
	if !strings.HasPrefix(ref, "Patient/") {
		t.Fatalf("collection reference not rewritten: %q", ref)
	}
	c.do("GET", "/"+ref, nil).want(t, http.StatusOK)

	bad := `{"resourceType":"Patient","id":"ok-1"}` + "\n" + `{"resourceType":"Patient","id":"bad/id"}` + "\n"
	if _, err := fhir.Import(context.Background(), c.db, strings.NewReader(bad), fhir.ImportOptions{Registry: registry(t)}); err == nil {
		t.Fatal("bad NDJSON imported")
	}
	c.do("GET", "/Patient/ok-1", nil).wantOutcome(t, http.StatusNotFound)
	if _, err := fhir.Import(context.Background(), c.db, strings.NewReader(`{"resourceType":"Patient"`), fhir.ImportOptions{Registry: registry(t)}); err == nil {
		t.Fatal("truncated JSON imported")
	}
}

// TestImportKeepsBundleIDs: a transaction Bundle's plain creates of
// resources that carry an id keep it on import (as NDJSON does), references
// to their urn:uuid fullUrls become Type/id, and importing the same file
// again replaces rather than duplicates.
func TestImportKeepsBundleIDs(t *testing.T) {
	c := newServer(t, fhir.Config{})
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:7d2c1b8e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","id":"7d2c1b8e-0000-4000-8000-000000000001","name":[{"family":"Kept"}]},
	  "request":{"method":"POST","url":"Patient"}},
	 {"fullUrl":"urn:uuid:7d2c1b8e-0000-4000-8000-000000000002","resource":{"resourceType":"Observation","id":"7d2c1b8e-0000-4000-8000-000000000002","status":"final","code":{"text":"x"},
	  "subject":{"reference":"urn:uuid:7d2c1b8e-0000-4000-8000-000000000001"}},"request":{"method":"POST","url":"Observation"}},
	 {"fullUrl":"urn:uuid:7d2c1b8e-0000-4000-8000-000000000003","resource":{"resourceType":"Observation","status":"final","code":{"text":"no id"}},
	  "request":{"method":"POST","url":"Observation"}}]}`
	for range 2 {
		if _, err := fhir.Import(context.Background(), c.db, strings.NewReader(tx), fhir.ImportOptions{Registry: registry(t)}); err != nil {
			t.Fatal(err)
		}
	}
	c.do("GET", "/Patient/7d2c1b8e-0000-4000-8000-000000000001", nil).want(t, http.StatusOK)
	o := c.do("GET", "/Observation/7d2c1b8e-0000-4000-8000-000000000002", nil).want(t, http.StatusOK)
	if !strings.Contains(string(o.raw), `"reference":"Patient/7d2c1b8e-0000-4000-8000-000000000001"`) {
		t.Fatalf("reference not rewritten to the kept id: %s", o.raw)
	}
	s := c.do("GET", "/Patient?family=Kept", nil).want(t, http.StatusOK)
	if n := strings.Count(string(s.raw), `"fullUrl"`); n != 1 {
		t.Fatalf("re-import duplicated the patient: %d matches", n)
	}
}
