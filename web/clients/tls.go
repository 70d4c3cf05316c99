package clients

// The RFC 8705 part of the administrators' registration form (issue 13):
// token_endpoint_auth_method tls_client_auth with the one subject DN or
// SAN its certificate carries (§2.1.2), self_signed_tls_client_auth with
// the client's JWK Set (§2.2), and certificate-bound access tokens (§3.4,
// tls_client_certificate_bound_access_tokens). The form's field names are
// the RFC's metadata names. authz's validateClient decides what is valid
// (exactly one subject for tls_client_auth, none for other methods).

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/registration"
)

// tlsForm is the RFC 8705 metadata of the form.
type tlsForm struct {
	Auth      authz.TLSClientAuth
	CertBound bool
}

// tlsFields are the RFC 8705 §2.1.2 members, in the form's order.
func (t *tlsForm) fields() []struct {
	Name  string
	Value *string
} {
	return []struct {
		Name  string
		Value *string
	}{
		{"tls_client_auth_subject_dn", &t.Auth.SubjectDN},
		{"tls_client_auth_san_dns", &t.Auth.SANDNS},
		{"tls_client_auth_san_uri", &t.Auth.SANURI},
		{"tls_client_auth_san_ip", &t.Auth.SANIP},
		{"tls_client_auth_san_email", &t.Auth.SANEmail},
	}
}

// tlsFrom reads the form's RFC 8705 fields. The subject fields belong to
// tls_client_auth: for any other method they are dropped (the form shows
// them whatever method is selected, and a value left in them is not a
// request to register it).
func tlsFrom(r *http.Request) tlsForm {
	var t tlsForm
	if strings.TrimSpace(r.PostForm.Get("token_endpoint_auth_method")) == authz.AuthTLSClientAuth {
		for _, f := range t.fields() {
			*f.Value = strings.TrimSpace(r.PostForm.Get(f.Name))
		}
	}
	t.CertBound = r.PostForm.Get("tls_client_certificate_bound_access_tokens") != ""
	return t
}

func tlsOf(c *authz.Client) tlsForm {
	return tlsForm{Auth: c.TLSClientAuth, CertBound: c.CertBoundAccessTokens}
}

// apply sets t on a client about to be registered.
func (t tlsForm) apply(nc *authz.NewClient) {
	nc.TLSClientAuth, nc.CertBoundAccessTokens = t.Auth, t.CertBound
}

// withTLS is m with t's members, read by registration.Decode (the RFC 7591
// endpoint's reader), so that registration.Validate and authz see them
// exactly as in a registration request, whichever Metadata fields carry
// them. m is returned unchanged when t is empty or cannot be encoded (a
// pasted JWK Set that is no JSON, which Validate refuses).
func withTLS(m registration.Metadata, t tlsForm) registration.Metadata {
	if t == (tlsForm{}) {
		return m
	}
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return m
	}
	for _, f := range t.fields() {
		if *f.Value != "" {
			obj[f.Name], _ = json.Marshal(*f.Value)
		}
	}
	if t.CertBound {
		obj["tls_client_certificate_bound_access_tokens"] = json.RawMessage("true")
	}
	if b, err = json.Marshal(obj); err != nil {
		return m
	}
	out, err := registration.Decode(bytes.NewReader(b))
	if err != nil {
		return m
	}
	return out
}

// usesCertificate: the client authenticates with its TLS client
// certificate (RFC 8705 §2).
func usesCertificate(method string) bool {
	return method == authz.AuthTLSClientAuth || method == authz.AuthSelfSignedTLSClientAuth
}
