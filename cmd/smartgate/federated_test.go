package main

// Federated log-in through the whole server (issue 12): newApp with a
// providers: configuration whose providers are fake OpenID providers
// (federated_op_test.go) on 127.0.0.1, and browsers with their own cookie
// jars that follow every redirect by hand: smartgate's /login/{id}, the
// provider's authorization endpoint, smartgate's callback. The happy paths
// (auto, invite, trusted_email) and every refusal of the bad
// input: each refused with the status of the shared decisions (400 a
// state problem, 401 the provider or the identity, 403 a policy), never a
// 5xx, with an audit record, no session, no account, no link.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// fedUpstreamTimeout bounds upstream calls in these tests (the hanging
// provider's case), through the env.upstreamTimeout hook.
const fedUpstreamTimeout = 3 * time.Second

// newFedHarness builds the whole server like newHarness, without the demo
// data, with configYAML as its configuration file and vars as its
// environment (the providers' secrets).
func newFedHarness(t *testing.T, configYAML string, vars map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, patients: map[string]string{}, tokens: map[string]string{}}
	h.secure = httptest.NewUnstartedServer(nil)
	h.plain = httptest.NewUnstartedServer(nil)
	h.baseA = "https://" + h.secure.Listener.Addr().String()
	h.baseB = "http://" + h.plain.Listener.Addr().String()
	file := filepath.Join(dir, "smartgate.yaml")
	if err := os.WriteFile(file, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "SMARTGATE_ADMIN_PASSWORD" {
			return adminPassword
		}
		return vars[k]
	}
	cfg, _, err := config.Load("serve", []string{"--config", file, "--data", filepath.Join(dir, "data"),
		"--https-addr", strings.TrimPrefix(h.baseA, "https://"), "--https-url", h.baseA,
		"--http-addr", strings.TrimPrefix(h.baseB, "http://"), "--http-url", h.baseB,
	}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = cfg
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	db, err := openSQLiteStore(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: getenv, upstreamTimeout: fedUpstreamTimeout}
	a, err := newApp(ctx, cfg, db, logger, e)
	if err != nil {
		t.Fatal(err)
	}
	h.app = a
	h.secure.Config.Handler = listener.Middleware(listener.Info{Name: "https", BaseURL: h.baseA, Secure: true, Loopback: true}, a.handler)
	h.plain.Config.Handler = listener.Middleware(listener.Info{Name: "http", BaseURL: h.baseB, Loopback: true}, a.handler)
	h.secure.StartTLS()
	h.plain.Start()
	t.Cleanup(func() {
		h.secure.Close()
		h.plain.Close()
		a.close()
		db.Close()
	})
	h.httpc = &http.Client{
		Transport:     h.secure.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h
}

// fedBrowser is a new browser: its own cookie jar, no redirects
// followed (sec9_flow_test.go's browser).
func (h *harness) fedBrowser() *http.Client { return h.browser().c }

// fedProviderYAML is one providers: entry for op.
func fedProviderYAML(id string, op *fakeOP, secretFile, provisioning string, trusted bool) string {
	return fmt.Sprintf(`  - id: %s
    type: oidc
    preset: none
    display_name: Test provider %s
    issuer: %s
    client_id: %s
    client_secret_file: %s
    scopes: [openid, email, profile]
    provisioning: %s
    trusted_email: %t
`, id, id, op.issuer, op.clientID, secretFile, provisioning, trusted)
}

// fedStart begins a log-in at provider id in browser b and returns the
// provider's authorization URL smartgate sent the browser to, after
// checking it: the provider's endpoint, this listener's callback, PKCE
// S256, a state and a nonce.
func (h *harness) fedStart(t *testing.T, b *http.Client, id string, op *fakeOP) *url.URL {
	t.Helper()
	r := h.page(b, "GET", h.baseA+"/login/"+id+"?"+url.Values{"return_to": {"/account/apps"}}.Encode(), nil)
	if r.status != http.StatusFound && r.status != http.StatusSeeOther {
		t.Fatalf("GET /login/%s: %d, want a redirect to the provider %.300s", id, r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), op.issuer+"/authorize?") {
		t.Fatalf("GET /login/%s: Location %q, want %s/authorize?…", id, r.header.Get("Location"), op.issuer)
	}
	q := loc.Query()
	if q.Get("redirect_uri") != h.baseA+"/login/"+id+"/callback" || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 22 || len(q.Get("nonce")) < 22 || q.Get("client_id") != op.clientID {
		t.Fatalf("authorization request: %v", q)
	}
	return loc
}

// fedAuthorize sends the browser to the provider's authorization URL and
// returns the callback URL the provider sends it back to.
func (h *harness) fedAuthorize(t *testing.T, b *http.Client, auth *url.URL) *url.URL {
	t.Helper()
	r := h.page(b, "GET", auth.String(), nil)
	cb, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || err != nil {
		t.Fatalf("the provider's authorization: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	return cb
}

// fedLogIn runs a whole log-in at provider id in browser b and returns
// smartgate's answer to the callback.
func (h *harness) fedLogIn(t *testing.T, b *http.Client, id string, op *fakeOP) *response {
	t.Helper()
	cb := h.fedAuthorize(t, b, h.fedStart(t, b, id, op))
	return h.page(b, "GET", cb.String(), nil)
}

// linksOf is the store's links (account.Links).
func (h *harness) links(t *testing.T) account.Links {
	t.Helper()
	l, ok := any(h.db).(account.Links)
	if !ok {
		t.Fatal("the store does not implement account.Links (the links store is not merged)")
	}
	return l
}

// userCount is the number of accounts.
func (h *harness) userCount(t *testing.T) int {
	t.Helper()
	us, err := h.db.Users(context.Background(), account.ListQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(us)
}

// loggedIn reports whether browser b has a log-in session.
func (h *harness) loggedIn(t *testing.T, b *http.Client) bool {
	t.Helper()
	r := h.page(b, "GET", h.baseA+"/account/apps", nil)
	switch {
	case r.status == http.StatusOK:
		return true
	case r.status == http.StatusSeeOther || r.status == http.StatusFound:
		if !strings.Contains(r.header.Get("Location"), "/login") {
			t.Fatalf("/account/apps: redirect to %q", r.header.Get("Location"))
		}
		return false
	}
	t.Fatalf("/account/apps: %d", r.status)
	return false
}

// waitAudit waits for the audit record of the request that r answered.
func (h *harness) waitAudit(t *testing.T, r *response) audit.Event {
	t.Helper()
	id := r.header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("the answer has no X-Request-Id")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := h.db.AuditEvents(context.Background(), audit.Filter{Kind: "login", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.RequestID == id {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login audit record of request %s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refused checks a refused callback: the status, a page (never a 5xx), a
// denied or failed audit record naming the provider, no session in b, no
// account made, and no link of (op's issuer, sub).
func (h *harness) refused(t *testing.T, b *http.Client, r *response, status int, provider string, op *fakeOP, sub string, users int) {
	t.Helper()
	if r.status >= 500 {
		t.Fatalf("refusal answered %d: %.300s", r.status, r.body)
	}
	if r.status != status {
		t.Fatalf("status %d, want %d: %.300s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want a page", ct)
	}
	if strings.Contains(string(r.body), "goroutine ") || strings.Contains(string(r.body), "panic") {
		t.Errorf("the page shows internals: %.300s", r.body)
	}
	ev := h.waitAudit(t, r)
	if ev.Action != "federated" || ev.Outcome == audit.Success || !strings.Contains(ev.Detail, provider) {
		t.Errorf("audit record %+v, want login/federated, denied or failed, naming %s", ev, provider)
	}
	if h.loggedIn(t, b) {
		t.Error("the browser has a session after a refusal")
	}
	if n := h.userCount(t); n != users {
		t.Errorf("%d accounts after the refusal, want %d", n, users)
	}
	if _, err := h.links(t).LinkOf(context.Background(), op.issuer, sub); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a link of %s after the refusal (err %v)", sub, err)
	}
}

// fedSetup is the server of TestFederatedLogIn: three fake providers,
// "auto" (provisioning auto), "invite" (invite, email not trusted) and
// "trusted" (invite, trusted_email).
type fedSetup struct {
	h                     *harness
	auto, invite, trusted *fakeOP
}

func newFedSetup(t *testing.T) *fedSetup {
	t.Helper()
	dir := t.TempDir()
	secretFile := func(name, secret string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := &fedSetup{
		auto:    newFakeOP(t, "smartgate-auto", "auto-secret-1234"),
		invite:  newFakeOP(t, "smartgate-invite", "invite-secret-1234"),
		trusted: newFakeOP(t, "smartgate-trusted", "trusted-secret-1234"),
	}
	yaml := "providers:\n" +
		fedProviderYAML("auto", s.auto, secretFile("auto", s.auto.secret), "auto", false) +
		fedProviderYAML("invite", s.invite, secretFile("invite", s.invite.secret), "invite", false) +
		fedProviderYAML("trusted", s.trusted, secretFile("trusted", s.trusted.secret), "invite", true)
	s.h = newFedHarness(t, yaml, nil)
	return s
}

// createPerson makes an account as an administrator would (account.People),
// with email.
func (s *fedSetup) createPerson(t *testing.T, name, email string) *account.User {
	t.Helper()
	u := &account.User{UserName: name, Active: true, Roles: []string{"patient"},
		Emails: []account.Email{{Value: email, Primary: true}}}
	if err := s.h.app.people.Create(context.Background(), u, userPassword); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFederatedLogIn(t *testing.T) {
	s := newFedSetup(t)
	h := s.h
	ctx := context.Background()

	t.Run("auto provisions a patient account and links it", func(t *testing.T) {
		// The provider is not trusted_email: its email, verified or not,
		// stays on the link, not on the account, and is no user name.
		s.auto.reset(opUser{sub: "auto-sub-1", email: "ada@example.org", name: "Ada Auto", verified: true})
		b := h.fedBrowser()
		r := h.fedLogIn(t, b, "auto", s.auto)
		if (r.status != http.StatusSeeOther && r.status != http.StatusFound) || r.header.Get("Location") != "/account/apps" {
			t.Fatalf("callback: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
		}
		if !h.loggedIn(t, b) {
			t.Fatal("no session after the log-in")
		}
		l, err := h.links(t).LinkOf(ctx, s.auto.issuer, "auto-sub-1")
		if err != nil {
			t.Fatalf("link: %v", err)
		}
		u, err := h.db.User(ctx, l.UserID)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(s.auto.issuer + "\nauto-sub-1"))
		if u.UserName != "auto-"+hex.EncodeToString(sum[:])[:12] || !slices.Equal(u.Roles, []string{"patient"}) || u.FHIRUser != "" || !u.Active ||
			len(u.Emails) != 0 || l.Email != "ada@example.org" || l.Provider != "auto" {
			t.Fatalf("provisioned account %+v, link %+v", u, l)
		}
		if ev := h.waitAudit(t, r); ev.Outcome != audit.Success || ev.Action != "federated" || ev.Actor != u.ID {
			t.Errorf("audit %+v", ev)
		}
		// The second log-in lands in the same account, and makes none.
		users := h.userCount(t)
		if r := h.fedLogIn(t, h.fedBrowser(), "auto", s.auto); r.status != http.StatusSeeOther && r.status != http.StatusFound {
			t.Fatalf("second log-in: %d %.300s", r.status, r.body)
		}
		if n := h.userCount(t); n != users {
			t.Errorf("the second log-in made an account (%d → %d)", users, n)
		}
	})

	t.Run("invite refuses an unknown person, then a trusted verified email links the account an administrator made", func(t *testing.T) {
		s.trusted.reset(opUser{sub: "carol-sub", email: "carol@example.org", name: "Carol", verified: true})
		users := h.userCount(t)
		b := h.fedBrowser()
		r := h.fedLogIn(t, b, "trusted", s.trusted)
		h.refused(t, b, r, http.StatusForbidden, "trusted", s.trusted, "carol-sub", users)

		carol := s.createPerson(t, "carol", "carol@example.org")
		b = h.fedBrowser()
		r = h.fedLogIn(t, b, "trusted", s.trusted)
		if r.status != http.StatusSeeOther && r.status != http.StatusFound {
			t.Fatalf("callback after the account was made: %d %.300s", r.status, r.body)
		}
		if !h.loggedIn(t, b) {
			t.Fatal("no session")
		}
		l, err := h.links(t).LinkOf(ctx, s.trusted.issuer, "carol-sub")
		if err != nil || l.UserID != carol.ID {
			t.Fatalf("link %+v, %v; want carol's account %s", l, err, carol.ID)
		}
	})

	t.Run("a log-in on the HTTP listener names that listener's callback", func(t *testing.T) {
		r := h.page(h.fedBrowser(), "GET", h.baseB+"/login/auto?return_to=%2Faccount%2Fapps", nil)
		loc, err := url.Parse(r.header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), s.auto.issuer+"/authorize?") || loc.Query().Get("redirect_uri") != h.baseB+"/login/auto/callback" {
			t.Fatalf("GET %s/login/auto: %d %q", h.baseB, r.status, r.header.Get("Location"))
		}
	})

	t.Run("refusals", func(t *testing.T) { fedRefusals(t, s) })
}

// fedRefusals: the bad input, each as it reaches the server.
func fedRefusals(t *testing.T, s *fedSetup) {
	h := s.h
	n := 0
	person := func(op *fakeOP) string {
		n++
		sub := fmt.Sprintf("bad-input-%d", n)
		op.reset(opUser{sub: sub, email: sub + "@example.org", name: "Bad Input", verified: true})
		return sub
	}
	// idTokenCase: the provider's id_token is bad in one way; 401.
	idTokenCase := func(name string, change func(op *fakeOP)) {
		t.Run(name, func(t *testing.T) {
			sub := person(s.auto)
			s.auto.set(change)
			users := h.userCount(t)
			b := h.fedBrowser()
			r := h.fedLogIn(t, b, "auto", s.auto)
			h.refused(t, b, r, http.StatusUnauthorized, "auto", s.auto, sub, users)
		})
	}

	t.Run("missing state", func(t *testing.T) {
		sub := person(s.auto)
		users := h.userCount(t)
		b := h.fedBrowser()
		cb := h.fedAuthorize(t, b, h.fedStart(t, b, "auto", s.auto))
		q := cb.Query()
		q.Del("state")
		cb.RawQuery = q.Encode()
		h.refused(t, b, h.page(b, "GET", cb.String(), nil), http.StatusBadRequest, "auto", s.auto, sub, users)
	})
	t.Run("forged state", func(t *testing.T) {
		sub := person(s.auto)
		users := h.userCount(t)
		b := h.fedBrowser()
		cb := h.fedAuthorize(t, b, h.fedStart(t, b, "auto", s.auto))
		q := cb.Query()
		q.Set("state", randomString()+randomString())
		cb.RawQuery = q.Encode()
		h.refused(t, b, h.page(b, "GET", cb.String(), nil), http.StatusBadRequest, "auto", s.auto, sub, users)
	})
	t.Run("foreign state (log-in CSRF: another browser's callback)", func(t *testing.T) {
		sub := person(s.auto)
		users := h.userCount(t)
		attacker, victim := h.fedBrowser(), h.fedBrowser()
		cb := h.fedAuthorize(t, attacker, h.fedStart(t, attacker, "auto", s.auto))
		h.fedStart(t, victim, "auto", s.auto) // the victim has a log-in of their own under way
		h.refused(t, victim, h.page(victim, "GET", cb.String(), nil), http.StatusBadRequest, "auto", s.auto, sub, users)
	})
	t.Run("callback for another provider", func(t *testing.T) {
		sub := person(s.auto)
		users := h.userCount(t)
		b := h.fedBrowser()
		cb := h.fedAuthorize(t, b, h.fedStart(t, b, "auto", s.auto))
		other := h.baseA + "/login/invite/callback?" + cb.RawQuery
		h.refused(t, b, h.page(b, "GET", other, nil), http.StatusBadRequest, "invite", s.auto, sub, users)
	})
	idTokenCase("bad signature", func(op *fakeOP) { op.corrupt = true })
	idTokenCase("signed by a key not in the JWKS under a known kid", func(op *fakeOP) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		op.otherKey = k
	})
	idTokenCase("wrong aud", func(op *fakeOP) { op.tamper = func(c map[string]any) { c["aud"] = "another-client" } })
	idTokenCase("wrong iss", func(op *fakeOP) {
		op.tamper = func(c map[string]any) { c["iss"] = s.invite.issuer }
	})
	idTokenCase("expired", func(op *fakeOP) {
		op.tamper = func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}
	})
	idTokenCase("replayed nonce", func(op *fakeOP) {
		earlier := "a nonce of another log-in"
		if len(op.nonces) > 0 {
			earlier = op.nonces[0] // the nonce of an earlier log-in (the first of the happy path)
		}
		op.tamper = func(c map[string]any) { c["nonce"] = earlier }
	})
	idTokenCase("upstream error", func(op *fakeOP) { op.deny = true })
	idTokenCase("hanging upstream", func(op *fakeOP) { op.hang = true })

	t.Run("reused state (after a refused callback)", func(t *testing.T) {
		sub := person(s.auto)
		s.auto.set(func(op *fakeOP) { op.deny = true })
		users := h.userCount(t)
		b := h.fedBrowser()
		cb := h.fedAuthorize(t, b, h.fedStart(t, b, "auto", s.auto))
		h.refused(t, b, h.page(b, "GET", cb.String(), nil), http.StatusUnauthorized, "auto", s.auto, sub, users)
		// The same state again, now with a good code of the provider.
		s.auto.set(func(op *fakeOP) { op.deny = false })
		auth := h.fedStart(t, h.fedBrowser(), "auto", s.auto)
		good := h.fedAuthorize(t, h.fedBrowser(), auth)
		q := good.Query()
		q.Set("state", cb.Query().Get("state"))
		good.RawQuery = q.Encode()
		h.refused(t, b, h.page(b, "GET", good.String(), nil), http.StatusBadRequest, "auto", s.auto, sub, users)
	})
	t.Run("replayed callback", func(t *testing.T) {
		sub := person(s.auto)
		b := h.fedBrowser()
		cb := h.fedAuthorize(t, b, h.fedStart(t, b, "auto", s.auto))
		if r := h.page(b, "GET", cb.String(), nil); r.status != http.StatusSeeOther && r.status != http.StatusFound {
			t.Fatalf("first callback: %d %.300s", r.status, r.body)
		}
		l, err := h.links(t).LinkOf(context.Background(), s.auto.issuer, sub)
		if err != nil {
			t.Fatal(err)
		}
		users := h.userCount(t)
		exchanges := 0
		s.auto.set(func(op *fakeOP) { exchanges = op.exchanges })
		replay := h.fedBrowser() // the replay in a browser without the session
		r := h.page(replay, "GET", cb.String(), nil)
		h.refused(t, replay, r, http.StatusBadRequest, "auto", s.auto, "never-linked", users)
		if r := h.page(b, "GET", cb.String(), nil); r.status != http.StatusBadRequest {
			t.Errorf("the replay in the same browser: %d, want 400", r.status)
		}
		s.auto.set(func(op *fakeOP) {
			if op.exchanges != exchanges {
				t.Errorf("a replayed callback exchanged the code again")
			}
		})
		if links, err := h.links(t).LinksOf(context.Background(), l.UserID); err != nil || len(links) != 1 {
			t.Errorf("links after the replay: %+v, %v", links, err)
		}
	})
	t.Run("email-only match on an untrusted provider", func(t *testing.T) {
		s.createPerson(t, "dora", "dora@example.org")
		s.invite.reset(opUser{sub: "dora-sub", email: "dora@example.org", name: "Dora", verified: true})
		users := h.userCount(t)
		b := h.fedBrowser()
		h.refused(t, b, h.fedLogIn(t, b, "invite", s.invite), http.StatusForbidden, "invite", s.invite, "dora-sub", users)
	})
	t.Run("unverified email on a trusted provider", func(t *testing.T) {
		s.createPerson(t, "erin", "erin@example.org")
		s.trusted.reset(opUser{sub: "erin-sub", email: "erin@example.org", name: "Erin", verified: false})
		users := h.userCount(t)
		b := h.fedBrowser()
		h.refused(t, b, h.fedLogIn(t, b, "trusted", s.trusted), http.StatusForbidden, "trusted", s.trusted, "erin-sub", users)
	})
}

// TestLogInPageShowsPresetButtons: Google, Facebook and HL7.org configured
// (fake secrets from the environment) show a button each on the log-in
// page, a link to /login/{id}; nothing is fetched from them to start.
func TestLogInPageShowsPresetButtons(t *testing.T) {
	yaml := `providers:
  - id: google
    type: oidc
    preset: google
    client_id: google-client
    client_secret_env: SMARTGATE_GOOGLE_SECRET
  - id: facebook
    type: oauth2
    preset: facebook
    client_id: facebook-app
    client_secret_env: SMARTGATE_FACEBOOK_SECRET
  - id: hl7
    type: oidc
    preset: hl7
    issuer: https://hl7.invalid/auth
    client_id: hl7-client
    client_secret_env: SMARTGATE_HL7_SECRET
`
	h := newFedHarness(t, yaml, map[string]string{"SMARTGATE_GOOGLE_SECRET": "fake-google",
		"SMARTGATE_FACEBOOK_SECRET": "fake-facebook", "SMARTGATE_HL7_SECRET": "fake-hl7"})
	r := h.page(h.fedBrowser(), "GET", h.baseA+"/login?"+url.Values{"return_to": {"/account/apps"}}.Encode(), nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /login: %d", r.status)
	}
	body := string(r.body)
	for _, b := range []struct{ id, name string }{{"google", "Google"}, {"facebook", "Facebook"}, {"hl7", "HL7.org"}} {
		link := `href="/login/` + b.id + `?return_to=`
		i := strings.Index(body, link)
		if i < 0 {
			t.Errorf("no button links %s: %s", link, body)
			continue
		}
		if end := strings.Index(body[i:], "</a>"); end < 0 || !strings.Contains(body[i:i+end], ">"+b.name) {
			t.Errorf("the %s button is not labelled %s: %.200s", b.id, b.name, body[i:])
		}
	}
	for _, secret := range []string{"fake-google", "fake-facebook", "fake-hl7"} {
		if strings.Contains(body, secret) {
			t.Errorf("the log-in page shows a secret")
		}
	}
}
