package authz_test

// Focused tests, one per checklist item, for items that the end-to-end
// tests (TestC1_CodeFlowWithPKCE and friends) assert only in passing.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/authz"
)

// idTokenFlow runs a code flow for the confidential client with a decision
// for alice and returns the token response.
func (e *env) idTokenFlow(scopes []string, extra ...oauth2.AuthCodeOption) map[string]any {
	e.t.Helper()
	code, v := e.codeFor(e.conf, scopes, extra...)
	resp, m := e.exchange(e.conf, e.secret, code, v)
	if resp.StatusCode != 200 {
		e.t.Fatalf("exchange: %d %v", resp.StatusCode, m)
	}
	return m
}

// jwtParts decodes the header and payload of a compact JWS without
// verifying it.
func jwtParts(t *testing.T, raw string) (hdr, payload map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS (%d parts): %q", len(parts), raw)
	}
	for i, dst := range []*map[string]any{&hdr, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWS part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("JWS part %d: %v", i, err)
		}
	}
	return hdr, payload
}

func TestH1_IDTokenForOpenIDFHIRUser(t *testing.T) {
	e := newEnv(t)
	m := e.idTokenFlow([]string{"openid", "fhirUser"})
	raw, _ := m["id_token"].(string)
	if raw == "" {
		t.Fatalf("no id_token for openid fhirUser: %v", m)
	}
	jwtParts(t, raw)
}

func TestD19_IDTokenOnlyWhenOpenIDGranted(t *testing.T) {
	e := newEnv(t)
	if m := e.idTokenFlow([]string{"openid", "fhirUser", "patient/*.rs"}); m["id_token"] == nil {
		t.Fatalf("openid granted but no id_token: %v", m)
	}
	if m := e.idTokenFlow([]string{"patient/*.rs"}); m["id_token"] != nil {
		t.Fatalf("id_token without openid: %v", m)
	}
}

func TestH2_OpenIDConfigurationAtIDTokenIssuer(t *testing.T) {
	e := newEnv(t)
	_, p := jwtParts(t, e.idTokenFlow([]string{"openid", "fhirUser"})["id_token"].(string))
	iss, _ := p["iss"].(string)
	resp, m := getJSON(t, strings.TrimSuffix(iss, "/")+"/.well-known/openid-configuration")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("openid-configuration at issuer %q: %d %s", iss, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if m["issuer"] != iss {
		t.Fatalf("issuer %v, id_token iss %q", m["issuer"], iss)
	}
}

func TestH3_OpenIDConfigurationRequiredFields(t *testing.T) {
	e := newEnv(t)
	_, m := getJSON(t, e.base+"/.well-known/openid-configuration")
	for _, f := range []string{"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"} {
		if s, _ := m[f].(string); s == "" {
			t.Errorf("%s missing or not a string: %v", f, m[f])
		}
	}
	for _, f := range []string{"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"} {
		if l, _ := m[f].([]any); len(l) == 0 {
			t.Errorf("%s missing or empty: %v", f, m[f])
		}
	}
	if l, _ := m["id_token_signing_alg_values_supported"].([]any); !slices.Contains(l, any("RS256")) {
		t.Errorf("RS256 not in id_token_signing_alg_values_supported: %v", l)
	}
}

func TestH5_IDTokenRS256WithKnownKid(t *testing.T) {
	e := newEnv(t)
	hdr, _ := jwtParts(t, e.idTokenFlow([]string{"openid", "fhirUser"})["id_token"].(string))
	if hdr["alg"] != "RS256" {
		t.Fatalf("id_token alg = %v, want exactly RS256", hdr["alg"])
	}
	kid, _ := hdr["kid"].(string)
	if kid == "" {
		t.Fatal("id_token header has no kid")
	}
	jwks := fetchJWKS(t, e.base)
	keys := jwks.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("kid %q matches %d keys in the JWKS", kid, len(keys))
	}
	if keys[0].Algorithm != "" && keys[0].Algorithm != "RS256" {
		t.Errorf("kid %q names a %s key", kid, keys[0].Algorithm)
	}
}

func TestH6_IDTokenPayloadAndSignature(t *testing.T) {
	e := newEnv(t)
	raw := e.idTokenFlow([]string{"openid", "fhirUser"})["id_token"].(string)
	_, conf := getJSON(t, e.base+"/.well-known/openid-configuration")
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	jwks := fetchJWKS(t, e.base)
	keys := jwks.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid not in JWKS")
	}
	var c josejwt.Claims
	var all map[string]any
	if err := tok.Claims(keys[0].Key, &c, &all); err != nil {
		t.Fatalf("id_token signature does not verify with the published key: %v", err)
	}
	if c.Issuer != conf["issuer"] {
		t.Errorf("iss %q != discovery issuer %v", c.Issuer, conf["issuer"])
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: e.base, AnyAudience: josejwt.Audience{e.conf.ID}, Time: time.Now()}, 60*time.Second); err != nil {
		t.Errorf("claims: %v", err)
	}
	if len(c.Audience) != 1 || c.Audience[0] != e.conf.ID {
		t.Errorf("aud = %v, want [%s]", c.Audience, e.conf.ID)
	}
	if c.IssuedAt == nil || c.Expiry == nil || !c.Expiry.Time().After(time.Now()) {
		t.Errorf("iat/exp = %v/%v", c.IssuedAt, c.Expiry)
	}
	if c.Subject == "" || len(c.Subject) >= 256 {
		t.Errorf("sub = %q", c.Subject)
	}
}

func TestH8_NonceEchoedInIDToken(t *testing.T) {
	e := newEnv(t)
	_, p := jwtParts(t, e.idTokenFlow([]string{"openid"}, oauth2.SetAuthURLParam("nonce", "n-0123456789abcdef"))["id_token"].(string))
	if p["nonce"] != "n-0123456789abcdef" {
		t.Fatalf("nonce = %v", p["nonce"])
	}
	_, p = jwtParts(t, e.idTokenFlow([]string{"openid"})["id_token"].(string))
	if n, ok := p["nonce"]; ok && n != "" {
		t.Fatalf("nonce %v in an id_token whose request had none", n)
	}
}

func TestH9_ProfileClaimForV1Clients(t *testing.T) {
	e := newEnv(t)
	_, p := jwtParts(t, e.idTokenFlow([]string{"openid", "profile"})["id_token"].(string))
	if p["profile"] != e.fhir+"/Practitioner/p1" {
		t.Fatalf("profile claim = %v, want %s", p["profile"], e.fhir+"/Practitioner/p1")
	}
}

func TestH7_FHIRUserClaimIsFHIRResourceURL(t *testing.T) {
	// The GET of that resource with the access token runs against the
	// wired server: cmd/smartgate TestH7_FHIRUserResolvableWithAccessToken.
	e := newEnv(t)
	_, p := jwtParts(t, e.idTokenFlow([]string{"openid", "fhirUser"})["id_token"].(string))
	if p["fhirUser"] != e.fhir+"/Practitioner/p1" {
		t.Fatalf("fhirUser = %v", p["fhirUser"])
	}
	_, p = jwtParts(t, e.idTokenFlow([]string{"openid"})["id_token"].(string))
	if _, ok := p["fhirUser"]; ok {
		t.Fatalf("fhirUser claim without the fhirUser scope: %v", p)
	}
}

func TestH10_SMARTConfigurationMatchesOIDCDiscovery(t *testing.T) {
	e := newEnv(t)
	_, oidc := getJSON(t, e.base+"/.well-known/openid-configuration")
	for _, path := range []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"} {
		_, smart := getJSON(t, e.base+path)
		for _, f := range []string{"issuer", "jwks_uri", "authorization_endpoint", "token_endpoint"} {
			if smart[f] == nil || smart[f] != oidc[f] {
				t.Errorf("%s %s = %v, openid-configuration has %v", path, f, smart[f], oidc[f])
			}
		}
	}
}

func TestH11_IDTokenNamesLocalSubject(t *testing.T) {
	e := newEnv(t)
	// A log-in that federated upstream ends as a Decision for the local
	// account: the id_token must carry our issuer, our subject and our
	// fhirUser, not the upstream ones.
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		return &authz.Decision{Subject: "pat-id", Scopes: req.Scopes, AMR: []string{"fed"}, AuthTime: time.Now()}, nil
	}
	_, p := jwtParts(t, e.idTokenFlow([]string{"openid", "fhirUser"})["id_token"].(string))
	if p["iss"] != e.base || p["sub"] != "pat-id" || p["fhirUser"] != e.fhir+"/Patient/123" {
		t.Fatalf("id_token = %v", p)
	}
}

func TestH12_OptionalOIDCParametersDoNotBreakFlow(t *testing.T) {
	e := newEnv(t)
	first := e.idTokenFlow([]string{"openid"})
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"NoMaxAge":    nil,
		"AcrValues":   {oauth2.SetAuthURLParam("acr_values", "urn:example:loa:2")},
		"IDTokenHint": {oauth2.SetAuthURLParam("id_token_hint", first["id_token"].(string))},
		"Display":     {oauth2.SetAuthURLParam("display", "page"), oauth2.SetAuthURLParam("ui_locales", "de")},
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			if m := e.idTokenFlow([]string{"openid"}, opts...); m["id_token"] == nil {
				t.Fatalf("no id_token: %v", m)
			}
		})
	}
}

func TestI1_IntrospectActiveToken(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "patient/*.rs")
	resp, in := e.postForm("/oauth/introspect", url.Values{"token": {m["access_token"].(string)}}, e.conf.ID, e.secret)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("introspect: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if active, ok := in["active"].(bool); !ok || !active {
		t.Fatalf("active = %#v, want JSON true", in["active"])
	}
}

func TestI2_IntrospectClientScopeExp(t *testing.T) {
	e := newEnv(t)
	before := time.Now().Unix()
	m := e.tokens("openid", "fhirUser", "patient/*.rs", "offline_access")
	in := e.introspect(m["access_token"].(string))
	if in["client_id"] != e.conf.ID {
		t.Errorf("client_id = %v", in["client_id"])
	}
	if got, want := strings.Fields(in["scope"].(string)), strings.Fields(m["scope"].(string)); !sameSet(got, want) {
		t.Errorf("scope %q, token response %q", got, want)
	}
	exp, ok := in["exp"].(float64)
	if !ok || exp != float64(int64(exp)) {
		t.Fatalf("exp = %#v, want an integer", in["exp"])
	}
	expiresIn := m["expires_in"].(float64)
	if lo, hi := float64(before)+expiresIn-2, float64(time.Now().Unix())+expiresIn+2; exp < lo || exp > hi {
		t.Errorf("exp %v inconsistent with expires_in %v (want within [%v, %v])", exp, expiresIn, lo, hi)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestI3_IntrospectContextMatchesTokenResponse(t *testing.T) {
	e := newEnv(t)
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes,
			Context: &authz.LaunchContext{Patient: "123", Encounter: "enc-7", Intent: "reconcile-medications"}}, nil
	}
	m := e.tokens("openid", "launch/patient", "launch/encounter", "patient/*.rs")
	in := e.introspect(m["access_token"].(string))
	for _, k := range []string{"patient", "encounter", "intent"} {
		if m[k] == nil || in[k] != m[k] {
			t.Errorf("%s: introspection %#v, token response %#v", k, in[k], m[k])
		}
	}
	if m["patient"] != "123" {
		t.Errorf("patient = %v, want the bare id", m["patient"])
	}
}

func TestI4_IntrospectIssSubMatchIDToken(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "fhirUser", "patient/*.rs")
	_, idt := jwtParts(t, m["id_token"].(string))
	in := e.introspect(m["access_token"].(string))
	if in["iss"] != idt["iss"] || in["sub"] != idt["sub"] {
		t.Errorf("introspection iss/sub %v/%v, id_token %v/%v", in["iss"], in["sub"], idt["iss"], idt["sub"])
	}
	if in["fhirUser"] != nil && in["fhirUser"] != idt["fhirUser"] {
		t.Errorf("introspection fhirUser %v, id_token %v", in["fhirUser"], idt["fhirUser"])
	}
}

func TestI10_JWTAccessTokenValidatedLocally(t *testing.T) {
	e := newEnv(t)
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes, Context: &authz.LaunchContext{Patient: "123"}}, nil
	}
	m := e.tokens("openid", "launch/patient", "patient/*.rs")
	at := verifyAccessToken(t, e.base, m["access_token"].(string))
	if at["iss"] != e.base || at["client_id"] != e.conf.ID || at["scope"] != m["scope"] || at["patient"] != "123" {
		t.Errorf("claims = %v", at)
	}
	if aud, _ := at["aud"].([]any); len(aud) != 1 || aud[0] != e.fhir {
		t.Errorf("aud = %v, want [%s]", at["aud"], e.fhir)
	}
	if exp, _ := at["exp"].(float64); exp <= float64(time.Now().Unix()) {
		t.Errorf("exp = %v", at["exp"])
	}
}

func TestD4_AllRequestedScopesGranted(t *testing.T) {
	e := newEnv(t)
	req := []string{"openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs"}
	m := e.tokens(req...)
	got := strings.Fields(m["scope"].(string))
	for _, s := range req {
		if !slices.Contains(got, s) {
			t.Errorf("requested scope %q not granted: %q", s, got)
		}
	}
}

func TestD5_PublicAndSymmetricClientAuthentication(t *testing.T) {
	e := newEnv(t)
	// Public: client_id in the body, no secret.
	code, v := e.codeFor(e.public, []string{"openid"})
	if resp, m := e.exchange(e.public, "", code, v); resp.StatusCode != 200 {
		t.Fatalf("public client: %d %v", resp.StatusCode, m)
	}
	// Confidential: HTTP Basic.
	code, v = e.codeFor(e.conf, []string{"openid"})
	if resp, m := e.exchange(e.conf, e.secret, code, v); resp.StatusCode != 200 {
		t.Fatalf("client_secret_basic: %d %v", resp.StatusCode, m)
	}
	// Confidential: client_secret_post.
	code, v = e.codeFor(e.conf, []string{"openid"})
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {e.conf.RedirectURIs[0]},
		"code_verifier": {v}, "client_id": {e.conf.ID}, "client_secret": {e.secret}}
	if resp, m := e.postForm("/oauth/token", form, "", ""); resp.StatusCode != 200 {
		t.Fatalf("client_secret_post: %d %v", resp.StatusCode, m)
	}
	// Confidential client with only its client_id (as if public) is refused.
	code, v = e.codeFor(e.conf, []string{"openid"})
	resp, m := e.exchange(e.conf, "", code, v)
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
}

func TestD18_AccessTokenLifetimeAtMostOneHour(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "patient/*.rs")
	if exp, ok := m["expires_in"].(float64); !ok || exp <= 0 || exp > 3600 {
		t.Fatalf("expires_in = %v, want 0 < x ≤ 3600", m["expires_in"])
	}
}

func TestR4_RefreshResponseNotCached(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "offline_access")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}
	resp, body := e.postForm("/oauth/token", form, e.conf.ID, e.secret)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %v", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q", cc)
	}
	if p := resp.Header.Get("Pragma"); p != "no-cache" {
		t.Errorf("Pragma = %q", p)
	}
}

func TestR10_NoRefreshTokenForBackendServices(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.RS384)
	c := e.backendClient(k, "")
	resp, m := e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token"))
	if resp.StatusCode != 200 {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, m)
	}
	if _, ok := m["refresh_token"]; ok {
		t.Fatalf("backend service got a refresh token: %v", m)
	}
	// Asking for offline_access does not get one either.
	resp, m = e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token"), func(f url.Values) { f.Set("scope", "system/Patient.rs offline_access") })
	if _, ok := m["refresh_token"]; ok || resp.StatusCode == 200 && strings.Contains(m["scope"].(string), "offline_access") {
		t.Fatalf("backend service with offline_access: %d %v", resp.StatusCode, m)
	}
}

func TestR11_RefreshWithFreshClientAssertion(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.RS384)
	c, _ := e.createClient(authz.NewClient{Name: "asym", RedirectURIs: []string{"https://asym.example/cb"}, Scopes: stdScopes,
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: k.jwks()})
	code, v := e.codeFor(c, []string{"openid", "offline_access"})
	assertion := func() string { return k.assert(t, c.ID, e.base+"/oauth/token") }
	withAssertion := func(f url.Values, a string) url.Values {
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		f.Set("client_assertion", a)
		return f
	}
	resp, m := e.postForm("/oauth/token", withAssertion(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {v}}, assertion()), "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("code exchange: %d %v", resp.StatusCode, m)
	}
	a := assertion()
	resp, r := e.postForm("/oauth/token", withAssertion(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, a), "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("refresh with a fresh assertion: %d %v", resp.StatusCode, r)
	}
	// The same assertion (same jti) again is a replay.
	resp, r2 := e.postForm("/oauth/token", withAssertion(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r["refresh_token"].(string)}}, a), "", "")
	wantError(t, resp, r2, []int{400, 401}, "invalid_client")
	// Without any client authentication the refresh is refused.
	resp, r3 := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r["refresh_token"].(string)}, "client_id": {c.ID}}, "", "")
	wantError(t, resp, r3, []int{400, 401}, "invalid_client")
}

func TestM2_MetadataConsistentWithSMARTConfiguration(t *testing.T) {
	e := newEnv(t)
	_, meta := getJSON(t, e.base+"/.well-known/oauth-authorization-server")
	_, smart := getJSON(t, e.base+"/.well-known/smart-configuration")
	if l, _ := meta["code_challenge_methods_supported"].([]any); !slices.Equal(l, []any{"S256"}) {
		t.Errorf("code_challenge_methods_supported = %v", l)
	}
	for _, f := range []string{"revocation_endpoint", "introspection_endpoint", "token_endpoint", "authorization_endpoint", "issuer", "jwks_uri"} {
		if meta[f] == nil || meta[f] != smart[f] {
			t.Errorf("%s: metadata %v, smart-configuration %v", f, meta[f], smart[f])
		}
	}
	for _, f := range []string{"token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported", "code_challenge_methods_supported"} {
		m, _ := meta[f].([]any)
		s, _ := smart[f].([]any)
		if len(m) == 0 || !sameSet(anyStrings(m), anyStrings(s)) {
			t.Errorf("%s: metadata %v, smart-configuration %v", f, m, s)
		}
		if slices.Contains(m, any("none")) {
			t.Errorf("%s lists none", f)
		}
	}
	// registration_endpoint: advertised in both or in neither.
	if (meta["registration_endpoint"] == nil) != (smart["registration_endpoint"] == nil) {
		t.Errorf("registration_endpoint: metadata %v, smart-configuration %v", meta["registration_endpoint"], smart["registration_endpoint"])
	}
}

func anyStrings(l []any) []string {
	out := make([]string, 0, len(l))
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func TestV3_UnknownTokenTypeHintIsIgnored(t *testing.T) {
	// We revoke every kind of token we issue (access and refresh), so
	// unsupported_token_type never applies; an unknown hint must not stop
	// the search (RFC 7009 §2.1).
	e := newEnv(t)
	m := e.tokens("openid", "offline_access")
	resp, body := e.postForm("/oauth/revoke", url.Values{"token": {m["access_token"].(string)}, "token_type_hint": {"saml_assertion"}}, e.conf.ID, e.secret)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke with an unknown hint: %d %v", resp.StatusCode, body)
	}
	if in := e.introspect(m["access_token"].(string)); in["active"] != false {
		t.Fatalf("token still active after revocation: %v", in)
	}
}

func TestS3_PKCEEnforced(t *testing.T) {
	e := newEnv(t)
	for name, change := range map[string]func(url.Values){
		"Missing": func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
		"Plain":   func(q url.Values) { q.Set("code_challenge_method", "plain") },
	} {
		if q := redirectParams(t, e.authorizeURL(e.authorizeQuery(change))); q.Get("code") != "" || q.Get("error") != "invalid_request" {
			t.Errorf("%s PKCE: %v", name, q)
		}
	}
	code, _ := e.codeFor(e.public, []string{"openid"})
	resp, m := e.exchange(e.public, "", code, oauth2.GenerateVerifier())
	wantError(t, resp, m, []int{400}, "invalid_grant")
	code, _ = e.codeFor(e.public, []string{"openid"})
	resp, m = e.exchange(e.public, "", code, "")
	wantError(t, resp, m, []int{400}, "invalid_grant", "invalid_request")
}

func TestS5_CodeSingleUseAndBound(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.conf, []string{"openid"})
	// Bound to the redirect_uri…
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example/other"}, "code_verifier": {v}}
	resp, m := e.postForm("/oauth/token", form, e.conf.ID, e.secret)
	wantError(t, resp, m, []int{400}, "invalid_grant")
	// …to the client…
	code, v = e.codeFor(e.conf, []string{"openid"})
	other, secret := e.createClient(authz.NewClient{Name: "other", RedirectURIs: e.conf.RedirectURIs, Scopes: stdScopes})
	resp, m = e.exchange(other, secret, code, v)
	wantError(t, resp, m, []int{400}, "invalid_grant")
	// …single use.
	code, v = e.codeFor(e.conf, []string{"openid"})
	if resp, m := e.exchange(e.conf, e.secret, code, v); resp.StatusCode != 200 {
		t.Fatalf("first redemption: %d %v", resp.StatusCode, m)
	}
	resp, m = e.exchange(e.conf, e.secret, code, v)
	wantError(t, resp, m, []int{400}, "invalid_grant")
}

func TestS6_PublicClientRefreshTokensRotate(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.public, []string{"openid", "offline_access"})
	_, m := e.exchange(e.public, "", code, v)
	rt1, _ := m["refresh_token"].(string)
	if rt1 == "" {
		t.Fatalf("no refresh token: %v", m)
	}
	refresh := func(rt string) (*http.Response, map[string]any) {
		return e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.public.ID}}, "", "")
	}
	resp, m2 := refresh(rt1)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %v", resp.StatusCode, m2)
	}
	rt2, _ := m2["refresh_token"].(string)
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh token not rotated: old %q new %q", rt1, rt2)
	}
	resp, m3 := refresh(rt1)
	wantError(t, resp, m3, []int{400}, "invalid_grant")
}

func TestS7_AccessTokenAudienceIsRequestedFHIRBase(t *testing.T) {
	e := newEnv(t)
	for _, aud := range []string{e.fhir, "https://other.example/fhir"} {
		code, v := e.codeFor(e.conf, []string{"openid", "patient/*.rs"}, oauth2.SetAuthURLParam("aud", aud))
		_, m := e.exchange(e.conf, e.secret, code, v)
		at := verifyAccessToken(t, e.base, m["access_token"].(string))
		if l, _ := at["aud"].([]any); !slices.Equal(l, []any{aud}) {
			t.Errorf("aud = %v, want [%s]", at["aud"], aud)
		}
		ti, err := e.as.VerifyAccessToken(t.Context(), m["access_token"].(string))
		if err != nil || !slices.Equal(ti.Audience, []string{aud}) {
			t.Errorf("VerifyAccessToken audience = %v (%v), want [%s]", ti, err, aud)
		}
	}
	// No token for a foreign audience.
	u := e.authorizeQuery(func(q url.Values) { q.Set("aud", "https://evil.example/fhir") })
	if q := redirectParams(t, e.authorizeURL(u)); q.Get("code") != "" {
		t.Fatalf("code for a foreign aud: %v", q)
	}
}

func TestS11_ClientAuthenticationEnforced(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.conf, []string{"openid"})
	resp, m := e.exchange(e.conf, "wrong-secret", code, v)
	wantError(t, resp, m, []int{401}, "invalid_client")
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	_, smart := getJSON(t, e.base+"/.well-known/smart-configuration")
	if l, _ := smart["token_endpoint_auth_methods_supported"].([]any); !slices.Contains(l, any("private_key_jwt")) {
		t.Errorf("private_key_jwt not offered: %v", l)
	}
}

func TestC21_S14_IssInAuthorizationResponse(t *testing.T) {
	e := newEnv(t)
	_, conf := getJSON(t, e.base+"/.well-known/oauth-authorization-server")
	if conf["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("authorization_response_iss_parameter_supported = %v", conf["authorization_response_iss_parameter_supported"])
	}
	q := redirectParams(t, e.authorizeURL(e.authorizeQuery(func(url.Values) {})))
	if q.Get("code") == "" || q.Get("iss") != conf["issuer"] {
		t.Errorf("success redirect %v, want iss %v", q, conf["issuer"])
	}
	e.ia.decide = func(*authz.AuthorizeRequest) (*authz.Decision, error) { return nil, authz.ErrAccessDenied }
	q = redirectParams(t, e.authorizeURL(e.authorizeQuery(func(url.Values) {})))
	if q.Get("error") != "access_denied" || q.Get("iss") != conf["issuer"] {
		t.Errorf("error redirect %v, want iss %v", q, conf["issuer"])
	}
}

func TestS12_ClientIDsAreServerGenerated(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		c, _ := e.createClient(authz.NewClient{Name: "alice-id", RedirectURIs: []string{"https://app.example/cb"}})
		if seen[c.ID] || len(c.ID) < 16 || c.ID == "alice-id" {
			t.Fatalf("client id %q is not a fresh server-generated id", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestC3_StateEchoedExactly(t *testing.T) {
	e := newEnv(t)
	// (fosite asks for at least 8 characters of state: MinParameterEntropy.)
	for _, state := range []string{"abcdefgh", "a b+c/d=e&f?g%h", "ÿ-ü-☃-ÿ-ü-☃", strings.Repeat("s", 500)} {
		u := e.authorizeQuery(func(q url.Values) { q.Set("state", state) })
		if q := redirectParams(t, e.authorizeURL(u)); q.Get("code") == "" || q.Get("state") != state {
			t.Errorf("success redirect %v, want a code and state %q", q, state)
		}
		u = e.authorizeQuery(func(q url.Values) { q.Set("state", state); q.Set("code_challenge_method", "plain") })
		if q := redirectParams(t, e.authorizeURL(u)); q.Get("error") == "" || q.Get("state") != state {
			t.Errorf("error redirect state = %q, want %q", q.Get("state"), state)
		}
	}
}

func TestD1_CodeExchangeAnswersJSON(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.conf, []string{"openid", "patient/*.rs"})
	resp, m := e.exchange(e.conf, e.secret, code, v)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || m == nil {
		t.Fatalf("token: %d %s %v", resp.StatusCode, resp.Header.Get("Content-Type"), m)
	}
}

func TestD2_TokenResponseFields(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "patient/*.rs")
	if s, _ := m["access_token"].(string); s == "" {
		t.Errorf("access_token = %#v", m["access_token"])
	}
	if s, _ := m["token_type"].(string); !strings.EqualFold(s, "bearer") {
		t.Errorf("token_type = %#v", m["token_type"])
	}
	if s, _ := m["scope"].(string); s == "" {
		t.Errorf("scope = %#v", m["scope"])
	}
	if n, ok := m["expires_in"].(float64); !ok || n <= 0 {
		t.Errorf("expires_in = %#v, want a positive number", m["expires_in"])
	}
}
