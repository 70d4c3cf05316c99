package authz_test

import (
	"fmt"

	"context"
	"encoding/json"
	"errors"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/store"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store/sqlite"
)

// approver is the test-only Interaction: it decides every authorization
// with decide (the real pages come from package web).
type approver struct {
	mu     sync.Mutex
	decide func(req *authz.AuthorizeRequest) (*authz.Decision, error)
	last   *authz.AuthorizeRequest
}

func (a *approver) Authorize(w http.ResponseWriter, r *http.Request, req *authz.AuthorizeRequest) (*authz.Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = req
	if a.decide != nil {
		return a.decide(req)
	}
	return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes, AuthTime: time.Now().Add(-time.Minute), AMR: []string{"pwd"}}, nil
}

// users is a test-only account list (the accounts code provides the real one).
type users map[string]struct {
	password string
	claims   authz.UserClaims
}

// throttledUsers puts users behind the accounts package's log-in throttle,
// as newApp wires it (here 5 failures per account or per address lock).
type throttledUsers struct {
	users
	th *account.Throttle
}

func (u throttledUsers) Authenticate(ctx context.Context, username, password, address string) (authz.UserClaims, error) {
	at, err := u.th.Reserve(ctx, username, address)
	if err != nil {
		return authz.UserClaims{}, fmt.Errorf("%w: %w", authz.ErrAccountLocked, err)
	}
	c, err := u.users.authenticate(username, password)
	switch {
	case err == nil:
		at.Succeeded()
	case errors.Is(err, authz.ErrInvalidCredentials):
		at.Failed()
	default:
		at.Abandoned()
	}
	return c, err
}

func (u users) authenticate(username, password string) (authz.UserClaims, error) {
	e, ok := u[username]
	if ok && e.password == "!unavailable" {
		return authz.UserClaims{}, fmt.Errorf("account store: %w", store.ErrUnavailable)
	}
	if !ok || e.password != password {
		return authz.UserClaims{}, authz.ErrInvalidCredentials
	}
	return e.claims, nil
}

func (u users) Claims(ctx context.Context, subject string) (authz.UserClaims, error) {
	for _, e := range u {
		if e.claims.Subject == subject {
			return e.claims, nil
		}
	}
	return authz.UserClaims{}, fmt.Errorf("no such user: %w", store.ErrNotFound)
}

func testUsers() users {
	return users{
		"alice": {"alice-pw", authz.UserClaims{Subject: "alice-id", Username: "alice", Name: "Alice", Email: "alice@example.org",
			FHIRUser: "Practitioner/p1", Roles: []string{"practitioner"}}},
		"pat":  {"pat-pw", authz.UserClaims{Subject: "pat-id", Username: "pat", Name: "Pat", FHIRUser: "Patient/123", Roles: []string{"patient"}}},
		"root": {"root-pw", authz.UserClaims{Subject: "root-id", Username: "root", Roles: []string{"admin"}}},
		// flaky's password cannot be checked: the account store is down.
		"flaky": {"!unavailable", authz.UserClaims{Subject: "flaky-id", Username: "flaky"}},
	}
}

// recorder writes audit events straight into the database.
type recorder struct{ db *sqlite.DB }

func (r recorder) Record(ctx context.Context, ev audit.Event) {
	_ = r.db.InsertAudit(context.Background(), []audit.Event{ev})
}

// clock is a settable test clock.
type env struct {
	t     testing.TB
	srv   *httptest.Server
	as    *authz.Server
	db    *sqlite.DB
	ia    *approver
	clock *testclock.Clock
	// users are the accounts the server sees (change them between
	// requests, never during one).
	users  users
	base   string
	fhir   string
	public *authz.Client // public SPA/native client, PKCE
	conf   *authz.Client // confidential client_secret_basic
	secret string
}

func newEnv(t testing.TB, mod ...func(*authz.Config)) *env {
	t.Helper()
	return newEnvWith(t, envDeps{}, mod...)
}

// envDeps replaces parts of an env's server: the store it is given (a
// wrapper around the real one) and its logger.
type envDeps struct {
	store  func(*sqlite.DB) authz.Store
	logger *slog.Logger
}

func newEnvWith(t testing.TB, deps envDeps, mod ...func(*authz.Config)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, db: db, ia: &approver{}, clock: testclock.New(time.Time{}), base: srv.URL, fhir: srv.URL + "/fhir"}
	cfg := authz.Config{
		BaseURLs:         []string{srv.URL, "https://other.example"},
		FHIRBaseURLs:     []string{srv.URL + "/fhir", "https://other.example/fhir"},
		OWin:             true,
		Now:              e.clock.Now,
		JWKSAllowPrivate: true,
	}
	for _, m := range mod {
		m(&cfg)
	}
	th := account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 5, MaxPerAddress: 5, Now: e.clock.Now})
	var st authz.Store = db
	if deps.store != nil {
		st = deps.store(db)
	}
	logger := deps.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e.users = testUsers()
	as, err := authz.New(cfg, st, e.ia, throttledUsers{e.users, th}, recorder{db}, logger)
	if err != nil {
		t.Fatal(err)
	}
	as.Register(mux)
	e.as = as
	e.public, _ = e.createClient(authz.NewClient{Name: "Public App", RedirectURIs: []string{"http://127.0.0.1:9999/cb"},
		TokenEndpointAuthMethod: authz.AuthNone, Scopes: stdScopes})
	// The confidential client is also the tests' resource server: it may
	// introspect every client's tokens (Client.IntrospectAll).
	e.conf, e.secret = e.createClient(authz.NewClient{Name: "Confidential App", RedirectURIs: []string{"https://app.example/cb"},
		Scopes: stdScopes, IntrospectAll: true})
	return e
}

var stdScopes = []string{"openid", "fhirUser", "profile", "email", "offline_access", "launch/patient", "patient/*.rs", "user/*.rs"}

func (e *env) createClient(nc authz.NewClient) (*authz.Client, string) {
	e.t.Helper()
	c, secret, err := authz.CreateClient(context.Background(), e.db, nc, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c, secret
}

func (e *env) oauth2Config(c *authz.Client, secret string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0], Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.base + "/oauth/authorize", TokenURL: e.base + "/oauth/token", AuthStyle: style},
	}
}

// noRedirect is an HTTP client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize runs the authorization request and returns the response.
func (e *env) authorizeURL(u string) *http.Response {
	e.t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// redirectParams returns the query of a redirect response (fails if none).
func redirectParams(t testing.TB, resp *http.Response) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize status %d, want a redirect; body %s", resp.StatusCode, b)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query()
}

const goodState = "state-0123456789"

// codeFor runs a complete authorization for c (with PKCE) and returns the
// code and the verifier.
func (e *env) codeFor(c *authz.Client, scopes []string, extra ...oauth2.AuthCodeOption) (string, string) {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", e.fhir)}, extra...)
	u := e.oauth2Config(c, "", scopes...).AuthCodeURL(goodState, opts...)
	q := redirectParams(e.t, e.authorizeURL(u))
	if q.Get("error") != "" || q.Get("code") == "" {
		e.t.Fatalf("authorize: %v", q)
	}
	if q.Get("state") != goodState {
		e.t.Fatalf("state = %q", q.Get("state"))
	}
	return q.Get("code"), verifier
}

// postForm posts a form to path with optional basic auth.
func (e *env) postForm(path string, form url.Values, user, pass string) (*http.Response, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			e.t.Fatalf("%s: status %d, body is not JSON: %s", path, resp.StatusCode, b)
		}
	}
	return resp, m
}

// token exchanges a code as the confidential or public client.
func (e *env) exchange(c *authz.Client, secret, code, verifier string) (*http.Response, map[string]any) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	if secret == "" {
		form.Set("client_id", c.ID)
		return e.postForm("/oauth/token", form, "", "")
	}
	return e.postForm("/oauth/token", form, c.ID, secret)
}

func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	resp, m := e.postForm("/oauth/introspect", url.Values{"token": {token}}, e.conf.ID, e.secret)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("introspect status %d: %v", resp.StatusCode, m)
	}
	return m
}

func wantError(t testing.TB, resp *http.Response, m map[string]any, statuses []int, codes ...string) {
	t.Helper()
	okStatus := false
	for _, s := range statuses {
		okStatus = okStatus || resp.StatusCode == s
	}
	if !okStatus {
		t.Fatalf("status %d, want one of %v; body %v", resp.StatusCode, statuses, m)
	}
	got, _ := m["error"].(string)
	okCode := len(codes) == 0
	for _, c := range codes {
		okCode = okCode || got == c
	}
	if !okCode {
		t.Fatalf("error %q, want one of %v; body %v", got, codes, m)
	}
	if _, ok := m["access_token"]; ok {
		t.Fatalf("error response carries an access token: %v", m)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("error response Cache-Control = %q, want no-store", cc)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q", ct)
	}
}
