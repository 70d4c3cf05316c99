package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/config"
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
	db, err := openSQLiteStore(ctx, cfg, logger)
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
