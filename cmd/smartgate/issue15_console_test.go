package main

// The home page and the console's dashboard, keys and settings pages as
// newApp wires them (issue 15 items 1, 2, 4, 6), over real HTTP.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/config"
)

var issue15AdminPages = []string{"/admin", "/admin/keys", "/admin/settings"}

func TestIssue15HomePage(t *testing.T) {
	h := newHarness(t)
	r := h.page(h.httpc, "GET", h.baseA+"/", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET / anonymous: %d %.300s", r.status, r.body)
	}
	body := string(r.body)
	for _, want := range []string{
		`href="/login?return_to=%2F"`,
		h.baseA + "/fhir<", h.baseB + "/fhir<",
		h.baseA + "/.well-known/smart-configuration", h.baseA + "/.well-known/openid-configuration", h.baseA + "/fhir/metadata",
		h.baseB + "/.well-known/smart-configuration", h.baseB + "/.well-known/openid-configuration", h.baseB + "/fhir/metadata",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("anonymous home page lacks %q", want)
		}
	}
	for _, not := range []string{`href="/admin"`, "data-logout", "data-demo-app"} {
		if strings.Contains(body, not) {
			t.Errorf("anonymous home page shows %q", not)
		}
	}
	if r.header.Get("Content-Security-Policy") == "" {
		t.Error("home page without the page headers")
	}
	// Other unknown paths stay 404.
	for _, p := range []string{"/nothing-here", "/index.html", "/admin/nothing-here"} {
		if r := h.page(h.httpc, "GET", h.baseA+p, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
	lind := h.pageSession("lind", userPassword)
	pb := string(h.page(lind, "GET", h.baseA+"/", nil).body)
	if !strings.Contains(pb, `data-user>lind<`) || !strings.Contains(pb, `href="/account/apps"`) || !strings.Contains(pb, `action="/logout"`) {
		t.Errorf("patient's home page: %.2000s", pb)
	}
	if strings.Contains(pb, `href="/admin"`) || strings.Contains(pb, "data-login") {
		t.Error("patient's home page links the console or the log-in")
	}
	if doc := h.page(h.pageSession("doc", userPassword), "GET", h.baseA+"/", nil); strings.Contains(string(doc.body), `href="/admin"`) {
		t.Error("practitioner's home page links the console")
	}
	admin := h.page(h.pageSession("admin", adminPassword), "GET", h.baseA+"/", nil)
	if !strings.Contains(string(admin.body), `href="/admin" data-console`) {
		t.Errorf("admin's home page lacks the console link: %.2000s", admin.body)
	}
	// The log-out form works from the home page.
	out := h.page(lind, "POST", h.baseA+"/logout", url.Values{"csrf_token": {field(reCSRF, []byte(pb))}})
	if out.status >= 400 {
		t.Errorf("log-out from the home page: %d", out.status)
	}
	if after := string(h.page(lind, "GET", h.baseA+"/", nil).body); !strings.Contains(after, "data-login") {
		t.Error("still logged in after the home page's log-out")
	}
}

func TestIssue15HomePageListenerOff(t *testing.T) {
	cfg := &config.Config{HTTPSAddr: "127.0.0.1:8443", HTTPSURL: "https://example.org/", HTTPURL: "http://localhost:8080"}
	l := consoleListeners(cfg)
	if len(l) != 1 || l[0].Name != "HTTPS" || l[0].Base != "https://example.org" {
		t.Errorf("listeners with HTTP off: %+v", l)
	}
}

func TestIssue15HomePageDemo(t *testing.T) {
	h := newHarness(t, "--demo")
	body := string(h.page(h.httpc, "GET", h.baseA+"/", nil).body)
	for _, want := range []string{`href="/apps/demo/launch.html" data-demo-app`, `data-demo-user>demo-patient<`, `data-demo-user>demo-practitioner<`} {
		if !strings.Contains(body, want) {
			t.Errorf("demo home page lacks %q", want)
		}
	}
	for _, m := range h.app.messages {
		if i := strings.Index(m, " password "); i >= 0 {
			if pw := strings.TrimSpace(m[i+len(" password "):]); pw != "" && strings.Contains(body, pw) {
				t.Error("the home page shows a demo password")
			}
		}
	}
}

func TestIssue15AdminPagesAccess(t *testing.T) {
	h := newHarness(t)
	browsers := map[string]*http.Client{"lind": h.pageSession("lind", userPassword), "doc": h.pageSession("doc", userPassword)}
	admin := h.pageSession("admin", adminPassword)
	for _, p := range issue15AdminPages {
		if r := h.page(h.httpc, "GET", h.baseA+p, nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
			t.Errorf("anonymous GET %s: %d %q", p, r.status, r.header.Get("Location"))
		}
		for name, b := range browsers {
			if r := h.page(b, "GET", h.baseA+p, nil); r.status != http.StatusForbidden {
				t.Errorf("%s GET %s: %d, want 403", name, p, r.status)
			}
		}
		r := h.page(admin, "GET", h.baseA+p, nil)
		if r.status != http.StatusOK {
			t.Errorf("admin GET %s: %d %.300s", p, r.status, r.body)
			continue
		}
		for _, nav := range []string{`href="/admin/clients"`, `href="/admin/users"`, `href="/admin/keys"`, `href="/admin/settings"`, `aria-current="page"`} {
			if !strings.Contains(string(r.body), nav) {
				t.Errorf("%s lacks the console navigation (%s)", p, nav)
			}
		}
	}
	// A patient cannot rotate, even with their own CSRF token.
	lindPage := h.page(browsers["lind"], "GET", h.baseA+"/", nil)
	if r := h.page(browsers["lind"], "POST", h.baseA+"/admin/keys/rotate", url.Values{"csrf_token": {field(reCSRF, lindPage.body)}}); r.status != http.StatusForbidden {
		t.Errorf("patient's rotate: %d", r.status)
	}
}

// waitCount waits until f reaches at least n.
func waitCount(t *testing.T, what string, n int, f func() (int, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want at least %d", what, got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIssue15Dashboard(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Hour)
	h.owin("doc", userPassword)
	// A failed log-in on the page.
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Transport: h.httpc.Transport, Jar: jar, CheckRedirect: h.httpc.CheckRedirect}
	login := h.page(b, "GET", h.baseA+"/login", nil)
	if r := h.page(b, "POST", h.baseA+"/login", url.Values{"csrf_token": {field(reCSRF, login.body)}, "username": {"doc"}, "password": {"wrong"}}); r.status == http.StatusSeeOther {
		t.Fatal("a wrong password logged in")
	}
	waitCount(t, "OWin tokens", 1, func() (int, error) { return h.db.CountAudit(ctx, "owin", audit.Success, since) })
	waitCount(t, "failed log-ins", 1, func() (int, error) { return h.db.CountAudit(ctx, "login", audit.Failure, since) })
	admin := h.pageSession("admin", adminPassword)
	r := h.page(admin, "GET", h.baseA+"/admin", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /admin: %d %.300s", r.status, r.body)
	}
	body := string(r.body)
	clients, err := h.db.CountClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users, err := h.db.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`href="/admin/clients" data-count="clients">` + strconv.Itoa(clients) + `<`,
		`href="/admin/users" data-count="users">` + strconv.Itoa(users) + `<`,
		`href="/admin/grants" data-count="grants"`,
		`href="/admin/audit" data-count="failed-logins">`,
		`href="/admin/keys" data-count="key-age">less than a minute`,
		`href="/admin/settings" data-count="database">`,
		`href="/admin" aria-current="page"`,
		`data-providers-none`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(body, `data-count="tokens">0<`) {
		t.Error("the OWin token is not counted")
	}
	if strings.Contains(body, `data-count="failed-logins">0<`) {
		t.Error("the failed log-in is not counted")
	}
}

func TestIssue15Keys(t *testing.T) {
	h := newHarness(t)
	admin := h.pageSession("admin", adminPassword)
	page := h.page(admin, "GET", h.baseA+"/admin/keys", nil)
	if page.status != http.StatusOK {
		t.Fatalf("GET /admin/keys: %d %.300s", page.status, page.body)
	}
	before := issue15Kid(t, h.owin("doc", userPassword))
	if !strings.Contains(string(page.body), `data-key="`+before+`" data-state="active"`) {
		t.Errorf("keys page does not list the active key %s", before)
	}
	// CSRF: no token, a wrong token, and GET are refused.
	if r := h.page(admin, "POST", h.baseA+"/admin/keys/rotate", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("rotate without csrf_token: %d", r.status)
	}
	if r := h.page(admin, "POST", h.baseA+"/admin/keys/rotate", url.Values{"csrf_token": {"forged"}}); r.status != http.StatusForbidden {
		t.Errorf("rotate with a forged csrf_token: %d", r.status)
	}
	if r := h.page(admin, "GET", h.baseA+"/admin/keys/rotate", nil); r.status != http.StatusMethodNotAllowed && r.status != http.StatusNotFound {
		t.Errorf("GET rotate: %d", r.status)
	}
	if after := issue15Kid(t, h.owin("doc", userPassword)); after != before {
		t.Fatalf("refused rotations changed the key: %s → %s", before, after)
	}

	r := h.page(admin, "POST", h.baseA+"/admin/keys/rotate", url.Values{"csrf_token": {field(reCSRF, page.body)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/admin/keys?rotated=1" {
		t.Fatalf("rotate: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	// The running server signs with the new key at once.
	after := issue15Kid(t, h.owin("doc", userPassword))
	if after == before {
		t.Fatalf("a token issued after the rotation still carries kid %s", before)
	}
	jwks := h.page(h.httpc, "GET", h.baseA+"/oauth/jwks", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks.body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Key(before)) == 0 || len(set.Key(after)) == 0 {
		t.Errorf("JWKS lacks the old (%s) or the new (%s) key: %s", before, after, jwks.body)
	}
	list := string(h.page(admin, "GET", h.baseA+"/admin/keys?rotated=1", nil).body)
	for _, want := range []string{`data-key="` + after + `" data-state="active"`, `data-key="` + before + `" data-state="retired"`, "data-message"} {
		if !strings.Contains(list, want) {
			t.Errorf("keys page after rotation lacks %q", want)
		}
	}
	// The rotation is audited.
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := h.db.AuditEvents(context.Background(), audit.Filter{Kind: "admin", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(evs, func(ev audit.Event) bool {
			return ev.Action == "keys.rotate" && ev.Outcome == audit.Success && ev.Actor != ""
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no keys.rotate audit record: %+v", evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// issue15Kid is the kid in an access token's JOSE header.
func issue15Kid(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{authz.AlgAccessToken})
	if err != nil || len(jws.Signatures) == 0 {
		t.Fatalf("access token: %v", err)
	}
	return jws.Signatures[0].Header.KeyID
}

func TestIssue15Settings(t *testing.T) {
	dir := t.TempDir()
	const tokenValue = "metrics-bearer-token-SECRET-15"
	tokenFile := filepath.Join(dir, "metrics-token-MARKER")
	if err := os.WriteFile(tokenFile, []byte(tokenValue), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "--metrics-token-file", tokenFile, "--code-ttl", "2m")
	admin := h.pageSession("admin", adminPassword)
	r := h.page(admin, "GET", h.baseA+"/admin/settings", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /admin/settings: %d %.300s", r.status, r.body)
	}
	body := string(r.body)
	for _, secret := range []string{tokenValue, "MARKER", adminPassword} {
		if strings.Contains(body, secret) {
			t.Errorf("the settings page shows %q", secret)
		}
	}
	for _, want := range []string{
		`data-setting="metrics-token-file" data-secret>`,
		`data-setting="code-ttl">`, `<code>2m</code>`,
		`data-setting="access-token-ttl">`, `<code>1h</code>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	row := func(flag string) string {
		i := strings.Index(body, `data-setting="`+flag+`"`)
		if i < 0 {
			return ""
		}
		rest := body[i:]
		return rest[:strings.Index(rest, "</tr>")]
	}
	for flag, want := range map[string]string{"metrics-token-file": "flag", "code-ttl": "flag", "access-token-ttl": "default"} {
		if !strings.Contains(row(flag), "<td data-source>"+want+"</td>") {
			t.Errorf("%s: source not %s: %s", flag, want, row(flag))
		}
	}
	if !strings.Contains(row("metrics-token-file"), "<em>set</em>") || !strings.Contains(row("tls-key"), "<em>unset</em>") {
		t.Errorf("secrets not shown as set/unset: %s / %s", row("metrics-token-file"), row("tls-key"))
	}
	// Every setting has its row.
	for _, s := range config.Settings() {
		if row(s.Flag) == "" {
			t.Errorf("no row for --%s", s.Flag)
		}
	}
}

// TestIssue15SettingsHeaderSecret: an upstream header (an API key) from
// the environment reaches the settings page as "set" only.
func TestIssue15SettingsHeaderSecret(t *testing.T) {
	env := map[string]string{"SMARTGATE_FHIR_UPSTREAM": "https://fhir.example/r4", "SMARTGATE_FHIR_UPSTREAM_HEADER": "X-Api-Key: upstream-SECRET-15",
		"SMARTGATE_ADMIN_PASSWORD": "admin-SECRET-15"}
	cfg, _, err := config.Load("serve", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range consoleSettings(cfg) {
		if strings.Contains(s.Value, "SECRET-15") {
			t.Errorf("--%s shows the secret", s.Flag)
		}
		if s.Flag == "fhir-upstream-header" && (s.Value != "set" || s.Source != config.SourceEnv || !s.Secret) {
			t.Errorf("fhir-upstream-header: %+v", s)
		}
	}
}

// TestIssue15NavigationOnEveryAdminPage: the console navigation, with the
// page's own section marked, on every administrator page.
func TestIssue15NavigationOnEveryAdminPage(t *testing.T) {
	h := newHarness(t)
	admin := h.pageSession("admin", adminPassword)
	for path, section := range map[string]string{
		"/admin": "/admin", "/admin/keys": "/admin/keys", "/admin/settings": "/admin/settings",
		"/admin/clients": "/admin/clients", "/admin/clients/new": "/admin/clients", "/admin/clients/" + h.public: "/admin/clients",
		"/admin/users": "/admin/users", "/admin/users/new": "/admin/users",
		"/admin/groups": "/admin/groups", "/admin/groups/new": "/admin/groups",
		"/admin/providers": "/admin/providers", "/admin/certificates": "/admin/certificates", "/admin/launch": "/admin/launch",
	} {
		r := h.page(admin, "GET", h.baseA+path, nil)
		if r.status != http.StatusOK {
			t.Errorf("GET %s: %d", path, r.status)
			continue
		}
		body := string(r.body)
		if !strings.Contains(body, `<nav class="console" aria-label="Console">`) {
			t.Errorf("%s lacks the console navigation", path)
		}
		if !strings.Contains(body, `<a href="`+section+`" aria-current="page">`) {
			t.Errorf("%s does not mark its section %s", path, section)
		}
		if strings.Count(body, `aria-current="page"`) != 1 {
			t.Errorf("%s marks %d sections", path, strings.Count(body, `aria-current="page"`))
		}
	}
	// A person's own pages carry no console navigation.
	lind := h.pageSession("lind", userPassword)
	for _, path := range []string{"/", "/account/apps"} {
		if strings.Contains(string(h.page(lind, "GET", h.baseA+path, nil).body), `class="console"`) {
			t.Errorf("%s shows the console navigation to a patient", path)
		}
	}
}
