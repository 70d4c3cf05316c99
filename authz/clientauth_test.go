package authz_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/authz"
)

type backendKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
	kid  string
}

func newBackendKey(t *testing.T, alg jose.SignatureAlgorithm) backendKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return backendKey{alg: alg, priv: priv, kid: "k-" + string(alg)}
}

func (k backendKey) jwks() string {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}}}
	b, _ := json.Marshal(set)
	return string(b)
}

type assertion struct {
	iss, sub string
	aud      string
	exp      time.Duration
	jti      string
	noExp    bool
	alg      jose.SignatureAlgorithm
	key      any
	kid      string
	jku      string
}

var jtiSeq atomic.Int64

func (k backendKey) assert(t *testing.T, clientID, tokenURL string, change ...func(*assertion)) string {
	t.Helper()
	a := assertion{iss: clientID, sub: clientID, aud: tokenURL, exp: 4 * time.Minute,
		jti: fmt.Sprintf("jti-%d", jtiSeq.Add(1)), alg: k.alg, key: k.priv, kid: k.kid}
	for _, c := range change {
		c(&a)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", a.kid)
	if a.jku != "" {
		opts = opts.WithHeader("jku", a.jku)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: a.alg, Key: a.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	claims := josejwt.Claims{Issuer: a.iss, Subject: a.sub, Audience: josejwt.Audience{a.aud}, ID: a.jti}
	if !a.noExp {
		claims.Expiry = josejwt.NewNumericDate(time.Now().Add(a.exp))
	}
	raw, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (e *env) backendClient(k backendKey, jwksURI string) *authz.Client {
	nc := authz.NewClient{Name: "backend", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT,
		Scopes: []string{"system/Patient.rs", "system/Observation.rs"}}
	if jwksURI != "" {
		nc.JWKSURI = jwksURI
	} else {
		nc.JWKS = k.jwks()
	}
	c, _ := e.createClient(nc)
	return c
}

func (e *env) backendToken(assertion string, change ...func(url.Values)) (*http.Response, map[string]any) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	for _, c := range change {
		c(form)
	}
	return e.postForm("/oauth/token", form, "", "")
}

func TestK1_BackendServicesPrivateKeyJWT(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS384, jose.ES384, jose.RS256, jose.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t)
			k := newBackendKey(t, alg)
			c := e.backendClient(k, "")
			resp, m := e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token"))
			if resp.StatusCode != 200 {
				t.Fatalf("K1: %d %v", resp.StatusCode, m)
			}
			if m["scope"] != "system/Patient.rs" || m["token_type"] != "bearer" || m["refresh_token"] != nil {
				t.Errorf("K2/R10: %v", m)
			}
			if exp, _ := m["expires_in"].(float64); exp <= 0 || exp > 300 {
				t.Errorf("K11: expires_in %v", m["expires_in"])
			}
			claims := verifyAccessToken(t, e.base, m["access_token"].(string))
			if claims["sub"] != c.ID || claims["client_id"] != c.ID {
				t.Errorf("backend token claims %v", claims)
			}
			in := e.introspect(m["access_token"].(string))
			if in["active"] != true || in["client_id"] != c.ID {
				t.Errorf("introspection %v", in)
			}
		})
	}
}

func TestK5_AssertionValidation(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.RS384)
	c := e.backendClient(k, "")
	tokenURL := e.base + "/oauth/token"
	other := newBackendKey(t, jose.RS384)
	cases := map[string]func(*assertion){
		"WrongAud":        func(a *assertion) { a.aud = "https://evil.example/token" },
		"IssNotSub":       func(a *assertion) { a.sub = "someone" },
		"UnknownIssuer":   func(a *assertion) { a.iss, a.sub = "nobody", "nobody" },
		"Expired":         func(a *assertion) { a.exp = -10 * time.Minute },
		"ExpTooFar":       func(a *assertion) { a.exp = 10 * time.Minute },
		"NoExp":           func(a *assertion) { a.noExp = true },
		"NoJTI":           func(a *assertion) { a.jti = "" },
		"WrongKey":        func(a *assertion) { a.key = other.priv },
		"UnknownKid":      func(a *assertion) { a.kid = "nope" },
		"K6_ForeignJKU":   func(a *assertion) { a.jku = "https://evil.example/jwks" },
		"K7_HS256":        func(a *assertion) { a.alg, a.key = jose.HS256, []byte("0123456789abcdef0123456789abcdef") },
		"K7_AlgKeyClash":  func(a *assertion) { a.alg = jose.PS384 },
		"OtherListenerOK": nil,
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			if change == nil {
				resp, m := e.backendToken(k.assert(t, c.ID, "https://other.example/oauth/token"))
				if resp.StatusCode != 200 {
					t.Fatalf("assertion for the other listener's token URL: %d %v", resp.StatusCode, m)
				}
				return
			}
			resp, m := e.backendToken(k.assert(t, c.ID, tokenURL, change))
			wantError(t, resp, m, []int{400, 401}, "invalid_client")
		})
	}
}

func TestL3_AssertionReplay(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	a := k.assert(t, c.ID, e.base+"/oauth/token")
	if resp, m := e.backendToken(a); resp.StatusCode != 200 {
		t.Fatalf("first use: %v", m)
	}
	resp, m := e.backendToken(a)
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
}

func TestK3_K4_BadGrantAndAssertionType(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	resp, m := e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token"), func(f url.Values) { f.Set("grant_type", "not_a_grant_type") })
	wantError(t, resp, m, []int{400})
	resp, m = e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token"), func(f url.Values) { f.Set("client_assertion_type", "not_an_assertion_type") })
	wantError(t, resp, m, []int{400, 401})
}

func TestK9_ScopeBeyondRegistration(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	resp, m := e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token"), func(f url.Values) { f.Set("scope", "system/*.cruds") })
	wantError(t, resp, m, []int{400}, "invalid_scope")
}

func TestL2_NoDowngradeFromPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	resp, m := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}}, "", "")
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
	resp, m = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, "guess")
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
	// A secret client cannot pretend to be public either.
	resp, m = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.conf.ID}}, "", "")
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
}

func TestK8_JWKSURIFetchedAndCached(t *testing.T) {
	k := newBackendKey(t, jose.RS384)
	var hits atomic.Int64
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(k.jwks()))
	}))
	defer jwksSrv.Close()
	e := newEnv(t)
	c := e.backendClient(k, jwksSrv.URL+"/jwks")
	for i := 0; i < 3; i++ {
		resp, m := e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token", func(a *assertion) { a.jku = jwksSrv.URL + "/jwks" }))
		if resp.StatusCode != 200 {
			t.Fatalf("jwks_uri client: %d %v", resp.StatusCode, m)
		}
	}
	if hits.Load() != 1 {
		t.Errorf("jwks_uri fetched %d times, want 1 (cached)", hits.Load())
	}
}

func TestK8_JWKSURIPrivateAddressRefused(t *testing.T) {
	k := newBackendKey(t, jose.RS384)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(k.jwks())) }))
	defer jwksSrv.Close()
	e := newEnv(t, func(c *authz.Config) { c.JWKSAllowPrivate = false })
	c := e.backendClient(k, jwksSrv.URL+"/jwks")
	resp, m := e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token"))
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
}

func TestK8_JWKSURISizeCap(t *testing.T) {
	k := newBackendKey(t, jose.RS384)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[],"pad":"`))
		for i := 0; i < 100; i++ {
			w.Write(make([]byte, 1024))
		}
	}))
	defer jwksSrv.Close()
	e := newEnv(t)
	c := e.backendClient(k, jwksSrv.URL+"/jwks")
	resp, m := e.backendToken(k.assert(t, c.ID, e.base+"/oauth/token"))
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
}

func TestD6_PrivateKeyJWTForAuthorizationCode(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c, _ := e.createClient(authz.NewClient{Name: "asym", RedirectURIs: []string{"https://asym.example/cb"}, Scopes: stdScopes,
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: k.jwks()})
	code, v := e.codeFor(c, []string{"openid", "offline_access"})
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {v},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {k.assert(t, c.ID, e.base+"/oauth/token")}}
	resp, m := e.postForm("/oauth/token", form, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("code exchange with private_key_jwt: %d %v", resp.StatusCode, m)
	}
	// R11 / L1: refresh with a fresh assertion.
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {k.assert(t, c.ID, e.base+"/oauth/token")}}
	if resp, m := e.postForm("/oauth/token", form, "", ""); resp.StatusCode != 200 {
		t.Fatalf("refresh with private_key_jwt: %d %v", resp.StatusCode, m)
	}
}

func TestClientSecretPost(t *testing.T) {
	e := newEnv(t)
	code, v := e.codeFor(e.conf, []string{"openid"})
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {e.conf.RedirectURIs[0]}, "code_verifier": {v},
		"client_id": {e.conf.ID}, "client_secret": {e.secret}}
	if resp, m := e.postForm("/oauth/token", form, "", ""); resp.StatusCode != 200 {
		t.Fatalf("client_secret_post: %d %v", resp.StatusCode, m)
	}
}
