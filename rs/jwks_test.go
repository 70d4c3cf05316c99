package rs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/rs"
)

const testAudience = "https://api.example/fhir"

// clock is a settable clock for the key cache (tokens are minted on the
// real clock; the tests move this one by minutes at most).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newJWKS(t testing.TB, is *testIssuer, mod func(*rs.JWKSOptions)) *rs.JWKS {
	t.Helper()
	opts := rs.JWKSOptions{Issuer: is.srv.URL, Audience: testAudience, HTTPClient: is.srv.Client()}
	if mod != nil {
		mod(&opts)
	}
	v, err := rs.NewJWKS(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// TestJWKSVerify: the RFC 9068 checks of a JWT access token, each
// refused as ErrInvalidToken; the valid one gives its claims.
func TestJWKSVerify(t *testing.T) {
	is := newIssuer(t)
	v := newJWKS(t, is, nil)
	untyped := newJWKS(t, is, func(o *rs.JWKSOptions) { o.AllowUntyped = true })
	good := is.claims(testAudience)
	now := time.Now()
	foreign, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(is.key.Public())
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(good)
	valid := is.sign(good, nil)
	parts := strings.Split(valid, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 0xff

	for _, tc := range []struct {
		name     string
		token    string
		verifier *rs.JWKS
		ok       bool
	}{
		{"valid", valid, v, true},
		{"aud array with ours", is.sign(with(good, "aud", []string{"https://other.example", testAudience}), nil), v, true},
		{"scp array", is.sign(with(good, "scope", nil, "scp", []string{"patient/Observation.rs"}), nil), v, true},
		{"another audience", is.sign(with(good, "aud", "https://other.example/fhir"), nil), v, false},
		{"no audience", is.sign(with(good, "aud", nil), nil), v, false},
		{"another issuer", is.sign(with(good, "iss", "https://evil.example"), nil), v, false},
		{"expired", is.sign(with(good, "exp", now.Add(-time.Hour).Unix()), nil), v, false},
		{"no exp", is.sign(with(good, "exp", nil), nil), v, false},
		{"exp not a number", is.sign(with(good, "exp", "tomorrow"), nil), v, false},
		{"not yet valid", is.sign(with(good, "nbf", now.Add(time.Hour).Unix()), nil), v, false},
		{"issued in the future", is.sign(with(good, "iat", now.Add(time.Hour).Unix()), nil), v, false},
		{"scope not a string", is.sign(with(good, "scope", []string{"a"}), nil), v, false},
		{"typ JWT", is.sign(good, map[jose.HeaderKey]any{"typ": "JWT"}), v, false},
		{"typ JWT, untyped allowed", is.sign(good, map[jose.HeaderKey]any{"typ": "JWT"}), untyped, true},
		{"typ of an ID token's kind", is.sign(good, map[jose.HeaderKey]any{"typ": "id_token+jwt"}), untyped, false},
		{"alg none", enc([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+is.kid+`"}`)) + "." + enc(payload) + ".", v, false},
		{"HS256 keyed with the public key", hs256(t, pub, is.kid, good), v, false},
		{"bad signature", parts[0] + "." + parts[1] + "." + enc(sig), v, false},
		{"foreign key with our kid", signWith(t, jose.ES256, foreign, is.kid, good, nil), v, false},
		{"not a JWT", "opaque-token", v, false},
		{"empty", "", v, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.verifier.Verify(context.Background(), tc.token)
			if !tc.ok {
				if !errors.Is(err, rs.ErrInvalidToken) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", c, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "u-1" || c.ClientID != "app" || c.Issuer != is.srv.URL || c.JTI != "j1" ||
				c.Patient != "p1" || c.FHIRUser != "Practitioner/d1" || c.Expiry.Unix() != good["exp"] {
				t.Errorf("claims %+v", c)
			}
			if !c.HasScope("patient/Observation.rs") {
				t.Errorf("scopes %s do not grant patient/Observation.rs", c.Scopes)
			}
		})
	}
}

func hs256(t *testing.T, secret []byte, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, _ := s.Sign(b)
	out, _ := jws.CompactSerialize()
	return out
}

// TestJWKSKeyCache: keys are fetched once and reused; a rotated key (new
// kid) is fetched on first sight, but made-up key ids refetch at most once
// per MinRefresh; stale keys are fetched again after KeysTTL; an issuer
// whose discovery names another issuer is refused.
func TestJWKSKeyCache(t *testing.T) {
	is := newIssuer(t)
	clk := newClock()
	v := newJWKS(t, is, func(o *rs.JWKSOptions) { o.Now = clk.Now })
	good := is.claims(testAudience)
	verify := func(tok string) error { _, err := v.Verify(context.Background(), tok); return err }
	for range 3 {
		if err := verify(is.sign(good, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d key fetches for three tokens, want 1", n)
	}
	for i := range 20 {
		tok := is.sign(good, map[jose.HeaderKey]any{"kid": "made-up-" + string(rune('a'+i))})
		if err := verify(tok); !errors.Is(err, rs.ErrInvalidToken) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d key fetches after unknown key ids within MinRefresh, want 1", n)
	}
	clk.advance(11 * time.Second)
	is.rotate()
	if err := verify(is.sign(good, nil)); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("%d key fetches after a rotation, want 2", n)
	}
	clk.advance(6 * time.Minute)
	if err := verify(is.sign(good, nil)); err != nil {
		t.Fatal(err)
	}
	if n := is.fetches.Load(); n != 3 {
		t.Fatalf("%d key fetches after KeysTTL, want 3", n)
	}

	other := newIssuer(t)
	// Issuer with a trailing slash: the discovery document (at the same
	// place) names the issuer without it (OpenID Discovery §4.3).
	wrong := newJWKS(t, other, func(o *rs.JWKSOptions) { o.Issuer = other.srv.URL + "/" })
	if _, err := wrong.Verify(context.Background(), other.sign(with(other.claims(testAudience), "iss", other.srv.URL+"/"), nil)); err == nil || errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("discovery naming another issuer: %v, want a discovery error", err)
	} else if !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("discovery error %v does not name the issuer mismatch", err)
	}
}

// TestNewJWKSRefusesWeakAlgorithms: none and HMAC cannot be configured.
func TestNewJWKSRefusesWeakAlgorithms(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{"none", jose.HS256} {
		if _, err := rs.NewJWKS(rs.JWKSOptions{Issuer: "https://as.example", Audience: testAudience, Algorithms: []jose.SignatureAlgorithm{alg}}); err == nil {
			t.Errorf("NewJWKS accepted %s", alg)
		}
	}
	if _, err := rs.NewJWKS(rs.JWKSOptions{Issuer: "https://as.example"}); err == nil {
		t.Error("NewJWKS without Audience")
	}
}

// TestClaimsHasScope: SMART 1 and 2 spellings compared by meaning.
func TestClaimsHasScope(t *testing.T) {
	ss, _ := smart.ParseScopes("patient/Observation.read user/*.rs patient/Condition.rs?category=problem-list-item openid")
	c := &rs.Claims{Scopes: ss}
	for scope, want := range map[string]bool{
		"patient/Observation.rs":   true,
		"patient/Observation.r":    true,
		"patient/Observation.read": true,
		"patient/Observation.c":    false,
		"user/Encounter.read":      true,
		"patient/Encounter.rs":     false, // user/ does not cover patient/
		"patient/Condition.rs":     false, // the granular scope is narrower
		"openid":                   true,
		"fhirUser":                 false,
		"not a scope":              false,
	} {
		if got := c.HasScope(scope); got != want {
			t.Errorf("HasScope(%q) = %v, want %v", scope, got, want)
		}
	}
}
