package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smartgate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsMatchContract(t *testing.T) {
	cfg, rest, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 0 {
		t.Fatalf("rest = %q", rest)
	}
	want := Config{DataDir: "./data", HTTPAddr: "127.0.0.1:8080", HTTPSAddr: "127.0.0.1:8443",
		HTTPURL: "http://localhost:8080", HTTPSURL: "https://localhost:8443", ClientCertPolicy: "allow",
		AccessTokenTTL: time.Hour, RefreshTokenTTL: 720 * time.Hour, CodeTTL: time.Minute, OWin: true}
	if cfg.DataDir != want.DataDir || cfg.HTTPAddr != want.HTTPAddr || cfg.HTTPSAddr != want.HTTPSAddr ||
		cfg.HTTPURL != want.HTTPURL || cfg.HTTPSURL != want.HTTPSURL || cfg.ClientCertPolicy != want.ClientCertPolicy ||
		cfg.AccessTokenTTL != want.AccessTokenTTL || cfg.RefreshTokenTTL != want.RefreshTokenTTL ||
		cfg.CodeTTL != want.CodeTTL || cfg.OWin != want.OWin || cfg.HTTPAuth != "bearer" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	file := writeFile(t, "http_addr: 127.0.0.1:1001\nhttps_addr: 127.0.0.1:1002\naccess_token_ttl: 10m\ncode_ttl: 30s\n")
	e := env(map[string]string{
		"SMARTGATE_CONFIG":           file,
		"SMARTGATE_HTTPS_ADDR":       "127.0.0.1:2002",
		"SMARTGATE_ACCESS_TOKEN_TTL": "20m",
		"SMARTGATE_OWIN":             "false",
	})
	cfg, _, err := Load("serve", []string{"--access-token-ttl", "30m"}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"file beats default", cfg.HTTPAddr, "127.0.0.1:1001"},
		{"env beats file", cfg.HTTPSAddr, "127.0.0.1:2002"},
		{"flag beats env and file", cfg.AccessTokenTTL, 30 * time.Minute},
		{"file only", cfg.CodeTTL, 30 * time.Second},
		{"env bool", cfg.OWin, false},
		{"default untouched", cfg.RefreshTokenTTL, 720 * time.Hour},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestBoolFlagForms(t *testing.T) {
	for _, args := range [][]string{{"--owin=false"}, {"-owin=false"}} {
		cfg, _, err := Load("serve", args, env(nil), io.Discard)
		if err != nil || cfg.OWin {
			t.Fatalf("%v: OWin=%v err=%v", args, cfg != nil && cfg.OWin, err)
		}
	}
	cfg, rest, err := Load("serve", []string{"--demo", "extra"}, env(nil), io.Discard)
	if err != nil || !cfg.Demo || len(rest) != 1 {
		t.Fatalf("--demo: %+v %v %v", cfg, rest, err)
	}
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	file := writeFile(t, `
http_adr: 127.0.0.1:1
colour: blue
access_token_ttl: soon
client_cert_policy: maybe
providers:
  - id: Google
    type: saml
    client_id: x
    client_secret: inline-secret
`)
	_, _, err := Load("serve", []string{"--config", file, "--code-ttl", "2h", "--https-url", "http://x"}, env(nil), io.Discard)
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want *Error", err)
	}
	msg := err.Error()
	for _, want := range []string{`"http_adr"`, `"colour"`, "unknown key", `"soon"`, `"maybe"`, "client_secret", "code-ttl", "https-url"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
	if len(cerr.Problems) < 6 {
		t.Errorf("want at least 6 problems, got %d:\n%s", len(cerr.Problems), msg)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no listener", []string{"--http-addr=", "--https-addr="}, "at least one listener"},
		{"bad addr", []string{"--http-addr", "localhost"}, "host:port"},
		{"cert without key", []string{"--tls-cert", "/etc/hostname"}, "tls-cert and tls-key"},
		{"missing cert file", []string{"--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, "no such file"},
		{"http-auth none on public", []string{"--http-auth", "none", "--http-addr", "0.0.0.0:8080"}, "not a loopback"},
		{"url with query", []string{"--http-url", "http://x/?a=b"}, "query"},
		{"bad duration", []string{"--refresh-token-ttl", "-1h"}, "positive"},
		{"bad enum", []string{"--log-level", "loud"}, "not one of"},
		{"unknown flag", []string{"--nope"}, "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load("serve", tc.args, env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, _, err := Load("serve", []string{"--http-auth", "none"}, env(nil), io.Discard); err != nil {
		t.Fatalf("http-auth=none on loopback refused: %v", err)
	}
}

func TestProvidersFromFile(t *testing.T) {
	file := writeFile(t, `
providers:
  - id: google
    type: oidc
    preset: google
    issuer: https://accounts.google.com
    client_id: "abc"
    client_secret_env: SMARTGATE_GOOGLE_SECRET
    scopes: [openid, email, profile]
    provisioning: invite
    trusted_email: false
`)
	cfg, _, err := Load("serve", []string{"--config", file}, env(map[string]string{"SMARTGATE_GOOGLE_SECRET": "s3cret"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 1 || cfg.Providers[0].ID != "google" || len(cfg.Providers[0].Scopes) != 3 {
		t.Fatalf("providers = %+v", cfg.Providers)
	}
	if s, err := cfg.Providers[0].ReadSecret(env(map[string]string{"SMARTGATE_GOOGLE_SECRET": " s3cret\n"})); err != nil || s != "s3cret" {
		t.Fatalf("ReadSecret = %q, %v", s, err)
	}
}

// TestREADMEConfigReference keeps README.md's settings table in step with
// Settings(): every setting appears with its flag, env variable, file key
// and default, and the table names nothing else.
func TestREADMEConfigReference(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "<!-- settings:begin -->")
	end := strings.Index(text, "<!-- settings:end -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no settings table between <!-- settings:begin --> and <!-- settings:end -->")
	}
	rows := map[string]string{}
	for _, line := range strings.Split(text[start:end], "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		cells := strings.Split(line, "|")
		flagName := strings.Trim(strings.TrimSpace(cells[1]), "`-")
		rows[flagName] = line
	}
	for _, s := range Settings() {
		line, ok := rows[s.Flag]
		if !ok {
			t.Errorf("README settings table lacks --%s", s.Flag)
			continue
		}
		delete(rows, s.Flag)
		def := "`" + s.Default + "`"
		if s.Default == "" {
			def = "(none)"
		}
		for _, want := range []string{"`" + s.Env() + "`", "`" + s.Key() + "`", def} {
			if !strings.Contains(line, want) {
				t.Errorf("README row for --%s lacks %s: %s", s.Flag, want, line)
			}
		}
	}
	for f := range rows {
		t.Errorf("README settings table names --%s, which is not a setting", f)
	}
}

// TestHTTPListenerRules: the HTTP listener binds to loopback by default,
// and --http-auth=none (however it is set) is refused unless http-addr
// binds only to loopback: not the unspecified IPv4 or IPv6 address, not an
// empty host (every interface), not a host name other than localhost, not
// a non-loopback address (interface.md "Security defaults"; checklist S2).
// At run time the listener also checks the address it really bound
// (listener.Info.Loopback) before it lets a request through without a
// token (cmd/smartgate devHTTPAuth).
func TestHTTPListenerRules(t *testing.T) {
	cfg, _, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !IsLoopbackAddr(cfg.HTTPAddr) || cfg.HTTPAuth != "bearer" {
		t.Fatalf("defaults: http-addr %q (loopback %v), http-auth %q", cfg.HTTPAddr, IsLoopbackAddr(cfg.HTTPAddr), cfg.HTTPAuth)
	}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.2:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"127.0.0.1:0", true},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{":8080", false},
		{"gate.example:8080", false},
		{"localhost.example:8080", false},
		{"192.168.1.10:8080", false},
		{"[2001:db8::1]:8080", false},
		{"10.0.0.1:8080", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			if got := IsLoopbackAddr(tc.addr); got != tc.ok {
				t.Errorf("IsLoopbackAddr(%q) = %v, want %v", tc.addr, got, tc.ok)
			}
			sources := map[string]func() error{
				"flags": func() error {
					_, _, err := Load("serve", []string{"--http-auth", "none", "--http-addr", tc.addr}, env(nil), io.Discard)
					return err
				},
				"env": func() error {
					_, _, err := Load("serve", nil, env(map[string]string{"SMARTGATE_HTTP_AUTH": "none", "SMARTGATE_HTTP_ADDR": tc.addr}), io.Discard)
					return err
				},
				"file": func() error {
					file := writeFile(t, "http_auth: none\nhttp_addr: \""+tc.addr+"\"\n")
					_, _, err := Load("serve", nil, env(map[string]string{"SMARTGATE_CONFIG": file}), io.Discard)
					return err
				},
			}
			for name, load := range sources {
				err := load()
				switch {
				case tc.ok && err != nil:
					t.Errorf("%s: http-auth=none on %s refused: %v", name, tc.addr, err)
				case !tc.ok && (err == nil || !strings.Contains(err.Error(), "not a loopback")):
					t.Errorf("%s: http-auth=none on %s: err = %v, want a refusal naming loopback", name, tc.addr, err)
				}
			}
			// The default (bearer) is allowed on any address.
			if _, _, err := Load("serve", []string{"--http-addr", tc.addr}, env(nil), io.Discard); err != nil {
				t.Errorf("http-auth=bearer on %s refused: %v", tc.addr, err)
			}
		})
	}
	// With the HTTP listener off, none has nothing to apply to.
	if _, _, err := Load("serve", []string{"--http-auth", "none", "--http-addr="}, env(nil), io.Discard); err != nil {
		t.Errorf("http-auth=none with the HTTP listener off: %v", err)
	}
}

// TestIssue15SecretSettings lists the settings whose values the settings
// page shows as set/unset only; a new setting that carries a credential
// must land here (or get a name that Secret catches).
func TestIssue15SecretSettings(t *testing.T) {
	want := []string{"tls-key", "client-cert-header", "admin-password-file", "metrics-token-file",
		"fhir-upstream-header", "fhir-upstream-header-file", "fhir-upstream-client-secret-file", "fhir-upstream-key"}
	var got []string
	for _, s := range Settings() {
		if Secret(s.Flag) {
			got = append(got, s.Flag)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("secret settings = %q, want %q", got, want)
	}
}

// TestIssue15Sources: Load notes where each value came from, and keeps a
// secret's value out of Values.
func TestIssue15Sources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "smartgate.yaml")
	if err := os.WriteFile(file, []byte("log_level: debug\ncode_ttl: 2m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SMARTGATE_CONFIG": file, "SMARTGATE_CODE_TTL": "3m",
		"SMARTGATE_FHIR_UPSTREAM_HEADER": "X-Api-Key: hunter2-secret"}
	cfg, _, err := Load("serve", []string{"--owin=false", "--fhir-upstream", "https://fhir.example/r4"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"owin": SourceFlag, "code-ttl": SourceEnv, "log-level": SourceFile,
		"data": SourceDefault, "fhir-upstream-header": SourceEnv} {
		if got := cfg.Sources[flag]; got != want {
			t.Errorf("Sources[%s] = %q, want %q", flag, got, want)
		}
	}
	if got := cfg.Values["code-ttl"]; got != "3m" {
		t.Errorf("Values[code-ttl] = %q", got)
	}
	if got := cfg.Values["fhir-upstream-header"]; got != "set" {
		t.Errorf("Values[fhir-upstream-header] = %q, want set", got)
	}
	if got := cfg.Values["tls-key"]; got != "unset" {
		t.Errorf("Values[tls-key] = %q, want unset", got)
	}
	for k, v := range cfg.Values {
		if strings.Contains(v, "hunter2") {
			t.Errorf("Values[%s] holds the secret", k)
		}
	}
}

// TestDatabaseSetting (issue 16): --database is empty (SQLite) or a
// postgres:// URL; a bad one is refused naming the problem, and the
// password is never in Values or in an error.
func TestDatabaseSetting(t *testing.T) {
	getenv := func(string) string { return "" }
	cfg, _, err := Load("serve", []string{"--database", "postgres://sg:hunter2pw@db.example:5432/smartgate?sslmode=require"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database == "" || strings.Contains(cfg.Values["database"], "hunter2pw") || !strings.Contains(cfg.Values["database"], "db.example") {
		t.Errorf("Database %q, Values[database] %q", cfg.Database, cfg.Values["database"])
	}
	if cfg, _, err := Load("serve", nil, getenv, io.Discard); err != nil || cfg.Database != "" {
		t.Errorf("default: %q, %v", cfg.Database, err)
	}
	for _, bad := range []string{"mysql://sg:hunter2pw@h/db", "postgres://sg:hunter2pw@/db", "postgres://sg:hunter2pw@h/"} {
		_, _, err := Load("serve", []string{"--database", bad}, getenv, io.Discard)
		var p *Error
		if !errors.As(err, &p) || !strings.Contains(err.Error(), "database") || strings.Contains(err.Error(), "hunter2pw") {
			t.Errorf("--database %s: %v", bad, err)
		}
	}
}
