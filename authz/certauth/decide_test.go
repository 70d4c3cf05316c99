package certauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

const (
	ownIssuer     = "https://sg.test:8443"
	trustedIssuer = "https://idp.test"
	audIssuer     = "https://aud-idp.test" // a trusted issuer with a configured audience
	foreignIssuer = "https://evil.test"
	clientID      = "svc"
)

// memSettings is an in-memory Settings.
type memSettings struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memSettings) Setting(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return v, nil
}

func (s *memSettings) PutSetting(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[key] = value
	return nil
}

type links map[[2]string]string

func (l links) LinkOf(_ context.Context, iss, sub string) (*account.Link, error) {
	if id, ok := l[[2]string{iss, sub}]; ok {
		return &account.Link{Issuer: iss, Subject: sub, UserID: id}, nil
	}
	return nil, store.ErrNotFound
}

type accounts map[string]authz.UserClaims

func (a accounts) Claims(_ context.Context, sub string) (authz.UserClaims, error) {
	if c, ok := a[sub]; ok {
		return c, nil
	}
	return authz.UserClaims{}, store.ErrNotFound
}

type memAudit struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (m *memAudit) Record(_ context.Context, ev audit.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evs = append(m.evs, ev)
}

// world is one Decider's surroundings: keys, a trusted certificate and
// its client, accounts and links.
type world struct {
	ownKey, audKey, evilKey, atKey *rsa.PrivateKey
	ecKey                          *ecdsa.PrivateKey
	trusted, unknown               *x509.Certificate
	client                         *authz.Client
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{}
	for _, k := range []**rsa.PrivateKey{&w.ownKey, &w.audKey, &w.evilKey, &w.atKey} {
		var err error
		if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if w.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	w.trusted, w.unknown = selfSigned(t, "trusted"), selfSigned(t, "unknown")
	w.client = &authz.Client{ID: clientID, Scopes: []string{"system/*.rs", "system/Observation.cruds", "scim"},
		TokenEndpointAuthMethod: authz.AuthSelfSignedTLSClientAuth, AllowSCIM: true}
	return w
}

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *world) decider(t *testing.T, p clientcert.Policy, rec audit.Recorder) *Decider {
	t.Helper()
	pub := func(k any, kid, alg string) jose.JSONWebKeySet {
		return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: kid, Algorithm: alg, Use: "sig"}}}
	}
	sets := map[string]jose.JSONWebKeySet{
		"https://idp.test/jwks":     pub(&w.ecKey.PublicKey, "idp1", "ES256"),
		"https://aud-idp.test/jwks": pub(&w.audKey.PublicKey, "aud1", ""),
	}
	d, err := New(Options{
		Policy: p,
		ClientOfCertificate: func(_ context.Context, c *x509.Certificate, _ bool) (*authz.Client, error) {
			if c == w.trusted {
				return w.client, nil
			}
			return nil, fmt.Errorf("test: %w", store.ErrNotFound)
		},
		Issuers: []string{ownIssuer, "http://localhost:8080"},
		OwnKeys: func(context.Context, bool) (*jose.JSONWebKeySet, error) {
			s := pub(&w.ownKey.PublicKey, "own1", "RS256")
			return &s, nil
		},
		Trusted: []TrustedIssuer{{Issuer: trustedIssuer, JWKSURI: "https://idp.test/jwks"},
			{Issuer: audIssuer, JWKSURI: "https://aud-idp.test/jwks", Audience: "smartgate-api"}},
		FetchJWKS: func(_ context.Context, uri string, _ bool) (*jose.JSONWebKeySet, error) {
			s, ok := sets[uri]
			if !ok {
				return nil, errors.New("no such jwks")
			}
			return &s, nil
		},
		Links: links{{trustedIssuer, "idp-alice"}: "u-alice", {audIssuer, "aud-alice"}: "u-alice"},
		Accounts: accounts{
			"u-alice": {Subject: "u-alice", Roles: []string{account.RolePatient}, FHIRUser: "Patient/p1"},
			"u-admin": {Subject: "u-admin", Roles: []string{account.RoleAdmin}},
		},
		Anonymous: NewAnonymous(&memSettings{}),
		Audit:     rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sign makes a compact JWS of claims with key, alg and header typ/kid.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func idClaimsFor(iss, sub string, aud any, exp time.Time) map[string]any {
	return map[string]any{"iss": iss, "sub": sub, "aud": aud, "exp": exp.Unix(), "iat": time.Now().Unix(), "nbf": time.Now().Add(-time.Minute).Unix()}
}

// tokenKind is what the request's Authorization carries.
type tokenKind struct {
	name string
	// good: a verified ID token naming an account (JWTUser beside a
	// trusted certificate); valid: a valid access token; bad: a bearer
	// token that is no valid ID token.
	good, valid bool
	tok         func(t *testing.T, w *world) string
}

func tokenKinds() []tokenKind {
	hour := time.Now().Add(time.Hour)
	return []tokenKind{
		{name: "no token"},
		{name: "valid access token", valid: true, tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.atKey, "at1", "at+jwt", map[string]any{"iss": ownIssuer, "sub": clientID, "exp": hour.Unix()})
		}},
		{name: "bad opaque access token", tok: func(*testing.T, *world) string { return "not-a-jwt-at-all" }},
		{name: "bad JWT access token", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.atKey, "at1", "at+jwt", map[string]any{"iss": ownIssuer, "sub": clientID, "exp": time.Now().Add(-time.Hour).Unix()})
		}},
		{name: "own ID token", good: true, tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.ownKey, "own1", "JWT", idClaimsFor(ownIssuer, "u-admin", clientID, hour))
		}},
		{name: "trusted issuer ID token linked", good: true, tok: func(t *testing.T, w *world) string {
			return sign(t, jose.ES256, w.ecKey, "idp1", "JWT", idClaimsFor(trustedIssuer, "idp-alice", []string{"other", clientID}, hour))
		}},
		{name: "trusted issuer ID token with its configured audience", good: true, tok: func(t *testing.T, w *world) string {
			return sign(t, jose.PS256, w.audKey, "aud1", "", idClaimsFor(audIssuer, "aud-alice", "smartgate-api", hour))
		}},
		{name: "trusted issuer ID token not linked", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.ES256, w.ecKey, "idp1", "JWT", idClaimsFor(trustedIssuer, "idp-bob", clientID, hour))
		}},
		{name: "own ID token of no account", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.ownKey, "own1", "JWT", idClaimsFor(ownIssuer, "u-gone", clientID, hour))
		}},
		{name: "alg none", tok: func(t *testing.T, w *world) string {
			enc := base64.RawURLEncoding.EncodeToString
			return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
				enc(fmt.Appendf(nil, `{"iss":%q,"sub":"u-admin","aud":%q,"exp":%d}`, ownIssuer, clientID, hour.Unix())) + "."
		}},
		{name: "HS256 signed with the public key", tok: func(t *testing.T, w *world) string {
			der, err := x509.MarshalPKIXPublicKey(&w.ownKey.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			return sign(t, jose.HS256, der, "own1", "JWT", idClaimsFor(ownIssuer, "u-admin", clientID, hour))
		}},
		{name: "bad signature", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.evilKey, "own1", "JWT", idClaimsFor(ownIssuer, "u-admin", clientID, hour))
		}},
		{name: "foreign issuer", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.evilKey, "evil1", "JWT", idClaimsFor(foreignIssuer, "u-admin", clientID, hour))
		}},
		{name: "expired", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.ownKey, "own1", "JWT", idClaimsFor(ownIssuer, "u-admin", clientID, time.Now().Add(-time.Hour)))
		}},
		{name: "not yet valid", tok: func(t *testing.T, w *world) string {
			c := idClaimsFor(ownIssuer, "u-admin", clientID, hour)
			c["nbf"] = time.Now().Add(10 * time.Minute).Unix()
			return sign(t, jose.RS256, w.ownKey, "own1", "JWT", c)
		}},
		{name: "wrong aud", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.ownKey, "own1", "JWT", idClaimsFor(ownIssuer, "u-admin", "another-client", hour))
		}},
		{name: "configured audience required, client id given", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.PS256, w.audKey, "aud1", "JWT", idClaimsFor(audIssuer, "aud-alice", clientID, hour))
		}},
		{name: "no exp", tok: func(t *testing.T, w *world) string {
			c := idClaimsFor(ownIssuer, "u-admin", clientID, hour)
			delete(c, "exp")
			return sign(t, jose.RS256, w.ownKey, "own1", "JWT", c)
		}},
		{name: "ID token with the access-token key's kid", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.atKey, "at1", "JWT", idClaimsFor(ownIssuer, "u-admin", clientID, hour))
		}},
		{name: "own ID token typed at+jwt", tok: func(t *testing.T, w *world) string {
			return sign(t, jose.RS256, w.ownKey, "own1", "at+jwt", idClaimsFor(ownIssuer, "u-admin", clientID, hour))
		}},
	}
}

// certKind is the request's client certificate.
type certKind int

const (
	noCert certKind = iota
	unknownCert
	trustedCert
)

func (c certKind) String() string {
	return [...]string{"no certificate", "unknown certificate", "trusted certificate"}[c]
}

// want is the decision the package documentation's rules give.
func want(p clientcert.Policy, ck certKind, tk tokenKind, tok string) (Kind, clientcert.Case, string) {
	present := tk.tok != nil
	if ck != trustedCert {
		c := clientcert.NoCertificate
		if ck == unknownCert {
			c = clientcert.UnknownCertificate
		}
		switch p.For(c) {
		case clientcert.Reject:
			return Reject, c, "invalid_request"
		case clientcert.Limit:
			if !present {
				return Limit, c, ""
			}
		}
		return Pass, c, ""
	}
	if !present {
		switch p.For(clientcert.NoJWT) {
		case clientcert.Reject:
			return Reject, clientcert.NoJWT, "invalid_request"
		case clientcert.Limit:
			return Limit, clientcert.NoJWT, ""
		}
		return CertClient, "", ""
	}
	switch {
	case tk.valid, !isJWT(tok), accessTokenTyped(tok):
		// a valid access token decides; a bad access token is always
		// the endpoint's 401 invalid_token
		return Pass, "", ""
	case tk.good:
		return JWTUser, "", ""
	}
	switch p.For(clientcert.BadJWT) {
	case clientcert.Reject:
		return Reject, clientcert.BadJWT, "invalid_token"
	case clientcert.Limit:
		return Limit, clientcert.BadJWT, ""
	}
	return Pass, clientcert.BadJWT, ""
}

// TestS13_DecisionCrossProduct: every case × every action × every kind
// of credential gives the decision of the package documentation.
func TestS13_DecisionCrossProduct(t *testing.T) {
	w := newWorld(t)
	policies := map[string]clientcert.Policy{
		"reject": clientcert.Uniform(clientcert.Reject),
		"limit":  clientcert.Uniform(clientcert.Limit),
		"allow":  clientcert.Uniform(clientcert.Allow),
		"mixed":  {clientcert.NoCertificate: clientcert.Limit, clientcert.UnknownCertificate: clientcert.Reject, clientcert.NoJWT: clientcert.Allow, clientcert.BadJWT: clientcert.Reject},
		"mixed2": {clientcert.NoCertificate: clientcert.Allow, clientcert.UnknownCertificate: clientcert.Limit, clientcert.NoJWT: clientcert.Reject, clientcert.BadJWT: clientcert.Limit},
	}
	for pname, pol := range policies {
		rec := &memAudit{}
		d := w.decider(t, pol, rec)
		for _, ck := range []certKind{noCert, unknownCert, trustedCert} {
			for _, tk := range tokenKinds() {
				t.Run(pname+"/"+ck.String()+"/"+tk.name, func(t *testing.T) {
					tok := ""
					if tk.tok != nil {
						tok = tk.tok(t, w)
					}
					r := w.request(ck, tok)
					checked := 0
					dec := d.Decide(r, func() bool { checked++; return !tk.valid })
					kind, c, errCode := want(pol, ck, tk, tok)
					if dec.Kind != kind || dec.Case != c || dec.Error != errCode {
						t.Fatalf("Decide = %s case %q error %q (%s), want %s case %q error %q", dec.Kind, dec.Case, dec.Error, dec.Detail, kind, c, errCode)
					}
					if checked > 1 {
						t.Errorf("the token check ran %d times", checked)
					}
					w.checkPrincipal(t, dec, tk)
				})
			}
		}
	}
}

func (w *world) request(ck certKind, tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://sg.test:8443/fhir/Organization", nil)
	ctx := listener.With(r.Context(), listener.Info{Name: "https", Secure: true, BaseURL: ownIssuer})
	switch ck {
	case unknownCert:
		p := clientcert.NewPeer(w.unknown, nil, "tls")
		p.Problem = "not on the allow-list"
		ctx = clientcert.With(ctx, p)
	case trustedCert:
		p := clientcert.NewPeer(w.trusted, nil, "tls")
		p.Trusted = true
		ctx = clientcert.With(ctx, p)
	}
	r = r.WithContext(ctx)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// checkPrincipal checks the principal's shape: the anonymous account's,
// a client_credentials-like client's, a person's with user/ scopes.
func (w *world) checkPrincipal(t *testing.T, dec Decision, tk tokenKind) {
	t.Helper()
	p := dec.Principal
	switch dec.Kind {
	case Limit:
		if p == nil || !p.Anonymous || p.Subject != AnonymousSubject || p.Scopes.String() != DefaultAnonymousScopes || p.System {
			t.Errorf("anonymous principal %+v", p)
		}
	case CertClient:
		if p == nil || !p.System || p.ClientID != clientID || p.Subject != clientID || p.Anonymous ||
			p.Scopes.String() != "system/*.rs system/Observation.cruds scim" || p.CertThumbprint != clientcert.Thumbprint(w.trusted) {
			t.Errorf("certificate client principal %+v", p)
		}
	case JWTUser:
		if p == nil || p.System || p.Anonymous || p.ClientID != clientID {
			t.Fatalf("person principal %+v", p)
		}
		for _, s := range p.Scopes.Strings() {
			if sc := s; len(sc) > 7 && sc[:7] == "system/" {
				t.Errorf("a person's principal holds %s", s)
			}
		}
		switch p.Subject {
		case "u-admin": // own ID token: sub is the account id; an administrator keeps scim
			if !slices.Equal(p.Scopes.Strings(), []string{"user/*.rs", "user/Observation.cruds", "scim"}) || !slices.Contains(p.Roles, account.RoleAdmin) {
				t.Errorf("administrator principal %+v scopes %s", p, p.Scopes)
			}
		case "u-alice": // linked: a patient, no scim
			if !slices.Equal(p.Scopes.Strings(), []string{"user/*.rs", "user/Observation.cruds"}) || p.FHIRUser != "Patient/p1" {
				t.Errorf("patient principal %+v scopes %s", p, p.Scopes)
			}
		default:
			t.Errorf("person principal of %q (%s)", p.Subject, tk.name)
		}
	default:
		if p != nil {
			t.Errorf("%s with a principal %+v", dec.Kind, p)
		}
	}
}

// TestS13_DecisionsAudited: reject, limit, cert-client, jwt-user and an
// allowed bad_jwt each leave an audit record naming the case; a plain
// pass leaves none (the endpoint records it).
func TestS13_DecisionsAudited(t *testing.T) {
	w := newWorld(t)
	kinds := tokenKinds()
	tokOf := func(name string) string {
		for _, k := range kinds {
			if k.name == name {
				return k.tok(t, w)
			}
		}
		t.Fatalf("no token kind %q", name)
		return ""
	}
	tests := []struct {
		policy              clientcert.Policy
		cert                certKind
		tok                 string
		action, outcome, in string
	}{
		{clientcert.Uniform(clientcert.Reject), noCert, "", "reject", audit.Denied, "no_certificate"},
		{clientcert.Uniform(clientcert.Limit), unknownCert, "", "limit", audit.Success, "unknown_certificate: "},
		{clientcert.Uniform(clientcert.Allow), trustedCert, "", "cert-client", audit.Success, ""},
		{clientcert.Uniform(clientcert.Allow), trustedCert, tokOf("own ID token"), "jwt-user", audit.Success, ""},
		{clientcert.Uniform(clientcert.Allow), trustedCert, tokOf("expired"), "bad_jwt", audit.Failure, "bad_jwt: "},
		{clientcert.Uniform(clientcert.Reject), trustedCert, tokOf("alg none"), "reject", audit.Denied, "bad_jwt: "},
		{clientcert.Uniform(clientcert.Allow), noCert, "", "", "", ""},
	}
	for _, tc := range tests {
		rec := &memAudit{}
		d := w.decider(t, tc.policy, rec)
		d.Decide(w.request(tc.cert, tc.tok), func() bool { return true })
		if tc.action == "" {
			if len(rec.evs) != 0 {
				t.Errorf("%v %s: audited %+v", tc.policy, tc.cert, rec.evs)
			}
			continue
		}
		if len(rec.evs) != 1 {
			t.Fatalf("%v %s: %d audit records", tc.policy, tc.cert, len(rec.evs))
		}
		ev := rec.evs[0]
		if ev.Kind != "certauth" || ev.Action != tc.action || ev.Outcome != tc.outcome || tc.in != "" && !containsPrefix(ev.Detail, tc.in) {
			t.Errorf("%v %s: audit %+v, want action %s outcome %s detail starting %q", tc.policy, tc.cert, ev, tc.action, tc.outcome, tc.in)
		}
		if tc.tok != "" && containsPrefix(ev.Detail, tc.tok[:20]) {
			t.Errorf("the audit record holds the token")
		}
	}
}

func containsPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// TestS13_AnonymousScopesFromSettings: the anonymous principal carries the
// administrator-set scopes; a scope that does not parse is refused.
func TestS13_AnonymousScopesFromSettings(t *testing.T) {
	w := newWorld(t)
	st := &memSettings{}
	d := w.decider(t, clientcert.Uniform(clientcert.Limit), nil)
	d.o.Anonymous = NewAnonymous(st)
	if err := d.o.Anonymous.SetScopes(context.Background(), "system/Organization.rs system/Practitioner.r"); err != nil {
		t.Fatal(err)
	}
	if err := d.o.Anonymous.SetScopes(context.Background(), "system/Organization.xyz"); err == nil {
		t.Error("a bad scope was stored")
	}
	dec := d.Decide(w.request(noCert, ""), func() bool { return true })
	if dec.Kind != Limit || dec.Principal.Scopes.String() != "system/Organization.rs system/Practitioner.r" {
		t.Errorf("decision %+v", dec)
	}
}

// TestS13_Applies: the policy applies on the HTTPS listener's /fhir and
// /scim only, never to /fhir/metadata or /fhir/.well-known (A13).
func TestS13_Applies(t *testing.T) {
	for path, want := range map[string]bool{
		"/fhir/Patient": true, "/fhir": true, "/fhir/": true, "/scim/v2/Users": true,
		"/fhir/metadata": false, "/fhir/.well-known/smart-configuration": false,
		"/.well-known/smart-configuration": false, "/oauth/token": false, "/login": false, "/fhirx": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "https://sg.test"+path, nil)
		secure := r.WithContext(listener.With(r.Context(), listener.Info{Name: "https", Secure: true}))
		plain := r.WithContext(listener.With(r.Context(), listener.Info{Name: "http"}))
		if Applies(secure) != want || Applies(plain) {
			t.Errorf("Applies(%s) = %v on https, %v on http; want %v, false", path, Applies(secure), Applies(plain), want)
		}
	}
}

// TestS13_IDTokenRefusedForTheRightReason: the attacks fail at the check
// meant for them, not by chance elsewhere.
func TestS13_IDTokenRefusedForTheRightReason(t *testing.T) {
	w := newWorld(t)
	d := w.decider(t, clientcert.Uniform(clientcert.Allow), nil)
	want := map[string]string{
		"alg none":                         "not a JWT signed with an allowed algorithm",
		"HS256 signed with the public key": "not a JWT signed with an allowed algorithm",
		"bad signature":                    "the signature does not verify",
		"foreign issuer":                   "the issuer is not trusted",
		"expired":                          "expired",
		"not yet valid":                    "not yet valid (nbf)",
		"wrong aud":                        `the audience is not "svc"`,
		"configured audience required, client id given": `the audience is not "smartgate-api"`,
		"no exp": "no exp",
		"ID token with the access-token key's kid": "the token's kid is not a key of the issuer",
		"own ID token typed at+jwt":                "an access token, not an ID token",
	}
	for _, tk := range tokenKinds() {
		why, ok := want[tk.name]
		if !ok {
			continue
		}
		_, err := d.verify(context.Background(), tk.tok(t, w), clientID)
		if err == nil || err.Error() != why {
			t.Errorf("%s: %v, want %q", tk.name, err, why)
		}
	}
}
