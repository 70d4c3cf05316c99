package authz_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
)

// tokens runs a full code flow for the confidential client and returns the
// token response.
func (e *env) tokens(scopes ...string) map[string]any {
	e.t.Helper()
	code, v := e.codeFor(e.conf, scopes)
	resp, m := e.exchange(e.conf, e.secret, code, v)
	if resp.StatusCode != 200 {
		e.t.Fatalf("exchange: %d %v", resp.StatusCode, m)
	}
	return m
}

func (e *env) refresh(rt string, extra url.Values) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	resp, m := e.postForm("/oauth/token", form, e.conf.ID, e.secret)
	if resp.StatusCode == 200 && (resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache") {
		e.t.Errorf("R4: refresh response headers %v", resp.Header)
	}
	return resp.StatusCode, m
}

func TestR1_R2_RefreshWithoutScope(t *testing.T) {
	e := newEnv(t)
	first := e.tokens("openid", "offline_access", "launch/patient", "patient/*.rs")
	status, m := e.refresh(first["refresh_token"].(string), nil)
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, m)
	}
	if m["scope"] != first["scope"] || m["token_type"] == nil || m["expires_in"] == nil || m["refresh_token"] == nil {
		t.Fatalf("refresh response %v", m)
	}
	if m["refresh_token"] == first["refresh_token"] {
		t.Error("R8: refresh token not rotated")
	}
	if in := e.introspect(m["access_token"].(string)); in["active"] != true {
		t.Errorf("refreshed access token inactive: %v", in)
	}
}

func TestR3_RefreshWithScopeSubset(t *testing.T) {
	e := newEnv(t)
	first := e.tokens("openid", "offline_access", "patient/*.rs")
	status, m := e.refresh(first["refresh_token"].(string), url.Values{"scope": {"openid offline_access patient/*.rs"}})
	if status != 200 || m["scope"] != "openid offline_access patient/*.rs" {
		t.Fatalf("refresh with the same scopes: %d %v", status, m)
	}
	status, m = e.refresh(m["refresh_token"].(string), url.Values{"scope": {"patient/*.rs"}})
	if status != 200 || m["scope"] != "patient/*.rs offline_access" {
		t.Fatalf("refresh with a narrower scope: %d %v", status, m)
	}
	if in := e.introspect(m["access_token"].(string)); in["scope"] != "patient/*.rs offline_access" {
		t.Fatalf("narrowed token introspects as %v", in)
	}
}

func TestR7_RefreshBeyondGrant(t *testing.T) {
	e := newEnv(t)
	first := e.tokens("openid", "offline_access")
	status, m := e.refresh(first["refresh_token"].(string), url.Values{"scope": {"openid offline_access user/*.rs"}})
	if status != 400 || (m["error"] != "invalid_scope" && m["error"] != "invalid_request") {
		t.Fatalf("refresh beyond grant: %d %v", status, m)
	}
}

func TestR5_InvalidRefreshToken(t *testing.T) {
	e := newEnv(t)
	status, m := e.refresh("3f1c2b2e-8f4e-4c55-9d61-2b6b3f0e9a11", nil)
	if status != 400 && status != 401 || m["error"] == nil {
		t.Fatalf("invalid refresh token: %d %v", status, m)
	}
}

func TestR6_RefreshBoundToClient(t *testing.T) {
	e := newEnv(t)
	other, secret := e.createClient(authz.NewClient{Name: "other", RedirectURIs: e.conf.RedirectURIs, Scopes: stdScopes})
	first := e.tokens("openid", "offline_access")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}
	resp, m := e.postForm("/oauth/token", form, other.ID, secret)
	wantError(t, resp, m, []int{400}, "invalid_grant")
}

func TestR1_NoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "patient/*.rs")
	if _, ok := m["refresh_token"]; ok {
		t.Fatalf("refresh token issued without offline_access: %v", m)
	}
}

func TestR8_RotatedRefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t)
	first := e.tokens("openid", "offline_access", "patient/*.rs")
	rt1 := first["refresh_token"].(string)
	_, second := e.refresh(rt1, nil)
	rt2 := second["refresh_token"].(string)
	// Reusing rt1 (already rotated, no grace window) is refused…
	status, m := e.refresh(rt1, nil)
	if status != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("reuse of rotated refresh token: %d %v", status, m)
	}
	// …and kills the whole family: the current refresh token and the
	// access tokens issued from the grant.
	if status, m := e.refresh(rt2, nil); status == 200 {
		t.Fatalf("successor refresh token still works after reuse: %v", m)
	}
	for _, at := range []any{first["access_token"], second["access_token"]} {
		if in := e.introspect(at.(string)); in["active"] != false {
			t.Errorf("access token of a revoked family still active: %v", in)
		}
	}
}

func TestR8_GraceWindowForLostResponse(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.RefreshGrace = 30 * time.Second })
	first := e.tokens("openid", "offline_access")
	rt1 := first["refresh_token"].(string)
	_, lost := e.refresh(rt1, nil) // the client never sees this response
	e.clock.Advance(10 * time.Second)
	status, retry := e.refresh(rt1, nil)
	if status != 200 {
		t.Fatalf("retry within grace window: %d %v", status, retry)
	}
	// The retry's refresh token works.
	status, next := e.refresh(retry["refresh_token"].(string), nil)
	if status != 200 {
		t.Fatalf("refresh with the retry's token: %d %v", status, next)
	}
	// The successor the client never received is dead.
	if status, _ := e.refresh(lost["refresh_token"].(string), nil); status == 200 {
		t.Error("lost successor refresh token still works")
	}
	e.clock.Advance(time.Minute)
	status, m := e.refresh(rt1, nil)
	if status != 400 {
		t.Fatalf("reuse after the grace window: %d %v", status, m)
	}
}

func TestR_RefreshAudited(t *testing.T) {
	e := newEnv(t)
	first := e.tokens("openid", "offline_access")
	e.refresh(first["refresh_token"].(string), nil)
	evs, err := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "refresh"})
	if err != nil || len(evs) != 1 || evs[0].Outcome != audit.Success || evs[0].ClientID != e.conf.ID || evs[0].Actor != "alice-id" {
		t.Fatalf("refresh audit = %+v, %v", evs, err)
	}
	evs, _ = e.db.AuditEvents(context.Background(), audit.Filter{Kind: "token"})
	if len(evs) != 1 || evs[0].Scopes != "openid offline_access" || evs[0].Address == "" {
		t.Fatalf("token audit = %+v", evs)
	}
}

func TestR_RefreshViaOAuth2Client(t *testing.T) {
	e := newEnv(t)
	scopes := []string{"openid", "offline_access"}
	code, v := e.codeFor(e.conf, scopes)
	cfg := e.oauth2Config(e.conf, e.secret, scopes...)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Second) // force a refresh
	nt, err := cfg.TokenSource(context.Background(), tok).Token()
	if err != nil || nt.AccessToken == tok.AccessToken || nt.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh via x/oauth2: %v %+v", err, nt)
	}
}

// TestR2_PublicClientRefreshWithoutClientID: a public client may refresh
// without naming itself (RFC 6749 §3.2.1 asks client_id of unauthenticated
// clients only in the authorization_code grant; the SMART JavaScript client
// relies on this). The token stays bound to its client, and a confidential
// client must still authenticate.
func TestR2_PublicClientRefreshWithoutClientID(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.public, []string{"openid", "offline_access", "patient/*.rs"})
	resp, m := e.exchange(e.public, "", code, v)
	if resp.StatusCode != 200 || m["refresh_token"] == nil {
		t.Fatalf("public exchange: %d %v", resp.StatusCode, m)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}
	resp, r := e.postForm("/oauth/token", form, "", "")
	if resp.StatusCode != 200 || r["access_token"] == nil {
		t.Fatalf("public refresh without client_id: %d %v", resp.StatusCode, r)
	}
	if in := e.introspect(r["access_token"].(string)); in["client_id"] != e.public.ID {
		t.Fatalf("refreshed token belongs to %v, want %s", in["client_id"], e.public.ID)
	}

	conf := e.tokens("openid", "offline_access", "patient/*.rs")
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {conf["refresh_token"].(string)}}
	resp, r = e.postForm("/oauth/token", form, "", "")
	if resp.StatusCode != 401 && resp.StatusCode != 400 {
		t.Fatalf("confidential client's refresh without authentication: %d %v", resp.StatusCode, r)
	}
	if r["error"] != "invalid_client" {
		t.Fatalf("error = %v, want invalid_client", r["error"])
	}
}

// TestR7_NarrowingBeyondGrantAudited: a refresh whose scope parameter
// names a scope never granted is refused invalid_scope and audited as a
// failed refresh of the grant's subject; the refresh token stays good.
func TestR7_NarrowingBeyondGrantAudited(t *testing.T) {
	e := newEnv(t)
	first := e.tokens("openid", "offline_access")
	rt := first["refresh_token"].(string)
	status, m := e.refresh(rt, url.Values{"scope": {"openid patient/*.rs"}})
	if status != 400 || m["error"] != "invalid_scope" {
		t.Fatalf("narrowing beyond the grant: %d %v", status, m)
	}
	evs, err := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "refresh"})
	if err != nil || len(evs) != 1 || evs[0].Outcome != audit.Failure || evs[0].Detail != "invalid_scope" ||
		evs[0].Actor != "alice-id" || evs[0].ClientID != e.conf.ID {
		t.Fatalf("refresh audit = %+v, %v", evs, err)
	}
	if status, m := e.refresh(rt, url.Values{"scope": {"openid"}}); status != 200 || m["scope"] != "openid offline_access" {
		t.Fatalf("narrowed refresh: %d %v", status, m)
	}
}
