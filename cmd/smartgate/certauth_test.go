package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store/sqlite"
)

// certServer is the whole server (newApp) behind a real TLS listener on
// 127.0.0.1 that requests client certificates and runs the Verifier, as
// serve's HTTPS listener does (the Verifier runs inside newApp's handler).
type certServer struct {
	t      *testing.T
	db     *sqlite.DB
	app    *app
	base   string
	policy clientcert.Policy
	// clients: no certificate, an unknown one, a trusted one (from
	// --client-ca).
	none, unknown, trusted *http.Client
	trustedCert            *x509.Certificate
	clientID               string // the trusted certificate's registered client
	adminID                string
	accessToken            string // the administrator's OWin token
}

func newCertServer(t *testing.T, policy string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, caFile string, unknown tls.Certificate) *certServer {
	t.Helper()
	dir := t.TempDir()
	ln := httptest.NewUnstartedServer(nil)
	base := "https://" + ln.Listener.Addr().String()
	cfg, _, err := config.Load("serve", []string{"--data", dir, "--https-addr", strings.TrimPrefix(base, "https://"),
		"--https-url", base, "--http-addr", "", "--client-ca", caFile, "--client-cert-policy", policy},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	db, err := openSQLiteStore(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		if k == "SMARTGATE_ADMIN_PASSWORD" {
			return adminPassword
		}
		return ""
	}}
	a, err := newApp(ctx, cfg, db, logger, e)
	if err != nil {
		t.Fatal(err)
	}
	ln.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	ln.Config.Handler = listener.Middleware(listener.Info{Name: "https", BaseURL: base, Secure: true, Loopback: true}, a.handler)
	ln.StartTLS()
	t.Cleanup(func() {
		ln.Close()
		a.close()
		db.Close()
	})
	s := &certServer{t: t, db: db, app: a, base: base, policy: cfg.CertPolicy()}
	client := func(certs ...tls.Certificate) *http.Client {
		tr := ln.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = certs
		return &http.Client{Transport: tr, Timeout: 20 * time.Second}
	}
	trusted := clientCert(t, ca, caKey)
	s.none, s.unknown, s.trusted = client(), client(unknown), client(trusted)
	if s.trustedCert, err = x509.ParseCertificate(trusted.Certificate[0]); err != nil {
		t.Fatal(err)
	}
	// The trusted certificate's client, registered for tls_client_auth by
	// its subject DN with the scopes an administrator granted it (stored
	// directly, as an administrator's registration would).
	c := &authz.Client{ID: "lab-system", Name: "Lab system", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"system/*.rs"}, TokenEndpointAuthMethod: authz.AuthTLSClientAuth,
		TLSClientAuth: authz.TLSClientAuth{SubjectDN: s.trustedCert.Subject.String()}, CreatedAt: time.Now()}
	c.SetCeiling()
	if err := db.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	s.clientID = c.ID
	if !s.clientFound() {
		t.Fatal("the trusted certificate does not authenticate its registered client (ClientOfCertificate)")
	}
	admin, err := db.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	s.adminID = admin.ID
	s.accessToken = s.owinToken()
	return s
}

// owinToken is the administrator's OWin token from the token endpoint
// (which the policy does not cover).
func (s *certServer) owinToken() string {
	s.t.Helper()
	resp, err := s.none.PostForm(s.base+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}})
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		s.t.Fatalf("OWin token: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// idToken is an ID token of this server (signed with its RS256 key) for
// the certificate's client, naming the administrator.
func (s *certServer) idToken(aud string) string {
	s.t.Helper()
	keys, err := s.db.SigningKeys(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	for _, k := range keys {
		if k.Alg != authz.AlgIDToken || !k.RetiredAt.IsZero() {
			continue
		}
		priv, err := x509.ParsePKCS8PrivateKey(k.PrivateDER)
		if err != nil {
			s.t.Fatal(err)
		}
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: priv},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.ID))
		if err != nil {
			s.t.Fatal(err)
		}
		now := time.Now()
		tok, err := josejwt.Signed(sig).Claims(map[string]any{"iss": s.base, "sub": s.adminID, "aud": aud,
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix()}).Serialize()
		if err != nil {
			s.t.Fatal(err)
		}
		return tok
	}
	s.t.Fatal("no RS256 key")
	return ""
}

// algNone is an unsigned ID token naming the administrator (refused
// whatever it says).
func (s *certServer) algNone() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc(fmt.Appendf(nil, `{"iss":%q,"sub":%q,"aud":%q,"exp":%d}`, s.base, s.adminID, s.clientID, time.Now().Add(time.Hour).Unix())) + "."
}

// clientFound reports whether the trusted certificate authenticates its
// registered client yet (authz.Server.ClientOfCertificate).
func (s *certServer) clientFound() bool {
	c, err := s.app.authz.ClientOfCertificate(context.Background(), s.trustedCert, true)
	return err == nil && c != nil && c.ID == s.clientID
}

type answer struct {
	status int
	www    string
	body   map[string]any
	raw    string
}

func (s *certServer) get(c *http.Client, path, token string) answer {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, www: resp.Header.Get("WWW-Authenticate"), raw: string(b)}
	json.Unmarshal(b, &a.body)
	return a
}

// expect is what one request should get: status, a WWW-Authenticate
// prefix ("" none), and the body's kind (FHIR resourceType or the SCIM
// error schema).
type expect struct {
	status int
	www    string
	body   string
}

const scimError = "urn:ietf:params:scim:api:messages:2.0:Error"

func (s *certServer) check(name string, c *http.Client, path, token string, want expect) {
	s.t.Helper()
	got := s.get(c, path, token)
	kind, _ := got.body["resourceType"].(string)
	if schemas, ok := got.body["schemas"].([]any); ok && len(schemas) > 0 && kind == "" {
		kind, _ = schemas[0].(string)
	}
	if got.status != want.status || !strings.HasPrefix(got.www, want.www) || (want.www == "" && got.www != "") || kind != want.body {
		s.t.Errorf("%s: %s %s: %d %q %s; want %d, WWW-Authenticate %q…, %s",
			s.policy, name, path, got.status, got.www, strings.TrimSpace(got.raw)[:min(len(strings.TrimSpace(got.raw)), 300)], want.status, want.www, want.body)
	}
}

// The answers of the rules.
var (
	rejectRequest = `Bearer realm="smartgate", error="invalid_request"`
	rejectToken   = `Bearer realm="smartgate", error="invalid_token"`
)

// TestS13_PolicyMatrix runs every case of --client-cert-policy × reject,
// limit and allow on a real TLS listener (one server per uniform policy,
// plus one with a different action per case): /fhir/Organization (a type
// the anonymous account may read), /fhir/Patient (one it may not: Patient
// is in the compartment), /scim/v2/Users; and /fhir/metadata and the SMART
// discovery stay open under reject (A13). Checklist S13.
func TestS13_PolicyMatrix(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caFile := makeCA(t, dir)
	otherCA, otherKey, _ := makeCA(t, t.TempDir())
	unknown := clientCert(t, otherCA, otherKey)
	for _, policy := range []string{"reject", "limit", "allow", "no_certificate=limit,unknown_certificate=reject,no_jwt=allow,bad_jwt=reject"} {
		t.Run(policy, func(t *testing.T) {
			s := newCertServer(t, policy, ca, caKey, caFile, unknown)
			s.matrix()
		})
	}
}

func (s *certServer) matrix() {
	t := s.t
	fhirOK := expect{200, "", "Bundle"}
	fhirForbidden := expect{403, `Bearer realm="fhir", error="insufficient_scope"`, "OperationOutcome"}
	scimForbidden := expect{403, "", scimError}
	// The certificate cases: no certificate, an unknown one.
	for _, cc := range []struct {
		c      clientcert.Case
		client *http.Client
	}{{clientcert.NoCertificate, s.none}, {clientcert.UnknownCertificate, s.unknown}} {
		name := string(cc.c)
		switch s.policy.For(cc.c) {
		case clientcert.Reject:
			// Mandatory: refused whatever else the request carries.
			for _, tok := range []string{"", s.accessToken} {
				s.check(name, cc.client, "/fhir/Organization", tok, expect{401, rejectRequest, "OperationOutcome"})
				s.check(name, cc.client, "/fhir/Patient", tok, expect{401, rejectRequest, "OperationOutcome"})
				s.check(name, cc.client, "/scim/v2/Users", tok, expect{401, rejectRequest, scimError})
			}
		case clientcert.Limit:
			// Served as the anonymous account: read and search outside
			// every patient's compartment, no SCIM.
			s.check(name, cc.client, "/fhir/Organization", "", fhirOK)
			s.check(name, cc.client, "/fhir/Patient", "", fhirForbidden)
			s.check(name, cc.client, "/scim/v2/Users", "", scimForbidden)
			// A valid access token still decides; a bad one is 401.
			s.check(name, cc.client, "/fhir/Patient", s.accessToken, fhirOK)
			s.check(name, cc.client, "/scim/v2/Users", s.accessToken, expect{200, "", "urn:ietf:params:scim:api:messages:2.0:ListResponse"})
			s.check(name, cc.client, "/fhir/Organization", "garbage", expect{401, `Bearer realm="fhir", error="invalid_token"`, "OperationOutcome"})
		case clientcert.Allow:
			s.check(name, cc.client, "/fhir/Organization", "", expect{401, `Bearer realm="fhir"`, "OperationOutcome"})
			s.check(name, cc.client, "/scim/v2/Users", "", expect{401, `Bearer realm="scim"`, scimError})
			s.check(name, cc.client, "/fhir/Patient", s.accessToken, fhirOK)
			// An ID token is no credential without a trusted certificate.
			s.check(name, cc.client, "/fhir/Patient", s.idToken(s.clientID), expect{401, `Bearer realm="fhir", error="invalid_token"`, "OperationOutcome"})
		}
	}
	// no_jwt: a trusted certificate, no Authorization.
	switch s.policy.For(clientcert.NoJWT) {
	case clientcert.Reject:
		s.check("no_jwt", s.trusted, "/fhir/Organization", "", expect{401, rejectRequest, "OperationOutcome"})
		s.check("no_jwt", s.trusted, "/scim/v2/Users", "", expect{401, rejectRequest, scimError})
	case clientcert.Limit:
		s.check("no_jwt", s.trusted, "/fhir/Organization", "", fhirOK)
		s.check("no_jwt", s.trusted, "/fhir/Patient", "", fhirForbidden)
		s.check("no_jwt", s.trusted, "/scim/v2/Users", "", scimForbidden)
	case clientcert.Allow:
		// The certificate acts as its client (system/*.rs), which may not
		// use SCIM.
		s.check("no_jwt", s.trusted, "/fhir/Patient", "", fhirOK)
		s.check("no_jwt", s.trusted, "/scim/v2/Users", "", scimForbidden)
	}
	// A valid access token beside a trusted certificate decides, whatever
	// the policy.
	s.check("access token", s.trusted, "/fhir/Patient", s.accessToken, fhirOK)
	// bad_jwt: a trusted certificate and a JWT that is neither a valid
	// access token nor a valid ID token: an unsigned one, one for another
	// audience.
	bad := []string{s.algNone(), s.idToken("another-client")}
	for _, tok := range bad {
		switch s.policy.For(clientcert.BadJWT) {
		case clientcert.Reject:
			s.check("bad_jwt", s.trusted, "/fhir/Organization", tok, expect{401, rejectToken, "OperationOutcome"})
			s.check("bad_jwt", s.trusted, "/scim/v2/Users", tok, expect{401, rejectToken, scimError})
		case clientcert.Limit:
			s.check("bad_jwt", s.trusted, "/fhir/Organization", tok, fhirOK)
			s.check("bad_jwt", s.trusted, "/fhir/Patient", tok, fhirForbidden)
			s.check("bad_jwt", s.trusted, "/scim/v2/Users", tok, scimForbidden)
		case clientcert.Allow:
			s.check("bad_jwt", s.trusted, "/fhir/Organization", tok, expect{401, `Bearer realm="fhir", error="invalid_token"`, "OperationOutcome"})
			s.check("bad_jwt", s.trusted, "/scim/v2/Users", tok, expect{401, `Bearer realm="scim"`, scimError})
		}
	}
	// A verified ID token of this server: the administrator through the
	// client (system/*.rs as user/*.rs), whatever the policy.
	s.check("jwt user", s.trusted, "/fhir/Patient", s.idToken(s.clientID), fhirOK)
	// Public whatever the policy (A13); the CapabilityStatement states the
	// policy.
	for _, c := range []*http.Client{s.none, s.unknown, s.trusted} {
		for _, open := range []string{"/fhir/metadata", "/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"} {
			if got := s.get(c, open, ""); got.status != 200 {
				t.Errorf("%s: A13: %s: %d %s", s.policy, open, got.status, got.raw)
			}
		}
	}
	md := s.get(s.none, "/fhir/metadata", "")
	rest, _ := md.body["rest"].([]any)
	desc := ""
	if len(rest) == 1 {
		sec, _ := rest[0].(map[string]any)["security"].(map[string]any)
		desc, _ = sec["description"].(string)
	}
	if !strings.Contains(desc, s.policy.String()) {
		t.Errorf("%s: rest.security.description %q does not state the policy", s.policy, desc)
	}
}
