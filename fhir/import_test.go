package fhir_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// TestImportAllPipeline: ImportAll stores its sources in order, each Bundle
// all-or-nothing; a failing Bundle names its source, what came before it
// stays stored and nothing of it or after it is. Prepared (new) and
// recomputed (existing) resources are stored and indexed alike.
func TestImportAllPipeline(t *testing.T) {
	c := newServer(t, fhir.Config{})
	a := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:3f0c2d1e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","id":"3f0c2d1e-0000-4000-8000-000000000001","name":[{"family":"Alpha"}]},
	  "request":{"method":"POST","url":"Patient"}},
	 {"fullUrl":"urn:uuid:3f0c2d1e-0000-4000-8000-000000000002","resource":{"resourceType":"Observation","status":"final","code":{"text":"pipe"},
	  "subject":{"reference":"urn:uuid:3f0c2d1e-0000-4000-8000-000000000001"}},"request":{"method":"POST","url":"Observation"}}]}
	{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":{"resourceType":"Patient","name":[{"family":"Beta"}]},"request":{"method":"POST","url":"Patient","ifNoneExist":"family=Beta"}}]}`
	b := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":{"resourceType":"Patient","id":"pipe-b1","name":[{"family":"Gamma"}]},"request":{"method":"PUT","url":"Patient/pipe-b1"}},
	 {"resource":{"resourceType":"Patient","id":"pipe-b2"},"request":{"method":"PUT","url":"Patient/other-id"}}]}`
	d := `{"resourceType":"Patient","id":"pipe-d1","name":[{"family":"Delta"}]}`
	src := func(name, body string) fhir.ImportSource {
		return fhir.ImportSource{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
	}
	var done []string
	record := func(i int, res fhir.ImportResult) {
		done = append(done, fmt.Sprintf("%d:%d/%d", i, res.Resources, res.Bundles))
	}
	err := fhir.ImportAll(context.Background(), c.db, []fhir.ImportSource{src("a", a), src("b", b), src("d", d)},
		fhir.ImportOptions{Registry: registry(t)}, record)
	if err == nil || !strings.HasPrefix(err.Error(), "b: fhir: import: bundle 1: ") {
		t.Fatalf("error %v, want one naming source b and its bundle", err)
	}
	if strings.Join(done, " ") != "0:3/2" {
		t.Fatalf("done calls %v, want only source a (3 resources in 2 bundles)", done)
	}
	c.do("GET", "/Patient/pipe-b1", nil).wantOutcome(t, http.StatusNotFound)
	c.do("GET", "/Patient/pipe-d1", nil).wantOutcome(t, http.StatusNotFound)
	for _, q := range []string{"/Patient?family=Alpha", "/Patient?family=Beta",
		"/Observation?subject=Patient/3f0c2d1e-0000-4000-8000-000000000001", "/Observation?patient=3f0c2d1e-0000-4000-8000-000000000001&status=final"} {
		if n := c.do("GET", q, nil).want(t, http.StatusOK).body["total"].(float64); n != 1 {
			t.Fatalf("%s: total %v, want 1", q, n)
		}
	}

	// Again: the Patient exists now, so its new version is made in the
	// transaction (version 2), and its index rows are replaced.
	done = nil
	if err := fhir.ImportAll(context.Background(), c.db, []fhir.ImportSource{src("a", a), src("d", d)},
		fhir.ImportOptions{Registry: registry(t)}, record); err != nil {
		t.Fatal(err)
	}
	if strings.Join(done, " ") != "0:3/2 1:1/0" {
		t.Fatalf("done calls %v", done)
	}
	p := c.do("GET", "/Patient/3f0c2d1e-0000-4000-8000-000000000001", nil).want(t, http.StatusOK)
	if v := str(p.body, "meta", "versionId"); v != "2" {
		t.Fatalf("versionId %q after re-import, want 2", v)
	}
	if n := c.do("GET", "/Patient?family=Alpha", nil).want(t, http.StatusOK).body["total"].(float64); n != 1 {
		t.Fatalf("family=Alpha: total %v after re-import, want 1", n)
	}
	if n := c.do("GET", "/Observation?status=final", nil).want(t, http.StatusOK).body["total"].(float64); n != 2 {
		t.Fatalf("status=final: total %v, want 2 (the Observation has no id, so a new one)", n)
	}
	c.do("GET", "/Patient/pipe-d1", nil).want(t, http.StatusOK)

	// A cancelled import stores nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = fhir.ImportAll(ctx, c.db, []fhir.ImportSource{src("e", `{"resourceType":"Patient","id":"pipe-e1"}`)},
		fhir.ImportOptions{Registry: registry(t)}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled import: %v", err)
	}
	c.do("GET", "/Patient/pipe-e1", nil).wantOutcome(t, http.StatusNotFound)
}
