package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store/sqlite"
)

func fetchJWKS(t testing.TB, base string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(base + "/oauth/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

// verifyAccessToken checks a JWT access token the way an outside resource
// server would: with the published JWKS.
func verifyAccessToken(t testing.TB, base, raw string) map[string]any {
	t.Helper()
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("access token is not an ES256 JWT: %v", err)
	}
	if typ, _ := tok.Headers[0].ExtraHeaders["typ"].(string); typ != "at+jwt" {
		t.Errorf("access token typ = %q, want at+jwt", typ)
	}
	set := fetchJWKS(t, base)
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", tok.Headers[0].KeyID)
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("access token signature: %v", err)
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("access token lacks RFC 9068 claim %s: %v", c, claims)
		}
	}
	return claims
}

// TestC1_CodeFlowWithPKCE runs the authorization code flow with PKCE through
// the real golang.org/x/oauth2 client and checks the id_token with go-oidc.
func TestC1_CodeFlowWithPKCE(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	scopes := []string{"openid", "fhirUser", "profile", "offline_access", "launch/patient", "patient/*.rs"}
	banner := true
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		if req.Aud != e.fhir || req.ClientID != e.conf.ID || req.RedirectURI != e.conf.RedirectURIs[0] {
			t.Errorf("AuthorizeRequest = %+v", req)
		}
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes, AMR: []string{"pwd"},
			Context: &authz.LaunchContext{Patient: "123", NeedPatientBanner: &banner, SmartStyleURL: "https://x.example/style.json",
				FHIRContext: []map[string]any{{"reference": "Observation/9"}}, Intent: "reconcile-medications"}}, nil
	}
	code, verifier := e.codeFor(e.conf, scopes, oauth2.SetAuthURLParam("nonce", "nonce-abcdefgh"))
	cfg := e.oauth2Config(e.conf, e.secret, scopes...)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if !strings.EqualFold(tok.TokenType, "bearer") || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token = %+v", tok)
	}
	if got := tok.Extra("scope"); got != strings.Join(scopes, " ") {
		t.Errorf("scope = %v", got)
	}
	if tok.Extra("patient") != "123" || tok.Extra("need_patient_banner") != true || tok.Extra("intent") != "reconcile-medications" {
		t.Errorf("launch context missing: patient=%v banner=%v", tok.Extra("patient"), tok.Extra("need_patient_banner"))
	}

	// H1-H8: id_token verified by go-oidc against discovery and JWKS.
	provider, err := oidc.NewProvider(ctx, e.base)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: e.conf.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	var claims map[string]any
	idt.Claims(&claims)
	if idt.Subject != "alice-id" || idt.Nonce != "nonce-abcdefgh" || claims["fhirUser"] != e.fhir+"/Practitioner/p1" {
		t.Errorf("id_token claims = %v", claims)
	}
	if claims["profile"] != e.fhir+"/Practitioner/p1" {
		t.Errorf("H9: profile claim %v", claims["profile"])
	}
	if _, ok := claims["auth_time"]; !ok {
		t.Error("id_token has no auth_time")
	}
	hdr, _ := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if hdr == nil || hdr.Signatures[0].Header.KeyID == "" {
		t.Error("id_token is not RS256 with a kid")
	}

	// RFC 9068 access token, verifiable with the JWKS alone.
	at := verifyAccessToken(t, e.base, tok.AccessToken)
	if at["iss"] != e.base || at["sub"] != "alice-id" || at["client_id"] != e.conf.ID || at["patient"] != "123" {
		t.Errorf("access token claims = %v", at)
	}
	if aud, _ := at["aud"].([]any); len(aud) != 1 || aud[0] != e.fhir {
		t.Errorf("access token aud = %v, want [%s]", at["aud"], e.fhir)
	}

	// I1-I4: introspection echoes the token response.
	in := e.introspect(tok.AccessToken)
	if in["active"] != true || in["client_id"] != e.conf.ID || in["scope"] != strings.Join(scopes, " ") ||
		in["patient"] != "123" || in["iss"] != idt.Issuer || in["sub"] != idt.Subject || in["intent"] != "reconcile-medications" {
		t.Errorf("introspection = %v", in)
	}
	if exp, ok := in["exp"].(float64); !ok || int64(exp) != tok.Expiry.Unix() && int64(exp) != tok.Expiry.Unix()+1 && int64(exp) != tok.Expiry.Unix()-1 {
		t.Errorf("introspection exp = %v, token expiry %v", in["exp"], tok.Expiry.Unix())
	}

	// Userinfo.
	req, _ := http.NewRequest(http.MethodGet, e.base+"/oauth/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ui map[string]any
	json.NewDecoder(resp.Body).Decode(&ui)
	resp.Body.Close()
	if ui["sub"] != "alice-id" || ui["name"] != "Alice" || ui["fhirUser"] != e.fhir+"/Practitioner/p1" {
		t.Errorf("userinfo = %v", ui)
	}
}

// TestD3_TokenResponseHeaders: token responses are never cached.
func TestD3_TokenResponseHeaders(t *testing.T) {
	e := newEnv(t)
	code, verifier := e.codeFor(e.public, []string{"openid", "patient/*.rs"})
	resp, m := e.exchange(e.public, "", code, verifier)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, m)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if p := resp.Header.Get("Pragma"); p != "no-cache" {
		t.Errorf("Pragma = %q", p)
	}
	for _, f := range []string{"access_token", "token_type", "scope", "expires_in"} {
		if _, ok := m[f]; !ok {
			t.Errorf("D2: token response lacks %s: %v", f, m)
		}
	}
	if exp, _ := m["expires_in"].(float64); exp <= 0 || exp > 3600 {
		t.Errorf("D18: expires_in %v", m["expires_in"])
	}
}

func TestC2_AuthorizePOST(t *testing.T) {
	e := newEnv(t)
	verifier := oauth2.GenerateVerifier()
	form := url.Values{"response_type": {"code"}, "client_id": {e.public.ID}, "redirect_uri": {e.public.RedirectURIs[0]},
		"scope": {"openid patient/*.rs"}, "state": {goodState}, "aud": {e.fhir + "/"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	resp, err := noRedirect.PostForm(e.base+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	q := redirectParams(t, resp)
	if q.Get("code") == "" || q.Get("state") != goodState || q.Get("iss") != e.base {
		t.Fatalf("redirect = %v", q)
	}
	if e.ia.last.Aud != e.fhir {
		t.Errorf("aud with trailing slash not normalised: %q", e.ia.last.Aud)
	}
}

// authorizeQuery builds an authorization URL from a valid public-client
// request with changes applied.
func (e *env) authorizeQuery(change func(q url.Values)) string {
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {e.public.ID}, "redirect_uri": {e.public.RedirectURIs[0]},
		"scope": {"openid patient/*.rs"}, "state": {goodState}, "aud": {e.fhir},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	change(q)
	return e.base + "/oauth/authorize?" + q.Encode()
}

func TestC_AuthorizeErrorsRedirectWithoutCode(t *testing.T) {
	cases := []struct {
		name   string
		change func(q url.Values)
		want   string
	}{
		{"C4_ForeignAud", func(q url.Values) { q.Set("aud", "https://evil.example/fhir") }, "invalid_request"},
		{"C4_MissingAud", func(q url.Values) { q.Del("aud") }, "invalid_request"},
		{"C9_PlainPKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"C9_NoMethodMeansPlain", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		{"C10_MissingPKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"C11_ResponseTypeToken", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"C14_UnknownLaunch", func(q url.Values) { q.Set("launch", "xyz") }, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			called := false
			e.ia.decide = func(*authz.AuthorizeRequest) (*authz.Decision, error) {
				called = true
				return nil, authz.ErrAccessDenied
			}
			q := redirectParams(t, e.authorizeURL(e.authorizeQuery(tc.change)))
			if q.Get("code") != "" || q.Get("error") != tc.want || q.Get("state") != goodState {
				t.Fatalf("redirect = %v, want error %s with state and no code", q, tc.want)
			}
			if called {
				t.Error("an invalid request reached the pages")
			}
		})
	}
}

// TestC6_NeverRedirectToUnregisteredURI: unknown client or redirect URI →
// a JSON 400, never a redirect.
func TestC6_NeverRedirectToUnregisteredURI(t *testing.T) {
	cases := map[string]func(q url.Values){
		"UnknownClient":      func(q url.Values) { q.Set("client_id", "nope") },
		"UnregisteredURI":    func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") },
		"C7_PathDiffers":     func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9999/cb/x") },
		"UnknownClientNoURI": func(q url.Values) { q.Set("client_id", "nope"); q.Del("redirect_uri") },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			resp := e.authorizeURL(e.authorizeQuery(change))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d Location %q, want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			b, _ := io.ReadAll(resp.Body)
			var m map[string]any
			if json.Unmarshal(b, &m) != nil || m["error"] == nil {
				t.Errorf("body %s is not an RFC 6749 error", b)
			}
		})
	}
}

func TestC8_MissingRedirectURIWithSeveralRegistered(t *testing.T) {
	e := newEnv(t)
	multi, _ := e.createClient(authz.NewClient{Name: "multi", RedirectURIs: []string{"https://m.example/a", "https://m.example/b"}, Scopes: stdScopes})
	resp := e.authorizeURL(e.authorizeQuery(func(q url.Values) { q.Set("client_id", multi.ID); q.Del("redirect_uri") }))
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestC5_ResourceAsSynonymOfAud(t *testing.T) {
	e := newEnv(t)
	q := redirectParams(t, e.authorizeURL(e.authorizeQuery(func(q url.Values) { q.Del("aud"); q.Set("resource", e.fhir) })))
	if q.Get("code") == "" || e.ia.last.Aud != e.fhir {
		t.Fatalf("resource=%s: %v", e.fhir, q)
	}
	q = redirectParams(t, e.authorizeURL(e.authorizeQuery(func(q url.Values) { q.Del("aud"); q.Set("resource", "https://evil.example/fhir") })))
	if q.Get("code") != "" {
		t.Fatalf("foreign resource got a code: %v", q)
	}
}

func TestC10_ConfidentialV1ClientMayOmitPKCEWhenExempt(t *testing.T) {
	e := newEnv(t)
	v1, secret := e.createClient(authz.NewClient{Name: "v1", RedirectURIs: []string{"https://v1.example/cb"}, Scopes: stdScopes, AllowNoPKCE: true})
	u := e.oauth2Config(v1, secret, "openid", "patient/*.rs").AuthCodeURL(goodState, oauth2.SetAuthURLParam("aud", e.fhir))
	q := redirectParams(t, e.authorizeURL(u))
	if q.Get("code") == "" {
		t.Fatalf("exempt v1 client got %v", q)
	}
	resp, m := e.exchange(v1, secret, q.Get("code"), "")
	if resp.StatusCode != 200 {
		t.Fatalf("exchange: %d %v", resp.StatusCode, m)
	}
	// With PKCEForAll, the exemption is ignored.
	strict := newEnv(t, func(c *authz.Config) { c.PKCEForAll = true })
	v1s, secret2 := strict.createClient(authz.NewClient{Name: "v1", RedirectURIs: []string{"https://v1.example/cb"}, Scopes: stdScopes, AllowNoPKCE: true})
	u2 := strict.oauth2Config(v1s, secret2, "openid").AuthCodeURL(goodState, oauth2.SetAuthURLParam("aud", strict.fhir))
	if q := redirectParams(t, strict.authorizeURL(u2)); q.Get("error") != "invalid_request" {
		t.Fatalf("PKCEForAll with an exempt client: %v", q)
	}
	// The confidential client without the exemption still needs PKCE.
	u = e.oauth2Config(e.conf, e.secret, "openid").AuthCodeURL(goodState, oauth2.SetAuthURLParam("aud", e.fhir))
	if q := redirectParams(t, e.authorizeURL(u)); q.Get("error") != "invalid_request" {
		t.Fatalf("non-exempt confidential client without PKCE: %v", q)
	}
}

func TestH_PromptNoneErrors(t *testing.T) {
	for want, err := range map[string]error{
		"login_required": authz.ErrLoginRequired, "consent_required": authz.ErrConsentRequired,
		"interaction_required": authz.ErrInteractionRequired,
	} {
		e := newEnv(t)
		e.ia.decide = func(*authz.AuthorizeRequest) (*authz.Decision, error) { return nil, err }
		q := redirectParams(t, e.authorizeURL(e.authorizeQuery(func(q url.Values) { q.Set("prompt", "none") })))
		if q.Get("error") != want || q.Get("state") != goodState || q.Get("code") != "" {
			t.Fatalf("prompt=none with %v: %v", err, q)
		}
	}
}

func TestH_PromptLoginWithFreshLogin(t *testing.T) {
	e := newEnv(t)
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		if !slices.Contains(req.Prompt, "login") {
			t.Errorf("Prompt = %v", req.Prompt)
		}
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes, AuthTime: time.Now().Add(-2 * time.Second)}, nil
	}
	code, v := e.codeFor(e.public, []string{"openid"}, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "60"))
	if resp, m := e.exchange(e.public, "", code, v); resp.StatusCode != 200 || m["id_token"] == nil {
		t.Fatalf("prompt=login: %d %v", resp.StatusCode, m)
	}
}

func TestC_ResponseMode(t *testing.T) {
	e := newEnv(t)
	if q := redirectParams(t, e.authorizeURL(e.authorizeQuery(func(q url.Values) { q.Set("response_mode", "query") }))); q.Get("code") == "" {
		t.Fatalf("response_mode=query: %v", q)
	}
	resp := e.authorizeURL(e.authorizeQuery(func(q url.Values) { q.Set("response_mode", "form_post") }))
	if resp.StatusCode == 200 {
		t.Fatal("form_post answered 200")
	}
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc != nil && loc.Query().Get("code") != "" {
		t.Fatalf("form_post issued a code: %v", loc)
	}
}

// TestC12_ScopesBeyondClientAreDropped: scopes the client may never have
// are dropped before the pages see the request; the token says what was
// granted.
func TestC12_ScopesBeyondClientAreDropped(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.public, []string{"openid", "system/*.cruds", "patient/*.rs", "bogus%%scope"})
	if got := e.ia.last.Scopes; !slices.Equal(got, []string{"openid", "patient/*.rs"}) {
		t.Fatalf("pages saw scopes %v", got)
	}
	_, m := e.exchange(e.public, "", code, v)
	if m["scope"] != "openid patient/*.rs" {
		t.Fatalf("granted scope %v", m["scope"])
	}
}

func TestC13_DenyRedirectsAccessDenied(t *testing.T) {
	e := newEnv(t)
	e.ia.decide = func(*authz.AuthorizeRequest) (*authz.Decision, error) { return nil, authz.ErrAccessDenied }
	q := redirectParams(t, e.authorizeURL(e.authorizeQuery(func(url.Values) {})))
	if q.Get("error") != "access_denied" || q.Get("state") != goodState || q.Get("code") != "" {
		t.Fatalf("redirect = %v", q)
	}
}

func TestC_InteractionPendingWritesNothingElse(t *testing.T) {
	e := newEnv(t)
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		if !strings.HasPrefix(req.ResumeURL, e.base+"/oauth/authorize?") || req.ID == "" {
			t.Errorf("ResumeURL %q ID %q", req.ResumeURL, req.ID)
		}
		return nil, authz.ErrInteractionPending
	}
	resp := e.authorizeURL(e.authorizeQuery(func(url.Values) {}))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestD7_BadCodeVerifier(t *testing.T) {
	for name, verifier := range map[string]func(v, challenge string) string{
		"Missing":        func(string, string) string { return "" },
		"Wrong":          func(string, string) string { return oauth2.GenerateVerifier() },
		"EqualChallenge": func(_, c string) string { return c },
		"TooShort":       func(string, string) string { return "abc" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			code, v := e.codeFor(e.public, []string{"openid"})
			resp, m := e.exchange(e.public, "", code, verifier(v, oauth2.S256ChallengeFromVerifier(v)))
			wantError(t, resp, m, []int{400, 401})
		})
	}
}

func TestD8_VerifierWithoutChallenge(t *testing.T) {
	e := newEnv(t)
	v1, secret := e.createClient(authz.NewClient{Name: "v1", RedirectURIs: []string{"https://v1.example/cb"}, Scopes: stdScopes, AllowNoPKCE: true})
	u := e.oauth2Config(v1, secret, "openid").AuthCodeURL(goodState, oauth2.SetAuthURLParam("aud", e.fhir))
	q := redirectParams(t, e.authorizeURL(u))
	resp, m := e.exchange(v1, secret, q.Get("code"), oauth2.GenerateVerifier())
	wantError(t, resp, m, []int{400}, "invalid_grant", "invalid_request")
}

func TestD9_UnknownCode(t *testing.T) {
	e := newEnv(t)
	resp, m := e.exchange(e.conf, e.secret, "ory_ac_bogus.bogus", oauth2.GenerateVerifier())
	wantError(t, resp, m, []int{400}, "invalid_grant")
}

func TestD10_WrongClientCredentials(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.conf, []string{"openid"})
	resp, m := e.exchange(e.conf, "wrong-secret", code, v)
	wantError(t, resp, m, []int{401}, "invalid_client")
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("D14: 401 after Basic without a Basic challenge: %v", resp.Header)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {e.conf.RedirectURIs[0]}, "code_verifier": {v}}
	resp, m = e.postForm("/oauth/token", form, "BAD_CLIENT_ID", e.secret)
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
	// The code is still good for the right client.
	if resp, m := e.exchange(e.conf, e.secret, code, v); resp.StatusCode != 200 {
		t.Fatalf("exchange after failed attempts: %d %v", resp.StatusCode, m)
	}
}

func TestD11_RedirectURIMismatch(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.conf, []string{"openid"})
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example/other"}, "code_verifier": {v}}
	resp, m := e.postForm("/oauth/token", form, e.conf.ID, e.secret)
	wantError(t, resp, m, []int{400}, "invalid_grant")
}

func TestD12_CodeReuseRevokesTokens(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.conf, []string{"openid", "offline_access"})
	resp, first := e.exchange(e.conf, e.secret, code, v)
	if resp.StatusCode != 200 {
		t.Fatalf("first exchange: %v", first)
	}
	resp, m := e.exchange(e.conf, e.secret, code, v)
	wantError(t, resp, m, []int{400}, "invalid_grant")
	if in := e.introspect(first["access_token"].(string)); in["active"] != false {
		t.Errorf("access token from a reused code still active: %v", in)
	}
	if in := e.introspect(first["refresh_token"].(string)); in["active"] != false {
		t.Errorf("refresh token from a reused code still active: %v", in)
	}
}

func TestD13_CodeBoundToClient(t *testing.T) {
	e := newEnv(t)
	other, secret := e.createClient(authz.NewClient{Name: "other", RedirectURIs: e.conf.RedirectURIs, Scopes: stdScopes})
	code, v := e.codeFor(e.conf, []string{"openid"})
	resp, m := e.exchange(other, secret, code, v)
	wantError(t, resp, m, []int{400}, "invalid_grant")
}

func TestD15_UnsupportedGrantType(t *testing.T) {
	e := newEnv(t)
	resp, m := e.postForm("/oauth/token", url.Values{"grant_type": {"not_a_grant_type"}}, e.conf.ID, e.secret)
	wantError(t, resp, m, []int{400}, "unsupported_grant_type")
	resp, m = e.postForm("/oauth/token", url.Values{"grant_type": {"implicit"}}, e.conf.ID, e.secret)
	wantError(t, resp, m, []int{400}, "unsupported_grant_type")
	// Unsupported whoever asks, even without client authentication.
	resp, m = e.postForm("/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}}, "", "")
	wantError(t, resp, m, []int{400}, "unsupported_grant_type")
	// A missing grant_type is a malformed request, not an unsupported grant.
	resp, m = e.postForm("/oauth/token", url.Values{"code": {"x"}}, e.conf.ID, e.secret)
	wantError(t, resp, m, []int{400}, "invalid_request")
}

func TestD14_TokenEndpointErrorsAreJSON(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.base + "/oauth/token")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != http.StatusMethodNotAllowed || json.NewDecoder(resp.Body).Decode(&m) != nil || m["error"] == nil {
		t.Fatalf("GET /oauth/token: %d %v", resp.StatusCode, m)
	}
	// An oversized body is refused with JSON, not a crash.
	big := url.Values{"grant_type": {"authorization_code"}, "code": {strings.Repeat("a", 100<<10)}}
	r2, m2 := e.postForm("/oauth/token", big, e.conf.ID, e.secret)
	wantError(t, r2, m2, []int{400, 401})
}

func TestD16_TokenCORS(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodOptions, e.base+"/oauth/token", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") == "" || resp.StatusCode >= 300 {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestD12_ConcurrentCodeRedemption: of concurrent redemptions of one code,
// at most one succeeds and none fails with a server error.
func TestD12_ConcurrentCodeRedemption(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.conf, []string{"openid", "offline_access"})
	const n = 6
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {e.conf.RedirectURIs[0]}, "code_verifier": {v}}
			req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(e.conf.ID, e.secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		switch s {
		case 200:
			ok++
		case 400:
		default:
			t.Errorf("status %d", s)
		}
	}
	if ok > 1 {
		t.Fatalf("%d concurrent redemptions of one code succeeded", ok)
	}
}

// failingRevocations is the real store with RevokeTokens failing (a disk
// error) while its count lasts.
type failingRevocations struct {
	authz.Store
	mu   sync.Mutex
	left int // failures left; -1: always
}

func (f *failingRevocations) failFor(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = n
}

func (f *failingRevocations) RevokeTokens(ctx context.Context, kind authz.TokenKind, requestID string, at time.Time) error {
	f.mu.Lock()
	fail := f.left != 0
	if f.left > 0 {
		f.left--
	}
	f.mu.Unlock()
	if fail {
		return errors.New("disk I/O error")
	}
	return f.Store.RevokeTokens(ctx, kind, requestID, at)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIssue10D4_CodeReuseRevocationFailsClosed: when the revocation of a
// reused code's tokens fails, that is logged at error level (without the
// code or a token) and the answer is a server error, not invalid_grant:
// the code stays used, and the client's retry revokes the first tokens. A
// failure that a retry within the request overcomes revokes at once.
func TestIssue10D4_CodeReuseRevocationFailsClosed(t *testing.T) {
	st := &failingRevocations{}
	var logs syncBuffer
	e := newEnvWith(t, envDeps{
		store:  func(db *sqlite.DB) authz.Store { st.Store = db; return st },
		logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	code, v := e.codeFor(e.conf, []string{"openid", "offline_access"})
	resp, first := e.exchange(e.conf, e.secret, code, v)
	if resp.StatusCode != 200 {
		t.Fatalf("first exchange: %v", first)
	}
	st.failFor(-1)
	resp, m := e.exchange(e.conf, e.secret, code, v)
	wantError(t, resp, m, []int{500, 503}, "server_error", "temporarily_unavailable")
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if rec["level"] == "ERROR" && strings.Contains(rec["msg"].(string), "could not be revoked") {
			line = rec
		}
	}
	if line == nil || line["request_id"] == "" || !strings.Contains(fmt.Sprint(line["err"]), "disk I/O error") {
		t.Fatalf("no error-level log line of the failed revocation: %s", logs.String())
	}
	for _, secret := range []string{code, first["access_token"].(string), first["refresh_token"].(string), e.secret} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log carries a code, token or secret: %s", logs.String())
		}
	}
	// The store is back: the retry revokes the first tokens.
	st.failFor(0)
	resp, m = e.exchange(e.conf, e.secret, code, v)
	wantError(t, resp, m, []int{400}, "invalid_grant")
	for _, k := range []string{"access_token", "refresh_token"} {
		if in := e.introspect(first[k].(string)); in["active"] != false {
			t.Errorf("%s of a reused code still active after the retry: %v", k, in)
		}
	}

	// One failure: the retry within the request revokes at once.
	code, v = e.codeFor(e.conf, []string{"openid", "offline_access"})
	resp, first = e.exchange(e.conf, e.secret, code, v)
	if resp.StatusCode != 200 {
		t.Fatalf("exchange: %v", first)
	}
	st.failFor(1)
	resp, m = e.exchange(e.conf, e.secret, code, v)
	wantError(t, resp, m, []int{400}, "invalid_grant")
	for _, k := range []string{"access_token", "refresh_token"} {
		if in := e.introspect(first[k].(string)); in["active"] != false {
			t.Errorf("%s of a reused code still active: %v", k, in)
		}
	}
}
