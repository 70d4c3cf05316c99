package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
)

// TestA11_EHRLaunchWired: the wired server has the EHR launch resolver
// and the encounter picker (their capabilities are advertised) and the
// /admin/launch page.
func TestA11_EHRLaunchWired(t *testing.T) {
	ctx := context.Background()
	getenv := func(k string) string {
		if k == "SMARTGATE_ADMIN_PASSWORD" {
			return "a long admin password for tests"
		}
		return ""
	}
	cfg, _, err := config.Load("serve", []string{"--data", t.TempDir()}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	db, err := openStore(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := newApp(ctx, cfg, db, logger, &env{stdout: io.Discard, stderr: io.Discard, getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	ts := httptest.NewServer(a.handler)
	t.Cleanup(ts.Close)

	resp, err := http.Get(ts.URL + "/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Capabilities []string `json:"capabilities"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"launch-ehr", "context-ehr-patient", "context-ehr-encounter", "context-banner", "context-style",
		"context-standalone-encounter"} {
		if !slices.Contains(doc.Capabilities, c) {
			t.Errorf("capabilities lack %s: %v", c, doc.Capabilities)
		}
	}

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(ts.URL + "/admin/launch")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Fatalf("GET /admin/launch anonymously: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestE2_EncounterDirectory(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	const bundle = `{"resourceType":"Bundle","type":"collection","entry":[
 {"resource":{"resourceType":"Patient","id":"p1"}},
 {"resource":{"resourceType":"Patient","id":"p2"}},
 {"resource":{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
  "type":[{"coding":[{"display":"Check-up"}]}],"period":{"start":"2020-01-01","end":"2020-01-01"}}},
 {"resource":{"resourceType":"Encounter","id":"e3","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
  "type":[{"text":"Follow-up"}],"period":{"start":"2021-01-01","end":"2021-01-01"}}},
 {"resource":{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"}}}]}`
	if _, err := fhir.Import(ctx, db, strings.NewReader(bundle), fhir.ImportOptions{Registry: reg}); err != nil {
		t.Fatal(err)
	}
	d := &encounterDirectory{st: db, reg: reg}
	list, err := d.EncountersOf(ctx, "p1", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []web.EncounterSummary{{ID: "e3", Patient: "p1", Label: "Follow-up", Date: "2021-01-01"},
		{ID: "e1", Patient: "p1", Label: "Check-up", Date: "2020-01-01"}}
	if !slices.Equal(list, want) {
		t.Fatalf("EncountersOf(p1) = %+v, want %+v", list, want)
	}
	e, err := d.Encounter(ctx, "e2")
	if err != nil || e.Patient != "p2" {
		t.Fatalf("Encounter(e2) = %+v, %v", e, err)
	}
	if _, err := d.Encounter(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Encounter(nope) = %v", err)
	}
}
