package authz_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/listener"
)

func (e *env) owin(user, pass string) (*http.Response, map[string]any) {
	return e.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}, "", "")
}

func TestD20_OWinPasswordGrant(t *testing.T) {
	cases := []struct {
		user, pass string
		scope      string
		patient    any
	}{
		{"root", "root-pw", "system/*.cruds user/*.cruds", nil},
		{"alice", "alice-pw", "user/*.cruds", nil},
		{"pat", "pat-pw", "patient/*.cruds", "123"},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			e := newEnv(t)
			resp, m := e.owin(tc.user, tc.pass)
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
				t.Fatalf("owin: %d %v %v", resp.StatusCode, m, resp.Header)
			}
			if len(m) != 3 || m["token_type"] != "bearer" || m["expires_in"] != float64(3600) || m["access_token"] == nil {
				t.Fatalf("owin response %v, want exactly access_token, expires_in, token_type", m)
			}
			in := e.introspect(m["access_token"].(string))
			if in["active"] != true || in["scope"] != tc.scope || in["patient"] != tc.patient {
				t.Fatalf("owin token introspection %v", in)
			}
			// The real x/oauth2 client can use the grant too (with no client).
			cfg := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: e.base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
			if _, err := cfg.PasswordCredentialsToken(context.Background(), tc.user, tc.pass); err != nil {
				t.Fatalf("x/oauth2 password grant: %v", err)
			}
			evs, _ := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "owin"})
			if len(evs) != 2 || evs[0].Outcome != audit.Success || evs[0].Scopes != tc.scope || evs[0].Address == "" {
				t.Fatalf("owin audit %+v", evs)
			}
		})
	}
}

func TestD20_OWinWrongPasswordAndLockout(t *testing.T) {
	e := newEnv(t) // the test users' throttle: 5 per account or address
	for i := 0; i < 5; i++ {
		resp, m := e.owin("alice", "wrong")
		wantError(t, resp, m, []int{400}, "invalid_grant")
	}
	// Locked: even the right password is refused, without trying it.
	resp, m := e.owin("alice", "alice-pw")
	wantError(t, resp, m, []int{400}, "invalid_grant")
	// The address is locked too (same client address for every user here).
	resp, m = e.owin("root", "root-pw")
	wantError(t, resp, m, []int{400}, "invalid_grant")
	e.clock.Advance(16 * time.Minute)
	if resp, m := e.owin("alice", "alice-pw"); resp.StatusCode != 200 {
		t.Fatalf("after lockout: %d %v", resp.StatusCode, m)
	}
	evs, _ := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "owin"})
	var denied, failed int
	for _, ev := range evs {
		switch ev.Outcome {
		case audit.Denied:
			denied++
		case audit.Failure:
			failed++
		}
	}
	if failed != 5 || denied != 2 {
		t.Fatalf("audit: %d failures, %d denials; %+v", failed, denied, evs)
	}
}

func TestS8_PasswordGrantRefusedForRegisteredClients(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}
	resp, m := e.postForm("/oauth/token", form, e.conf.ID, e.secret)
	wantError(t, resp, m, []int{400}, "unauthorized_client")
	form.Set("client_id", e.public.ID)
	resp, m = e.postForm("/oauth/token", form, "", "")
	wantError(t, resp, m, []int{400}, "unauthorized_client")
}

func TestD20_OWinOffSwitch(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.OWin = false })
	resp, m := e.owin("alice", "alice-pw")
	wantError(t, resp, m, []int{400}, "unsupported_grant_type")
}

func TestD20_OWinOffPerListener(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.OWinOffListeners = []string{"http"} })
	mux := http.NewServeMux()
	e.as.Register(mux)
	for name, want := range map[string]int{"http": 400, "https": 200} {
		srv := httptest.NewServer(listener.Middleware(listener.Info{Name: name, BaseURL: e.base}, mux))
		resp, m := (&env{t: t, base: srv.URL}).owin("alice", "alice-pw")
		srv.Close()
		if resp.StatusCode != want {
			t.Fatalf("OWin on %s: %d %v, want %d", name, resp.StatusCode, m, want)
		}
	}
}

// TestD20_OWinOnlyWrongPasswordsCountTowardsLockout: when the password
// cannot be checked (the account store is down, the caller went away) the
// answer is 503 temporarily_unavailable and nothing counts against the
// account or the address: a burst of such requests locks nobody out.
func TestD20_OWinOnlyWrongPasswordsCountTowardsLockout(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 10; i++ {
		resp, m := e.owin("flaky", "anything")
		wantError(t, resp, m, []int{503}, "temporarily_unavailable")
	}
	if resp, m := e.owin("alice", "alice-pw"); resp.StatusCode != 200 {
		t.Fatalf("address locked by unavailable checks: %d %v", resp.StatusCode, m)
	}
}

// TestOWinRefusalsAnsweredAndAudited: each refusal of the password grant
// handler gets its own RFC 6749 answer and its own audit record (kind
// owin, the claimed user as actor, client owin).
func TestOWinRefusalsAnsweredAndAudited(t *testing.T) {
	cases := []struct {
		name       string
		off        bool
		form       url.Values
		user, pass string // HTTP Basic
		status     int
		code       string
		desc       string
		outcome    string
		detail     string
	}{
		{name: "Disabled", off: true, form: url.Values{"username": {"alice"}, "password": {"alice-pw"}},
			status: 400, code: "unsupported_grant_type", desc: "The password grant is disabled.", outcome: audit.Denied, detail: "disabled"},
		{name: "ClientID", form: url.Values{"username": {"alice"}, "password": {"alice-pw"}, "client_id": {"someone"}},
			status: 400, code: "unauthorized_client", outcome: audit.Denied, detail: "client present"},
		{name: "BasicWithWrongSecret", form: url.Values{"username": {"alice"}, "password": {"alice-pw"}}, user: "someone", pass: "wrong",
			status: 400, code: "unauthorized_client", outcome: audit.Denied, detail: "client present"},
		{name: "NoPassword", form: url.Values{"username": {"alice"}},
			status: 400, code: "invalid_request", desc: "username and password are required.", outcome: audit.Failure, detail: "missing credentials"},
		{name: "WrongPassword", form: url.Values{"username": {"alice"}, "password": {"nope"}},
			status: 400, code: "invalid_grant", desc: "The username or password is wrong.", outcome: audit.Failure, detail: "bad credentials"},
		{name: "StoreDown", form: url.Values{"username": {"flaky"}, "password": {"x"}},
			status: 503, code: "temporarily_unavailable", outcome: audit.Failure, detail: "unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *authz.Config) { c.OWin = !tc.off })
			tc.form.Set("grant_type", "password")
			resp, m := e.postForm("/oauth/token", tc.form, tc.user, tc.pass)
			wantError(t, resp, m, []int{tc.status}, tc.code)
			if tc.desc != "" && m["error_description"] != tc.desc {
				t.Errorf("error_description %q, want %q", m["error_description"], tc.desc)
			}
			if tc.status == 503 && resp.Header.Get("Retry-After") != "5" {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
			evs, err := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "owin"})
			if err != nil || len(evs) != 1 {
				t.Fatalf("owin audit %+v, %v", evs, err)
			}
			ev := evs[0]
			if ev.Outcome != tc.outcome || ev.Detail != tc.detail || ev.Actor != tc.form.Get("username") ||
				ev.ClientID != "owin" || ev.Action != "password" || ev.Address == "" {
				t.Errorf("audit %+v, want outcome %s detail %q", ev, tc.outcome, tc.detail)
			}
			if evs, _ := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "token"}); len(evs) != 0 {
				t.Errorf("a password grant audited as a token request too: %+v", evs)
			}
		})
	}
}

// TestOWinTakesNoClientAuthentication: a password-grant request is never
// authenticated as a client, so a client assertion sent with it is not
// spent (its jti still works for the client it names).
func TestOWinTakesNoClientAuthentication(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	assertion := k.assert(t, c.ID, e.tokenURL())
	resp, m := e.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"},
		"client_assertion_type": {jwtBearer}, "client_assertion": {assertion}}, "", "")
	wantError(t, resp, m, []int{400}, "unauthorized_client")
	if resp, m := e.backendToken(assertion); resp.StatusCode != http.StatusOK {
		t.Fatalf("the assertion was spent by a password grant: %d %v", resp.StatusCode, m)
	}
}

// TestOWinTokenCarriesRoleScopesOnly: the scope and audience parameters
// change nothing, and the password is in no stored record.
func TestOWinTokenCarriesRoleScopesOnly(t *testing.T) {
	e := newEnv(t)
	resp, m := e.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"},
		"scope": {"system/*.cruds openid offline_access"}, "audience": {"https://elsewhere.example/fhir"}}, "", "")
	if resp.StatusCode != http.StatusOK || len(m) != 3 {
		t.Fatalf("owin: %d %v", resp.StatusCode, m)
	}
	in := e.introspect(m["access_token"].(string))
	if in["active"] != true || in["scope"] != "user/*.cruds" || in["client_id"] != "owin" || in["sub"] != "alice-id" {
		t.Fatalf("introspection %v", in)
	}
	claims := verifyAccessToken(t, e.base, m["access_token"].(string))
	if aud := fmt.Sprint(claims["aud"]); strings.Contains(aud, "elsewhere") || !strings.Contains(aud, e.fhir) {
		t.Errorf("aud %v", claims["aud"])
	}
	ctx := context.Background()
	if tables, err := e.db.TablesHolding(ctx, "alice-pw"); err != nil || len(tables) != 0 {
		t.Fatalf("the password is stored in %v (%v)", tables, err)
	}
	if n, err := e.db.CountTokens(ctx, ""); err != nil || n != 1 {
		t.Fatalf("%d token records (%v), want the access token's only", n, err)
	}
}
