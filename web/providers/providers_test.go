package providers_test

import (
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/providers"
)

const password = "correct horse battery"

// secret is the client secret the fake connector holds: never on a page.
const secret = "client-secret-must-not-show"

// fakeConnector is an OpenID connector whose discovery fetch the test
// controls: Check sets Status to the next result.
type fakeConnector struct {
	mu     sync.Mutex
	status idp.Status
	next   error
	checks int
	secret string
	now    time.Time
}

func (c *fakeConnector) LoginURL(context.Context, idp.State) (string, error) { return "", nil }
func (c *fakeConnector) HandleCallback(context.Context, idp.State, url.Values) (idp.Identity, error) {
	return idp.Identity{}, errors.New("not used")
}

func (c *fakeConnector) Status() idp.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *fakeConnector) Check(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		panic("Check without a deadline")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks++
	c.status = idp.Status{Checked: c.now}
	if c.next != nil {
		c.status.Err = c.next.Error()
	}
	return c.next
}

func (c *fakeConnector) set(next error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next, c.now = next, now
}

func (c *fakeConnector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checks
}

// plainConnector fetches nothing (an OAuth 2.0 preset with fixed
// endpoints).
type plainConnector struct{}

func (plainConnector) LoginURL(context.Context, idp.State) (string, error) { return "", nil }
func (plainConnector) HandleCallback(context.Context, idp.State, url.Values) (idp.Identity, error) {
	return idp.Identity{}, errors.New("not used")
}

type env struct {
	t      *testing.T
	db     *sqlite.DB
	ts     *httptest.Server
	google *fakeConnector
}

type auditDB struct{ db *sqlite.DB }

func (a auditDB) Record(ctx context.Context, ev audit.Event) {
	if err := a.db.InsertAudit(ctx, []audit.Event{ev}); err != nil {
		panic(err)
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hasher := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 4)
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*account.User{
		{UserName: "root", Roles: []string{account.RoleAdmin}},
		{UserName: "doc", Roles: []string{account.RolePractitioner}},
	} {
		u.Active, u.PasswordHash = true, hash
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	assets := smartgate.Assets("")
	throttle := account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 3, Users: db, Lockouts: db})
	pages, err := web.New(ctx, web.Config{Assets: assets, Store: db, Logger: slog.New(slog.DiscardHandler),
		Passwords: account.NewAuthenticator(db, hasher, throttle)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, google: &fakeConnector{secret: secret, now: time.Date(2026, 7, 1, 9, 30, 15, 0, time.UTC)}}
	srv, err := providers.New(providers.Config{Pages: pages, Assets: assets, Audit: auditDB{db},
		HTTPBase: "http://127.0.0.1:8080", HTTPSBase: "https://gate.example.org/",
		Providers: []idp.Provider{
			{ID: "google", Name: "Google", Type: "oidc", Preset: "google", Issuer: idp.GoogleIssuer,
				Provisioning: idp.ProvisionInvite, TrustedEmail: true, Connector: e.google},
			{ID: "facebook", Name: "Facebook", Type: "oauth2", Preset: "facebook", Issuer: idp.FacebookIssuer,
				Provisioning: idp.ProvisionAuto, Connector: plainConnector{}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	srv.Register(mux)
	e.ts = httptest.NewServer(mux)
	t.Cleanup(e.ts.Close)
	return e
}

type browser struct {
	e *env
	c *http.Client
}

type resp struct {
	status int
	loc    string
	body   string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) resp {
	b.e.t.Helper()
	req, _ := http.NewRequest(method, b.e.ts.URL+path, strings.NewReader(form.Encode()))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if strings.Contains(string(body), secret) {
		b.e.t.Errorf("%s %s shows the client secret", method, path)
	}
	return resp{status: r.StatusCode, loc: r.Header.Get("Location"), body: string(body)}
}

func (b *browser) get(path string) resp { return b.do(http.MethodGet, path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

func (e *env) login(user string) *browser {
	e.t.Helper()
	b := e.browser()
	page := b.get("/login")
	r := b.do(http.MethodPost, "/login", url.Values{"csrf_token": {csrfOf(e.t, page.body)}, "username": {user}, "password": {password}})
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return b
}

func wantStatus(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
}

// section is the part of the page about provider id.
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `data-provider="`+id+`"`)
	if i < 0 {
		t.Fatalf("no section for %s:\n%s", id, body)
	}
	rest := body[i:]
	if end := strings.Index(rest, "</section>"); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

func TestAdministratorSeesTheProvidersAndTheirCallbacks(t *testing.T) {
	e := newEnv(t)
	r := e.login("root").get(providers.Path)
	wantStatus(t, r, http.StatusOK)
	g := section(t, r.body, "google")
	for _, want := range []string{"<h2>Google</h2>", "oidc (preset google)", "https://accounts.google.com", "invite",
		`data-trusted-email="true"`,
		"<code data-callback>https://gate.example.org/login/google/callback</code>",
		"<code data-callback>http://127.0.0.1:8080/login/google/callback</code>",
		"<dd data-status>not fetched yet</dd>", `action="/admin/providers/google/check"`} {
		if !strings.Contains(g, want) {
			t.Errorf("google's section lacks %q:\n%s", want, g)
		}
	}
	f := section(t, r.body, "facebook")
	for _, want := range []string{"<h2>Facebook</h2>", "oauth2 (preset facebook)", "https://www.facebook.com", "auto",
		`data-trusted-email="false"`, "https://gate.example.org/login/facebook/callback", "nothing to fetch"} {
		if !strings.Contains(f, want) {
			t.Errorf("facebook's section lacks %q:\n%s", want, f)
		}
	}
	if strings.Contains(f, "Check now") {
		t.Error("a connector that is not a Checker has a Check now button")
	}
}

func TestOnlyAdministratorsSeeTheProviders(t *testing.T) {
	e := newEnv(t)
	if r := e.browser().get(providers.Path); r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
		t.Errorf("anonymous: %d %q, want 303 to /login", r.status, r.loc)
	}
	b := e.login("doc")
	r := b.get(providers.Path)
	wantStatus(t, r, http.StatusForbidden)
	if strings.Contains(r.body, "callback") {
		t.Errorf("a non-administrator sees the providers:\n%s", r.body)
	}
	token := csrfOf(t, b.get("/logout").body)
	wantStatus(t, b.do(http.MethodPost, providers.Path+"/google/check", url.Values{"csrf_token": {token}}), http.StatusForbidden)
	if e.google.count() != 0 {
		t.Error("a non-administrator ran a check")
	}
}

func TestCheckNowShowsTheNewStatus(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	page := b.get(providers.Path)
	token := csrfOf(t, page.body)

	// The provider is unreachable: the error shows.
	e.google.set(errors.New("idp: the provider could not be reached: discovery: dial tcp 127.0.0.1:9: connection refused"), time.Date(2026, 7, 1, 9, 30, 15, 0, time.UTC))
	r := b.do(http.MethodPost, providers.Path+"/google/check", url.Values{"csrf_token": {token}})
	wantStatus(t, r, http.StatusSeeOther)
	if r.loc != providers.Path+"?checked=google#provider-google" {
		t.Errorf("Location %q", r.loc)
	}
	page = b.get(r.loc)
	g := section(t, page.body, "google")
	if !strings.Contains(g, "failed at 2026-07-01 09:30:15 UTC: idp: the provider could not be reached: discovery: dial tcp 127.0.0.1:9: connection refused") {
		t.Errorf("google after a failed check:\n%s", g)
	}
	if !strings.Contains(page.body, `role="alert">Checked Google: idp: the provider could not be reached`) {
		t.Errorf("no message about the check:\n%s", page.body)
	}

	// It is back: the new fetch time, no error.
	e.google.set(nil, time.Date(2026, 7, 1, 9, 31, 15, 0, time.UTC))
	wantStatus(t, b.do(http.MethodPost, providers.Path+"/google/check", url.Values{"csrf_token": {token}}), http.StatusSeeOther)
	g = section(t, b.get(providers.Path).body, "google")
	if !strings.Contains(g, "<span data-status-ok>fetched at 2026-07-01 09:31:15 UTC</span>") || strings.Contains(g, "refused") {
		t.Errorf("google after a good check:\n%s", g)
	}
	if e.google.count() != 2 {
		t.Errorf("%d checks, want 2", e.google.count())
	}

	// Unknown provider, or one with nothing to check: 404.
	wantStatus(t, b.do(http.MethodPost, providers.Path+"/nope/check", url.Values{"csrf_token": {token}}), http.StatusNotFound)
	wantStatus(t, b.do(http.MethodPost, providers.Path+"/facebook/check", url.Values{"csrf_token": {token}}), http.StatusNotFound)

	evs, err := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "provider", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, ev := range evs {
		if ev.Action != "check" || ev.Resource != "Provider/google" {
			t.Errorf("audit event %+v", ev)
		}
		outcomes[ev.Outcome]++
	}
	if outcomes[audit.Failure] != 1 || outcomes[audit.Success] != 1 {
		t.Errorf("audit outcomes %v, want one failure and one success", outcomes)
	}
}

func TestCheckNowNeedsTheCSRFToken(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	b.get(providers.Path)
	for _, form := range []url.Values{{}, {"csrf_token": {"forged"}}} {
		wantStatus(t, b.do(http.MethodPost, providers.Path+"/google/check", form), http.StatusForbidden)
	}
	if e.google.count() != 0 {
		t.Error("a check ran without the CSRF token")
	}
}
