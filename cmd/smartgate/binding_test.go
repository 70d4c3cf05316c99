package main

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
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/listener"
)

// Certificate-bound access tokens (RFC 8705 §3) through the whole server
// as serve wires it: the HTTPS listener requests client certificates and
// runs the app's HTTPS wrapper (the clientcert Verifier); the HTTP
// listener never sees one.

// mtlsApp is the app on an HTTPS listener that requests client
// certificates and a plain HTTP one.
type mtlsApp struct {
	t            *testing.T
	secure       *httptest.Server
	plain        *httptest.Server
	https, http  string // base URLs
	createClient func(authz.NewClient) (*authz.Client, string)
}

func newMTLSApp(t *testing.T) *mtlsApp {
	t.Helper()
	m := &mtlsApp{t: t, secure: httptest.NewUnstartedServer(nil), plain: httptest.NewUnstartedServer(nil)}
	m.https = "https://" + m.secure.Listener.Addr().String()
	m.http = "http://" + m.plain.Listener.Addr().String()
	h := &harness{t: t}
	cfg := h.config(t.TempDir(), m.https, m.http)
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	db, err := openSQLiteStore(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, cfg, db, logger, h.env())
	if err != nil {
		t.Fatal(err)
	}
	m.secure.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	m.secure.Config.Handler = listener.Middleware(listener.Info{Name: "https", BaseURL: m.https, Secure: true, Loopback: true}, a.handler)
	m.plain.Config.Handler = listener.Middleware(listener.Info{Name: "http", BaseURL: m.http, Loopback: true}, a.handler)
	m.secure.StartTLS()
	m.plain.Start()
	t.Cleanup(func() {
		m.secure.Close()
		m.plain.Close()
		a.close()
		db.Close()
	})
	m.createClient = func(nc authz.NewClient) (*authz.Client, string) {
		c, secret, err := authz.CreateClient(ctx, db, nc, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c, secret
	}
	return m
}

// bindingCert makes a self-signed client certificate (clientAuth usage)
// that no CA vouches for: a binding needs none.
func bindingCert(t *testing.T, cn string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mtlsAnswer is a response: status, WWW-Authenticate, JSON body.
type mtlsAnswer struct {
	status    int
	challenge string
	body      map[string]any
	raw       string
}

// call sends a request to base+path over the HTTPS listener presenting
// cert (nil: none) or, when base is the HTTP listener's, over plain HTTP.
func (m *mtlsApp) call(base string, cert *tls.Certificate, method, path, bearer string, form url.Values, basic ...string) mtlsAnswer {
	m.t.Helper()
	tr := m.secure.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := c.Do(req)
	if err != nil {
		m.t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := mtlsAnswer{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), raw: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

// TestS13_CertificateBoundTokenOnFHIRAndSCIM: a token bound to a
// certificate works on /fhir and /scim with that certificate, and is
// refused (401, invalid_token; FHIR with an OperationOutcome) without one,
// with another one, and over the HTTP listener; an unbound token needs no
// certificate. Discovery advertises bound tokens and, on the HTTP
// listener, the HTTPS listener's endpoints as mtls_endpoint_aliases.
func TestS13_CertificateBoundTokenOnFHIRAndSCIM(t *testing.T) {
	m := newMTLSApp(t)
	certA, certB := bindingCert(t, "bound backend"), bindingCert(t, "another")
	scopes := []string{"system/Patient.rs", authz.ScopeSCIM}
	bound, boundSecret := m.createClient(authz.NewClient{Name: "bound backend", GrantTypes: []string{"client_credentials"},
		Scopes: scopes, AllowSCIM: true, AllowSystemScopes: true, CertBoundAccessTokens: true})
	unbound, unboundSecret := m.createClient(authz.NewClient{Name: "unbound backend", GrantTypes: []string{"client_credentials"},
		Scopes: scopes, AllowSCIM: true, AllowSystemScopes: true})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(scopes, " ")}}

	if a := m.call(m.https, nil, "POST", "/oauth/token", "", form, bound.ID, boundSecret); a.status != http.StatusBadRequest || a.body["error"] != "invalid_request" {
		t.Errorf("bound client without a certificate: %d %s", a.status, a.raw)
	}
	a := m.call(m.https, certA, "POST", "/oauth/token", "", form, bound.ID, boundSecret)
	tok, _ := a.body["access_token"].(string)
	if a.status != http.StatusOK || tok == "" {
		t.Fatalf("bound client with its certificate: %d %s", a.status, a.raw)
	}
	sum := sha256.Sum256(certA.Certificate[0])
	thumb := base64.RawURLEncoding.EncodeToString(sum[:])
	in := m.call(m.http, nil, "POST", "/oauth/introspect", "", url.Values{"token": {tok}}, bound.ID, boundSecret)
	if cnf, _ := in.body["cnf"].(map[string]any); in.body["active"] != true || cnf["x5t#S256"] != thumb {
		t.Errorf("introspection over HTTP: %s, want active with cnf x5t#S256 %s", in.raw, thumb)
	}

	for _, ep := range []string{"/fhir/Patient", "/scim/v2/Users"} {
		// Twice with the certificate first, so that the refusals below
		// also meet a verification cached by the FHIR endpoint.
		for range 2 {
			if a := m.call(m.https, certA, "GET", ep, tok, nil); a.status != http.StatusOK {
				t.Errorf("%s with the token's certificate: %d %s", ep, a.status, a.raw)
			}
		}
		for _, tc := range []struct {
			name string
			base string
			cert *tls.Certificate
		}{
			{"without a certificate", m.https, nil},
			{"with another certificate", m.https, certB},
			{"over the HTTP listener", m.http, nil},
		} {
			a := m.call(tc.base, tc.cert, "GET", ep, tok, nil)
			if a.status != http.StatusUnauthorized || !strings.Contains(a.challenge, `error="invalid_token"`) {
				t.Errorf("%s %s: %d %q %s, want 401 invalid_token", ep, tc.name, a.status, a.challenge, a.raw)
			}
			if strings.HasPrefix(ep, "/fhir") && a.body["resourceType"] != "OperationOutcome" {
				t.Errorf("%s %s: body %s, want an OperationOutcome", ep, tc.name, a.raw)
			}
		}
	}

	// An unbound client's token (asked for over mTLS all the same) needs
	// no certificate, on either listener.
	a = m.call(m.https, certA, "POST", "/oauth/token", "", form, unbound.ID, unboundSecret)
	plainTok, _ := a.body["access_token"].(string)
	if a.status != http.StatusOK {
		t.Fatalf("unbound client: %d %s", a.status, a.raw)
	}
	for _, ep := range []string{"/fhir/Patient", "/scim/v2/Users"} {
		for _, base := range []string{m.http, m.https} {
			if a := m.call(base, nil, "GET", ep, plainTok, nil); a.status != http.StatusOK {
				t.Errorf("unbound token %s%s without a certificate: %d %s", base, ep, a.status, a.raw)
			}
		}
	}

	for _, path := range []string{"/.well-known/smart-configuration", "/.well-known/openid-configuration"} {
		d := m.call(m.http, nil, "GET", path, "", nil)
		aliases, _ := d.body["mtls_endpoint_aliases"].(map[string]any)
		if d.body["tls_client_certificate_bound_access_tokens"] != true || aliases["token_endpoint"] != m.https+"/oauth/token" ||
			aliases["introspection_endpoint"] != m.https+"/oauth/introspect" || aliases["userinfo_endpoint"] != m.https+"/oauth/userinfo" ||
			aliases["revocation_endpoint"] != m.https+"/oauth/revoke" {
			t.Errorf("%s on the HTTP listener: %s", path, d.raw)
		}
		d = m.call(m.https, nil, "GET", path, "", nil)
		if d.body["tls_client_certificate_bound_access_tokens"] != true || d.body["mtls_endpoint_aliases"] != nil {
			t.Errorf("%s on the HTTPS listener: bound %v, aliases %v", path, d.body["tls_client_certificate_bound_access_tokens"], d.body["mtls_endpoint_aliases"])
		}
	}
}
