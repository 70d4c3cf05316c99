package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/store/postgres/pgtest"
)

// TestPostgresTwoReplicas (issue 16): two smartgate processes on one
// PostgreSQL database, as two replicas behind a load balancer. The demo
// data loaded by the first is served by the second; a token issued by one
// is accepted by the other (one signing key ring, in the database); a FHIR
// create on one is read on the other; and the readiness check names the
// backend and its schema version. (The other replica-safety items of the
// issue are still to come.)
func TestPostgresTwoReplicas(t *testing.T) {
	dbURL := pgtest.URL(t)
	dir := t.TempDir()
	args := func(data string) []string {
		return []string{"--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", filepath.Join(dir, data),
			"--log-level", "warn", "--database", dbURL}
	}
	a := start(t, dir, adminEnv(), append(args("a"), "--demo")...)
	b := start(t, dir, adminEnv(), args("b")...)
	baseA, baseB := "http://"+a.HTTPAddr, "http://"+b.HTTPAddr
	client := &http.Client{Timeout: 10 * time.Second}

	tokA := owinToken(t, baseA)
	resp, body := fhirDo(t, client, "GET", baseB+"/fhir/Patient?_count=5", tokA, nil)
	if resp == nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"resourceType":"Bundle"`) || !strings.Contains(string(body), `"Patient"`) {
		t.Fatalf("replica B with A's token: %v %.300s", resp, body)
	}
	created, body := fhirDo(t, client, "POST", baseB+"/fhir/Observation", owinToken(t, baseB),
		[]byte(`{"resourceType":"Observation","status":"final","code":{"text":"replica"}}`))
	if created == nil || created.StatusCode != http.StatusCreated {
		t.Fatalf("create on B: %v %.300s", created, body)
	}
	var obs struct{ ID string }
	_ = json.Unmarshal(body, &obs)
	if r, _ := fhirDo(t, client, "GET", baseA+"/fhir/Observation/"+obs.ID, tokA, nil); r == nil || r.StatusCode != http.StatusOK {
		t.Fatalf("read on A of B's create: %v", r)
	}
	migrations, _ := filepath.Glob("../../store/postgres/migrations/*.sql")
	for _, base := range []string{baseA, baseB} {
		r, err := client.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var ready struct {
			Status string
			Store  struct {
				Backend       string
				SchemaVersion int `json:"schema_version"`
			}
		}
		err = json.NewDecoder(r.Body).Decode(&ready)
		r.Body.Close()
		if err != nil || r.StatusCode != http.StatusOK || ready.Status != "ok" || ready.Store.Backend != "postgres" ||
			ready.Store.SchemaVersion != len(migrations) || len(migrations) == 0 {
			t.Errorf("%s/readyz: %d %+v %v (want schema version %d)", base, r.StatusCode, ready, err, len(migrations))
		}
	}
}

// TestPostgresDownAtStart (issue 16, faults): a --database that does not
// answer stops the server with a clear error and a non-zero exit, without
// the password; a URL with a bad scheme or missing parts exits 2 naming
// the problem.
func TestPostgresDownAtStart(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, adminEnv(), "--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", filepath.Join(dir, "data"),
		"--database", "postgres://sg:hunter2pw@127.0.0.1:1/smartgate?sslmode=disable&connect_timeout=2")
	if code := p.wait(t); code == 0 || !strings.Contains(p.Stderr(), "unavailable") || strings.Contains(p.Stderr()+p.Stdout(), "hunter2pw") {
		t.Errorf("exit %d, stderr %q", code, p.Stderr())
	}
	for bad, want := range map[string]string{
		"mysql://sg:hunter2pw@h/db":   "scheme",
		"postgres://sg:hunter2pw@h/":  "no database",
		"postgres://sg:hunter2pw@/db": "no host",
	} {
		p := start(t, dir, adminEnv(), "--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", filepath.Join(dir, "data"), "--database", bad)
		if code := p.wait(t); code != 2 || !strings.Contains(p.Stderr(), want) || strings.Contains(p.Stderr(), "hunter2pw") {
			t.Errorf("--database %s: exit %d, stderr %q", bad, code, p.Stderr())
		}
	}
}
