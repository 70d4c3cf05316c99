package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

type auditLog struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (a *auditLog) Record(_ context.Context, ev audit.Event) {
	a.mu.Lock()
	a.evs = append(a.evs, ev)
	a.mu.Unlock()
}

func (a *auditLog) find(kind, outcome string) []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Event
	for _, e := range a.evs {
		if e.Kind == kind && e.Outcome == outcome {
			out = append(out, e)
		}
	}
	return out
}

type revocation struct{ subject, clientID string }

type revokeLog struct {
	mu   sync.Mutex
	list []revocation
}

func (r *revokeLog) RevokeAll(_ context.Context, subject, clientID string) error {
	r.mu.Lock()
	r.list = append(r.list, revocation{subject, clientID})
	r.mu.Unlock()
	return nil
}

// all is a copy of the revocations so far.
func (r *revokeLog) all() []revocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// patients is a small in-test PatientSearch (the FHIR store is another
// package's work).
type patients []PatientSummary

func (ps patients) SearchPatients(_ context.Context, q string, limit int) ([]PatientSummary, error) {
	var out []PatientSummary
	for _, p := range ps {
		if q == "" || strings.Contains(strings.ToLower(p.Name), strings.ToLower(q)) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (ps patients) Patient(_ context.Context, id string) (*PatientSummary, error) {
	for _, p := range ps {
		if p.ID == id {
			return &p, nil
		}
	}
	return nil, store.ErrNotFound
}

const testPassword = "correct horse battery"

type env struct {
	t       *testing.T
	db      *sqlite.DB
	srv     *Server
	ts      *httptest.Server
	clock   *testclock.Clock
	audit   *auditLog
	revoked *revokeLog
	users   map[string]*account.User
	client  *http.Client
	// sf is the second factor (newFactorEnv), or nil.
	sf *account.SecondFactors
}

// newEnv starts the pages on a real SQLite database behind an httptest
// server, with a minimal authorization endpoint at /oauth/authorize that
// turns its query into an authz.AuthorizeRequest (as authz does after
// validation) and answers the Decision as JSON.
func newEnv(t *testing.T, mods ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, clock: testclock.New(time.Now().UTC().Truncate(time.Second)), audit: &auditLog{},
		revoked: &revokeLog{}, users: map[string]*account.User{}}
	hasher := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 4)
	hash, err := hasher.Hash(ctx, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*account.User{
		{UserName: "pat", DisplayName: "Pat Patient", FHIRUser: "Patient/p1", Roles: []string{account.RolePatient}},
		{UserName: "doc", DisplayName: "Dr. Doc", FHIRUser: "Practitioner/d1", Roles: []string{account.RolePractitioner}},
		{UserName: "root", DisplayName: "Admin", Roles: []string{account.RoleAdmin}},
	} {
		u.Active, u.PasswordHash = true, hash
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		e.users[u.UserName] = u
	}
	throttle := account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 3, MaxPerAddress: 100, Lockout: 10 * time.Minute, Now: e.clock.Now})
	cfg := Config{
		Assets:    smartgate.Assets(""),
		Store:     db,
		Passwords: account.NewAuthenticator(db, hasher, throttle),
		Audit:     e.audit,
		Revoker:   e.revoked,
		Providers: []idp.Provider{{ID: "google", Name: "Google"}},
		Now:       e.clock.Now,
		PostLogoutRedirectAllowed: func(_ context.Context, clientID, _, uri string) bool {
			return clientID == "app" && uri == "https://app.example/bye"
		},
	}
	for _, m := range mods {
		m(&cfg)
	}
	e.srv, err = New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.srv.Register(mux)
	mux.HandleFunc("GET /oauth/authorize", e.authorize)
	// An administrator's page, as the console registers its pages.
	mux.Handle("GET /admin", e.srv.RequireRole(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "admin page")
	}), account.RoleAdmin))
	e.ts = httptest.NewServer(mux)
	t.Cleanup(e.ts.Close)
	e.client = e.newClient()
	return e
}

func (e *env) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sum := sha256.Sum256([]byte(r.URL.RawQuery))
	req := &authz.AuthorizeRequest{
		ID:         hex.EncodeToString(sum[:16]),
		ResumeURL:  e.ts.URL + r.URL.RequestURI(),
		ClientID:   q.Get("client_id"),
		ClientName: q.Get("client_name"),
		Scopes:     strings.Fields(q.Get("scope")),
		Prompt:     strings.Fields(q.Get("prompt")),
		MaxAge:     -1,
	}
	if lp := q.Get("launch_patient"); lp != "" { // an EHR launch's context, as authz resolves it
		req.Launch = &authz.LaunchContext{Patient: lp, LaunchedBy: q.Get("launched_by")}
	}
	if ma := q.Get("max_age"); ma != "" {
		n, _ := strconv.Atoi(ma)
		req.MaxAge = time.Duration(n) * time.Second
	}
	spy := &writeSpy{ResponseWriter: w}
	d, err := e.srv.Authorize(spy, r, req)
	// The contract: Authorize writes a response only with ErrInteractionPending.
	if !errors.Is(err, authz.ErrInteractionPending) && (spy.wrote || len(w.Header()) > 0) {
		http.Error(w, "Authorize wrote a response without ErrInteractionPending", 500)
		return
	}
	if errors.Is(err, authz.ErrInteractionPending) && !spy.wrote {
		http.Error(w, "Authorize returned ErrInteractionPending without writing", 500)
		return
	}
	switch {
	case errors.Is(err, authz.ErrInteractionPending):
	case errors.Is(err, authz.ErrAccessDenied):
		io.WriteString(w, "error=access_denied")
	case errors.Is(err, authz.ErrLoginRequired):
		io.WriteString(w, "error=login_required")
	case errors.Is(err, authz.ErrConsentRequired):
		io.WriteString(w, "error=consent_required")
	case errors.Is(err, authz.ErrInteractionRequired):
		io.WriteString(w, "error=interaction_required")
	case err != nil:
		http.Error(w, err.Error(), 500)
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(d)
	}
}

type writeSpy struct {
	http.ResponseWriter
	wrote bool
}

func (s *writeSpy) WriteHeader(code int) { s.wrote = true; s.ResponseWriter.WriteHeader(code) }
func (s *writeSpy) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

type resp struct {
	*http.Response
	body string
}

func (e *env) do(c *http.Client, req *http.Request) resp {
	e.t.Helper()
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return resp{res, string(b)}
}

func (e *env) get(path string) resp {
	e.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = e.ts.URL + path
	}
	req, _ := http.NewRequest("GET", path, nil)
	return e.do(e.client, req)
}

// post sends a form as a same-origin browser would (Sec-Fetch-Site).
func (e *env) post(path string, form url.Values) resp {
	e.t.Helper()
	return e.postWith(e.client, path, form, map[string]string{"Sec-Fetch-Site": "same-origin"})
}

func (e *env) postWith(c *http.Client, path string, form url.Values, headers map[string]string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return e.do(c, req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

func hiddenValue(body, name string) string {
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return htmlUnescape(m[1])
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`)
	return r.Replace(s)
}

func wantStatus(t *testing.T, r resp, code int) {
	t.Helper()
	if r.StatusCode != code {
		t.Fatalf("%s %s: status %d, want %d\n%s", r.Request.Method, r.Request.URL, r.StatusCode, code, r.body)
	}
}

func location(t *testing.T, r resp) string {
	t.Helper()
	wantStatus(t, r, http.StatusSeeOther)
	return r.Header.Get("Location")
}

// login logs user in through the log-in page and returns where it sent the
// browser.
func (e *env) login(user, returnTo string) string {
	e.t.Helper()
	return location(e.t, e.passwordLogin(user, returnTo))
}

// passwordLogin posts the log-in form as user and returns the answer.
func (e *env) passwordLogin(user, returnTo string) resp {
	e.t.Helper()
	page := e.get("/login?return_to=" + url.QueryEscape(returnTo))
	wantStatus(e.t, page, 200)
	return e.post("/login", url.Values{"csrf_token": {csrfOf(e.t, page.body)}, "username": {user},
		"password": {testPassword}, "return_to": {hiddenValue(page.body, "return_to")}})
}

func decodeDecision(t *testing.T, r resp) *authz.Decision {
	t.Helper()
	wantStatus(t, r, 200)
	var d authz.Decision
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		t.Fatalf("not a decision: %v\n%s", err, r.body)
	}
	return &d
}

func authorizeURL(client, scope string, extra ...string) string {
	q := url.Values{"client_id": {client}, "scope": {scope}, "state": {"xyz"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/oauth/authorize?" + q.Encode()
}
