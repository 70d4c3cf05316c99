package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
)

func TestI5_InvalidTokenIsInactive(t *testing.T) {
	e := newEnv(t)
	for _, tok := range []string{"invalid_token_value", "a.b.c", "ory_rt_x.y", ""} {
		if tok == "" {
			resp, m := e.postForm("/oauth/introspect", url.Values{"token": {""}}, e.conf.ID, e.secret)
			wantError(t, resp, m, []int{400}, "invalid_request")
			continue
		}
		m := e.introspect(tok)
		if m["active"] != false || len(m) != 1 {
			t.Errorf("introspect(%q) = %v, want exactly {active:false}", tok, m)
		}
	}
}

func TestI11_NoCORSOnIntrospection(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/introspect", strings.NewReader("token=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://app.example")
	req.SetBasicAuth(e.conf.ID, e.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("introspection answers CORS")
	}
}

func TestI7_IntrospectionNeedsAuthentication(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens("openid")["access_token"].(string)
	for name, do := range map[string]func() (*http.Response, map[string]any){
		"NoAuth": func() (*http.Response, map[string]any) {
			return e.postForm("/oauth/introspect", url.Values{"token": {tok}}, "", "")
		},
		"WrongSecret": func() (*http.Response, map[string]any) {
			return e.postForm("/oauth/introspect", url.Values{"token": {tok}}, e.conf.ID, "x")
		},
		"PublicClient": func() (*http.Response, map[string]any) {
			return e.postForm("/oauth/introspect", url.Values{"token": {tok}, "client_id": {e.public.ID}}, "", "")
		},
		"UserBearer": func() (*http.Response, map[string]any) {
			req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp, map[string]any{"error": "invalid_client"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			resp, m := do()
			if resp.StatusCode != http.StatusUnauthorized || m["active"] != nil {
				t.Fatalf("status %d %v, want 401", resp.StatusCode, m)
			}
		})
	}
}

func TestI6_ResourceServerIntrospectsWithBackendToken(t *testing.T) {
	e := newEnv(t)
	rs, secret := e.createClient(authz.NewClient{Name: "rs", GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}, AllowSystemScopes: true,
		IntrospectAll: true})
	resp, cc := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}, rs.ID, secret)
	if resp.StatusCode != 200 {
		t.Fatalf("client_credentials: %v", cc)
	}
	user := e.tokens("openid")["access_token"].(string)
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/introspect", strings.NewReader(url.Values{"token": {user}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+cc["access_token"].(string))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var in map[string]any
	json.NewDecoder(r.Body).Decode(&in)
	if r.StatusCode != 200 || in["active"] != true {
		t.Fatalf("bearer introspection: %d %v", r.StatusCode, in)
	}
}

func TestI8_ExpiredAndRevokedAreInactive(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "offline_access")
	at := m["access_token"].(string)
	if e.introspect(at)["active"] != true {
		t.Fatal("fresh token inactive")
	}
	e.clock.Advance(2 * time.Hour)
	if in := e.introspect(at); in["active"] != false {
		t.Errorf("expired access token: %v", in)
	}
	// The refresh token lives 720h.
	if in := e.introspect(m["refresh_token"].(string)); in["active"] != true || in["token_type"] != "refresh_token" {
		t.Errorf("I9: refresh token introspection %v", in)
	}
}

func TestI9_WrongHintStillFindsToken(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "offline_access")
	resp, in := e.postForm("/oauth/introspect", url.Values{"token": {m["refresh_token"].(string)}, "token_type_hint": {"access_token"}}, e.conf.ID, e.secret)
	if resp.StatusCode != 200 || in["active"] != true {
		t.Fatalf("refresh token with access_token hint: %v", in)
	}
	resp, in = e.postForm("/oauth/introspect", url.Values{"token": {m["access_token"].(string)}, "token_type_hint": {"refresh_token"}}, e.conf.ID, e.secret)
	if resp.StatusCode != 200 || in["active"] != true {
		t.Fatalf("access token with refresh_token hint: %v", in)
	}
}

func TestV1_V5_RevokeRefreshTokenRevokesGrant(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "offline_access")
	resp, body := e.postForm("/oauth/revoke", url.Values{"token": {m["refresh_token"].(string)}, "token_type_hint": {"refresh_token"}}, e.conf.ID, e.secret)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %v", resp.StatusCode, body)
	}
	if in := e.introspect(m["access_token"].(string)); in["active"] != false {
		t.Errorf("V5: access token of the revoked grant still active: %v", in)
	}
	evs, _ := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "revoke"})
	if len(evs) != 1 || evs[0].Outcome != audit.Success || evs[0].ClientID != e.conf.ID {
		t.Errorf("revocation audit %+v", evs)
	}
	if status, r := e.refresh(m["refresh_token"].(string), nil); status != 400 && status != 401 {
		t.Errorf("V6: refresh after revocation: %d %v", status, r)
	}
}

func TestV1_RevokeAccessToken(t *testing.T) {
	e := newEnv(t)
	at := e.tokens("openid")["access_token"].(string)
	resp, _ := e.postForm("/oauth/revoke", url.Values{"token": {at}}, e.conf.ID, e.secret)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if in := e.introspect(at); in["active"] != false {
		t.Errorf("revoked JWT access token still active: %v", in)
	}
}

func TestV2_RevokeUnknownTokenIs200(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.postForm("/oauth/revoke", url.Values{"token": {"no-such-token"}}, e.conf.ID, e.secret)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke unknown: %d", resp.StatusCode)
	}
}

func TestV4_CannotRevokeAnotherClientsToken(t *testing.T) {
	e := newEnv(t)
	other, secret := e.createClient(authz.NewClient{Name: "other", RedirectURIs: e.conf.RedirectURIs, Scopes: stdScopes})
	at := e.tokens("openid")["access_token"].(string)
	resp, _ := e.postForm("/oauth/revoke", url.Values{"token": {at}}, other.ID, secret)
	if resp.StatusCode == 500 {
		t.Fatalf("revoke another client's token: %d", resp.StatusCode)
	}
	if in := e.introspect(at); in["active"] != true {
		t.Fatalf("another client revoked the token: %v", in)
	}
}

func TestV8_RevokeNeedsClientAuthentication(t *testing.T) {
	e := newEnv(t)
	at := e.tokens("openid")["access_token"].(string)
	resp, m := e.postForm("/oauth/revoke", url.Values{"token": {at}}, e.conf.ID, "wrong")
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
	if in := e.introspect(at); in["active"] != true {
		t.Fatal("unauthenticated revocation took effect")
	}
}
