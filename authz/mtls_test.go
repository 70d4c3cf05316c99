package authz_test

// RFC 8705 §2 client authentication by certificate (checklist S11, S13),
// over real TLS on 127.0.0.1: the server requests (never requires) a
// client certificate and runs the HTTPS listener's clientcert.Verifier
// with a test CA, as cmd/smartgate does; certificates are made here.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

var serials atomic.Int64

func newTestCA(t testing.TB, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serials.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return testCA{cert: cert, key: key, pool: pool}
}

// leafTemplate is a client certificate (clientAuth usage) valid now.
func leafTemplate(subject pkix.Name) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(serials.Add(1)), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

// issue signs tmpl with a fresh key (or key, when given).
func (ca testCA) issue(t testing.TB, tmpl *x509.Certificate, key ...crypto.Signer) tls.Certificate {
	t.Helper()
	return makeCert(t, tmpl, ca.cert, ca.key, key...)
}

// selfSigned is tmpl signed by its own key.
func selfSigned(t testing.TB, tmpl *x509.Certificate, key crypto.Signer) tls.Certificate {
	t.Helper()
	return makeCert(t, tmpl, tmpl, key, key)
}

func makeCert(t testing.TB, tmpl, parent *x509.Certificate, signer crypto.Signer, key ...crypto.Signer) tls.Certificate {
	t.Helper()
	var k crypto.Signer
	if len(key) > 0 {
		k = key[0]
	} else {
		var err error
		if k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, k.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}
}

// tlsEnv is authz over SQLite behind a real TLS listener that requests
// client certificates and verifies them against ca (clientcert.Verifier).
type tlsEnv struct {
	t     testing.TB
	clock *testclock.Clock
	srv   *httptest.Server
	as    *authz.Server
	db    *sqlite.DB
	base  string
}

func newTLSEnv(t testing.TB, ca testCA, mod ...func(*authz.Config)) *tlsEnv {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(clientcert.NewVerifier(clientcert.Options{CAs: ca.pool}).Middleware(mux))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	base := "https://" + srv.Listener.Addr().String()
	clock := testclock.New(time.Time{})
	cfg := authz.Config{BaseURLs: []string{base}, FHIRBaseURLs: []string{base + "/fhir"}, JWKSAllowPrivate: true,
		RegistrationPath: "/oauth/register", Now: clock.Now}
	for _, m := range mod {
		m(&cfg)
	}
	th := account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 5, MaxPerAddress: 5, Now: clock.Now})
	as, err := authz.New(cfg, db, &approver{}, throttledUsers{testUsers(), th}, recorder{db}, nil)
	if err != nil {
		t.Fatal(err)
	}
	as.Register(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &tlsEnv{t: t, clock: clock, srv: srv, as: as, db: db, base: base}
}

// client is an HTTPS client that trusts the test server and presents
// cert (none when nil).
func (e *tlsEnv) client(cert *tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(e.srv.Certificate())
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// backend registers a client_credentials client (as an administrator).
func (e *tlsEnv) backend(nc authz.NewClient) *authz.Client {
	e.t.Helper()
	nc.GrantTypes, nc.Scopes = []string{"client_credentials"}, []string{"system/*.rs"}
	if nc.Name == "" {
		nc.Name = "Backend"
	}
	c, _, err := authz.CreateClient(context.Background(), e.as.Clients(), nc, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// token asks for a client_credentials token as client id over hc.
func (e *tlsEnv) token(hc *http.Client, id string, change ...func(*http.Request, url.Values)) (*http.Response, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}
	if id != "" {
		form.Set("client_id", id)
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/token", nil)
	for _, c := range change {
		c(req, form)
	}
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("token: %d, not JSON: %s", resp.StatusCode, b)
	}
	return resp, m
}

// wantToken(t)(e.token(…)) wants 200 with an access token.
func wantToken(t testing.TB) func(*http.Response, map[string]any) {
	return func(resp *http.Response, m map[string]any) {
		t.Helper()
		if resp.StatusCode != http.StatusOK || m["access_token"] == nil || !strings.EqualFold(fmt.Sprint(m["token_type"]), "Bearer") {
			t.Fatalf("token: %d %v, want 200 with an access token", resp.StatusCode, m)
		}
	}
}

// want401InvalidClient(t)(e.token(…)) wants 401 invalid_client (RFC 6749 §5.2).
func want401InvalidClient(t testing.TB) func(*http.Response, map[string]any) {
	return func(resp *http.Response, m map[string]any) {
		t.Helper()
		wantError(t, resp, m, []int{http.StatusUnauthorized}, "invalid_client")
	}
}

var labDN = pkix.Name{CommonName: "lab-app", Organization: []string{"Example Hospital"}, Country: []string{"DE"}}

// TestS13_TLSClientAuthBySubjectAndSAN: a certificate of the client CA
// authenticates its tls_client_auth client (RFC 8705 §2.1) by the
// registered subject DN and by each SAN kind, at the token endpoint and
// through ClientOfCertificate.
func TestS13_TLSClientAuthBySubjectAndSAN(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	e := newTLSEnv(t, ca)
	ipTmpl := leafTemplate(pkix.Name{CommonName: "by-ip"})
	ipTmpl.IPAddresses = []net.IP{net.ParseIP("2001:db8::7")}
	dnsTmpl := leafTemplate(pkix.Name{CommonName: "by-dns"})
	dnsTmpl.DNSNames = []string{"other.example.org", "Backend.Example.org"}
	uriTmpl := leafTemplate(pkix.Name{CommonName: "by-uri"})
	u, _ := url.Parse("spiffe://example.org/ns/prod/backend")
	uriTmpl.URIs = []*url.URL{u}
	mailTmpl := leafTemplate(pkix.Name{CommonName: "by-mail"})
	mailTmpl.EmailAddresses = []string{"ops@Example.org"}
	for _, tc := range []struct {
		name string
		auth authz.TLSClientAuth
		cert *x509.Certificate
	}{
		{"subject DN", authz.TLSClientAuth{SubjectDN: "cn=Lab-App, o=example hospital, c=de"}, leafTemplate(labDN)},
		{"SAN dNSName", authz.TLSClientAuth{SANDNS: "backend.example.org"}, dnsTmpl},
		{"SAN URI", authz.TLSClientAuth{SANURI: "spiffe://example.org/ns/prod/backend"}, uriTmpl},
		{"SAN IP", authz.TLSClientAuth{SANIP: "2001:db8:0::7"}, ipTmpl},
		{"SAN e-mail", authz.TLSClientAuth{SANEmail: "ops@example.org"}, mailTmpl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: tc.auth})
			cert := ca.issue(t, tc.cert)
			wantToken(t)(e.token(e.client(&cert), c.ID))
			got, err := e.as.ClientOfCertificate(context.Background(), cert.Leaf, true)
			if err != nil || got.ID != c.ID {
				t.Fatalf("ClientOfCertificate = %v, %v; want %s", got, err, c.ID)
			}
			// The same certificate not chained to --client-ca (viaCA false)
			// is no tls_client_auth certificate.
			if got, err := e.as.ClientOfCertificate(context.Background(), cert.Leaf, false); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("ClientOfCertificate(viaCA=false) = %v, %v; want not found", got, err)
			}
		})
	}
}

// TestS13_TLSClientAuthRefused: every certificate that is not the
// client's, and every other credential, is 401 invalid_client (RFC 6749
// §5.2), and a secret or an assertion never replaces the certificate.
func TestS13_TLSClientAuthRefused(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	other := newTestCA(t, "Other CA")
	e := newTLSEnv(t, ca)
	c := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SubjectDN: "CN=lab-app,O=Example Hospital,C=DE"}})
	good := ca.issue(t, leafTemplate(labDN))
	wantToken(t)(e.token(e.client(&good), c.ID))

	otherDN := ca.issue(t, leafTemplate(pkix.Name{CommonName: "lab-app-2", Organization: []string{"Example Hospital"}, Country: []string{"DE"}}))
	extraRDN := ca.issue(t, leafTemplate(pkix.Name{CommonName: "lab-app", OrganizationalUnit: []string{"IT"}, Organization: []string{"Example Hospital"}, Country: []string{"DE"}}))
	foreign := other.issue(t, leafTemplate(labDN))                              // same DN, another CA
	self := selfSigned(t, leafTemplate(labDN), good.PrivateKey.(crypto.Signer)) // same DN and key, no CA
	expiredTmpl := leafTemplate(labDN)
	expiredTmpl.NotBefore, expiredTmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	expired := ca.issue(t, expiredTmpl)
	serverTmpl := leafTemplate(labDN)
	serverTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	wrongUsage := ca.issue(t, serverTmpl)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
	}{
		{"another DN", &otherDN},
		{"an extra RDN", &extraRDN},
		{"not from the client CA", &foreign},
		{"self-signed with the DN", &self},
		{"expired", &expired},
		{"without the clientAuth usage", &wrongUsage},
		{"no certificate", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want401InvalidClient(t)(e.token(e.client(tc.cert), c.ID))
		})
	}
	t.Run("a secret instead", func(t *testing.T) {
		want401InvalidClient(t)(e.token(e.client(&good), "", func(r *http.Request, _ url.Values) { r.SetBasicAuth(c.ID, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t") }))
		want401InvalidClient(t)(e.token(e.client(&good), c.ID, func(_ *http.Request, f url.Values) { f.Set("client_secret", "x") }))
	})
	t.Run("no client_id", func(t *testing.T) {
		want401InvalidClient(t)(e.token(e.client(&good), ""))
	})
	t.Run("disabled", func(t *testing.T) {
		d := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SANDNS: "disabled.example"}})
		tmpl := leafTemplate(pkix.Name{CommonName: "disabled"})
		tmpl.DNSNames = []string{"disabled.example"}
		cert := ca.issue(t, tmpl)
		wantToken(t)(e.token(e.client(&cert), d.ID))
		if err := e.as.Clients().UpdateClient(context.Background(), d.ID, func(old authz.Client) (authz.Client, error) {
			old.Disabled = true
			return old, nil
		}); err != nil {
			t.Fatal(err)
		}
		want401InvalidClient(t)(e.token(e.client(&cert), d.ID))
		if got, err := e.as.ClientOfCertificate(context.Background(), cert.Leaf, true); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ClientOfCertificate of a disabled client = %v, %v", got, err)
		}
	})
	t.Run("ambiguous", func(t *testing.T) {
		tmpl := leafTemplate(pkix.Name{CommonName: "twice", Organization: []string{"Example"}})
		tmpl.DNSNames = []string{"twice.example"}
		a := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SubjectDN: "CN=twice,O=Example"}})
		b := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SANDNS: "twice.example"}})
		cert := ca.issue(t, tmpl)
		if got, err := e.as.ClientOfCertificate(context.Background(), cert.Leaf, true); !errors.Is(err, authz.ErrAmbiguousCertificate) {
			t.Fatalf("ClientOfCertificate = %v, %v; want ErrAmbiguousCertificate", got, err)
		}
		want401InvalidClient(t)(e.token(e.client(&cert), a.ID))
		want401InvalidClient(t)(e.token(e.client(&cert), b.ID))
	})
	t.Run("a secret client with the certificate", func(t *testing.T) {
		sc, secret, err := authz.CreateClient(context.Background(), e.as.Clients(), authz.NewClient{Name: "Secret", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"system/*.rs"}, AllowSystemScopes: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		want401InvalidClient(t)(e.token(e.client(&good), sc.ID)) // a certificate is no secret
		wantToken(t)(e.token(e.client(&good), "", func(r *http.Request, _ url.Values) { r.SetBasicAuth(sc.ID, secret) }))
	})
}

// TestS13_SelfSignedTLSClientAuth: RFC 8705 §2.2, the certificate's key is
// one of the client's registered keys (jwks or jwks_uri); no CA is
// involved, and an assertion signed with that key is still no way in.
func TestS13_SelfSignedTLSClientAuth(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	e := newTLSEnv(t, ca)
	key := newBackendKey(t, jose.ES256)
	c := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthSelfSignedTLSClientAuth, JWKS: key.jwks()})
	mine := selfSigned(t, leafTemplate(pkix.Name{CommonName: "anything"}), key.priv)
	wantToken(t)(e.token(e.client(&mine), c.ID))
	got, err := e.as.ClientOfCertificate(context.Background(), mine.Leaf, false)
	if err != nil || got.ID != c.ID {
		t.Fatalf("ClientOfCertificate = %v, %v", got, err)
	}
	// The same key in a CA certificate: the key decides, not the issuer.
	issued := ca.issue(t, leafTemplate(pkix.Name{CommonName: "issued"}), key.priv)
	wantToken(t)(e.token(e.client(&issued), c.ID))

	notMine := selfSigned(t, leafTemplate(pkix.Name{CommonName: "anything"}), newBackendKey(t, jose.ES256).priv)
	want401InvalidClient(t)(e.token(e.client(&notMine), c.ID))
	want401InvalidClient(t)(e.token(e.client(nil), c.ID))
	if got, err := e.as.ClientOfCertificate(context.Background(), notMine.Leaf, false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClientOfCertificate(other key) = %v, %v", got, err)
	}
	t.Run("an assertion instead", func(t *testing.T) {
		want401InvalidClient(t)(e.token(e.client(&mine), "", func(_ *http.Request, f url.Values) {
			f.Set("client_assertion_type", jwtBearer)
			f.Set("client_assertion", key.assert(t, c.ID, e.base+"/oauth/token"))
		}))
	})
	t.Run("x5c names the certificate", func(t *testing.T) {
		k2 := newBackendKey(t, jose.ES256)
		registered := selfSigned(t, leafTemplate(pkix.Name{CommonName: "registered"}), k2.priv)
		jwk := k2.jwk()
		jwk.Certificates = []*x509.Certificate{registered.Leaf}
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
		x := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthSelfSignedTLSClientAuth, JWKS: string(b)})
		wantToken(t)(e.token(e.client(&registered), x.ID))
		sameKeyOtherCert := selfSigned(t, leafTemplate(pkix.Name{CommonName: "another"}), k2.priv)
		want401InvalidClient(t)(e.token(e.client(&sameKeyOtherCert), x.ID))
	})
	t.Run("jwks_uri", func(t *testing.T) {
		k3 := newBackendKey(t, jose.ES256)
		var served atomic.Value
		served.Store(newBackendKey(t, jose.ES256).jwks()) // not k3 yet: rotation
		keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, served.Load().(string))
		}))
		t.Cleanup(keys.Close)
		u := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthSelfSignedTLSClientAuth, JWKSURI: keys.URL + "/jwks"})
		cert := selfSigned(t, leafTemplate(pkix.Name{CommonName: "by-uri"}), k3.priv)
		want401InvalidClient(t)(e.token(e.client(&cert), u.ID))
		// The client rotates its keys: an unknown key refetches the set,
		// at most every 10 s.
		served.Store(k3.jwks())
		want401InvalidClient(t)(e.token(e.client(&cert), u.ID))
		e.clock.Advance(11 * time.Second)
		wantToken(t)(e.token(e.client(&cert), u.ID))
	})
}

// TestS13_CertificateMethodsInDiscovery: the HTTPS listener's discovery
// documents list tls_client_auth and self_signed_tls_client_auth (RFC 8705
// §2.1.1, §2.2.1); a plain-HTTP listener's, where no certificate can be
// presented, does not.
func TestS13_CertificateMethodsInDiscovery(t *testing.T) {
	e := newTLSEnv(t, newTestCA(t, "CA"))
	plain := newEnv(t)
	for _, tc := range []struct {
		hc   *http.Client
		base string
		want bool
	}{{e.client(nil), e.base, true}, {http.DefaultClient, plain.base, false}} {
		for _, path := range []string{"/.well-known/smart-configuration", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			resp, err := tc.hc.Get(tc.base + path)
			if err != nil {
				t.Fatal(err)
			}
			var d map[string]any
			json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			for _, field := range []string{"token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
				if path == "/.well-known/smart-configuration" && field != "token_endpoint_auth_methods_supported" {
					continue
				}
				var list []string
				for _, v := range d[field].([]any) {
					list = append(list, v.(string))
				}
				got := slices.Contains(list, "tls_client_auth") && slices.Contains(list, "self_signed_tls_client_auth")
				if got != tc.want || !slices.Contains(list, "private_key_jwt") {
					t.Errorf("%s%s %s = %v, want the certificate methods: %v", tc.base, path, field, list, tc.want)
				}
			}
		}
	}
}

// TestS13_CertificateClientAtIntrospectionAndRevocation: the same client
// authentication on /oauth/introspect (RFC 7662 §2.1) and /oauth/revoke
// (RFC 7009 §2.1).
func TestS13_CertificateClientAtIntrospectionAndRevocation(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	e := newTLSEnv(t, ca)
	c := e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SubjectDN: "CN=lab-app,O=Example Hospital,C=DE"}})
	cert := ca.issue(t, leafTemplate(labDN))
	hc := e.client(&cert)
	_, m := e.token(hc, c.ID)
	tok, _ := m["access_token"].(string)
	post := func(hc *http.Client, path string, form url.Values) (*http.Response, map[string]any) {
		resp, err := hc.PostForm(e.base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &out)
		return resp, out
	}
	resp, got := post(hc, "/oauth/introspect", url.Values{"token": {tok}, "client_id": {c.ID}})
	if resp.StatusCode != http.StatusOK || got["active"] != true || got["client_id"] != c.ID {
		t.Fatalf("introspect: %d %v", resp.StatusCode, got)
	}
	if resp, got := post(e.client(nil), "/oauth/introspect", url.Values{"token": {tok}, "client_id": {c.ID}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("introspect without the certificate: %d %v", resp.StatusCode, got)
	}
	if resp, got := post(e.client(nil), "/oauth/revoke", url.Values{"token": {tok}, "client_id": {c.ID}}); resp.StatusCode != http.StatusUnauthorized || got["error"] != "invalid_client" {
		t.Fatalf("revoke without the certificate: %d %v", resp.StatusCode, got)
	}
	if resp, got := post(hc, "/oauth/revoke", url.Values{"token": {tok}, "client_id": {c.ID}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %v", resp.StatusCode, got)
	}
	if _, got := post(hc, "/oauth/introspect", url.Values{"token": {tok}, "client_id": {c.ID}}); got["active"] != false {
		t.Fatalf("introspect after revocation: %v", got)
	}
}

// TestS13_CertificateScanFetchesKeysRarely: ClientOfCertificate looks at
// every self_signed_tls_client_auth client for any certificate any peer
// presents; a jwks_uri that fails (or any other) is fetched at most every
// 10 s by it, not on every request.
func TestS13_CertificateScanFetchesKeysRarely(t *testing.T) {
	e := newTLSEnv(t, newTestCA(t, "CA"))
	var hits atomic.Int64
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(keys.Close)
	e.backend(authz.NewClient{TokenEndpointAuthMethod: authz.AuthSelfSignedTLSClientAuth, JWKSURI: keys.URL + "/jwks"})
	cert := selfSigned(t, leafTemplate(pkix.Name{CommonName: "stranger"}), newBackendKey(t, jose.ES256).priv)
	e.clock.Advance(0)
	for range 5 {
		if _, err := e.as.ClientOfCertificate(context.Background(), cert.Leaf, false); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ClientOfCertificate = %v", err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("jwks_uri fetched %d times for 5 lookups, want 1", n)
	}
	e.clock.Advance(11 * time.Second)
	e.as.ClientOfCertificate(context.Background(), cert.Leaf, false)
	if n := hits.Load(); n != 2 {
		t.Fatalf("jwks_uri fetched %d times after 10 s, want 2", n)
	}
}

// TestS13_CertificateClientAuthorizationCode: a tls_client_auth client is
// confidential in the authorization code flow too: the code is redeemed
// only over a connection with its certificate.
func TestS13_CertificateClientAuthorizationCode(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	e := newTLSEnv(t, ca)
	c, _, err := authz.CreateClient(context.Background(), e.as.Clients(), authz.NewClient{Name: "Web", RedirectURIs: []string{"https://web.example/cb"},
		TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SANDNS: "web.example"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.Public || !slices.Contains(c.GrantTypes, "authorization_code") {
		t.Fatalf("client %+v", c)
	}
	tmpl := leafTemplate(pkix.Name{CommonName: "web"})
	tmpl.DNSNames = []string{"web.example"}
	cert := ca.issue(t, tmpl)
	code := func() (string, string) {
		verifier := oauth2.GenerateVerifier()
		conf := &oauth2.Config{ClientID: c.ID, RedirectURL: c.RedirectURIs[0], Scopes: []string{"openid", "fhirUser", "user/*.rs"},
			Endpoint: oauth2.Endpoint{AuthURL: e.base + "/oauth/authorize"}}
		hc := e.client(nil)
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := hc.Get(conf.AuthCodeURL(goodState, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", e.base+"/fhir")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		q := redirectParams(t, resp)
		if q.Get("code") == "" {
			t.Fatalf("authorize: %v", q)
		}
		return q.Get("code"), verifier
	}
	exchange := func(code, verifier string) func(*http.Request, url.Values) {
		return func(_ *http.Request, f url.Values) {
			f.Del("scope")
			f.Set("grant_type", "authorization_code")
			f.Set("code", code)
			f.Set("code_verifier", verifier)
			f.Set("redirect_uri", c.RedirectURIs[0])
		}
	}
	cd, v := code()
	want401InvalidClient(t)(e.token(e.client(nil), c.ID, exchange(cd, v)))
	cd, v = code()
	wantToken(t)(e.token(e.client(&cert), c.ID, exchange(cd, v)))
}
