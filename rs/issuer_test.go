package rs_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testIssuer is an authorization server's public side on a real loopback
// listener: OpenID discovery and a JWKS that can rotate, with a count of
// key fetches; it signs access tokens with its current key.
type testIssuer struct {
	t       testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	key     *ecdsa.PrivateKey
	kid     string
	old     []jose.JSONWebKey // keys still published after a rotation
	fetches atomic.Int32
}

func newIssuer(t testing.TB) *testIssuer {
	t.Helper()
	is := &testIssuer{t: t}
	is.rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey{{Key: is.key.Public(), KeyID: is.kid, Algorithm: "ES256", Use: "sig"}}, is.old...)}
		is.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// rotate makes a new signing key; the previous one stays published.
func (is *testIssuer) rotate() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		is.t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.key != nil {
		is.old = append(is.old, jose.JSONWebKey{Key: is.key.Public(), KeyID: is.kid, Algorithm: "ES256", Use: "sig"})
	}
	is.key, is.kid = key, "k"+time.Now().Format("150405.000000000")
}

// claims are a valid access token's claims for audience aud.
func (is *testIssuer) claims(aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": is.srv.URL, "sub": "u-1", "aud": aud, "client_id": "app",
		"scope": "launch/patient patient/Observation.read user/Patient.rs", "patient": "p1", "fhirUser": "Practitioner/d1",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "j1"}
}

// sign signs claims with the issuer's current key, typ at+jwt unless
// header says otherwise.
func (is *testIssuer) sign(claims map[string]any, header map[jose.HeaderKey]any) string {
	is.mu.Lock()
	key, kid := is.key, is.kid
	is.mu.Unlock()
	return signWith(is.t, jose.ES256, key, kid, claims, header)
}

func signWith(t testing.TB, alg jose.SignatureAlgorithm, key crypto.Signer, kid string, claims map[string]any, header map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid)
	for k, v := range header {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
