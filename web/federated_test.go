package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/idp/link"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

// fakeIdP is an idp.CallbackConnector for the pages' tests (the real
// connectors are tested in their packages): LoginURL points at an
// authorization endpoint nobody serves, and HandleCallback answers with
// err, or, when the query has code, ident (an error= query gives
// idp.ErrUpstream).
type fakeIdP struct {
	t        *testing.T
	mu       sync.Mutex
	loginErr error
	err      error
	ident    idp.Identity
	calls    int
}

func (f *fakeIdP) LoginURL(_ context.Context, st idp.State) (string, error) {
	if f.loginErr != nil {
		return "", f.loginErr
	}
	if st.State == "" || st.Nonce == "" || len(st.Verifier) < 43 {
		f.t.Errorf("weak state %+v", st)
	}
	return "https://idp.example/authorize?" + url.Values{"state": {st.State}, "redirect_uri": {st.RedirectURI},
		"code_challenge": {st.Challenge()}}.Encode(), nil
}

func (f *fakeIdP) HandleCallback(ctx context.Context, st idp.State, q url.Values) (idp.Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if q.Get("state") != st.State {
		f.t.Errorf("HandleCallback called with the state of another log-in")
	}
	if _, ok := ctx.Deadline(); !ok {
		f.t.Errorf("HandleCallback without a deadline")
	}
	switch {
	case f.err != nil:
		return idp.Identity{}, f.err
	case q.Get("error") != "":
		return idp.Identity{}, fmt.Errorf("%w: %s", idp.ErrUpstream, q.Get("error"))
	case q.Get("code") == "":
		return idp.Identity{}, fmt.Errorf("%w: no code", idp.ErrUpstream)
	}
	return f.ident, nil
}

func (f *fakeIdP) callbacks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakeLinker is a web.Linker keyed by (issuer, subject) over the test's
// accounts (the real one is idp/link's).
type fakeLinker struct {
	users   Store
	mu      sync.Mutex
	links   []account.Link
	unlinks []string // actor/user of each Unlink
	err     error    // of Resolve, when set
	// provision: Resolve of an unlinked identity links it to this account
	// and says Provisioned.
	provision string
}

func (l *fakeLinker) find(issuer, subject string) int {
	return slices.IndexFunc(l.links, func(k account.Link) bool { return k.Issuer == issuer && k.Subject == subject })
}

func (l *fakeLinker) Resolve(ctx context.Context, p idp.Provider, id idp.Identity) (link.Outcome, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return link.Outcome{}, l.err
	}
	i := l.find(id.Issuer, id.Subject)
	if i < 0 && l.provision != "" { // as provisioning auto would: a new account, linked
		u, err := l.users.User(ctx, l.provision)
		l.links = append(l.links, account.Link{Issuer: id.Issuer, Subject: id.Subject, UserID: l.provision, Provider: p.ID})
		return link.Outcome{User: u, Provisioned: true}, err
	}
	if i < 0 {
		return link.Outcome{NeedsAccount: true}, nil
	}
	u, err := l.users.User(ctx, l.links[i].UserID)
	if err != nil {
		return link.Outcome{}, err
	}
	if !u.Active {
		return link.Outcome{}, link.ErrInactive
	}
	return link.Outcome{User: u}, nil
}

func (l *fakeLinker) Link(_ context.Context, userID string, p idp.Provider, id idp.Identity) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.find(id.Issuer, id.Subject); i >= 0 {
		if l.links[i].UserID != userID {
			return link.ErrLinkedElsewhere
		}
		return nil
	}
	l.links = append(l.links, account.Link{Issuer: id.Issuer, Subject: id.Subject, UserID: userID, Provider: p.ID,
		Email: id.Email, Created: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)})
	return nil
}

func (l *fakeLinker) LinksOf(_ context.Context, userID string) ([]account.Link, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []account.Link
	for _, k := range l.links {
		if k.UserID == userID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (l *fakeLinker) Unlink(_ context.Context, actor, userID, issuer, subject string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.find(issuer, subject)
	if i < 0 || l.links[i].UserID != userID {
		return store.ErrNotFound
	}
	l.links = slices.Delete(l.links, i, i+1)
	l.unlinks = append(l.unlinks, actor+"/"+userID)
	return nil
}

// linkedTo is the account (issuer, subject) is linked to, or "".
func (l *fakeLinker) linkedTo(issuer, subject string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.find(issuer, subject); i >= 0 {
		return l.links[i].UserID
	}
	return ""
}

func (l *fakeLinker) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.links)
}

// fakeCodes is a SignInCodeRedeemer: each code once, and after three
// failures from an address, ErrThrottled.
type fakeCodes struct {
	users    Store
	mu       sync.Mutex
	codes    map[string]string // code → user id
	failures map[string]int
}

func (c *fakeCodes) Redeem(ctx context.Context, code, address string) (*account.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures[address] >= 3 {
		return nil, account.ErrThrottled
	}
	id, ok := c.codes[code]
	if !ok {
		c.failures[address]++
		return nil, account.ErrBadCredentials
	}
	delete(c.codes, code)
	return c.users.User(ctx, id)
}

const acmeIssuer = "https://id.acme.example"

// fedEnv is the pages with the provider acme (a fakeIdP), a second
// provider other, the fake linker and sign-in codes, and optionally a
// second factor.
type fedEnv struct {
	*env
	acme, other *fakeIdP
	links       *fakeLinker
	codes       *fakeCodes
}

func newFedEnv(t *testing.T, mods ...func(*Config)) *fedEnv {
	t.Helper()
	f := &fedEnv{acme: &fakeIdP{t: t}, other: &fakeIdP{t: t}}
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-pat", Email: "pat@acme.example", EmailVerified: true}
	f.other.ident = idp.Identity{Issuer: "https://other.example", Subject: "o-1"}
	f.env = newEnv(t, append([]func(*Config){func(c *Config) {
		f.links = &fakeLinker{users: c.Store}
		f.codes = &fakeCodes{users: c.Store, codes: map[string]string{}, failures: map[string]int{}}
		c.Linker, c.SignInCodes = f.links, f.codes
		c.Providers = []idp.Provider{{ID: "acme", Name: "Acme ID", Issuer: acmeIssuer, Connector: f.acme},
			{ID: "other", Name: "Other", Connector: f.other}}
	}}, mods...)...)
	f.links.links = []account.Link{{Issuer: acmeIssuer, Subject: "s-pat", UserID: f.users["pat"].ID, Provider: "acme",
		Email: "pat@acme.example", Created: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}}
	return f
}

func (e *env) getWith(c *http.Client, path string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
	return e.do(c, req)
}

// start begins a log-in at provider in browser c and returns the state
// the provider was sent.
func (e *env) start(c *http.Client, provider, returnTo string) string {
	e.t.Helper()
	r := e.getWith(c, "/login/"+provider+"?return_to="+url.QueryEscape(returnTo))
	to, err := url.Parse(location(e.t, r))
	if err != nil || to.Host != "idp.example" {
		e.t.Fatalf("start went to %q", r.Header.Get("Location"))
	}
	if got, want := to.Query().Get("redirect_uri"), e.ts.URL+"/login/"+provider+"/callback"; got != want {
		e.t.Fatalf("redirect_uri %q, want %q", got, want)
	}
	return to.Query().Get("state")
}

func (e *env) callback(c *http.Client, provider string, q url.Values) resp {
	e.t.Helper()
	return e.getWith(c, "/login/"+provider+"/callback?"+q.Encode())
}

// session is browser c's log-in (user id, amr, how far it has got), ""
// when it has no live session.
func (e *env) session(c *http.Client) (string, []string, state) {
	e.t.Helper()
	req := httptest.NewRequest("GET", e.ts.URL+"/", nil)
	u, _ := url.Parse(e.ts.URL)
	for _, k := range c.Jar.Cookies(u) {
		req.AddCookie(k)
	}
	user, sess, st, err := e.srv.loggedIn(context.Background(), e.srv.browser(req))
	if err != nil {
		e.t.Fatal(err)
	}
	if user == nil {
		return "", nil, st
	}
	return user.ID, sess.AMR, st
}

// fedAudit are the federated log-in records with outcome.
func (e *env) fedAudit(outcome string) []audit.Event {
	var out []audit.Event
	for _, ev := range e.audit.find("login", outcome) {
		if ev.Action == "federated" {
			out = append(out, ev)
		}
	}
	return out
}

func TestFederatedLogIn(t *testing.T) {
	e := newFedEnv(t)
	back := authorizeURL("app", "openid")
	st := e.start(e.client, "acme", back)
	// The log-in is kept as the shared decision says: bound to the
	// browser id, keyed by the state's hash, 10 minutes.
	bid := e.srv.browser(cookieRequest(e.env, e.client)).BID
	sum := sha256.Sum256([]byte(st))
	pe, err := e.db.Pending(context.Background(), bid, "idp:"+hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	var lg map[string]any
	if err := json.Unmarshal(pe.Request, &lg); err != nil || lg["provider"] != "acme" || lg["return_to"] != back ||
		lg["state"].(map[string]any)["state"] != st || lg["link_user"] != nil || pe.ExpiresAt.Sub(pe.Created) != 10*time.Minute {
		t.Fatalf("pending %s (%v → %v)", pe.Request, pe.Created, pe.ExpiresAt)
	}
	r := e.callback(e.client, "acme", url.Values{"state": {st}, "code": {"c1"}})
	if loc := location(t, r); loc != back {
		t.Fatalf("after the callback: %q, want %q", loc, back)
	}
	if id, amr, step := e.session(e.client); id != e.users["pat"].ID || !slices.Equal(amr, []string{"fed"}) || step != stateDone {
		t.Fatalf("session %q %q %s", id, amr, step)
	}
	if ev := e.fedAudit(audit.Success); len(ev) != 1 || ev[0].Actor != e.users["pat"].ID || ev[0].Detail != "provider acme" {
		t.Fatalf("audit %+v", ev)
	}
	if d := decodeDecision(t, func() resp { e.approveAll(back); return e.get(back) }()); !slices.Equal(d.AMR, []string{"fed"}) {
		t.Fatalf("decision amr %q", d.AMR)
	}
	for _, ev := range e.audit.evs {
		if strings.Contains(ev.Detail, st) || strings.Contains(ev.Detail, "c1") {
			t.Fatalf("audit names the state or code: %+v", ev)
		}
	}
	// Replayed after success, in the same browser and in another: refused,
	// no session for the other browser, the first one's unchanged.
	sid := e.srv.browser(cookieRequest(e.env, e.client)).SID
	wantStatus(t, e.callback(e.client, "acme", url.Values{"state": {st}, "code": {"c1"}}), http.StatusBadRequest)
	if e.srv.browser(cookieRequest(e.env, e.client)).SID != sid {
		t.Fatal("a replayed callback changed the session")
	}
	other := e.newClient()
	wantStatus(t, e.callback(other, "acme", url.Values{"state": {st}, "code": {"c1"}}), http.StatusBadRequest)
	if id, _, _ := e.session(other); id != "" {
		t.Fatalf("replay logged in %q", id)
	}
	if e.acme.callbacks() != 1 {
		t.Fatalf("the connector saw %d callbacks, want 1 (replays refused before it)", e.acme.callbacks())
	}
}

func cookieRequest(e *env, c *http.Client) *http.Request {
	req := httptest.NewRequest("GET", e.ts.URL+"/", nil)
	u, _ := url.Parse(e.ts.URL)
	for _, k := range c.Jar.Cookies(u) {
		req.AddCookie(k)
	}
	return req
}

func TestFederatedLogInAsksTheSecondFactor(t *testing.T) {
	f := newFedEnvFactor(t)
	f.enrol("pat")
	st := f.start(f.client, "acme", "/account/apps")
	r := f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})
	wantLocationPrefix(t, r, SecondFactorPath+"?")
	if id, amr, step := f.session(f.client); id != f.users["pat"].ID || !slices.Equal(amr, []string{"fed"}) || step != stateSecondFactor {
		t.Fatalf("session %q %q %s", id, amr, step)
	}
	if at := location(t, f.get("/account/apps")); !strings.HasPrefix(at, SecondFactorPath) {
		t.Fatalf("apps page without the second factor: %q", at)
	}
}

// newFedEnvFactor is newFedEnv with a second factor (newFactorEnv's).
func newFedEnvFactor(t *testing.T) *fedEnv {
	f := newFedEnv(t, func(c *Config) {
		sf := &account.SecondFactors{Store: c.Store.(*sqlite.DB), Now: c.Now, Throttle: account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 3, MaxPerAddress: 100,
			Lockout: 10 * time.Minute, Now: c.Now})}
		c.SecondFactor = sf
	})
	f.sf = f.srv.cfg.SecondFactor.(*account.SecondFactors)
	return f
}

// wantRefused: r has status and no live session in c, a federated audit
// record with outcome naming why, and nothing linked.
func (f *fedEnv) wantRefused(t *testing.T, c *http.Client, r resp, status int, outcome, why string, links int) {
	t.Helper()
	wantStatus(t, r, status)
	if !strings.Contains(r.body, `class="error"`) {
		t.Fatalf("not the error page:\n%s", r.body)
	}
	if id, _, _ := f.session(c); id != "" {
		t.Fatalf("a refused callback logged in %q", id)
	}
	ev := f.fedAudit(outcome)
	if len(ev) == 0 || !strings.HasSuffix(ev[len(ev)-1].Detail, why) || ev[len(ev)-1].Actor != "" {
		t.Fatalf("audit %+v, want one ending %q", ev, why)
	}
	if f.links.count() != links {
		t.Fatalf("%d links, want %d", f.links.count(), links)
	}
}

// TestFederatedCallbackRefusals: every bad callback the issue lists, as it
// reaches the pages.
func TestFederatedCallbackRefusals(t *testing.T) {
	cases := []struct {
		name   string
		run    func(f *fedEnv) resp
		status int
		why    string
	}{
		{"missing state", func(f *fedEnv) resp {
			f.start(f.client, "acme", "/")
			return f.callback(f.client, "acme", url.Values{"code": {"c"}})
		}, 400, "no state"},
		{"two states", func(f *fedEnv) resp {
			st := f.start(f.client, "acme", "/")
			return f.callback(f.client, "acme", url.Values{"state": {st, st}, "code": {"c"}})
		}, 400, "no state"},
		{"forged state", func(f *fedEnv) resp {
			f.start(f.client, "acme", "/")
			return f.callback(f.client, "acme", url.Values{"state": {"forged"}, "code": {"c"}})
		}, 400, "unknown state"},
		{"foreign state (another browser's log-in)", func(f *fedEnv) resp {
			st := f.start(f.newClient(), "acme", "/")
			return f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})
		}, 400, "unknown state"},
		{"state of another provider", func(f *fedEnv) resp {
			st := f.start(f.client, "acme", "/")
			return f.callback(f.client, "other", url.Values{"state": {st}, "code": {"c"}})
		}, 400, "state of another provider"},
		{"reused state (after a refusal)", func(f *fedEnv) resp {
			st := f.start(f.client, "acme", "/")
			wantStatus(f.t, f.callback(f.client, "acme", url.Values{"state": {st}, "error": {"access_denied"}}), 401)
			return f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})
		}, 400, "unknown state"},
		{"provider error", func(f *fedEnv) resp {
			st := f.start(f.client, "acme", "/")
			return f.callback(f.client, "acme", url.Values{"state": {st}, "error": {"access_denied"}, "error_description": {"Call 555-SCAM"}})
		}, 401, "provider error"},
		{"ErrUpstream (code refused)", connectorErr(fmt.Errorf("%w: invalid_grant", idp.ErrUpstream)), 401, "provider error"},
		{"ErrUnavailable (hanging provider)", connectorErr(fmt.Errorf("%w: token: timeout", idp.ErrUnavailable)), 401, "provider unavailable"},
		{"a connector that gave up at the pages' deadline", connectorErr(fmt.Errorf("token: %w", context.DeadlineExceeded)), 401, "provider unavailable"},
		{"ErrInvalidToken (bad signature, aud, iss, expiry, nonce)", connectorErr(fmt.Errorf("%w: signature", idp.ErrInvalidToken)), 401, "identity not verified"},
		{"an unclassified connector error", connectorErr(errors.New("surprise")), 401, "identity not verified"},
		{"ErrDomain", connectorErr(fmt.Errorf("%w: evil.example", idp.ErrDomain)), 403, "domain not allowed"},
		{"identity without subject", func(f *fedEnv) resp {
			f.links.err = fmt.Errorf("%w", link.ErrIncomplete)
			st := f.start(f.client, "acme", "/")
			return f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})
		}, 401, "identity not verified"},
		{"inactive account", func(f *fedEnv) resp {
			u := f.users["pat"]
			u.Active = false
			if err := f.db.UpdateUser(context.Background(), u); err != nil {
				f.t.Fatal(err)
			}
			st := f.start(f.client, "acme", "/")
			return f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})
		}, 403, "account inactive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFedEnv(t)
			r := tc.run(f)
			outcome := audit.Denied
			if tc.why == "provider unavailable" {
				outcome = audit.Failure
			}
			f.wantRefused(t, f.client, r, tc.status, outcome, tc.why, 1)
			if strings.Contains(r.body, "555-SCAM") {
				t.Fatal("the page shows the provider's words")
			}
		})
	}
}

func connectorErr(err error) func(f *fedEnv) resp {
	return func(f *fedEnv) resp {
		st := f.start(f.client, "acme", "/")
		f.acme.err = err
		return f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})
	}
}

func TestFederatedStartRefusals(t *testing.T) {
	f := newFedEnv(t)
	wantStatus(t, f.get("/login/nobody"), http.StatusNotFound)
	wantStatus(t, f.get("/login/nobody/callback?state=x"), http.StatusNotFound)
	f.acme.loginErr = fmt.Errorf("%w: discovery", idp.ErrUnavailable)
	r := f.get("/login/acme")
	f.wantRefused(t, f.client, r, http.StatusUnauthorized, audit.Failure, "provider unavailable", 1)
	if !strings.Contains(r.body, "Acme ID cannot be reached") {
		t.Fatalf("page: %s", r.body)
	}
	// An open redirect in return_to is dropped at the start.
	f.acme.loginErr = nil
	st := f.start(f.client, "acme", "https://evil.example/")
	if loc := location(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})); loc != defaultLanding {
		t.Fatalf("went to %q", loc)
	}
}

// TestFederatedNeedsAccountThenLocalLogInLinks: an identity with no
// account is kept as the browser's pending link; a password log-in then
// goes to the confirmation, which links it (once).
func TestFederatedNeedsAccountThenLocalLogInLinks(t *testing.T) {
	f := newFedEnv(t)
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-new", Email: "doc@acme.example", EmailVerified: true}
	back := authorizeURL("app", "openid")
	st := f.start(f.client, "acme", back)
	r := f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})
	f.wantRefused(t, f.client, r, http.StatusForbidden, audit.Denied, "no account", 1)
	for _, want := range []string{"No account here is linked to this Acme ID account", "doc@acme.example",
		`href="/login?return_to=%2Flogin%2Flink%3Freturn_to%3D`, `href="/login/code?return_to=`, "ask your administrator"} {
		if !strings.Contains(r.body, want) {
			t.Fatalf("page lacks %q:\n%s", want, r.body)
		}
	}
	// The confirmation needs a log-in first.
	if at := location(t, f.get(LinkPath)); at != "/login?return_to=%2Flogin%2Flink" {
		t.Fatalf("confirmation logged out: %q", at)
	}
	f.clock.Advance(time.Minute)
	// The log-in started from the page's link goes on to the confirmation.
	want := LinkPath + "?" + url.Values{"return_to": {back}}.Encode()
	at := f.login("doc", want)
	if at != want {
		t.Fatalf("after the log-in: %q, want %q", at, want)
	}
	page := f.get(at)
	wantStatus(t, page, 200)
	for _, want := range []string{"<h1>Link this Acme ID account to your account here?</h1>",
		"<dt>Acme ID account</dt>\n<dd><strong>doc@acme.example</strong></dd>", "<dt>Your account here</dt>\n<dd><strong>Dr. Doc</strong></dd>"} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("confirmation lacks %q:\n%s", want, page.body)
		}
	}
	if strings.Contains(page.body, "not verified") {
		t.Fatalf("a verified email marked unverified:\n%s", page.body)
	}
	form := url.Values{"return_to": {hiddenValue(page.body, "return_to")}, "decision": {"link"}}
	wantStatus(t, f.post(LinkPath, form), http.StatusForbidden) // no CSRF token
	if f.links.count() != 1 {
		t.Fatal("linked without a CSRF token")
	}
	form.Set("csrf_token", csrfOf(t, page.body))
	if loc := location(t, f.post(LinkPath, form)); loc != back {
		t.Fatalf("after linking: %q", loc)
	}
	if got := f.links.linkedTo(acmeIssuer, "s-new"); got != f.users["doc"].ID {
		t.Fatalf("linked to %q", got)
	}
	wantStatus(t, f.post(LinkPath, form), http.StatusBadRequest) // single use
	// The identity now logs in to doc's account.
	c := f.newClient()
	st = f.start(c, "acme", "/")
	location(t, f.callback(c, "acme", url.Values{"state": {st}, "code": {"c"}}))
	if id, _, _ := f.session(c); id != f.users["doc"].ID {
		t.Fatalf("federated log-in as %q", id)
	}
}

// TestLinkNeedsAFreshLogIn: a browser already logged in (as anyone) when
// the pending link was made must log in again; a confirmation posted
// without that is refused and links nothing.
func TestLinkNeedsAFreshLogIn(t *testing.T) {
	f := newFedEnv(t)
	f.login("doc", "/")
	f.clock.Advance(time.Minute)
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-attacker"}
	st := f.start(f.client, "acme", "/")
	wantStatus(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}}), http.StatusForbidden)
	// The failed federated log-in ended nothing: doc is still logged in.
	if id, _, _ := f.session(f.client); id != f.users["doc"].ID {
		t.Fatalf("session %q", id)
	}
	if at := location(t, f.get(LinkPath)); at != "/login?return_to=%2Flogin%2Flink" {
		t.Fatalf("stale log-in not sent to log in: %q", at)
	}
	token := csrfOf(t, f.get("/logout").body)
	r := f.post(LinkPath, url.Values{"csrf_token": {token}, "decision": {"link"}})
	wantStatus(t, r, http.StatusForbidden)
	if f.links.linkedTo(acmeIssuer, "s-attacker") != "" {
		t.Fatal("linked without a fresh log-in")
	}
	if ev := f.audit.find("link", audit.Denied); len(ev) != 1 || ev[0].Actor != f.users["doc"].ID {
		t.Fatalf("audit %+v", ev)
	}
}

func TestLinkCancelled(t *testing.T) {
	f := newFedEnv(t)
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-new"}
	st := f.start(f.client, "acme", "/")
	wantStatus(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}}), http.StatusForbidden)
	f.clock.Advance(time.Minute)
	page := f.get(f.login("doc", LinkPath))
	r := f.post(LinkPath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "decision": {"cancel"}})
	if loc := location(t, r); loc != defaultLanding || f.links.count() != 1 {
		t.Fatalf("cancel: %q, %d links", loc, f.links.count())
	}
	wantStatus(t, f.get(LinkPath), http.StatusBadRequest)
}

func TestAccountLinks(t *testing.T) {
	f := newFedEnv(t)
	if at := location(t, f.get(LinksPath)); at != "/login?return_to=%2Faccount%2Flinks" {
		t.Fatalf("logged out: %q", at)
	}
	f.login("pat", "/")
	if apps := f.get("/account/apps"); !strings.Contains(apps.body, `href="/account/links"`) {
		t.Fatal("the apps page does not link the linked accounts")
	}
	page := f.get(LinksPath)
	wantStatus(t, page, 200)
	for _, want := range []string{"<td>Acme ID</td><td>pat@acme.example</td><td>2026-01-02 03:04 UTC</td><td>never</td>",
		`name="subject" value="s-pat"`, "Link Acme ID", "Link Other"} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("page lacks %q:\n%s", want, page.body)
		}
	}
	if strings.Contains(page.body, "only way to log in") {
		t.Fatal("warned an account with a password")
	}
	token := csrfOf(t, page.body)

	// Link another provider: the log-in at other is bound to pat.
	wantStatus(t, f.post(LinksPath, url.Values{"provider": {"other"}}), http.StatusForbidden)
	wantStatus(t, f.post(LinksPath, url.Values{"csrf_token": {token}, "provider": {"nope"}}), http.StatusBadRequest)
	r := f.post(LinksPath, url.Values{"csrf_token": {token}, "provider": {"other"}})
	to, _ := url.Parse(location(t, r))
	if loc := location(t, f.callback(f.client, "other", url.Values{"state": {to.Query().Get("state")}, "code": {"c"}})); loc != LinksPath {
		t.Fatalf("after the link callback: %q", loc)
	}
	if got := f.links.linkedTo("https://other.example", "o-1"); got != f.users["pat"].ID {
		t.Fatalf("other linked to %q", got)
	}

	// Unlink: CSRF required, the person is the actor.
	form := url.Values{"issuer": {acmeIssuer}, "subject": {"s-pat"}}
	wantStatus(t, f.post(LinksPath+"/unlink", form), http.StatusForbidden)
	form.Set("csrf_token", token)
	if loc := location(t, f.post(LinksPath+"/unlink", form)); loc != LinksPath {
		t.Fatalf("unlink: %q", loc)
	}
	if f.links.linkedTo(acmeIssuer, "s-pat") != "" || !slices.Equal(f.links.unlinks, []string{f.users["pat"].ID + "/" + f.users["pat"].ID}) {
		t.Fatalf("unlink: %v", f.links.unlinks)
	}
	wantStatus(t, f.post(LinksPath+"/unlink", form), http.StatusNotFound)
}

func TestAccountLinkRefusals(t *testing.T) {
	f := newFedEnv(t)
	f.login("doc", "/")
	token := csrfOf(t, f.get(LinksPath).body)
	// pat's acme identity cannot be linked to doc.
	r := f.post(LinksPath, url.Values{"csrf_token": {token}, "provider": {"acme"}})
	to, _ := url.Parse(location(t, r))
	r = f.callback(f.client, "acme", url.Values{"state": {to.Query().Get("state")}, "code": {"c"}})
	wantStatus(t, r, http.StatusForbidden)
	if f.links.linkedTo(acmeIssuer, "s-pat") != f.users["pat"].ID {
		t.Fatal("relinked")
	}
	if ev := f.audit.find("link", audit.Denied); len(ev) != 1 || ev[0].Actor != f.users["doc"].ID {
		t.Fatalf("audit %+v", ev)
	}
	// A link started by doc, whose browser logged out meanwhile: refused
	// (the log-out gave the browser a new id: the state is unknown to it).
	token = csrfOf(t, f.get(LinksPath).body)
	r = f.post(LinksPath, url.Values{"csrf_token": {token}, "provider": {"other"}})
	to, _ = url.Parse(location(t, r))
	f.post("/logout", url.Values{"csrf_token": {token}})
	r = f.callback(f.client, "other", url.Values{"state": {to.Query().Get("state")}, "code": {"c"}})
	wantStatus(t, r, http.StatusBadRequest)
	if f.links.linkedTo("https://other.example", "o-1") != "" {
		t.Fatal("linked after log-out")
	}
	if id, _, _ := f.session(f.client); id != "" {
		t.Fatalf("logged in as %q", id)
	}
	// A link started by doc, whose browser then logged in as pat: refused,
	// linked to neither.
	f.login("doc", "/")
	token = csrfOf(t, f.get(LinksPath).body)
	r = f.post(LinksPath, url.Values{"csrf_token": {token}, "provider": {"other"}})
	to, _ = url.Parse(location(t, r))
	f.login("pat", "/")
	r = f.callback(f.client, "other", url.Values{"state": {to.Query().Get("state")}, "code": {"c"}})
	wantStatus(t, r, http.StatusForbidden)
	if f.links.linkedTo("https://other.example", "o-1") != "" {
		t.Fatal("linked to the account logged in after the start")
	}
}

// TestAccountLinksLastWayWarned: an account with no password and one link
// is warned that unlinking leaves only a sign-in code; it may still.
func TestAccountLinksLastWayWarned(t *testing.T) {
	f := newFedEnv(t)
	u := &account.User{UserName: "fedonly", DisplayName: "Fed Only", Active: true, Roles: []string{account.RolePatient}}
	if err := f.db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	f.links.links = append(f.links.links, account.Link{Issuer: acmeIssuer, Subject: "s-fed", UserID: u.ID, Provider: "acme"})
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-fed"}
	st := f.start(f.client, "acme", "/")
	location(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}}))
	page := f.get(LinksPath)
	if !strings.Contains(page.body, "this linked account is your only way to log in") {
		t.Fatalf("no warning:\n%s", page.body)
	}
	r := f.post(LinksPath+"/unlink", url.Values{"csrf_token": {csrfOf(t, page.body)}, "issuer": {acmeIssuer}, "subject": {"s-fed"}})
	if location(t, r) != LinksPath || f.links.linkedTo(acmeIssuer, "s-fed") != "" {
		t.Fatal("unlink refused")
	}
}

func TestSignInCode(t *testing.T) {
	f := newFedEnv(t)
	f.codes.codes["ABCD-EFGH"] = f.users["pat"].ID
	login := f.get("/login?return_to=%2Fconsent")
	if !strings.Contains(login.body, `href="/login/code?return_to=%2fconsent"`) {
		t.Fatalf("log-in page lacks the sign-in code link:\n%s", login.body)
	}
	page := f.get(SignInCodePath + "?return_to=%2Faccount%2Fapps")
	wantStatus(t, page, 200)
	if !strings.Contains(page.body, `name="code"`) {
		t.Fatal("no code input")
	}
	token := csrfOf(t, page.body)
	wantStatus(t, f.post(SignInCodePath, url.Values{"code": {"ABCD-EFGH"}}), http.StatusForbidden) // no CSRF token
	r := f.post(SignInCodePath, url.Values{"csrf_token": {token}, "code": {"WRONG"}, "return_to": {"/account/apps"}})
	wantStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(r.body, msgBadSignInCode) {
		t.Fatalf("page: %s", r.body)
	}
	r = f.post(SignInCodePath, url.Values{"csrf_token": {token}, "code": {" ABCD-EFGH "}, "return_to": {"/account/apps"}})
	if loc := location(t, r); loc != "/account/apps" {
		t.Fatalf("after the code: %q", loc)
	}
	if id, amr, _ := f.session(f.client); id != f.users["pat"].ID || !slices.Equal(amr, []string{"code"}) {
		t.Fatalf("session %q %q", id, amr)
	}
	ok := f.audit.find("login", audit.Success)
	if len(ok) != 1 || ok[0].Action != "signin_code" || ok[0].Actor != f.users["pat"].ID || strings.Contains(ok[0].Detail, "ABCD") {
		t.Fatalf("audit %+v", ok)
	}
	// Reused: the same message as a wrong code; no session in that browser.
	c := f.newClient()
	page = f.getWith(c, SignInCodePath)
	r = f.postWith(c, SignInCodePath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "code": {"ABCD-EFGH"}},
		map[string]string{"Sec-Fetch-Site": "same-origin"})
	wantStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(r.body, msgBadSignInCode) {
		t.Fatal("a used code got another message")
	}
	if id, _, _ := f.session(c); id != "" {
		t.Fatalf("reused code logged in %q", id)
	}
	// Throttled after three failures from the address.
	r = f.postWith(c, SignInCodePath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "code": {"x"}},
		map[string]string{"Sec-Fetch-Site": "same-origin"})
	wantStatus(t, r, http.StatusUnauthorized)
	r = f.postWith(c, SignInCodePath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "code": {"y"}},
		map[string]string{"Sec-Fetch-Site": "same-origin"})
	wantStatus(t, r, http.StatusTooManyRequests)
	if len(f.audit.find("login", audit.Failure)) != 3 || len(f.audit.find("login", audit.Denied)) != 1 {
		t.Fatalf("audit %+v", f.audit.evs)
	}
}

func TestSignInCodeAsksTheSecondFactorAndLinks(t *testing.T) {
	f := newFedEnvFactor(t)
	f.enrol("doc")
	f.codes.codes["CODE"] = f.users["doc"].ID
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-new"}
	st := f.start(f.client, "acme", "/")
	wantStatus(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}}), http.StatusForbidden)
	f.clock.Advance(time.Minute)
	page := f.get(SignInCodePath + "?return_to=%2Flogin%2Flink")
	r := f.post(SignInCodePath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "code": {"CODE"}, "return_to": {hiddenValue(page.body, "return_to")}})
	if loc := location(t, r); loc != SecondFactorPath+"?return_to=%2Flogin%2Flink" {
		t.Fatalf("after the code: %q", loc)
	}
	if at := location(t, f.get(LinkPath)); !strings.HasPrefix(at, SecondFactorPath) {
		t.Fatalf("confirmation before the second factor: %q", at)
	}
}

func TestSignInCodeAndFederatedPagesOffWithoutConfig(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.get(SignInCodePath), http.StatusNotFound)
	wantStatus(t, e.get("/login/google"), http.StatusNotFound)
	wantStatus(t, e.get(LinksPath), http.StatusNotFound)
	if page := e.get("/login"); strings.Contains(page.body, "/login/code") || strings.Contains(page.body, "/login/google") {
		t.Fatalf("log-in page offers what is off:\n%s", page.body)
	}
}

func TestLogInPageProviderButtons(t *testing.T) {
	f := newFedEnv(t)
	back := "/oauth/authorize?client_id=app&scope=openid launch&state=a&b"
	page := f.get("/login?return_to=" + url.QueryEscape(back))
	want := `href="/login/acme?return_to=` + strings.ToLower(strings.ReplaceAll(url.QueryEscape(back), "+", "%20"))
	if !strings.Contains(strings.ToLower(page.body), strings.ToLower(want)) {
		t.Fatalf("button lacks %q:\n%s", want, page.body)
	}
	// The escaped return_to is the one the start takes.
	st := f.start(f.client, "acme", back)
	if loc := location(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}})); loc != back {
		t.Fatalf("went to %q", loc)
	}
}

func TestNewRefusesProviderIDsOfPages(t *testing.T) {
	for _, id := range []string{"link", "code", "callback", "second-factor", "enrol", "a/b", ""} {
		cfg := Config{Providers: []idp.Provider{{ID: id}}}
		if err := checkProviders(cfg.Providers); err == nil {
			t.Errorf("provider id %q accepted", id)
		}
	}
	if err := checkProviders([]idp.Provider{{ID: "google"}, {ID: "hl7"}}); err != nil {
		t.Fatal(err)
	}
}

func FuzzCallbackState(f *testing.F) {
	f.Add("state=abc")
	f.Add("state=a&state=b")
	f.Add("state=" + strings.Repeat("x", 600))
	f.Add("code=1")
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		st, ok := callbackState(q)
		if ok != (len(q["state"]) == 1 && q.Get("state") != "" && len(q.Get("state")) <= maxState) {
			t.Fatalf("callbackState(%q) = %q, %v", raw, st, ok)
		}
		if ok && (st != q.Get("state") || !strings.HasPrefix(upstreamID(st), "idp:") || len(upstreamID(st)) != 68) {
			t.Fatalf("state %q id %q", st, upstreamID(st))
		}
	})
}

func TestFederatedLogInProvisioned(t *testing.T) {
	f := newFedEnv(t)
	f.links.provision = f.users["doc"].ID
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-new"}
	st := f.start(f.client, "acme", "/")
	location(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}}))
	if id, _, _ := f.session(f.client); id != f.users["doc"].ID {
		t.Fatalf("session %q", id)
	}
	if ev := f.fedAudit(audit.Success); len(ev) != 1 || ev[0].Detail != "provider acme: account provisioned" {
		t.Fatalf("audit %+v", ev)
	}
}
