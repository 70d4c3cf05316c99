package authz_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/listener"
)

// Certificate-bound access tokens (RFC 8705 §3; checklist S13's optional
// part), over a real HTTPS listener that requests client certificates and
// runs the clientcert Verifier, as cmd/smartgate's does, beside the plain
// HTTP listener of env.

// mtlsEnv is an env whose server also answers on an HTTPS listener
// (Config.MTLSBaseURL) that requests, never requires, a client
// certificate. No client CA and no allow-list: binding needs neither.
type mtlsEnv struct {
	*env
	tlsSrv *httptest.Server
	https  string // the HTTPS listener's base URL
}

func newMTLSEnv(t *testing.T, mod ...func(*authz.Config)) *mtlsEnv {
	t.Helper()
	var inner http.Handler
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.ServeHTTP(w, r) }))
	tlsSrv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	e := newEnv(t, append([]func(*authz.Config){func(c *authz.Config) {
		c.BaseURLs = append(c.BaseURLs, tlsSrv.URL)
		c.FHIRBaseURLs = append(c.FHIRBaseURLs, tlsSrv.URL+"/fhir")
		c.MTLSBaseURL = tlsSrv.URL
	}}, mod...)...)
	v := clientcert.NewVerifier(clientcert.Options{Now: e.clock.Now})
	inner = listener.Middleware(listener.Info{Name: "https", BaseURL: tlsSrv.URL, Secure: true, Loopback: true},
		v.Middleware(e.srv.Config.Handler))
	return &mtlsEnv{env: e, tlsSrv: tlsSrv, https: tlsSrv.URL}
}

// clientCert makes a self-signed client certificate (clientAuth usage).
func clientCert(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// thumbprint is the RFC 8705 §3.1 x5t#S256 of cert, computed here.
func thumbprint(cert tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// via is how a test request reaches the server: over HTTP, or over HTTPS
// with a client certificate or none.
type via struct {
	name string
	c    *http.Client
	base string
}

// over returns the HTTPS listener presenting cert (nil: none).
func (m *mtlsEnv) over(name string, cert *tls.Certificate) via {
	tr := m.tlsSrv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	return via{name: name, c: &http.Client{Transport: tr, Timeout: 10 * time.Second}, base: m.https}
}

// plain is the HTTP listener (which never has a client certificate).
func (m *mtlsEnv) plain() via {
	return via{name: "HTTP listener", c: &http.Client{Timeout: 10 * time.Second}, base: m.base}
}

// do sends a request; form nil is a GET; bearer and basic credentials are
// optional. It returns the response and its JSON body.
func (v via) do(t testing.TB, path string, form url.Values, bearer string, basic ...string) (*http.Response, map[string]any) {
	t.Helper()
	method, body := http.MethodGet, io.Reader(nil)
	if form != nil {
		method, body = http.MethodPost, strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, v.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := v.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", v.name, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: status %d, body is not JSON: %s", v.name, path, resp.StatusCode, b)
		}
	}
	return resp, m
}

// cnfOf returns the x5t#S256 of a JSON object's cnf member, or "".
func cnfOf(m map[string]any) string {
	cnf, _ := m["cnf"].(map[string]any)
	s, _ := cnf["x5t#S256"].(string)
	return s
}

// wantTokenRefused: the token is refused as RFC 6750 invalid_token.
func wantTokenRefused(t testing.TB, what string, resp *http.Response, m map[string]any) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_token" ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("%s: %d %q %v, want 401 invalid_token", what, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), m)
	}
}

// boundCodeClient is a confidential client (client_secret_basic) registered
// for certificate-bound tokens.
func (m *mtlsEnv) boundCodeClient() (*authz.Client, string) {
	return m.createClient(authz.NewClient{Name: "Bound App", RedirectURIs: []string{"https://bound.example/cb"},
		Scopes: stdScopes, CertBoundAccessTokens: true})
}

func codeForm(c *authz.Client, code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}
}

// TestS13_CertificateBoundAuthorizationCode: a bound client's code
// exchange over mutual TLS gives a token bound to that certificate (cnf in
// the JWT and in introspection, token_type Bearer), accepted by userinfo
// and VerifyAccessToken with its certificate only: not without one, not
// with another, never over the HTTP listener.
func TestS13_CertificateBoundAuthorizationCode(t *testing.T) {
	m := newMTLSEnv(t)
	c, secret := m.boundCodeClient()
	certA, certB := clientCert(t, "bound app"), clientCert(t, "another app")
	withA, withB, without := m.over("with its certificate", &certA), m.over("with another certificate", &certB), m.over("without a certificate", nil)

	code, verifier := m.codeFor(c, []string{"openid", "fhirUser", "profile", "offline_access", "patient/*.rs"})
	resp, tok := withA.do(t, "/oauth/token", codeForm(c, code, verifier), "", c.ID, secret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code exchange over mTLS: %d %v", resp.StatusCode, tok)
	}
	if tt, _ := tok["token_type"].(string); !strings.EqualFold(tt, "bearer") {
		t.Errorf("token_type %v, want Bearer (RFC 8705 §3)", tok["token_type"])
	}
	at := tok["access_token"].(string)
	claims := verifyAccessToken(t, m.base, at)
	if got := cnfOf(claims); got != thumbprint(certA) {
		t.Fatalf("access token cnf x5t#S256 = %q, want %q (claims %v)", got, thumbprint(certA), claims)
	}

	// Introspection shows cnf whatever the caller presents (RFC 8705 §3.2).
	for _, v := range []via{m.plain(), withB, without} {
		_, in := v.do(t, "/oauth/introspect", url.Values{"token": {at}}, "", m.conf.ID, m.secret)
		if in["active"] != true || cnfOf(in) != thumbprint(certA) {
			t.Errorf("introspection %s: %v, want active with cnf %s", v.name, in, thumbprint(certA))
		}
	}

	// Userinfo: with its certificate only.
	if resp, ui := withA.do(t, "/oauth/userinfo", nil, at); resp.StatusCode != http.StatusOK || ui["sub"] != "alice-id" {
		t.Errorf("userinfo with the token's certificate: %d %v", resp.StatusCode, ui)
	}
	for _, v := range []via{without, withB, m.plain()} {
		resp, body := v.do(t, "/oauth/userinfo", nil, at)
		wantTokenRefused(t, "userinfo "+v.name, resp, body)
	}

	// VerifyAccessToken (the FHIR and SCIM endpoints' check) reads the
	// request's certificate from the context.
	ctx := context.Background()
	peerOf := func(cert tls.Certificate) context.Context {
		return clientcert.With(ctx, clientcert.NewPeer(cert.Leaf, nil, "tls"))
	}
	if ti, err := m.as.VerifyAccessToken(peerOf(certA), at); err != nil || ti.CertThumbprint != thumbprint(certA) {
		t.Errorf("VerifyAccessToken with its certificate: %+v %v", ti, err)
	}
	for name, ctx := range map[string]context.Context{"no certificate": ctx, "another certificate": peerOf(certB)} {
		if _, err := m.as.VerifyAccessToken(ctx, at); err != authz.ErrInactiveToken {
			t.Errorf("VerifyAccessToken with %s: %v, want ErrInactiveToken", name, err)
		}
	}
}

// TestS13_BoundClientWithoutCertificate: a client registered for bound
// tokens that asks without a client certificate (over the HTTPS listener
// without one, or over the HTTP listener) is refused 400 invalid_request
// and nothing is issued (RFC 8705 §3 leaves this open; an unbound token
// for a client that asked for binding would be the unsafe answer). The
// refusal comes after client authentication, which it needs; the code is
// spent by then (its PKCE record is), and the client authorizes again.
func TestS13_BoundClientWithoutCertificate(t *testing.T) {
	m := newMTLSEnv(t)
	c, secret := m.boundCodeClient()
	certA := clientCert(t, "bound app")
	for _, v := range []via{m.over("HTTPS without a certificate", nil), m.plain()} {
		code, verifier := m.codeFor(c, []string{"openid", "patient/*.rs"})
		resp, body := v.do(t, "/oauth/token", codeForm(c, code, verifier), "", c.ID, secret)
		wantError(t, resp, body, []int{http.StatusBadRequest}, "invalid_request")
		if d, _ := body["error_description"].(string); !strings.Contains(d, "certificate-bound; present its certificate") {
			t.Errorf("%s: error_description %q", v.name, d)
		}
	}
	code, verifier := m.codeFor(c, []string{"openid", "patient/*.rs"})
	if resp, body := m.over("with its certificate", &certA).do(t, "/oauth/token", codeForm(c, code, verifier), "", c.ID, secret); resp.StatusCode != http.StatusOK || cnfOf(verifyAccessToken(t, m.base, body["access_token"].(string))) != thumbprint(certA) {
		t.Fatalf("with the certificate: %d %v", resp.StatusCode, body)
	}
	evs, err := m.db.AuditEvents(context.Background(), audit.Filter{Kind: "token"})
	n := 0
	for _, ev := range evs {
		if ev.Outcome == audit.Denied && ev.ClientID == c.ID && strings.HasPrefix(ev.Detail, "certificate-bound client") {
			n++
		}
	}
	if err != nil || n != 2 {
		t.Errorf("audit records of the refusals: %d %v, want 2", n, err)
	}
}

// TestS13_RefreshKeepsTheBinding: the refreshed tokens of a bound grant
// are bound to the same certificate; a refresh without it is
// invalid_request, with another one invalid_grant, and neither uses the
// refresh token up.
func TestS13_RefreshKeepsTheBinding(t *testing.T) {
	m := newMTLSEnv(t)
	c, secret := m.boundCodeClient()
	certA, certB := clientCert(t, "bound app"), clientCert(t, "another app")
	withA := m.over("with its certificate", &certA)
	code, verifier := m.codeFor(c, []string{"openid", "offline_access", "patient/*.rs"})
	_, tok := withA.do(t, "/oauth/token", codeForm(c, code, verifier), "", c.ID, secret)
	rt, _ := tok["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for _, tc := range []struct {
		v    via
		code string
	}{
		{m.over("HTTPS without a certificate", nil), "invalid_request"},
		{m.plain(), "invalid_request"},
		{m.over("with another certificate", &certB), "invalid_grant"},
	} {
		resp, body := tc.v.do(t, "/oauth/token", refresh, "", c.ID, secret)
		wantError(t, resp, body, []int{http.StatusBadRequest}, tc.code)
	}
	resp, body := withA.do(t, "/oauth/token", refresh, "", c.ID, secret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh with its certificate: %d %v", resp.StatusCode, body)
	}
	at := body["access_token"].(string)
	if got := cnfOf(verifyAccessToken(t, m.base, at)); got != thumbprint(certA) {
		t.Errorf("refreshed access token cnf %q, want %q", got, thumbprint(certA))
	}
	if in := m.introspect(at); cnfOf(in) != thumbprint(certA) {
		t.Errorf("refreshed token's introspection %v", in)
	}
	if in := m.introspect(body["refresh_token"].(string)); in["active"] != true || cnfOf(in) != thumbprint(certA) {
		t.Errorf("new refresh token's introspection %v, want bound to the same certificate", in)
	}
}

// TestS13_CertificateBoundClientCredentials: a bound backend service
// (private_key_jwt) gets a bound stateless token; introspection and
// VerifyAccessToken read the binding from the JWT itself.
func TestS13_CertificateBoundClientCredentials(t *testing.T) {
	m := newMTLSEnv(t)
	k := newBackendKey(t, jose.ES384)
	c, _ := m.createClient(authz.NewClient{Name: "bound backend", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, Scopes: backendScopes, JWKS: k.jwks(), CertBoundAccessTokens: true})
	certA, certB := clientCert(t, "backend"), clientCert(t, "another")
	form := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {k.assert(t, c.ID, m.https+"/oauth/token")}}
	}
	resp, body := m.over("HTTPS without a certificate", nil).do(t, "/oauth/token", form(), "")
	wantError(t, resp, body, []int{http.StatusBadRequest}, "invalid_request")

	resp, body = m.over("with its certificate", &certA).do(t, "/oauth/token", form(), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials over mTLS: %d %v", resp.StatusCode, body)
	}
	at := body["access_token"].(string)
	if got := cnfOf(verifyAccessToken(t, m.base, at)); got != thumbprint(certA) {
		t.Fatalf("backend token cnf %q, want %q", got, thumbprint(certA))
	}
	if in := m.introspect(at); in["active"] != true || cnfOf(in) != thumbprint(certA) {
		t.Errorf("introspection of the bound backend token: %v", in)
	}
	ctx := context.Background()
	if _, err := m.as.VerifyAccessToken(clientcert.With(ctx, clientcert.NewPeer(certA.Leaf, nil, "tls")), at); err != nil {
		t.Errorf("VerifyAccessToken with its certificate: %v", err)
	}
	for name, ctx := range map[string]context.Context{"no certificate": ctx,
		"another certificate": clientcert.With(ctx, clientcert.NewPeer(certB.Leaf, nil, "tls"))} {
		if _, err := m.as.VerifyAccessToken(ctx, at); err != authz.ErrInactiveToken {
			t.Errorf("VerifyAccessToken with %s: %v, want ErrInactiveToken", name, err)
		}
	}
}

// TestS13_UnboundClientOverMTLS: a client not registered for bound tokens
// gets an unbound token even when it presents a certificate, and that
// token works anywhere, with or without one.
func TestS13_UnboundClientOverMTLS(t *testing.T) {
	m := newMTLSEnv(t)
	certA := clientCert(t, "some app")
	code, verifier := m.codeFor(m.conf, []string{"openid", "patient/*.rs"})
	resp, body := m.over("with a certificate", &certA).do(t, "/oauth/token", codeForm(m.conf, code, verifier), "", m.conf.ID, m.secret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code exchange: %d %v", resp.StatusCode, body)
	}
	at := body["access_token"].(string)
	if claims := verifyAccessToken(t, m.base, at); claims["cnf"] != nil {
		t.Errorf("unbound client's token has cnf: %v", claims)
	}
	if in := m.introspect(at); in["cnf"] != nil {
		t.Errorf("unbound token's introspection has cnf: %v", in)
	}
	for _, v := range []via{m.plain(), m.over("HTTPS without a certificate", nil), m.over("with another certificate", ptr(clientCert(t, "x")))} {
		if resp, ui := v.do(t, "/oauth/userinfo", nil, at); resp.StatusCode != http.StatusOK {
			t.Errorf("unbound token, userinfo %s: %d %v", v.name, resp.StatusCode, ui)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestS13_DiscoveryAdvertisesBoundTokens: both discovery documents offer
// tls_client_certificate_bound_access_tokens (RFC 8705 §3.3); served over
// the HTTP listener, whose endpoints never see a certificate, they name
// the HTTPS listener's in mtls_endpoint_aliases (§5); served over the
// HTTPS listener, whose endpoints are the mTLS ones, they name none.
func TestS13_DiscoveryAdvertisesBoundTokens(t *testing.T) {
	m := newMTLSEnv(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/smart-configuration"} {
		_, d := m.plain().do(t, path, nil, "")
		if d["tls_client_certificate_bound_access_tokens"] != true {
			t.Errorf("%s over HTTP: tls_client_certificate_bound_access_tokens %v", path, d["tls_client_certificate_bound_access_tokens"])
		}
		aliases, _ := d["mtls_endpoint_aliases"].(map[string]any)
		for field, p := range map[string]string{"token_endpoint": "/oauth/token", "introspection_endpoint": "/oauth/introspect",
			"revocation_endpoint": "/oauth/revoke", "userinfo_endpoint": "/oauth/userinfo"} {
			if aliases[field] != m.https+p {
				t.Errorf("%s over HTTP: mtls_endpoint_aliases.%s = %v, want %s", path, field, aliases[field], m.https+p)
			}
			if d[field] != m.base+p {
				t.Errorf("%s over HTTP: %s = %v", path, field, d[field])
			}
		}
		_, d = m.over("HTTPS", nil).do(t, path, nil, "")
		if d["tls_client_certificate_bound_access_tokens"] != true || d["mtls_endpoint_aliases"] != nil || d["token_endpoint"] != m.https+"/oauth/token" {
			t.Errorf("%s over HTTPS: bound %v, aliases %v, token_endpoint %v", path, d["tls_client_certificate_bound_access_tokens"],
				d["mtls_endpoint_aliases"], d["token_endpoint"])
		}
	}
	// Without an HTTPS listener nothing is promised.
	e := newEnv(t)
	resp, err := http.Get(e.base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["tls_client_certificate_bound_access_tokens"]; ok {
		t.Errorf("without an HTTPS listener: %v", doc["tls_client_certificate_bound_access_tokens"])
	}
	if _, ok := doc["mtls_endpoint_aliases"]; ok {
		t.Errorf("without an HTTPS listener: aliases %v", doc["mtls_endpoint_aliases"])
	}
}
