package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
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

// TestMigrateDemoToPostgres (issue 16): `smartgate migrate` copies the
// demo deployment (SQLite) into an empty PostgreSQL database with every
// row; a server on PostgreSQL then serves the same patients to the same
// accounts (the administrator's and the demo patient's passwords carry
// over), the demo app and its client are there, and a second migrate into
// the now full database is refused.
func TestMigrateDemoToPostgres(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	client := &http.Client{Timeout: 10 * time.Second}
	p := start(t, dir, adminEnv(), "--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", data, "--demo", "--log-level", "warn")
	login := regexp.MustCompile(`demo log-in \(patient\): user (\S+) password (\S+)`).FindStringSubmatch(p.Stdout())
	if login == nil {
		t.Fatalf("no demo patient log-in in %q", p.Stdout())
	}
	count := func(base, token string) string {
		t.Helper()
		r, body := fhirDo(t, client, "GET", base+"/fhir/Patient?_summary=count", token, nil)
		if r == nil || r.StatusCode != http.StatusOK {
			t.Fatalf("count on %s: %v %.200s", base, r, body)
		}
		var b struct{ Total json.Number }
		_ = json.Unmarshal(body, &b)
		return b.Total.String()
	}
	before := count("http://"+p.HTTPAddr, owinToken(t, "http://"+p.HTTPAddr))
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("sqlite server exit %d: %s", code, p.Stderr())
	}

	url := pgtest.URL(t)
	out, errOut, code := runInProcess(t, data, "", "migrate", "--from", data, "--to", url)
	if code != 0 || !strings.Contains(out, "copied") || !regexp.MustCompile(`(?m)^fhir_resources\s+[1-9]`).MatchString(out) {
		t.Fatalf("migrate: exit %d\n%s\n%s", code, out, errOut)
	}
	q := start(t, dir, nil, "--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", filepath.Join(dir, "pg"), "--log-level", "warn", "--database", url)
	base := "http://" + q.HTTPAddr
	if after := count(base, owinToken(t, base)); after != before || before == "" || before == "0" {
		t.Errorf("patients: %s on SQLite, %s on PostgreSQL", before, after)
	}
	r, err := http.PostForm(base+"/oauth/token", map[string][]string{"grant_type": {"password"}, "username": {login[1]}, "password": {login[2]}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(r.Body).Decode(&tok)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("the demo patient's log-in on PostgreSQL: %d", r.StatusCode)
	}
	if got := count(base, tok.AccessToken); got != "1" {
		t.Errorf("the demo patient sees %s patients, want 1 (their own)", got)
	}
	page, err := client.Get(base + "/apps/demo/config.json")
	if err != nil {
		t.Fatal(err)
	}
	cfgBody, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(cfgBody), "smartgate-demo-app") {
		t.Errorf("demo app config: %d %s", page.StatusCode, cfgBody)
	}
	q.cmd.Process.Signal(syscall.SIGTERM)
	q.wait(t)
	if _, errOut, code := runInProcess(t, data, "", "migrate", "--from", data, "--to", url); code == 0 || !strings.Contains(errOut, "not empty") {
		t.Errorf("a second migrate into the full database: exit %d %s", code, errOut)
	}
}
