package authz_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
)

// setUser changes the account behind name (between requests).
func (e *env) setUser(name string, change func(*authz.UserClaims)) {
	u := e.users[name]
	change(&u.claims)
	e.users[name] = u
}

// TestOWinScopesWithinRights: an OWin token carries the scopes of its
// effective roles (account.RoleCeiling, each role in its own context)
// within the account's ceiling.
func TestOWinScopesWithinRights(t *testing.T) {
	for _, tc := range []struct {
		name    string
		claims  authz.UserClaims
		scope   string
		patient any
	}{
		{"practitioner under a group ceiling", authz.UserClaims{Roles: []string{"practitioner"}, Ceiling: []string{"user/*.rs"}},
			"user/*.rs", nil},
		{"admin under two groups", authz.UserClaims{Roles: []string{"admin"},
			Ceiling: []string{"user/Observation.cruds", "system/Patient.rs", "patient/*.rs"}},
			"system/Patient.rs user/Observation.cruds", nil},
		{"no role counts as a patient", authz.UserClaims{FHIRUser: "Patient/123"}, "patient/*.cruds", "123"},
		{"patient under a group ceiling", authz.UserClaims{Roles: []string{"patient"}, FHIRUser: "Patient/123",
			Ceiling: []string{"patient/Observation.rs", "user/*.rs"}}, "patient/Observation.rs", "123"},
		{"group granting practitioner to a patient", authz.UserClaims{Roles: []string{"patient", "practitioner"},
			FHIRUser: "Patient/123"}, "patient/*.cruds user/*.cruds", "123"},
		{"empty ceiling", authz.UserClaims{Roles: []string{"practitioner"}, Ceiling: []string{}}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.setUser("alice", func(c *authz.UserClaims) {
				c.Roles, c.Ceiling, c.FHIRUser = tc.claims.Roles, tc.claims.Ceiling, tc.claims.FHIRUser
			})
			resp, m := e.owin("alice", "alice-pw")
			if resp.StatusCode != 200 {
				t.Fatalf("owin: %d %v", resp.StatusCode, m)
			}
			in := e.introspect(m["access_token"].(string))
			if in["active"] != true || in["scope"] != tc.scope || in["patient"] != tc.patient {
				t.Fatalf("introspection %v, want scope %q patient %v", in, tc.scope, tc.patient)
			}
		})
	}
}

// TestRefreshAppliesCurrentRights: a refresh narrows the new tokens to the
// ceiling the person has now, and a refresh of a gone account is refused.
func TestRefreshAppliesCurrentRights(t *testing.T) {
	// The production scope strategy: a grant narrowed to user/Observation.rs
	// is still within the client's user/*.rs.
	e := newEnv(t, func(c *authz.Config) { c.ScopeStrategy = smart.ScopeStrategy })
	first := e.tokens("openid", "offline_access", "user/*.rs", "launch/patient", "patient/*.rs")
	e.setUser("alice", func(c *authz.UserClaims) { c.Ceiling = []string{"user/Observation.rs", "patient/*.r"} })
	status, m := e.refresh(first["refresh_token"].(string), nil)
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, m)
	}
	const want = "openid offline_access user/Observation.rs launch/patient patient/*.r"
	if m["scope"] != want {
		t.Fatalf("refreshed scope %q, want %q", m["scope"], want)
	}
	if in := e.introspect(m["access_token"].(string)); in["active"] != true || in["scope"] != want {
		t.Fatalf("refreshed access token %v", in)
	}
	// What the ceiling took away is not in the grant any more.
	status, m2 := e.refresh(m["refresh_token"].(string), url.Values{"scope": {"openid user/*.rs"}})
	if status != 400 || m2["error"] != "invalid_scope" {
		t.Fatalf("refresh asking for the old scope: %d %v", status, m2)
	}

	e.setUser("alice", func(c *authz.UserClaims) { c.Ceiling = nil })
	second := e.tokens("openid", "offline_access", "user/*.rs")
	delete(e.users, "alice")
	status, m = e.refresh(second["refresh_token"].(string), nil)
	if status != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("refresh of a gone account: %d %v", status, m)
	}
}

// TestCodeExchangeAppliesCurrentRights: a code redeemed after the
// person's rights changed gives tokens within the ceiling now; a code of
// an account deactivated or deleted since the consent gives none, and a
// token of such an account introspects inactive.
func TestCodeExchangeAppliesCurrentRights(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.ScopeStrategy = smart.ScopeStrategy })
	code, v := e.codeFor(e.conf, []string{"openid", "offline_access", "user/*.rs", "email"})
	e.setUser("alice", func(c *authz.UserClaims) { c.Ceiling = []string{"user/Observation.rs"} })
	resp, m := e.exchange(e.conf, e.secret, code, v)
	if resp.StatusCode != 200 || m["scope"] != "openid offline_access user/Observation.rs email" {
		t.Fatalf("exchange after the ceiling narrowed: %d %v", resp.StatusCode, m)
	}
	if in := e.introspect(m["access_token"].(string)); in["active"] != true || in["scope"] != m["scope"] {
		t.Fatalf("introspection %v", in)
	}

	code, v = e.codeFor(e.conf, []string{"openid", "offline_access", "user/*.rs"})
	alice := e.users["alice"]
	delete(e.users, "alice")
	resp, m2 := e.exchange(e.conf, e.secret, code, v)
	wantError(t, resp, m2, []int{400}, "invalid_grant")
	for _, tok := range []any{m["access_token"], m["refresh_token"]} {
		if in := e.introspect(tok.(string)); in["active"] != false {
			t.Errorf("a token of a gone account introspects %v", in)
		}
	}
	e.users["alice"] = alice
	if in := e.introspect(m["access_token"].(string)); in["active"] != true {
		t.Errorf("the account is back, its unrevoked token introspects %v", in)
	}
}

// TestGrantPatientNeedsCurrentRoles: a grant whose patient is not the
// person's own record is refused at the code exchange and at refresh once
// the person's roles may no longer act for others; their own record stays.
func TestGrantPatientNeedsCurrentRoles(t *testing.T) {
	e := newEnv(t)
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes, AuthTime: time.Now().Add(-time.Minute),
			AMR: []string{"pwd"}, Context: &authz.LaunchContext{Patient: "999"}}, nil
	}
	scopes := []string{"openid", "offline_access", "launch/patient", "patient/*.rs"}
	first := e.tokens(scopes...)
	if first["patient"] != "999" {
		t.Fatalf("token patient %v", first["patient"])
	}
	code, v := e.codeFor(e.conf, scopes)
	e.setUser("alice", func(c *authz.UserClaims) { c.Roles, c.FHIRUser = []string{"patient"}, "Patient/123" })
	status, m := e.refresh(first["refresh_token"].(string), nil)
	if status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("refresh for another patient without the right: %d %v", status, m)
	}
	resp, m := e.exchange(e.conf, e.secret, code, v)
	wantError(t, resp, m, []int{400}, "invalid_grant")

	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes, AuthTime: time.Now().Add(-time.Minute),
			AMR: []string{"pwd"}, Context: &authz.LaunchContext{Patient: "123"}}, nil
	}
	own := e.tokens(scopes...)
	if status, m := e.refresh(own["refresh_token"].(string), nil); status != 200 || m["patient"] != "123" {
		t.Errorf("refresh for the person's own record: %d %v", status, m)
	}
}
