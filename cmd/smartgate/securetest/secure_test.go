package securetest

// The secure interface end to end (issue 13, checklist S13/A13/A8): the
// rules are authz/certauth's doc and interface.md "Interfaces".

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
)

// auditOf waits for an audit record of request id that ok accepts.
func (s *server) auditOf(t *testing.T, id string, what string, ok func(audit.Event) bool) audit.Event {
	t.Helper()
	db := s.store(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, err := db.AuditEvents(context.Background(), audit.Filter{Limit: 1000})
		if err != nil {
			t.Fatalf("reading the audit records: %v", err)
		}
		var mine []audit.Event
		for _, ev := range evs {
			if ev.RequestID == id {
				if ok(ev) {
					return ev
				}
				mine = append(mine, ev)
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("request %s: no audit record %s; its records: %+v", id, what, mine)
			return audit.Event{}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantBundleOf: 200, a Bundle holding every one of want and none of not.
func wantBundleOf(t *testing.T, what string, a *answer, want, not []string) {
	t.Helper()
	ids, ok := a.bundleIDs()
	if a.Status != http.StatusOK || !ok {
		t.Errorf("%s: %s, want 200 and a Bundle", what, a)
		return
	}
	for _, w := range want {
		if !slices.Contains(ids, w) {
			t.Errorf("%s: the Bundle %v lacks %s", what, ids, w)
		}
	}
	for _, n := range not {
		if slices.Contains(ids, n) {
			t.Errorf("%s: the Bundle %v holds %s", what, ids, n)
		}
	}
}

// wantAnonymousRefused: what the anonymous account may not see (resources
// in a patient's compartment) is refused (403) or left out (a Bundle with
// none of them); never 401 (limit serves the request) and never the data.
func wantAnonymousRefused(t *testing.T, what string, a *answer, s *server) {
	t.Helper()
	if a.Status == http.StatusForbidden {
		return
	}
	ids, ok := a.bundleIDs()
	if a.Status == http.StatusOK && ok {
		for _, id := range ids {
			if strings.HasPrefix(id, "Patient/") || strings.HasPrefix(id, "Observation/") {
				t.Errorf("%s: the anonymous account got %s (a patient's compartment)", what, id)
			}
		}
		return
	}
	t.Errorf("%s: %s, want 403 or a Bundle without patients' data (served as the anonymous account)", what, a)
}

func TestS13_CertificateAloneActsAsItsClient(t *testing.T) {
	t.Parallel()
	s := srv(t, "allow")
	id := s.Trusted.need(t)
	p := s.pki
	// Done when: a certificate alone (with --client-ca) authenticates its
	// client on /fhir, tested with curl. No Authorization header at all.
	a := curl(t, p, p.Trusted, s.fhir("Patient"))
	wantBundleOf(t, "curl --cert trusted GET /fhir/Patient", a, []string{"Patient/" + s.PatA, "Patient/" + s.PatB}, nil)
	ev := s.auditOf(t, a.ID, "naming the certificate's client", func(ev audit.Event) bool {
		return ev.Outcome == audit.Success && ev.ClientID == id
	})
	if ev.ClientID != "" && strings.Contains(ev.Scopes, "Organization") {
		t.Errorf("audit record scopes %q are not the client's registered ones", ev.Scopes)
	}
	// The same with Go's http.Client, a read and an Observation search.
	c := httpsClient(p, p.Trusted)
	if g := do(t, c, "GET", s.fhir("Patient/"+s.PatB), nil); g.Status != http.StatusOK || g.json()["id"] != s.PatB {
		t.Errorf("Go client, certificate alone, GET Patient/%s: %s", s.PatB, g)
	}
	if g := do(t, c, "GET", s.fhir("Observation?subject=Patient/"+s.PatA), nil); g.Status != http.StatusOK {
		t.Errorf("Go client, certificate alone, Observation search: %s", g)
	}
	// It acts with the client's scopes (system/Patient.rs
	// system/Observation.rs), not as anyone more powerful: no
	// Organization, no writes.
	if o := curl(t, p, p.Trusted, s.fhir("Organization")); o.Status != http.StatusForbidden {
		t.Errorf("certificate alone, GET /fhir/Organization (not in the client's scopes): %s, want 403", o)
	}
	w := curl(t, p, p.Trusted, "-X", "POST", "-H", "Content-Type: application/fhir+json",
		"--data", `{"resourceType":"Patient","name":[{"family":"Intruder"}]}`, s.fhir("Patient"))
	if w.Status != http.StatusForbidden {
		t.Errorf("certificate alone, POST /fhir/Patient with read-only scopes: %s, want 403", w)
	}
}

func TestS13_BadCertificatesAuthenticateNothing(t *testing.T) {
	t.Parallel()
	s := srv(t, "allow")
	s.Trusted.need(t)
	p := s.pki
	// Each has the trusted client's subject DN (but SelfSigned): only the
	// chain, validity and usage make them different.
	for _, c := range []*pemCert{p.Unknown, p.Expired, p.NotYet, p.WrongUsage, p.SelfSigned} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			a := curl(t, p, c, s.fhir("Patient"))
			wantUnauthorized(t, "curl --cert "+c.Name+" GET /fhir/Patient (allow, no other authentication)", a)
			if c == p.Expired || c == p.Unknown {
				// Issue 13's bad input: each refused with a log line. Under
				// allow the endpoint's 401 is the refusal; the line should
				// say why the certificate was not trusted (Peer.Problem).
				s.wantRefusalLogged(t, a, " (the certificate's problem: "+c.Name+")")
				s.wantRefusalAudited(t, a)
			}
		})
	}
	t.Run("no certificate", func(t *testing.T) {
		wantUnauthorized(t, "GET /fhir/Patient without any authentication", curl(t, p, nil, s.fhir("Patient")))
	})
}

func TestA13_S13_RejectPolicy(t *testing.T) {
	t.Parallel()
	s := srv(t, "reject")
	p := s.pki
	bearer := "Authorization: Bearer " + s.Admin
	for _, c := range []*pemCert{nil, p.Unknown, p.Expired, p.NotYet, p.WrongUsage, p.SelfSigned} {
		name := "no certificate"
		if c != nil {
			name = c.Name
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := curl(t, p, c, s.fhir("Patient"))
			wantUnauthorized(t, name+": GET /fhir/Patient under reject", a)
			// reject: the certificate is mandatory whatever else the request
			// carries, the administrator's token included.
			b := curl(t, p, c, "-H", bearer, s.fhir("Patient"))
			wantUnauthorized(t, name+" and the administrator's OWin token: GET /fhir/Patient under reject", b)
			if sc := curl(t, p, c, "-H", bearer, s.HTTPS+"/scim/v2/Users"); sc.Status != http.StatusUnauthorized {
				t.Errorf("%s: GET /scim/v2/Users under reject: %s, want 401", name, sc)
			}
			if c == nil || c == p.WrongUsage {
				s.wantRefusalLogged(t, a)
				s.wantRefusalAudited(t, a)
			}
			// A13: the CapabilityStatement and discovery stay open (with
			// no certificate and with a bad one).
			if c != nil && c != p.Expired {
				return
			}
			for _, path := range []string{"/fhir/metadata", "/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration",
				"/.well-known/openid-configuration"} {
				if d := curl(t, p, c, s.HTTPS+path); d.Status != http.StatusOK || d.json() == nil {
					t.Errorf("%s: GET %s under reject: %s, want 200 JSON", name, path, d)
				}
			}
		})
	}
	t.Run("trusted certificate, no JWT", func(t *testing.T) {
		t.Parallel()
		// no_jwt=reject: the ID token is mandatory beside the certificate.
		s.Trusted.need(t)
		a := curl(t, p, p.Trusted, s.fhir("Patient"))
		wantUnauthorized(t, "trusted certificate alone under reject (no_jwt=reject)", a)
	})
}

// testIDTokenBesideCertificate: a trusted certificate with this server's
// ID token for the patient user acts as that user (her own compartment
// only); every bad ID token is refused by refuse.
func testIDTokenBesideCertificate(t *testing.T, s *server, refuse func(t *testing.T, what string, a *answer)) {
	p := s.pki
	clientID := s.Trusted.need(t)
	bad := badIDTokens(t, s, clientID)
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := curl(t, p, p.Trusted, "-H", "Authorization: Bearer "+tok, s.fhir("Patient"))
			refuse(t, name+" beside the trusted certificate", a)
			if name == "alg none" || name == "HS256 with the public key (PEM SPKI)" || name == "expired (trusted issuer)" {
				s.wantRefusalLogged(t, a)
				s.wantRefusalAudited(t, a)
			}
		})
	}
	t.Run("this server's ID token names the user", func(t *testing.T) {
		t.Parallel()
		idt := s.IDToken(t)
		if c := claimsOf(t, idt); c["sub"] != s.UserID || c["aud"] != clientID && !slices.Contains(toStrings(c["aud"]), clientID) {
			t.Fatalf("ID token sub %v aud %v, want %s and %s", c["sub"], c["aud"], s.UserID, clientID)
		}
		a := curl(t, p, p.Trusted, "-H", "Authorization: Bearer "+idt, s.fhir("Patient"))
		// The client's system/Patient.rs acts for Ann, a patient: her own
		// record, not Bo's.
		wantBundleOf(t, "trusted certificate + ID token, GET /fhir/Patient", a, []string{"Patient/" + s.PatA}, []string{"Patient/" + s.PatB})
		s.auditOf(t, a.ID, "naming the user and the client", func(ev audit.Event) bool {
			return ev.Outcome == audit.Success && ev.Actor == s.UserID && ev.ClientID == clientID
		})
		if b := curl(t, p, p.Trusted, "-H", "Authorization: Bearer "+idt, s.fhir("Patient/"+s.PatB)); b.Status == http.StatusOK {
			t.Errorf("trusted certificate + Ann's ID token read Bo's record: %s", b)
		}
		// The ID token alone is no access token.
		if n := curl(t, p, nil, "-H", "Authorization: Bearer "+idt, s.fhir("Patient")); n.Status == http.StatusOK {
			t.Errorf("the ID token without the certificate was accepted: %s", n)
		}
		// Its signature tampered with: refused like any bad signature.
		refuse(t, "tampered signature of a real ID token", curl(t, p, p.Trusted, "-H", "Authorization: Bearer "+tamperedSignature(idt), s.fhir("Patient")))
		// The right token beside another client's certificate: aud is not
		// that client.
		if s.Bound.Err == nil {
			o := curl(t, p, p.Bound, "-H", "Authorization: Bearer "+idt, s.fhir("Patient"))
			if _, ok := o.bundleIDs(); o.Status == http.StatusOK && ok && strings.Contains(string(o.Body), s.PatA) && !strings.Contains(string(o.Body), s.PatB) {
				t.Errorf("Ann's ID token for %s acted as Ann beside another client's certificate", clientID)
			}
		}
	})
}

// testTrustedIssuerIDToken: an ID token of a trusted_jwt_issuers entry
// names the person only through the account's (issuer, subject) link.
func testTrustedIssuerIDToken(t *testing.T, s *server) {
	p := s.pki
	clientID := s.Trusted.need(t)
	e := externalIssuer(t)
	now := time.Now()
	tok := func(sub string) string {
		return jwt(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "ext-1"},
			map[string]any{"iss": e.issuer, "sub": sub, "aud": clientID, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}, rs256(e.key))
	}
	a := curl(t, p, p.Trusted, "-H", "Authorization: Bearer "+tok(extSubject), s.fhir("Patient"))
	wantBundleOf(t, "trusted certificate + the external issuer's ID token of a linked subject", a, []string{"Patient/" + s.PatA}, []string{"Patient/" + s.PatB})
	// A subject with no link is no one, even one equal to a local
	// account's id.
	for _, sub := range []string{"ext-subject-nobody", s.UserID} {
		b := curl(t, p, p.Trusted, "-H", "Authorization: Bearer "+tok(sub), s.fhir("Patient"))
		if b.Status != http.StatusUnauthorized && b.Status != http.StatusForbidden {
			t.Errorf("external ID token with the unlinked subject %q: %s, want 401 or 403", sub, b)
		}
	}
}

func TestS13_RejectTrustedIssuerIDToken(t *testing.T) {
	t.Parallel()
	testTrustedIssuerIDToken(t, srv(t, "reject"))
}

func TestS13_AllowTrustedIssuerIDToken(t *testing.T) {
	t.Parallel()
	testTrustedIssuerIDToken(t, srv(t, "allow"))
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func TestS13_RejectIDTokenBesideCertificate(t *testing.T) {
	t.Parallel()
	s := srv(t, "reject")
	testIDTokenBesideCertificate(t, s, func(t *testing.T, what string, a *answer) {
		t.Helper()
		wantUnauthorized(t, what+" (bad_jwt=reject)", a)
	})
}

func TestS13_AllowIDTokenBesideCertificate(t *testing.T) {
	t.Parallel()
	s := srv(t, "allow")
	// allow: no difference, a bad bearer token is the endpoint's usual 401.
	testIDTokenBesideCertificate(t, s, func(t *testing.T, what string, a *answer) {
		t.Helper()
		wantUnauthorized(t, what+" (bad_jwt=allow)", a)
	})
}

func TestS13_LimitPolicy(t *testing.T) {
	t.Parallel()
	s := srv(t, "limit")
	p := s.pki
	org := "Organization/" + s.Org
	t.Run("no certificate", func(t *testing.T) {
		a := curl(t, p, nil, s.fhir("Organization"))
		wantBundleOf(t, "anonymous GET /fhir/Organization", a, []string{org}, nil)
		s.auditOf(t, a.ID, "of the anonymous account's search", func(ev audit.Event) bool { return ev.Outcome == audit.Success })
		if r := curl(t, p, nil, s.fhir(org)); r.Status != http.StatusOK || r.json()["id"] != s.Org {
			t.Errorf("anonymous GET /fhir/%s: %s", org, r)
		}
		wantAnonymousRefused(t, "anonymous GET /fhir/Patient", curl(t, p, nil, s.fhir("Patient")), s)
		wantAnonymousRefused(t, "anonymous GET /fhir/Observation", curl(t, p, nil, s.fhir("Observation")), s)
		if r := curl(t, p, nil, s.fhir("Patient/"+s.PatA)); r.Status == http.StatusOK {
			t.Errorf("anonymous read of Patient/%s: %s", s.PatA, r)
		}
		// Read and search only: no writes.
		w := curl(t, p, nil, "-X", "POST", "-H", "Content-Type: application/fhir+json",
			"--data", `{"resourceType":"Organization","name":"Anonymous Org"}`, s.fhir("Organization"))
		if w.Status != http.StatusForbidden && w.Status != http.StatusUnauthorized {
			t.Errorf("anonymous POST /fhir/Organization: %s, want 403", w)
		}
		if m := curl(t, p, nil, s.fhir("metadata")); m.Status != http.StatusOK {
			t.Errorf("GET /fhir/metadata under limit: %s", m)
		}
	})
	t.Run("bad access token", func(t *testing.T) {
		// A bad access token is always 401 invalid_token, never anonymous.
		for _, c := range []*pemCert{nil, p.Unknown} {
			a := curl(t, p, c, "-H", "Authorization: Bearer not-a-token-at-all", s.fhir("Organization"))
			wantInvalidToken(t, "bad access token under limit", a)
			if c == nil {
				s.wantRefusalAudited(t, a)
			}
		}
		forged := jwt(map[string]any{"alg": "none"}, map[string]any{"sub": "admin", "scope": "system/*.cruds"}, nil)
		wantInvalidToken(t, "an unsigned JWT as access token, no certificate, under limit",
			curl(t, p, nil, "-H", "Authorization: Bearer "+forged, s.fhir("Organization")))
	})
	t.Run("a valid access token still decides", func(t *testing.T) {
		a := curl(t, p, nil, "-H", "Authorization: Bearer "+s.Admin, s.fhir("Patient"))
		wantBundleOf(t, "the administrator's OWin token without a certificate under limit", a, []string{"Patient/" + s.PatA, "Patient/" + s.PatB}, nil)
	})
	t.Run("unknown certificate", func(t *testing.T) {
		for _, c := range []*pemCert{p.Unknown, p.Expired, p.WrongUsage} {
			wantBundleOf(t, c.Name+" certificate under limit: anonymous GET /fhir/Organization", curl(t, p, c, s.fhir("Organization")), []string{org}, nil)
			wantAnonymousRefused(t, c.Name+" certificate under limit: GET /fhir/Patient", curl(t, p, c, s.fhir("Patient")), s)
		}
	})
	t.Run("trusted certificate, no JWT", func(t *testing.T) {
		// no_jwt=limit: served as the anonymous account, not as the client.
		s.Trusted.need(t)
		wantAnonymousRefused(t, "trusted certificate alone under limit: GET /fhir/Patient", curl(t, p, p.Trusted, s.fhir("Patient")), s)
		wantBundleOf(t, "trusted certificate alone under limit: GET /fhir/Organization", curl(t, p, p.Trusted, s.fhir("Organization")), []string{org}, nil)
	})
	t.Run("trusted certificate, bad JWT", func(t *testing.T) {
		// bad_jwt=limit: an ID token that fails verification is served as
		// the anonymous account, never as its subject.
		id := s.Trusted.need(t)
		tok := badIDTokens(t, s, id)["alg none"]
		wantAnonymousRefused(t, "alg none ID token beside the trusted certificate under limit", curl(t, p, p.Trusted, "-H", "Authorization: Bearer "+tok, s.fhir("Patient")), s)
		wantBundleOf(t, "alg none ID token beside the trusted certificate under limit: Organization", curl(t, p, p.Trusted, "-H", "Authorization: Bearer "+tok, s.fhir("Organization")), []string{org}, nil)
	})
}

func TestS13_CertificateHeaderFromUntrustedAddressIgnored(t *testing.T) {
	t.Parallel()
	s := srv(t, "allow") // --client-cert-header X-SSL-Client-Cert, --trusted-proxies 10.9.9.9
	s.Trusted.need(t)
	p := s.pki
	// 127.0.0.1 is not a trusted proxy: the header is a forgery, and the
	// request is one without a certificate (allow: the usual 401).
	a := curl(t, p, nil, "-H", "X-SSL-Client-Cert: "+p.Trusted.HeaderValue(), s.fhir("Patient"))
	wantUnauthorized(t, "a forged X-SSL-Client-Cert from an untrusted address", a)
	s.wantRefusalLogged(t, a)
	s.wantRefusalAudited(t, a)
	g := do(t, httpsClient(p, nil), "GET", s.fhir("Patient"), nil, "X-SSL-Client-Cert", p.Trusted.HeaderValue())
	wantUnauthorized(t, "Go client: a forged X-SSL-Client-Cert from an untrusted address", g)
	// Nor does the header replace a certificate that is presented.
	b := curl(t, p, p.Unknown, "-H", "X-SSL-Client-Cert: "+p.Trusted.HeaderValue(), s.fhir("Patient"))
	wantUnauthorized(t, "an unknown TLS certificate with a forged X-SSL-Client-Cert naming the trusted one", b)
}

func TestS13_CertificateHeaderFromTrustedProxy(t *testing.T) {
	t.Parallel()
	// mixed: no_certificate=limit, unknown_certificate=reject, no_jwt=allow,
	// bad_jwt=reject; 127.0.0.1 is the trusted proxy.
	s := srv(t, "mixed")
	s.Trusted.need(t)
	p := s.pki
	// Over TLS without a client certificate (the proxy terminated the
	// client's TLS), the header carries the client's certificate.
	a := curl(t, p, nil, "-H", "X-SSL-Client-Cert: "+p.Trusted.HeaderValue(), s.fhir("Patient"))
	wantBundleOf(t, "the trusted certificate in X-SSL-Client-Cert from the trusted proxy", a, []string{"Patient/" + s.PatA, "Patient/" + s.PatB}, nil)
	g := do(t, httpsClient(p, nil), "GET", s.fhir("Patient/"+s.PatA), nil, "X-SSL-Client-Cert", p.Trusted.HeaderValue())
	if g.Status != http.StatusOK {
		t.Errorf("Go client, the trusted certificate in the header: %s", g)
	}
	for _, c := range []*pemCert{p.Unknown, p.Expired, p.NotYet, p.WrongUsage} {
		b := curl(t, p, nil, "-H", "X-SSL-Client-Cert: "+c.HeaderValue(), s.fhir("Patient"))
		wantUnauthorized(t, c.Name+" certificate in the header (unknown_certificate=reject)", b)
		if c == p.Expired {
			s.wantRefusalLogged(t, b)
			s.wantRefusalAudited(t, b)
		}
	}
	// Garbage in the header is no certificate the proxy vouched for.
	if b := curl(t, p, nil, "-H", "X-SSL-Client-Cert: "+url.QueryEscape("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), s.fhir("Patient")); b.Status == http.StatusOK {
		if ids, _ := b.bundleIDs(); len(ids) > 0 {
			t.Errorf("a malformed certificate header was served patients: %s", b)
		}
	}
	// No header, no certificate: no_certificate=limit.
	wantBundleOf(t, "no certificate under no_certificate=limit: Organization", curl(t, p, nil, s.fhir("Organization")), []string{"Organization/" + s.Org}, nil)
	wantAnonymousRefused(t, "no certificate under no_certificate=limit: Patient", curl(t, p, nil, s.fhir("Patient")), s)
	// The header is read on the HTTPS listener only.
	h := do(t, &http.Client{Timeout: 10 * time.Second}, "GET", s.HTTP+"/fhir/Patient", nil, "X-SSL-Client-Cert", p.Trusted.HeaderValue())
	wantUnauthorized(t, "the certificate header on the HTTP listener", h)
	// The CapabilityStatement states the effective policy.
	m := curl(t, p, nil, s.fhir("metadata"))
	desc := capabilityDescription(m)
	for _, want := range []string{"no_certificate", "limit", "unknown_certificate", "reject"} {
		if !strings.Contains(desc, want) {
			t.Errorf("CapabilityStatement rest.security.description %q does not state the policy (%s)", desc, want)
		}
	}
}

func capabilityDescription(a *answer) string {
	m := a.json()
	rest, _ := m["rest"].([]any)
	for _, r := range rest {
		rm, _ := r.(map[string]any)
		sec, _ := rm["security"].(map[string]any)
		if d, ok := sec["description"].(string); ok {
			return d
		}
	}
	return ""
}

// boundToken gets a client_credentials token with curl over mTLS
// (tls_client_auth, RFC 8705 §2).
func boundToken(t *testing.T, s *server, c *pemCert, clientID string) string {
	t.Helper()
	a := curl(t, s.pki, c, "--data-urlencode", "grant_type=client_credentials", "--data-urlencode", "client_id="+clientID,
		"--data-urlencode", "scope=system/Patient.rs", s.HTTPS+"/oauth/token")
	tok, _ := a.json()["access_token"].(string)
	if a.Status != http.StatusOK || tok == "" {
		t.Fatalf("client_credentials over mTLS for %s: %s (needs the authtls helper)", clientID, a)
	}
	if tt, _ := a.json()["token_type"].(string); !strings.EqualFold(tt, "bearer") {
		t.Errorf("token_type %q, want Bearer (RFC 8705 §3 keeps it)", tt)
	}
	return tok
}

func TestS13_CertificateBoundToken(t *testing.T) {
	t.Parallel()
	s := srv(t, "allow")
	id := s.Bound.need(t)
	p := s.pki
	tok := boundToken(t, s, p.Bound, id)
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		cnf, _ := claimsOf(t, tok)["cnf"].(map[string]any)
		if cnf["x5t#S256"] != p.Bound.Thumbprint() {
			t.Errorf("the JWT access token's cnf %v, want x5t#S256 %s", cnf, p.Bound.Thumbprint())
		}
	}
	// Introspection (authenticated by the same certificate) returns cnf.
	in := curl(t, p, p.Bound, "--data-urlencode", "token="+tok, "--data-urlencode", "client_id="+id, s.HTTPS+"/oauth/introspect")
	cnf, _ := in.json()["cnf"].(map[string]any)
	if in.Status != http.StatusOK || in.json()["active"] != true || cnf["x5t#S256"] != p.Bound.Thumbprint() {
		t.Errorf("introspection of the bound token: %s, want active with cnf.x5t#S256 %s", in, p.Bound.Thumbprint())
	}
	auth := "Authorization: Bearer " + tok
	// With its certificate: works.
	wantBundleOf(t, "bound token with its certificate", curl(t, p, p.Bound, "-H", auth, s.fhir("Patient")), []string{"Patient/" + s.PatA}, nil)
	// Replayed without it: 401 invalid_token, logged and audited.
	a := curl(t, p, nil, "-H", auth, s.fhir("Patient"))
	wantInvalidToken(t, "bound token without a certificate", a)
	s.wantRefusalLogged(t, a)
	s.wantRefusalAudited(t, a)
	// With another (trusted) certificate, or an unknown one: 401.
	wantInvalidToken(t, "bound token with another client's trusted certificate", curl(t, p, p.Trusted, "-H", auth, s.fhir("Patient")))
	wantInvalidToken(t, "bound token with an unknown certificate", curl(t, p, p.Unknown, "-H", auth, s.fhir("Patient")))
	// With the bound certificate forged into the proxy header from an
	// untrusted address: still no certificate.
	wantInvalidToken(t, "bound token with its certificate in a forged header", curl(t, p, nil, "-H", auth, "-H", "X-SSL-Client-Cert: "+p.Bound.HeaderValue(), s.fhir("Patient")))
	// Never on the HTTP listener (interface.md).
	h := do(t, &http.Client{Timeout: 10 * time.Second}, "GET", s.HTTP+"/fhir/Patient", nil, "Authorization", "Bearer "+tok)
	wantInvalidToken(t, "bound token on the HTTP listener", h)
	// Userinfo takes bound tokens only with their certificate too (a
	// client_credentials token has no user: anything but 200 without it).
	if u := curl(t, p, nil, "-H", auth, s.HTTPS+"/oauth/userinfo"); u.Status == http.StatusOK {
		t.Errorf("userinfo accepted the bound token without its certificate: %s", u)
	}
}

func TestS13_SelfSignedClientByJWKS(t *testing.T) {
	t.Parallel()
	s := srv(t, "allow")
	id := s.Self.need(t)
	p := s.pki
	c := httpsClient(p, p.SelfSigned)
	a := do(t, c, "POST", s.HTTPS+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"},
		"client_id": {id}, "scope": {"system/Patient.rs"}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	tok, _ := a.json()["access_token"].(string)
	if a.Status != http.StatusOK || tok == "" {
		t.Fatalf("self_signed_tls_client_auth client_credentials: %s (needs the authtls helper)", a)
	}
	// Another certificate for the same client id does not authenticate it.
	o := do(t, httpsClient(p, p.Unknown), "POST", s.HTTPS+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"},
		"client_id": {id}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if o.Status != http.StatusUnauthorized && o.Status != http.StatusBadRequest || o.json()["error"] != "invalid_client" {
		t.Errorf("self-signed client id with another certificate: %s, want invalid_client", o)
	}
	// Its (bound) token works with its certificate, not without.
	wantBundleOf(t, "self-signed client's token with its certificate", do(t, c, "GET", s.fhir("Patient"), nil, "Authorization", "Bearer "+tok), []string{"Patient/" + s.PatA}, nil)
	wantInvalidToken(t, "self-signed client's bound token without its certificate", do(t, httpsClient(p, nil), "GET", s.fhir("Patient"), nil, "Authorization", "Bearer "+tok))
}

func TestA8_S13_DiscoveryAdvertisesCertificateAuthentication(t *testing.T) {
	t.Parallel()
	s := srv(t, "allow")
	c := httpsClient(s.pki, nil)
	for _, path := range []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration",
		"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		a := do(t, c, "GET", s.HTTPS+path, nil)
		m := a.json()
		if a.Status != http.StatusOK || m == nil {
			t.Errorf("%s: %s", path, a)
			continue
		}
		if m["tls_client_certificate_bound_access_tokens"] != true {
			t.Errorf("%s: tls_client_certificate_bound_access_tokens = %v, want true (RFC 8705 §3.3)", path, m["tls_client_certificate_bound_access_tokens"])
		}
		methods := toStrings(m["token_endpoint_auth_methods_supported"])
		for _, want := range []string{"tls_client_auth", "self_signed_tls_client_auth"} {
			if !slices.Contains(methods, want) {
				t.Errorf("%s: token_endpoint_auth_methods_supported %v lacks %s", path, methods, want)
			}
		}
		if aliases, ok := m["mtls_endpoint_aliases"].(map[string]any); ok {
			for k, v := range aliases {
				if u, _ := v.(string); !strings.HasPrefix(u, "https://") {
					t.Errorf("%s: mtls_endpoint_aliases %s = %v, not an https URL", path, k, v)
				}
			}
		}
	}
}

func TestS13_AllowListedCertificateAloneActsAsItsClient(t *testing.T) {
	t.Parallel()
	s := srv(t, "allow")
	if s.ListErr != nil {
		t.Fatal(s.ListErr)
	}
	id := s.Listed.need(t)
	p := s.pki
	// A self-signed certificate on the allow-list is trusted without
	// --client-ca and maps to its self_signed_tls_client_auth client by
	// the JWKS it registered.
	a := curl(t, p, p.Listed, s.fhir("Patient"))
	wantBundleOf(t, "curl --cert allow-listed self-signed GET /fhir/Patient", a, []string{"Patient/" + s.PatA}, nil)
	s.auditOf(t, a.ID, "naming the allow-listed certificate's client", func(ev audit.Event) bool {
		return ev.Outcome == audit.Success && ev.ClientID == id
	})
	// Its scope is system/Patient.rs only.
	if o := curl(t, p, p.Listed, s.fhir("Observation")); o.Status != http.StatusForbidden {
		t.Errorf("allow-listed certificate alone, GET /fhir/Observation (not in its scopes): %s, want 403", o)
	}
	// A self-signed certificate that is not listed is no one, though its
	// client registered it (it may authenticate at the token endpoint).
	wantUnauthorized(t, "an unlisted self-signed certificate alone", curl(t, p, p.SelfSigned, s.fhir("Patient")))
}
