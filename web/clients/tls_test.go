package clients_test

// The RFC 8705 part of the administrators' registration form (issue 13
// Build 8, S13, DCR8): tls_client_auth with one subject DN or SAN,
// self_signed_tls_client_auth with a JWK Set, and certificate-bound access
// tokens, stored on the client and shown again on its edit page.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz"
)

const testJWKS = `{"keys":[{"kty":"EC","kid":"k","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","alg":"ES256"}]}`

func TestS13_RegistrationFormOffersCertificateMethods(t *testing.T) {
	e := newEnv(t)
	form := e.login("root").get("/admin/clients/new").body
	for _, want := range []string{`<option value="tls_client_auth"`, `<option value="self_signed_tls_client_auth"`,
		`name="tls_client_auth_subject_dn"`, `name="tls_client_auth_san_dns"`, `name="tls_client_auth_san_uri"`,
		`name="tls_client_auth_san_ip"`, `name="tls_client_auth_san_email"`, `name="tls_client_certificate_bound_access_tokens"`} {
		if !strings.Contains(form, want) {
			t.Errorf("/admin/clients/new lacks %s", want)
		}
	}
	// People's own apps are not certificate clients.
	mine := e.login("pat").get("/account/my-apps").body
	if strings.Contains(mine, "tls_client_auth") {
		t.Error("My apps offers the certificate methods")
	}
}

// Certificate-bound tokens go with any method (RFC 8705 §3 binds the token
// to the connection's certificate, whatever authenticated the client).
func TestS13_RegistrationFormCertBoundTokens(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	res, id, _ := root.register(url.Values{"client_name": {"Bound backend"}, "grant_types": {"client_credentials"},
		"token_endpoint_auth_method": {"private_key_jwt"}, "jwks": {testJWKS},
		"tls_client_certificate_bound_access_tokens": {"true"},
		// Left in the form, but not for this method: dropped.
		"tls_client_auth_san_dns": {"left.example"}})
	if id == "" {
		t.Fatalf("register: %s", res.body)
	}
	c, err := e.db.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CertBoundAccessTokens || !c.TLSClientAuth.IsZero() {
		t.Fatalf("stored %+v %+v", c.CertBoundAccessTokens, c.TLSClientAuth)
	}
	edit := root.get("/admin/clients/" + id).body
	if !strings.Contains(edit, `name="tls_client_certificate_bound_access_tokens" value="true" checked`) {
		t.Errorf("edit page does not show the binding:\n%s", edit)
	}
	// Unticked on the edit page: no longer bound.
	r := root.submit("/admin/clients/"+id, "/admin/clients/"+id, url.Values{"client_name": {"Bound backend"}, "grant_types": {"client_credentials"},
		"token_endpoint_auth_method": {"private_key_jwt"}, "jwks": {testJWKS}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if c, _ := e.db.GetClient(context.Background(), id); c.CertBoundAccessTokens {
		t.Error("still bound after the box was unticked")
	}
}

// tls_client_auth registered with each kind of subject.
func TestS13_RegistrationFormTLSClientAuth(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	for _, tt := range []struct {
		field, value string
		got          func(authz.TLSClientAuth) string
	}{
		{"tls_client_auth_subject_dn", "CN=lab-app,O=Example Hospital", func(a authz.TLSClientAuth) string { return a.SubjectDN }},
		{"tls_client_auth_san_dns", "lab.example.org", func(a authz.TLSClientAuth) string { return a.SANDNS }},
		{"tls_client_auth_san_uri", "https://lab.example.org/app", func(a authz.TLSClientAuth) string { return a.SANURI }},
		{"tls_client_auth_san_ip", "192.0.2.7", func(a authz.TLSClientAuth) string { return a.SANIP }},
		{"tls_client_auth_san_email", "lab@example.org", func(a authz.TLSClientAuth) string { return a.SANEmail }},
	} {
		t.Run(tt.field, func(t *testing.T) {
			res, id, secret := root.register(url.Values{"client_name": {"Lab " + tt.field}, "grant_types": {"client_credentials"},
				"token_endpoint_auth_method": {"tls_client_auth"}, tt.field: {" " + tt.value + " "}})
			if id == "" {
				t.Fatalf("register: %s", res.body)
			}
			if secret != "" {
				t.Error("a certificate client was given a secret")
			}
			c, err := e.db.GetClient(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if c.TokenEndpointAuthMethod != authz.AuthTLSClientAuth || tt.got(c.TLSClientAuth) != tt.value {
				t.Fatalf("stored %s %+v", c.TokenEndpointAuthMethod, c.TLSClientAuth)
			}
			if edit := root.get("/admin/clients/" + id).body; !strings.Contains(edit, `name="`+tt.field+`" value="`+tt.value+`"`) ||
				!strings.Contains(edit, `<option value="tls_client_auth" selected>`) {
				t.Errorf("edit page does not show %s", tt.field)
			}
		})
	}
	// The rule (RFC 8705 §2.1.2): exactly one subject.
	for name, f := range map[string]url.Values{
		"none": {},
		"two":  {"tls_client_auth_san_dns": {"a.example"}, "tls_client_auth_san_email": {"a@example.org"}},
	} {
		f.Set("client_name", "Lab "+name)
		f.Set("grant_types", "client_credentials")
		f.Set("token_endpoint_auth_method", "tls_client_auth")
		res, id, _ := root.register(f)
		if id != "" || res.status != http.StatusBadRequest || !strings.Contains(res.body, "exactly one") {
			t.Errorf("%s subject: %d %s", name, res.status, res.body)
		}
		if !strings.Contains(res.body, `<option value="tls_client_auth" selected>`) {
			t.Errorf("%s subject: the form lost the method", name)
		}
	}
}

// self_signed_tls_client_auth needs the client's JWK Set.
func TestS13_RegistrationFormSelfSignedTLSClientAuth(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	res, id, secret := root.register(url.Values{"client_name": {"Self-signed"}, "grant_types": {"client_credentials"},
		"token_endpoint_auth_method": {"self_signed_tls_client_auth"}, "jwks": {testJWKS}, "tls_client_certificate_bound_access_tokens": {"true"}})
	if id == "" || secret != "" {
		t.Fatalf("register: %q %q %s", id, secret, res.body)
	}
	c, err := e.db.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenEndpointAuthMethod != authz.AuthSelfSignedTLSClientAuth || c.JWKS == "" || !c.CertBoundAccessTokens {
		t.Fatalf("stored %+v", c)
	}
	res, id, _ = root.register(url.Values{"client_name": {"No keys"}, "grant_types": {"client_credentials"},
		"token_endpoint_auth_method": {"self_signed_tls_client_auth"}})
	if id != "" || res.status != http.StatusBadRequest || !strings.Contains(res.body, "jwks") {
		t.Errorf("without keys: %d %s", res.status, res.body)
	}
}

// TestS13_OneCertificateOneClientOnThePages: the edit page cannot give a
// client another enabled client's certificate subject (400, the form
// again, nothing stored), and enabling a client whose subject another has
// taken meanwhile is refused (409): one certificate authenticates one
// client (authz.CertificateConflict).
func TestS13_OneCertificateOneClientOnThePages(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	form := func(name, dn string) url.Values {
		return url.Values{"client_name": {name}, "grant_types": {"client_credentials"},
			"token_endpoint_auth_method": {"tls_client_auth"}, "tls_client_auth_subject_dn": {dn}}
	}
	_, first, _ := root.register(form("First", "CN=lab-system,O=Example Hospital"))
	res, second, _ := root.register(form("Second", "CN=second"))
	if first == "" || second == "" {
		t.Fatalf("register: %s", res.body)
	}
	if res, id, _ := root.register(form("Copy", "cn=Lab-System, o=Example Hospital")); id != "" || res.status != http.StatusBadRequest || !strings.Contains(res.body, first) {
		t.Fatalf("registering the first client's subject again: %d %q %s", res.status, id, res.body)
	}
	r := root.submit("/admin/clients/"+second, "/admin/clients/"+second, form("Second", "CN=lab-system, O=Example Hospital"))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "one certificate authenticates one client") {
		t.Fatalf("edit to the first client's subject: %d %s", r.status, r.body)
	}
	if c, _ := e.db.GetClient(context.Background(), second); c.TLSClientAuth.SubjectDN != "CN=second" {
		t.Fatalf("stored after the refused edit: %+v", c.TLSClientAuth)
	}
	// First disabled, its subject is free; enabling it again is refused
	// while another client holds the subject.
	if r := root.submit("/admin/clients/"+first, "/admin/clients/"+first+"/disable", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if r := root.submit("/admin/clients/"+second, "/admin/clients/"+second, form("Second", "CN=lab-system,O=Example Hospital")); r.status != http.StatusSeeOther {
		t.Fatalf("edit to a disabled client's subject: %d %s", r.status, r.body)
	}
	if r := root.submit("/admin/clients/"+first, "/admin/clients/"+first+"/enable", url.Values{}); r.status != http.StatusConflict || !strings.Contains(r.body, second) {
		t.Fatalf("enable while another client holds the subject: %d %s", r.status, r.body)
	}
	if c, _ := e.db.GetClient(context.Background(), first); !c.Disabled {
		t.Fatal("enabled despite the conflict")
	}
}
