package authz_test

// SMART Backend Services (client_credentials + private_key_jwt, checklist
// K1-K13, R10) and asymmetric client authentication on the other endpoints
// (D6, L1-L3, V8, I6/I7). Every assertion is signed with go-jose, the
// server is the real authz over SQLite behind httptest. K14 (the token on
// the FHIR endpoint) is in cmd/smartgate/backend_test.go.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/testclock"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

type backendKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
	kid  string
}

func newBackendKey(t testing.TB, alg jose.SignatureAlgorithm) backendKey {
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

func (k backendKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

func (k backendKey) jwks() string { return jwksOf(k) }

func jwksOf(keys ...backendKey) string {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	b, _ := json.Marshal(set)
	return string(b)
}

// assertion is an RFC 7523 client assertion as SMART describes it
// (client-confidential-asymmetric.html): iss = sub = client_id, aud = token
// URL, exp ≤ 5 min ahead, unique jti, kid and typ=JWT in the header.
type assertion struct {
	iss, sub string
	aud      []string
	exp      time.Duration
	jti      string
	noExp    bool
	alg      jose.SignatureAlgorithm
	key      any
	kid      string
	jku      string
}

var jtiSeq atomic.Int64

func (k backendKey) assert(t testing.TB, clientID, tokenURL string, change ...func(*assertion)) string {
	t.Helper()
	a := assertion{iss: clientID, sub: clientID, aud: []string{tokenURL}, exp: 4 * time.Minute,
		jti: fmt.Sprintf("jti-%d-%d", time.Now().UnixNano(), jtiSeq.Add(1)), alg: k.alg, key: k.priv, kid: k.kid}
	for _, c := range change {
		c(&a)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if a.kid != "" {
		opts = opts.WithHeader("kid", a.kid)
	}
	if a.jku != "" {
		opts = opts.WithHeader("jku", a.jku)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: a.alg, Key: a.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	claims := josejwt.Claims{Issuer: a.iss, Subject: a.sub, Audience: josejwt.Audience(a.aud), ID: a.jti}
	if !a.noExp {
		claims.Expiry = josejwt.NewNumericDate(time.Now().Add(a.exp))
	}
	raw, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsignedAssertion is an alg=none JWT with otherwise perfect claims.
func unsignedAssertion(clientID, kid, tokenURL string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	c, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": tokenURL,
		"exp": time.Now().Add(4 * time.Minute).Unix(), "jti": fmt.Sprintf("none-%d", jtiSeq.Add(1))})
	return enc(h) + "." + enc(c) + "."
}

// hs256WithPublicKey is the classic algorithm-confusion forgery: HS256
// keyed with the client's public key (which anyone can know).
func hs256WithPublicKey(t testing.TB, k backendKey, clientID, tokenURL string) string {
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "kid": k.kid})
	c, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": tokenURL,
		"exp": time.Now().Add(4 * time.Minute).Unix(), "jti": fmt.Sprintf("hs-%d", jtiSeq.Add(1))})
	input := enc(h) + "." + enc(c)
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte(input))
	return input + "." + enc(mac.Sum(nil))
}

// tamper replaces a claim of a validly signed assertion, keeping the
// signature.
func tamper(t testing.TB, raw, claim string, value any) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[claim] = value
	b, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// backendScopes is the ceiling of the backend clients below.
var backendScopes = []string{"system/Patient.rs", "system/Observation.rs"}

func (e *env) backendClient(k backendKey, jwksURI string) *authz.Client {
	e.t.Helper()
	nc := authz.NewClient{Name: "backend", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT,
		Scopes: backendScopes}
	if jwksURI != "" {
		nc.JWKSURI = jwksURI
	} else {
		nc.JWKS = k.jwks()
	}
	c, _ := e.createClient(nc)
	return c
}

func (e *env) tokenURL() string { return e.base + "/oauth/token" }

func (e *env) backendToken(assertion string, change ...func(url.Values)) (*http.Response, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
		"client_assertion_type": {jwtBearer}, "client_assertion": {assertion}}
	for _, c := range change {
		c(form)
	}
	return e.postForm("/oauth/token", form, "", "")
}

// wantInvalidClient asserts an RFC 6749 §5.2 invalid_client answer with an
// error_description (K5, K10).
func wantInvalidClient(t testing.TB, resp *http.Response, m map[string]any) {
	t.Helper()
	wantError(t, resp, m, []int{400, 401}, "invalid_client")
	if d, _ := m["error_description"].(string); d == "" {
		t.Errorf("K10: no error_description in %v", m)
	}
}

func TestK3_InvalidGrantType(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.RS384)
	c := e.backendClient(k, "")
	a := k.assert(t, c.ID, e.tokenURL())
	resp, m := e.backendToken(a, func(f url.Values) { f.Set("grant_type", "not_a_grant_type") })
	wantError(t, resp, m, []int{http.StatusBadRequest}, "unsupported_grant_type")
	// The refused request did not spend the assertion's jti.
	if resp, m := e.backendToken(a); resp.StatusCode != http.StatusOK {
		t.Fatalf("same assertion with client_credentials: %d %v", resp.StatusCode, m)
	}
}

func TestK4_InvalidClientAssertionType(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	for name, change := range map[string]func(url.Values){
		"NotAnAssertionType": func(f url.Values) { f.Set("client_assertion_type", "not_an_assertion_type") },
		"SAMLType": func(f url.Values) {
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		},
		"TypeWithoutJWT": func(f url.Values) { f.Del("client_assertion") },
		"JWTWithoutType": func(f url.Values) { f.Del("client_assertion_type") },
	} {
		t.Run(name, func(t *testing.T) {
			resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()), change)
			wantError(t, resp, m, []int{400, 401}, "invalid_request", "invalid_client")
		})
	}
}

func TestK5_AssertionRules(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.RS384)
	c := e.backendClient(k, "")
	other := e.backendClient(newBackendKey(t, jose.RS384), "")
	otherKeySameKid := newBackendKey(t, jose.RS384)
	replayed := k.assert(t, c.ID, e.tokenURL())
	if resp, m := e.backendToken(replayed); resp.StatusCode != 200 {
		t.Fatalf("first use: %d %v", resp.StatusCode, m)
	}
	valid := func() string { return k.assert(t, c.ID, e.tokenURL()) }
	cases := map[string]struct {
		raw  func() string
		form func(url.Values)
	}{
		"IssNotSub":      {raw: func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.sub = other.ID }) }},
		"SubNotIss":      {raw: func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.iss = other.ID }) }},
		"SubNotClientID": {raw: valid, form: func(f url.Values) { f.Set("client_id", other.ID) }},
		"IssSubOtherClient": {raw: func() string {
			return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.iss, a.sub = other.ID, other.ID })
		}},
		"UnknownClient": {raw: func() string {
			return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.iss, a.sub = "nobody", "nobody" })
		}},
		"AudForeign":         {raw: func() string { return k.assert(t, c.ID, "https://evil.example/oauth/token") }},
		"AudOtherEndpoint":   {raw: func() string { return k.assert(t, c.ID, e.base+"/oauth/introspect") }},
		"NoExp":              {raw: func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.noExp = true }) }},
		"ExpSixMinutesAhead": {raw: func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.exp = 6 * time.Minute }) }},
		"ExpOneHourAhead":    {raw: func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.exp = time.Hour }) }},
		"Expired":            {raw: func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.exp = -2 * time.Minute }) }},
		"NoJTI":              {raw: func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.jti = "" }) }},
		"JTIReplay":          {raw: func() string { return replayed }},
		"SignedByAnotherKey": {raw: func() string {
			return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.key = otherKeySameKid.priv })
		}},
		"TamperedSub": {raw: func() string { return tamper(t, valid(), "sub", other.ID) }},
		"TamperedExp": {raw: func() string {
			return tamper(t, k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.exp = -time.Hour }), "exp", time.Now().Add(time.Minute).Unix())
		}},
		"SignatureCut":    {raw: func() string { r := valid(); return r[:strings.LastIndex(r, ".")+1] }},
		"NotAJWT":         {raw: func() string { return "not-a-jwt" }},
		"EncryptedJWE":    {raw: func() string { return "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d" }},
		"EmptyAssertion":  {raw: func() string { return "" }},
		"TwoSignaturesJS": {raw: func() string { return `{"payload":"e30","signatures":[]}` }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var change []func(url.Values)
			if tc.form != nil {
				change = append(change, tc.form)
			}
			resp, m := e.backendToken(tc.raw(), change...)
			wantInvalidClient(t, resp, m)
		})
	}
	// Accepted: aud naming the token URL of either listener, or an aud
	// array that contains it; exp exactly 5 minutes ahead (Inferno's value).
	for name, raw := range map[string]func() string{
		"AudOtherListener": func() string { return k.assert(t, c.ID, "https://other.example/oauth/token") },
		"AudArray": func() string {
			return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.aud = []string{"https://x.example", e.tokenURL()} })
		},
		"ExpFiveMinutes":   func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.exp = 5 * time.Minute }) },
		"MatchingClientID": valid,
	} {
		t.Run("OK_"+name, func(t *testing.T) {
			resp, m := e.backendToken(raw(), func(f url.Values) {
				if name == "MatchingClientID" {
					f.Set("client_id", c.ID)
				}
			})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %v", resp.StatusCode, m)
			}
		})
	}
}

// signedClaims signs arbitrary claims (aud exactly as given: a string, an
// array, or another JSON value) with k, under its kid and typ=JWT.
func (k backendKey) signedClaims(t testing.TB, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestK5_AssertionAudience: a client assertion's aud may be the token
// endpoint URL (RFC 7523 §3, SMART) or the issuer identifier
// (draft-ietf-oauth-rfc7523bis; openid-client 6.x sends the issuer), as a
// single string or an array containing one of them, compared exactly. The
// other listener's values are accepted too: both listeners are one
// authorization server (one client registry and jti store; a token is
// valid on either FHIR base), as the token URLs always were. Everything
// else of K5 still holds: a replayed jti is refused whatever the aud.
func TestK5_AssertionAudience(t *testing.T) {
	e := newEnv(t) // BaseURLs: e.base (the test server) and https://other.example
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	claims := func(aud any) map[string]any {
		return map[string]any{"iss": c.ID, "sub": c.ID, "aud": aud, "exp": time.Now().Add(4 * time.Minute).Unix(),
			"jti": fmt.Sprintf("aud-%d-%d", time.Now().UnixNano(), jtiSeq.Add(1))}
	}
	for _, tc := range []struct {
		name string
		aud  any
		ok   bool
	}{
		{"TokenURL", e.tokenURL(), true},
		{"Issuer", e.base, true},
		{"ArrayWithTokenURL", []string{"https://x.example", e.tokenURL()}, true},
		{"ArrayWithIssuer", []string{e.base, "https://x.example"}, true},
		{"ArrayOfOneIssuer", []string{e.base}, true},
		{"OtherListenerTokenURL", "https://other.example/oauth/token", true},
		{"OtherListenerIssuer", "https://other.example", true},
		{"ArrayWithNeither", []string{"https://x.example", e.base + "/oauth/authorize"}, false},
		{"EmptyArray", []string{}, false},
		{"WrongString", "https://evil.example", false},
		{"ForeignTokenURL", "https://evil.example/oauth/token", false},
		{"IssuerWithTrailingSlash", e.base + "/", false},
		{"IssuerOtherCase", strings.ToUpper(e.base), false},
		{"IssuerPrefix", e.base + ".evil.example", false},
		{"FHIRBase", e.fhir, false},
		{"IntrospectionURL", e.base + "/oauth/introspect", false},
		{"Empty", "", false},
		{"Number", 42, false},
		{"Object", map[string]string{"aud": e.base}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := k.signedClaims(t, claims(tc.aud))
			resp, m := e.backendToken(raw)
			if !tc.ok {
				wantInvalidClient(t, resp, m)
				return
			}
			if resp.StatusCode != http.StatusOK || m["access_token"] == nil {
				t.Fatalf("status %d %v", resp.StatusCode, m)
			}
			// The same assertion again (same jti): refused.
			resp, m = e.backendToken(raw)
			wantInvalidClient(t, resp, m)
		})
	}
	// A missing aud claim is refused too.
	cl := claims(nil)
	delete(cl, "aud")
	resp, m := e.backendToken(k.signedClaims(t, cl))
	wantInvalidClient(t, resp, m)
}

// jwksServer serves a key set over TLS and counts fetches.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	body atomic.Value // string
	cc   string
}

func newJWKSServer(t testing.TB, tlsOn bool, body, cacheControl string) *jwksServer {
	s := &jwksServer{cc: cacheControl}
	s.body.Store(body)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if s.cc != "" {
			w.Header().Set("Cache-Control", s.cc)
		}
		w.Write([]byte(s.body.Load().(string)))
	})
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if tlsOn {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) url() string { return s.URL + "/jwks.json" }

// trust makes authz trust the TLS test server's certificate.
func trust(s *jwksServer) func(*authz.Config) {
	return func(c *authz.Config) {
		pool := x509.NewCertPool()
		pool.AddCert(s.Certificate())
		c.JWKSRootCAs = pool
	}
}

func TestK6_KeyResolution(t *testing.T) {
	rs := newBackendKey(t, jose.RS384)
	es := newBackendKey(t, jose.ES384)
	es.kid = "es-key"
	rs.kid = "rs-key"
	srv := newJWKSServer(t, true, jwksOf(rs, es), "")
	attacker := newBackendKey(t, jose.ES384)
	attacker.kid = es.kid
	evil := newJWKSServer(t, true, jwksOf(attacker), "")
	e := newEnv(t, trust(srv))
	c := e.backendClient(rs, srv.url())

	ok := func(t *testing.T, raw string) {
		t.Helper()
		if resp, m := e.backendToken(raw); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %v", resp.StatusCode, m)
		}
	}
	t.Run("KidSelectsRSAKey", func(t *testing.T) { ok(t, rs.assert(t, c.ID, e.tokenURL())) })
	t.Run("KidSelectsECKey", func(t *testing.T) { ok(t, es.assert(t, c.ID, e.tokenURL())) })
	t.Run("JKUEqualsRegisteredJWKSURI", func(t *testing.T) {
		ok(t, es.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.jku = srv.url() }))
	})
	// Without a kid the alg still picks exactly one key of this set.
	t.Run("NoKidUniqueByAlg", func(t *testing.T) { ok(t, es.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.kid = "" })) })

	fail := func(t *testing.T, raw string) {
		t.Helper()
		resp, m := e.backendToken(raw)
		wantInvalidClient(t, resp, m)
	}
	t.Run("ForeignJKU", func(t *testing.T) {
		fail(t, attacker.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.jku = evil.url() }))
		if evil.hits.Load() != 0 {
			t.Errorf("the jku URL was fetched %d times", evil.hits.Load())
		}
	})
	t.Run("JKUWithJWKSByValue", func(t *testing.T) {
		byValue := e.backendClient(es, "")
		fail(t, es.assert(t, byValue.ID, e.tokenURL(), func(a *assertion) { a.jku = srv.url() }))
	})
	t.Run("UnknownKid", func(t *testing.T) { fail(t, es.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.kid = "nope" })) })
	t.Run("KidOfKeyOfOtherType", func(t *testing.T) {
		fail(t, es.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.kid = rs.kid }))
	})
	t.Run("NoUniqueMatch", func(t *testing.T) {
		es2 := newBackendKey(t, jose.ES384)
		es2.kid = "es-2"
		two := e.backendClient(es, "")
		two2, _ := e.createClient(authz.NewClient{Name: "two", GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, Scopes: backendScopes, JWKS: jwksOf(es, es2)})
		_ = two
		fail(t, es.assert(t, two2.ID, e.tokenURL(), func(a *assertion) { a.kid = "" }))
		// Two keys under one kid: ambiguous.
		dup := es2
		dup.kid = es.kid
		same, _ := e.createClient(authz.NewClient{Name: "dup", GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, Scopes: backendScopes, JWKS: jwksOf(es, dup)})
		fail(t, es.assert(t, same.ID, e.tokenURL()))
	})
}

func TestK7_SigningAlgorithms(t *testing.T) {
	e := newEnv(t)
	for _, alg := range []jose.SignatureAlgorithm{jose.RS384, jose.ES384, jose.RS256, jose.ES256} {
		t.Run("Accept_"+string(alg), func(t *testing.T) {
			k := newBackendKey(t, alg)
			c := e.backendClient(k, "")
			if resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL())); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %v", resp.StatusCode, m)
			}
		})
	}
	rs := newBackendKey(t, jose.RS384)
	rc := e.backendClient(rs, "")
	es := newBackendKey(t, jose.ES384)
	ec := e.backendClient(es, "")
	for name, raw := range map[string]func() string{
		"None":               func() string { return unsignedAssertion(rc.ID, rs.kid, e.tokenURL()) },
		"HS256WithPublicKey": func() string { return hs256WithPublicKey(t, rs, rc.ID, e.tokenURL()) },
		"HS256WithSharedBytes": func() string {
			return rs.assert(t, rc.ID, e.tokenURL(), func(a *assertion) { a.alg, a.key = jose.HS256, []byte(strings.Repeat("k", 32)) })
		},
		"PS384": func() string { return rs.assert(t, rc.ID, e.tokenURL(), func(a *assertion) { a.alg = jose.PS384 }) },
		// The registered JWK says RS384; RS512 with the same key is refused.
		"RS512": func() string { return rs.assert(t, rc.ID, e.tokenURL(), func(a *assertion) { a.alg = jose.RS512 }) },
		// ES256 (with a P-256 key) under the kid of the registered ES384 key.
		"ES256UnderES384Kid": func() string {
			p256 := newBackendKey(t, jose.ES256)
			return p256.assert(t, ec.ID, e.tokenURL(), func(a *assertion) { a.kid = es.kid })
		},
		"ES384NoAlgRS": func() string { return es.assert(t, rc.ID, e.tokenURL(), func(a *assertion) { a.kid = rs.kid }) },
	} {
		t.Run("Refuse_"+name, func(t *testing.T) {
			resp, m := e.backendToken(raw())
			wantInvalidClient(t, resp, m)
		})
	}
}

func TestK8_JWKSByValueAndByURI(t *testing.T) {
	k := newBackendKey(t, jose.RS384)
	t.Run("ByValue", func(t *testing.T) {
		e := newEnv(t)
		c := e.backendClient(k, "")
		if resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL())); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %v", resp.StatusCode, m)
		}
	})
	t.Run("ByURIOverTLSCached", func(t *testing.T) {
		srv := newJWKSServer(t, true, k.jwks(), "max-age=600")
		e := newEnv(t, trust(srv))
		c := e.backendClient(k, srv.url())
		for i := 0; i < 3; i++ {
			if resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL())); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %v", resp.StatusCode, m)
			}
		}
		if n := srv.hits.Load(); n != 1 {
			t.Errorf("jwks_uri fetched %d times, want 1 (cached)", n)
		}
	})
	t.Run("ByURINoStoreRefetched", func(t *testing.T) {
		srv := newJWKSServer(t, true, k.jwks(), "no-store")
		e := newEnv(t, trust(srv))
		c := e.backendClient(k, srv.url())
		for i := 0; i < 2; i++ {
			if resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL())); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %v", resp.StatusCode, m)
			}
		}
		if n := srv.hits.Load(); n != 2 {
			t.Errorf("Cache-Control: no-store jwks fetched %d times, want 2", n)
		}
	})
	t.Run("RotatedKeyPickedUpByUnknownKid", func(t *testing.T) {
		srv := newJWKSServer(t, true, k.jwks(), "max-age=600")
		clk := testclock.New(time.Time{})
		e := newEnv(t, trust(srv), func(c *authz.Config) { c.Now = clk.Now })
		c := e.backendClient(k, srv.url())
		if resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL())); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %v", resp.StatusCode, m)
		}
		k2 := newBackendKey(t, jose.ES384)
		k2.kid = "rotated"
		srv.body.Store(jwksOf(k, k2))
		clk.Advance(11 * time.Second) // forced refetches are rate-limited to one per 10 s
		if resp, m := e.backendToken(k2.assert(t, c.ID, e.tokenURL())); resp.StatusCode != http.StatusOK {
			t.Fatalf("new kid after rotation: status %d %v", resp.StatusCode, m)
		}
	})
	t.Run("UntrustedCertificateRefused", func(t *testing.T) {
		srv := newJWKSServer(t, true, k.jwks(), "")
		e := newEnv(t) // system roots only
		c := e.backendClient(k, srv.url())
		resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()))
		wantInvalidClient(t, resp, m)
	})
	t.Run("PrivateAddressRefused", func(t *testing.T) {
		srv := newJWKSServer(t, true, k.jwks(), "")
		e := newEnv(t, trust(srv), func(c *authz.Config) { c.JWKSAllowPrivate = false })
		c := e.backendClient(k, srv.url())
		resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()))
		wantInvalidClient(t, resp, m)
		if srv.hits.Load() != 0 {
			t.Error("a loopback jwks_uri was fetched")
		}
	})
	t.Run("PlainHTTPRefused", func(t *testing.T) {
		srv := newJWKSServer(t, false, k.jwks(), "")
		e := newEnv(t, func(c *authz.Config) { c.JWKSAllowPrivate = false })
		c := e.backendClient(k, srv.url())
		resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()))
		wantInvalidClient(t, resp, m)
		if srv.hits.Load() != 0 {
			t.Error("a plain-http jwks_uri was fetched")
		}
	})
	t.Run("SizeCap", func(t *testing.T) {
		srv := newJWKSServer(t, true, `{"keys":[],"pad":"`+strings.Repeat("a", 100<<10)+`"}`, "")
		e := newEnv(t, trust(srv))
		c := e.backendClient(k, srv.url())
		resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()))
		wantInvalidClient(t, resp, m)
	})
}

func TestK10_ErrorsAreRFC6749JSON(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	rfc := []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope"}
	for name, change := range map[string]func(url.Values){
		"UnsupportedGrant": func(f url.Values) { f.Set("grant_type", "not_a_grant_type") },
		"BadAssertionType": func(f url.Values) { f.Set("client_assertion_type", "x") },
		"BadAssertion":     func(f url.Values) { f.Set("client_assertion", "x.y.z") },
		"ForeignAud":       func(f url.Values) { f.Set("client_assertion", k.assert(t, c.ID, "https://evil.example/token")) },
		"ExcessScope":      func(f url.Values) { f.Set("scope", "system/*.cruds") },
		"NoGrantType":      func(f url.Values) { f.Del("grant_type") },
	} {
		t.Run(name, func(t *testing.T) {
			resp, m := e.backendToken(k.assert(t, c.ID, e.tokenURL()), change)
			wantError(t, resp, m, []int{400, 401}, rfc...)
			if d, _ := m["error_description"].(string); d == "" {
				t.Errorf("no error_description: %v", m)
			}
		})
	}
}

func TestK12_DiscoveryAdvertisesBackendServices(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/.well-known/smart-configuration", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(e.base + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var d struct {
				TokenEndpoint    string   `json:"token_endpoint"`
				Grants           []string `json:"grant_types_supported"`
				AuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
				SigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
				RevocationAuth   []string `json:"revocation_endpoint_auth_methods_supported"`
				IntrospectionEnd string   `json:"introspection_endpoint"`
			}
			if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&d) != nil {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if d.TokenEndpoint != e.tokenURL() {
				t.Errorf("token_endpoint %q", d.TokenEndpoint)
			}
			if !slices.Contains(d.Grants, "client_credentials") {
				t.Errorf("grant_types_supported %v", d.Grants)
			}
			if !slices.Contains(d.AuthMethods, "private_key_jwt") {
				t.Errorf("token_endpoint_auth_methods_supported %v", d.AuthMethods)
			}
			if !slices.Contains(d.SigningAlgs, "RS384") || !slices.Contains(d.SigningAlgs, "ES384") {
				t.Errorf("token_endpoint_auth_signing_alg_values_supported %v", d.SigningAlgs)
			}
			for _, a := range d.SigningAlgs {
				if a == "none" || strings.HasPrefix(a, "HS") {
					t.Errorf("advertises %s", a)
				}
			}
		})
	}
}

func TestL3_AssertionReuseOnSecondTokenCall(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	a := k.assert(t, c.ID, e.tokenURL())
	if resp, m := e.backendToken(a); resp.StatusCode != http.StatusOK {
		t.Fatalf("first use: %v", m)
	}
	resp, m := e.backendToken(a)
	wantInvalidClient(t, resp, m)
	// Another assertion with the same jti is a replay too.
	var jti string
	tok, _ := josejwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.ES384})
	var cl josejwt.Claims
	_ = tok.UnsafeClaimsWithoutVerification(&cl)
	jti = cl.ID
	resp, m = e.backendToken(k.assert(t, c.ID, e.tokenURL(), func(x *assertion) { x.jti = jti }))
	wantInvalidClient(t, resp, m)
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
	// Nor authenticate with an assertion signed by whatever key it likes.
	resp, m = e.backendToken(k.assert(t, e.conf.ID, e.tokenURL()))
	wantInvalidClient(t, resp, m)
}

// asymClient is a user-facing confidential client that authenticates with
// private_key_jwt (SMART client-confidential-asymmetric).
func (e *env) asymClient(k backendKey) *authz.Client {
	c, _ := e.createClient(authz.NewClient{Name: "asym", RedirectURIs: []string{"https://asym.example/cb"}, Scopes: stdScopes,
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: k.jwks()})
	return c
}

func TestD6_PrivateKeyJWTForAuthorizationCodeAndRefresh(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS384, jose.ES384} {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t)
			k := newBackendKey(t, alg)
			c := e.asymClient(k)
			code, v := e.codeFor(c, []string{"openid", "offline_access", "patient/*.rs"})
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {v},
				"client_assertion_type": {jwtBearer}, "client_assertion": {k.assert(t, c.ID, e.tokenURL())}}
			resp, m := e.postForm("/oauth/token", form, "", "")
			if resp.StatusCode != 200 {
				t.Fatalf("code exchange with private_key_jwt: %d %v", resp.StatusCode, m)
			}
			if _, ok := m["id_token"]; !ok {
				t.Errorf("no id_token: %v", m)
			}
			form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)},
				"client_assertion_type": {jwtBearer}, "client_assertion": {k.assert(t, c.ID, e.tokenURL())}}
			if resp, m := e.postForm("/oauth/token", form, "", ""); resp.StatusCode != 200 || m["access_token"] == nil {
				t.Fatalf("refresh with private_key_jwt: %d %v", resp.StatusCode, m)
			}
		})
	}
}

// TestL1_AssertionRulesOnCodeAndRefresh: the K5-K7 rules hold on the
// authorization_code and refresh_token grants, and a failed client
// authentication leaves the code and the refresh token usable.
func TestL1_AssertionRulesOnCodeAndRefresh(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.asymClient(k)
	other := newBackendKey(t, jose.ES384)
	bad := map[string]func() string{
		"WrongAud":  func() string { return k.assert(t, c.ID, "https://evil.example/oauth/token") },
		"Expired":   func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.exp = -2 * time.Minute }) },
		"TooLong":   func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.exp = 30 * time.Minute }) },
		"OtherKey":  func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.key = other.priv }) },
		"IssNotSub": func() string { return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.sub = "x" }) },
		"None":      func() string { return unsignedAssertion(c.ID, k.kid, e.tokenURL()) },
		"JKU": func() string {
			return k.assert(t, c.ID, e.tokenURL(), func(a *assertion) { a.jku = "https://evil.example/jwks" })
		},
	}
	code, v := e.codeFor(c, []string{"openid", "offline_access"})
	codeForm := func(a string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {v},
			"client_assertion_type": {jwtBearer}, "client_assertion": {a}}
	}
	for name, raw := range bad {
		t.Run("Code_"+name, func(t *testing.T) {
			resp, m := e.postForm("/oauth/token", codeForm(raw()), "", "")
			wantInvalidClient(t, resp, m)
		})
	}
	used := k.assert(t, c.ID, e.tokenURL())
	resp, m := e.postForm("/oauth/token", codeForm(used), "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("code exchange after refused attempts: %d %v", resp.StatusCode, m)
	}
	rt := m["refresh_token"].(string)
	refreshForm := func(a string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_assertion_type": {jwtBearer}, "client_assertion": {a}}
	}
	bad["ReplayOfCodeAssertion"] = func() string { return used }
	for name, raw := range bad {
		t.Run("Refresh_"+name, func(t *testing.T) {
			resp, m := e.postForm("/oauth/token", refreshForm(raw()), "", "")
			wantInvalidClient(t, resp, m)
		})
	}
	if resp, m := e.postForm("/oauth/token", refreshForm(k.assert(t, c.ID, e.tokenURL())), "", ""); resp.StatusCode != 200 {
		t.Fatalf("refresh after refused attempts: %d %v", resp.StatusCode, m)
	}
}

// TestV8_RevocationAcceptsTokenEndpointAuthMethods: Basic, post and
// private_key_jwt, as at the token endpoint (and as discovery says).
func TestV8_RevocationAcceptsTokenEndpointAuthMethods(t *testing.T) {
	e := newEnv(t)
	t.Run("PrivateKeyJWT", func(t *testing.T) {
		k := newBackendKey(t, jose.RS384)
		c := e.backendClient(k, "")
		_, tok := e.backendToken(k.assert(t, c.ID, e.tokenURL()))
		at := tok["access_token"].(string)
		a := k.assert(t, c.ID, e.tokenURL())
		// A revocation request must name the token endpoint as aud too
		// (RFC 7523 §3: the authorization server's token endpoint URL).
		resp, m := e.postForm("/oauth/revoke", url.Values{"token": {at}, "client_assertion_type": {jwtBearer},
			"client_assertion": {k.assert(t, c.ID, "https://evil.example/oauth/token")}}, "", "")
		wantInvalidClient(t, resp, m)
		if in := e.introspect(at); in["active"] != true {
			t.Fatal("unauthenticated revocation took effect")
		}
		resp, m = e.postForm("/oauth/revoke", url.Values{"token": {at}, "client_assertion_type": {jwtBearer}, "client_assertion": {a}}, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke with private_key_jwt: %d %v", resp.StatusCode, m)
		}
		if in := e.introspect(at); in["active"] != false {
			t.Errorf("token still active after revocation: %v", in)
		}
		// The assertion is spent.
		resp, m = e.postForm("/oauth/revoke", url.Values{"token": {at}, "client_assertion_type": {jwtBearer}, "client_assertion": {a}}, "", "")
		wantInvalidClient(t, resp, m)
	})
	t.Run("ClientSecretPost", func(t *testing.T) {
		at := e.tokens("openid")["access_token"].(string)
		resp, m := e.postForm("/oauth/revoke", url.Values{"token": {at}, "client_id": {e.conf.ID}, "client_secret": {e.secret}}, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke with client_secret_post: %d %v", resp.StatusCode, m)
		}
		if in := e.introspect(at); in["active"] != false {
			t.Errorf("token still active: %v", in)
		}
	})
	t.Run("ClientSecretBasic", func(t *testing.T) {
		at := e.tokens("openid")["access_token"].(string)
		if resp, m := e.postForm("/oauth/revoke", url.Values{"token": {at}}, e.conf.ID, e.secret); resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke with client_secret_basic: %d %v", resp.StatusCode, m)
		}
	})
}

// TestI6_I7_IntrospectionAuthorization: a private_key_jwt client (or a
// backend token) may introspect; a caller without valid authorization gets
// 401, never a 200 with active=false.
func TestI6_I7_IntrospectionAuthorization(t *testing.T) {
	e := newEnv(t)
	k := newBackendKey(t, jose.ES384)
	c := e.backendClient(k, "")
	_, tok := e.backendToken(k.assert(t, c.ID, e.tokenURL()))
	at := tok["access_token"].(string)
	introspect := func(a string) (*http.Response, map[string]any) {
		return e.postForm("/oauth/introspect", url.Values{"token": {at}, "client_assertion_type": {jwtBearer}, "client_assertion": {a}}, "", "")
	}
	a := k.assert(t, c.ID, e.tokenURL())
	resp, m := introspect(a)
	if resp.StatusCode != http.StatusOK || m["active"] != true || m["client_id"] != c.ID || m["scope"] != "system/Patient.rs" {
		t.Fatalf("I6: introspection with private_key_jwt: %d %v", resp.StatusCode, m)
	}
	for name, raw := range map[string]string{
		"Replay":     a,
		"WrongKey":   k.assert(t, c.ID, e.tokenURL(), func(x *assertion) { x.key = newBackendKey(t, jose.ES384).priv }),
		"NoneAlg":    unsignedAssertion(c.ID, k.kid, e.tokenURL()),
		"ForeignAud": k.assert(t, c.ID, "https://evil.example/oauth/token"),
	} {
		t.Run(name, func(t *testing.T) {
			resp, m := introspect(raw)
			if resp.StatusCode != http.StatusUnauthorized || m["active"] != nil {
				t.Fatalf("I7: status %d %v, want 401 without active", resp.StatusCode, m)
			}
		})
	}
	// The backend token itself authorises a resource server (I6).
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/introspect", strings.NewReader(url.Values{"token": {at}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+at)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	json.NewDecoder(r.Body).Decode(&in)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || in["active"] != true {
		t.Fatalf("I6: bearer-authorised introspection: %d %v", r.StatusCode, in)
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
