package main

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func writeBundle(t *testing.T, dir, name string, resources ...string) string {
	t.Helper()
	var entries []map[string]json.RawMessage
	for _, r := range resources {
		entries = append(entries, map[string]json.RawMessage{"resource": json.RawMessage(r)})
	}
	b, _ := json.MarshalIndent(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries}, "", "  ")
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func openTestDB(t *testing.T) *sql.DB {
	t.Helper()
	d, err := dsn(filepath.Join(t.TempDir(), "floor.db"), "FULL", false)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestImportThenReadReturnsStoredBytes(t *testing.T) {
	dir := t.TempDir()
	// Two bundles sharing an Organization, as the Synthea set does.
	f1 := writeBundle(t, dir, "a.json",
		`{"resourceType":"Organization","id":"org1","name":"first"}`,
		`{"resourceType":"Patient","id":"p1","name":[{"family":"A"}]}`)
	f2 := writeBundle(t, dir, "b.json",
		`{"resourceType":"Organization","id":"org1","name":"second"}`,
		`{"resourceType":"Observation","id":"o1","status":"final"}`)

	for _, perResource := range []bool{false, true} {
		db := openTestDB(t)
		n, err := importFiles(t.Context(), db, []string{f1, f2}, perResource)
		if err != nil {
			t.Fatal(err)
		}
		if n != 4 {
			t.Fatalf("imported %d resources, want 4", n)
		}
		var rows int
		db.QueryRow(`SELECT count(*) FROM resource`).Scan(&rows)
		if rows != 3 {
			t.Fatalf("%d rows, want 3 (the shared Organization replaced)", rows)
		}
		sel, err := db.Prepare(selectByID)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(newHandler(sel))

		tests := []struct {
			path   string
			status int
			body   string
		}{
			{"/fhir/Patient/p1", 200, `{"resourceType":"Patient","id":"p1","name":[{"family":"A"}]}`},
			{"/fhir/Organization/org1", 200, `{"resourceType":"Organization","id":"org1","name":"second"}`},
			{"/fhir/Patient/nope", 404, ""},
			{"/fhir/Observation/p1", 404, ""},
		}
		for _, tt := range tests {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/fhir+json" {
				t.Fatalf("GET %s Content-Type %q", tt.path, ct)
			}
			if tt.status == 200 && string(b) != tt.body {
				t.Fatalf("GET %s body %s, want the stored (compacted) resource %s", tt.path, b, tt.body)
			}
			if tt.status == 404 {
				var oo map[string]any
				if json.Unmarshal(b, &oo) != nil || oo["resourceType"] != "OperationOutcome" {
					t.Fatalf("GET %s 404 body %s, want an OperationOutcome", tt.path, b)
				}
			}
		}
		srv.Close()
		sel.Close()
	}
}

func TestImportRefusesResourceWithoutID(t *testing.T) {
	dir := t.TempDir()
	f := writeBundle(t, dir, "a.json", `{"resourceType":"Patient"}`)
	if _, err := importFiles(t.Context(), openTestDB(t), []string{f}, false); err == nil {
		t.Fatal("imported a resource without id")
	}
}
