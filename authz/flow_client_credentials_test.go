package authz_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
)

// The client_credentials grant (flow_client_credentials.go): SMART Backend
// Services tokens, their scope policy and lifetime. Client authentication
// with private_key_jwt is clientauth_test.go's.

func TestK1_BackendServicesTokenRequestSucceeds(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS384, jose.ES384, jose.RS256, jose.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t)
			k := newBackendKey(t, alg)
			c := e.backendClient(k, "")
			resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()))
			// Inferno 3.2.05 tolerates 200 or 201; an OAuth token endpoint
			// answers 200 (RFC 6749 §5.1).
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("K1: status %d %v", resp.StatusCode, m)
			}
			claims := verifyAccessToken(t, e.base, m["access_token"].(string))
			if claims["sub"] != c.ID || claims["client_id"] != c.ID {
				t.Errorf("backend token claims %v", claims)
			}
		})
	}
}

func TestK2_K11_BackendServicesResponseBody(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()), func(f url.Values) { f.Set("scope", "system/Patient.rs system/Observation.rs") })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %v", resp.StatusCode, m)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	if at, _ := m["access_token"].(string); at == "" {
		t.Errorf("K2: access_token missing: %v", m)
	}
	if tt, _ := m["token_type"].(string); !strings.EqualFold(tt, "bearer") {
		t.Errorf("K2: token_type %v", m["token_type"])
	}
	if m["scope"] != "system/Patient.rs system/Observation.rs" {
		t.Errorf("K2: scope %v", m["scope"])
	}
	exp, ok := m["expires_in"].(float64)
	if !ok || exp <= 0 || exp > 300 {
		t.Errorf("K2/K11: expires_in %v, want a number in (0, 300]", m["expires_in"])
	}
	// The token itself lives no longer than announced (K11).
	claims := verifyAccessToken(t, e.base, m["access_token"].(string))
	if life := claims["exp"].(float64) - claims["iat"].(float64); life <= 0 || life > 300 {
		t.Errorf("K11: access token lifetime %vs", life)
	}
	if in := e.introspect(m["access_token"].(string)); in["active"] != true || in["exp"].(float64)-float64(time.Now().Unix()) > 301 {
		t.Errorf("K11: introspection %v", in)
	}
	// R10: no refresh token for client_credentials.
	if _, ok := m["refresh_token"]; ok {
		t.Errorf("R10: refresh_token issued: %v", m)
	}
}

// TestK9_ScopeWithinClientCeiling: we refuse (invalid_scope) rather than
// reduce a request that exceeds the client's pre-authorised scopes, so a
// token never carries more than the client may have.
func TestK9_ScopeWithinClientCeiling(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.ScopeStrategy = smart.ScopeStrategy })
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "") // ceiling system/Patient.rs system/Observation.rs
	wide, _ := e.createClient(authz.NewClient{Name: "wide", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: k.jwks()}) // default ceiling system/*.rs
	granted := map[string]struct {
		client *authz.Client
		scope  string
	}{
		"Exact":          {c, "system/Patient.rs"},
		"Both":           {c, "system/Observation.rs system/Patient.rs"},
		"Narrower":       {c, "system/Patient.r"},
		"WildcardCovers": {wide, "system/Encounter.rs"},
	}
	for name, tc := range granted {
		t.Run("Grant_"+name, func(t *testing.T) {
			resp, m := e.backendToken(k.assert(t, tc.client.ID, e.tokenURL()), func(f url.Values) { f.Set("scope", tc.scope) })
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %v", resp.StatusCode, m)
			}
			if m["scope"] != tc.scope {
				t.Errorf("granted %q, want exactly %q", m["scope"], tc.scope)
			}
			claims := verifyAccessToken(t, e.base, m["access_token"].(string))
			if claims["scope"] != tc.scope {
				t.Errorf("token scope claim %q, want %q", claims["scope"], tc.scope)
			}
		})
	}
	refused := map[string]struct {
		client *authz.Client
		scope  string
	}{
		"OtherType":      {c, "system/Patient.rs system/Encounter.rs"},
		"MorePerms":      {c, "system/Patient.cruds"},
		"Wildcard":       {c, "system/*.rs"},
		"WriteOnWide":    {wide, "system/Patient.c"},
		"PatientScope":   {c, "patient/*.rs"},
		"UserScope":      {wide, "user/Patient.rs"},
		"NotAScope":      {c, "system/Patient.rs bogus"},
		"OfflineAccess":  {c, "system/Patient.rs offline_access"},
		"OpenID":         {c, "openid system/Patient.rs"},
		"LaunchPatient":  {c, "launch/patient system/Patient.rs"},
		"V1WriteOnWide":  {wide, "system/Patient.write"},
		"V1AllOnCeiling": {c, "system/Patient.*"},
	}
	for name, tc := range refused {
		t.Run("Refuse_"+name, func(t *testing.T) {
			resp, m := e.backendToken(k.assert(t, tc.client.ID, e.tokenURL()), func(f url.Values) { f.Set("scope", tc.scope) })
			wantError(t, resp, m, []int{400}, "invalid_scope")
		})
	}
	// Non-system scopes are refused even when the client's ceiling holds
	// them (a client registered for both a user-facing flow and
	// client_credentials): a backend token carries system/ scopes only.
	mixed, _ := e.createClient(authz.NewClient{Name: "mixed", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: k.jwks(),
		Scopes: []string{"system/Patient.rs", "patient/*.rs", "user/*.rs", "openid", "offline_access"}})
	for _, sc := range []string{"patient/*.rs", "user/*.rs", "openid", "offline_access"} {
		t.Run("Mixed_"+sc, func(t *testing.T) {
			resp, m := e.backendToken(k.assert(t, mixed.ID, e.tokenURL()), func(f url.Values) { f.Set("scope", "system/Patient.rs "+sc) })
			wantError(t, resp, m, []int{400}, "invalid_scope")
		})
	}
}

// TestK13_SymmetricClientsAndClientCredentials documents the decision: a
// client_secret client gets client_credentials only when an administrator
// registered it with that grant explicitly (e.g. a resource server that
// introspects, a SCIM provisioning client, or the benchmark client), and
// its system/ scopes only when an administrator also allowed them
// (Client.AllowSystemScopes; issue 11: SMART system/ scopes are for key- or
// certificate-authenticated clients). The default grants of a secret
// client exclude it, and open and self-service registration refuse
// client_credentials without private_key_jwt.
func TestK13_SymmetricClientsAndClientCredentials(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}
	// e.conf: client_secret_basic with the default grants.
	resp, m := e.postForm("/oauth/token", form, e.conf.ID, e.secret)
	wantError(t, resp, m, []int{400}, "unauthorized_client", "invalid_scope") // no system/ scope in its ceiling either
	resp, m = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, e.conf.ID, e.secret)
	wantError(t, resp, m, []int{400}, "unauthorized_client")
	notAllowed, nasecret := e.createClient(authz.NewClient{Name: "rs", GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/Patient.rs"}})
	resp, m = e.postForm("/oauth/token", form, notAllowed.ID, nasecret)
	wantError(t, resp, m, []int{400}, "invalid_scope")
	explicit, secret := e.createClient(authz.NewClient{Name: "rs", GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/Patient.rs"},
		AllowSystemScopes: true})
	if resp, m := e.postForm("/oauth/token", form, explicit.ID, secret); resp.StatusCode != http.StatusOK {
		t.Fatalf("explicitly registered secret client: %d %v", resp.StatusCode, m)
	}
	// A private_key_jwt backend client can never fall back to a secret (L2).
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	resp, m = e.postForm("/oauth/token", form, c.ID, "guess")
	wantInvalidClient(t, resp, m)
}

func TestR10_NoRefreshTokenForClientCredentials(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c, _ := e.createClient(authz.NewClient{Name: "b", GrantTypes: []string{"client_credentials", "refresh_token"},
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: k.jwks(), Scopes: []string{"system/Patient.rs", "offline_access"}})
	resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %v", resp.StatusCode, m)
	}
	if _, ok := m["refresh_token"]; ok {
		t.Fatalf("refresh_token issued: %v", m)
	}
	resp, m = e.backendToken(k.assert(t, c.ID, e.tokenURL()), func(f url.Values) { f.Set("scope", "system/Patient.rs offline_access") })
	wantError(t, resp, m, []int{400}, "invalid_scope")
}

// TestClientCredentialsGrantPolicy: the grant handler's policy beyond
// fosite's: the token's subject is the client, it lives BackendTokenTTL,
// it carries exactly the requested system/ scopes and no launch context,
// and it is stored nowhere (stateless).
func TestClientCredentialsGrantPolicy(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.BackendTokenTTL = 2 * time.Minute })
	k := newBackendKey(t, jose.ES256)
	c := e.backendClient(k, "")
	resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()), func(f url.Values) { f.Set("scope", "system/Observation.rs") })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %v", resp.StatusCode, m)
	}
	for _, k := range []string{"patient", "encounter", "refresh_token", "id_token"} {
		if _, ok := m[k]; ok {
			t.Errorf("backend token response carries %s: %v", k, m)
		}
	}
	if exp, _ := m["expires_in"].(float64); exp < 110 || exp > 120 {
		t.Errorf("expires_in %v, want BackendTokenTTL (120)", m["expires_in"])
	}
	claims := verifyAccessToken(t, e.base, m["access_token"].(string))
	if claims["sub"] != c.ID || claims["scope"] != "system/Observation.rs" {
		t.Errorf("claims %v", claims)
	}
	if life := claims["exp"].(float64) - claims["iat"].(float64); life < 110 || life > 120 {
		t.Errorf("token lifetime %vs, want 120", life)
	}
	if n, err := e.db.CountTokens(context.Background(), c.ID); err != nil || n != 0 {
		t.Errorf("%d stored records for a stateless token (%v)", n, err)
	}
}
