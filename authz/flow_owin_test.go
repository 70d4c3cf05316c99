package authz_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

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
