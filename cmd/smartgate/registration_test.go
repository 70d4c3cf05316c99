package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store/sqlite"
)

// wiredServer builds the whole server in-process (newApp) behind an
// httptest listener whose public URL is its own.
func wiredServer(t *testing.T, args ...string) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	args = append([]string{"--data", filepath.Join(dir, "data"), "--http-url", base, "--https-addr", ""}, args...)
	getenv := func(k string) string {
		if k == "SMARTGATE_ADMIN_PASSWORD" {
			return "admin password for the tests"
		}
		return ""
	}
	cfg, _, err := config.Load("serve", args, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "db.sqlite"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := newApp(ctx, cfg, db, newLogger(cfg, io.Discard), &env{stdout: io.Discard, stderr: io.Discard, getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	ts.Config.Handler = listener.Middleware(listener.Info{Name: "http", BaseURL: base, Loopback: true}, a.handler)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return m
}

// TestDCR10_RegisterAdvertisedInEveryDocument: the SMART configuration,
// RFC 8414 / OIDC discovery and the CapabilityStatement's oauth-uris
// register name the same registration endpoint (checklist DCR10, B3, B4,
// A10, M2), and it works with the administrator's OWin token.
func TestDCR10_RegisterAdvertisedInEveryDocument(t *testing.T) {
	ts := wiredServer(t)
	want := ts.URL + "/oauth/register"
	for _, p := range []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration",
		"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		if got := getJSON(t, ts.URL+p)["registration_endpoint"]; got != want {
			t.Errorf("%s registration_endpoint = %v, want %s", p, got, want)
		}
	}
	meta := getJSON(t, ts.URL+"/fhir/metadata")
	var register string
	rest, _ := meta["rest"].([]any)
	if len(rest) > 0 {
		sec, _ := rest[0].(map[string]any)["security"].(map[string]any)
		exts, _ := sec["extension"].([]any)
		for _, e := range exts {
			ext, _ := e.(map[string]any)
			if ext["url"] != "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris" {
				continue
			}
			subs, _ := ext["extension"].([]any)
			for _, s := range subs {
				sub, _ := s.(map[string]any)
				if sub["url"] == "register" {
					register, _ = sub["valueUri"].(string)
				}
			}
		}
	}
	if register != want {
		t.Errorf("oauth-uris register = %q, want %s", register, want)
	}

	// The administrator's OWin token is an initial access token.
	resp, err := http.PostForm(ts.URL+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"admin password for the tests"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("admin OWin token: %d %v", resp.StatusCode, tok)
	}
	req, _ := http.NewRequest(http.MethodPost, want, strings.NewReader(`{"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none","scope":"openid patient/*.rs"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("register with the admin token: %d %s", resp.StatusCode, b)
	}
	// Without a token (registration: token, the default): 401.
	resp2, err := http.Post(want, "application/json", strings.NewReader(`{"redirect_uris":["http://127.0.0.1:9/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp2.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("anonymous registration: %d %q", resp2.StatusCode, resp2.Header.Get("WWW-Authenticate"))
	}
}

func TestRegistrationOpenSetting(t *testing.T) {
	ts := wiredServer(t, "--registration", "open")
	resp, err := http.Post(ts.URL+"/oauth/register", "application/json",
		strings.NewReader(`{"redirect_uris":["http://127.0.0.1:9/cb"],"scope":"openid patient/*.cruds"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusCreated || m["token_endpoint_auth_method"] != "none" || m["scope"] != "openid patient/*.rs" {
		t.Fatalf("open registration: %d %v", resp.StatusCode, m)
	}
}
