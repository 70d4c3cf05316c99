package main

// The gateway over TLS (issue 14): certificate-bound access tokens
// (RFC 8705) of another issuer are accepted only with their certificate.
// The issuer is a loopback JWKS server that signs its own tokens.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/fhir"
)

// jwtIssuer is an authorization server reduced to its discovery document,
// its keys and a token signer.
type jwtIssuer struct {
	url string
	key *ecdsa.PrivateKey
}

func newJWTIssuer(t *testing.T) *jwtIssuer {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss := &jwtIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": iss.url, "jwks_uri": iss.url + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.url = srv.URL
	return iss
}

func (iss *jwtIssuer) token(t *testing.T, aud string, extra map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: iss.key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"iss": iss.url, "aud": aud, "sub": "svc", "client_id": "svc", "scope": "system/*.rs",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "jti": time.Now().String()}
	for k, v := range extra {
		claims[k] = v
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func TestIssue14GatewayCertificateBoundTokens(t *testing.T) {
	dir := t.TempDir()
	iss := newJWTIssuer(t)
	certFile, keyFile := makeCert(t, dir, "gateway")
	aud := "https://127.0.0.1:8090/fhir"
	g := &gatewayConfig{upstream: startUpstreamFHIR(t), issuer: iss.url, listen: "127.0.0.1:0", audience: aud,
		tlsCert: certFile, tlsKey: keyFile, upstreamTimeout: 30 * time.Second, maxBodyBytes: fhir.DefaultMaxBodyBytes,
		metricsAllow: "127.0.0.1/32"}
	if err := g.validate(&env{getenv: func(string) string { return "" }}); err != nil {
		t.Fatal(err)
	}
	h, err := newGateway(context.Background(), g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	ca, caKey, _ := makeCA(t, dir)
	certA, certB := clientCert(t, ca, caKey), clientCert(t, ca, caKey)
	leafA, _ := x509.ParseCertificate(certA.Certificate[0])
	bound := iss.token(t, aud, map[string]any{"cnf": map[string]any{"x5t#S256": clientcert.Thumbprint(leafA)}})
	unbound := iss.token(t, aud, nil)
	otherAud := iss.token(t, "https://elsewhere.example/fhir", nil)

	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, Certificates: certs}}}
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		token  string
		want   int
	}{
		{"bound token with its certificate", clientWith(certA), bound, http.StatusOK},
		{"bound token without a certificate", clientWith(), bound, http.StatusUnauthorized},
		{"bound token with another certificate", clientWith(certB), bound, http.StatusUnauthorized},
		{"unbound token without a certificate", clientWith(), unbound, http.StatusOK},
		{"token for another audience", clientWith(certA), otherAud, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/fhir/Patient?_count=1", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			resp, err := tc.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%d, want %d (WWW-Authenticate %q)", resp.StatusCode, tc.want, resp.Header.Get("Www-Authenticate"))
			}
		})
	}
}
