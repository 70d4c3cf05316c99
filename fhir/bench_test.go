package fhir_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/internal/shareddata"
)

// BenchmarkImport imports the smallest Synthea bundle repeatedly (each
// time as new resources) and reports resources per second.
func BenchmarkImport(b *testing.B) {
	db := openStore(b)
	raw, err := os.ReadFile(smallestBundle(b))
	if err != nil {
		b.Fatal(err)
	}
	reg := registry(b)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		res, err := fhir.Import(context.Background(), db, bytes.NewReader(raw), fhir.ImportOptions{Registry: reg})
		if err != nil {
			b.Fatal(err)
		}
		n += res.Resources
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkReadByID reads Patients by id through the HTTP handler.
func BenchmarkReadByID(b *testing.B) {
	db := openStore(b)
	srv := fhir.New(fhir.Config{AccessControlOff: true, Registry: registry(b)}, db, nil)
	mux := http.NewServeMux()
	srv.Register(mux)
	var ids []string
	var buf bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&buf, `{"resourceType":"Patient","id":"p%d","name":[{"family":"F%d"}]}`+"\n", i, i)
		ids = append(ids, fmt.Sprintf("p%d", i))
	}
	if _, err := fhir.Import(context.Background(), db, &buf, fhir.ImportOptions{Registry: registry(b)}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/fhir/Patient/"+ids[i%len(ids)], nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		i++
	}
}

// BenchmarkImportSynthea imports the 30 Synthea bundles into a fresh
// database per iteration, as `smartgate fhir import` does (one ImportAll
// pipeline over the files), and reports
// resources per second.
func BenchmarkImportSynthea(b *testing.B) {
	files := shareddata.SyntheaBundles(b)
	var srcs []fhir.ImportSource
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, fhir.ImportSource{Name: f, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(raw)), nil
		}})
	}
	reg := registry(b)
	n := 0
	for b.Loop() {
		b.StopTimer()
		db := openStore(b)
		b.StartTimer()
		err := fhir.ImportAll(context.Background(), db, srcs, fhir.ImportOptions{Registry: reg}, func(_ int, res fhir.ImportResult) {
			n += res.Resources
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkSearch runs FHIR searches through the HTTP handler on the
// SQLite store: 1000 Patients with 5 Observations each. The cases cover
// the shapes of the search SQL: an index-driven match, a prefix string,
// a date range, a sort, a chain and an include.
func BenchmarkSearch(b *testing.B) {
	db := openStore(b)
	srv := fhir.New(fhir.Config{AccessControlOff: true, Registry: registry(b)}, db, nil)
	mux := http.NewServeMux()
	srv.Register(mux)
	var buf bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&buf, `{"resourceType":"Patient","id":"p%d","name":[{"family":"F%d"}],"birthDate":"19%02d-01-01"}`+"\n", i, i, i%100)
		for j := range 5 {
			fmt.Fprintf(&buf, `{"resourceType":"Observation","id":"o%d-%d","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"c%d"}]},"subject":{"reference":"Patient/p%d"},"effectiveDateTime":"2020-0%d-01"}`+"\n", i, j, j, i, j+1)
		}
	}
	if _, err := fhir.Import(context.Background(), db, &buf, fhir.ImportOptions{Registry: registry(b)}); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, url string }{
		{"token", "/fhir/Observation?code=http://loinc.org|c3&subject=Patient/p7"},
		{"string", "/fhir/Patient?family=F12"},
		{"date", "/fhir/Patient?birthdate=ge1990-01-01&birthdate=lt1991-01-01"},
		{"sort", "/fhir/Observation?subject=Patient/p7&_sort=-date"},
		{"chain", "/fhir/Observation?subject.family=F42"},
		{"include", "/fhir/Observation?subject=Patient/p7&_include=Observation:subject"},
		{"revinclude", "/fhir/Patient?_id=p7&_revinclude=Observation:subject"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest("GET", tc.url, nil))
				if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"entry"`)) {
					b.Fatalf("%s: status %d: %s", tc.url, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
