package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz"
)

// TestS13_ClientAddTLSClientAuth: `smartgate client add` registers RFC 8705
// certificate clients (tls_client_auth by a subject DN or SAN, bound
// tokens) and refuses bad certificate metadata as a usage error.
func TestS13_ClientAddTLSClientAuth(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, errOut, code := runInProcess(t, data, "", "client", "add", "--name", "Lab", "--grant-types", "client_credentials",
		"--scope", "system/*.rs", "--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=lab-app,O=Example Hospital", "--cert-bound-tokens")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	m := clientIDLine.FindStringSubmatch(out)
	if m == nil || secretLine.MatchString(out) || !strings.Contains(out, "tls_client_auth_subject_dn: CN=lab-app,O=Example Hospital") {
		t.Fatalf("output %q", out)
	}
	c, err := openData(t, data).GetClient(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenEndpointAuthMethod != authz.AuthTLSClientAuth || c.TLSClientAuth.SubjectDN != "CN=lab-app,O=Example Hospital" ||
		!c.CertBoundAccessTokens || c.SecretHash != nil {
		t.Fatalf("stored %+v", c)
	}
	// The method follows from --tls-san-ip; the address is stored canonical.
	out, errOut, code = runInProcess(t, data, "", "client", "add", "--grant-types", "client_credentials", "--scope", "system/*.rs",
		"--tls-san-ip", "2001:DB8::0:1")
	if code != 0 || !strings.Contains(out, "token_endpoint_auth_method: tls_client_auth") || !strings.Contains(out, "tls_client_auth_san_ip: 2001:db8::1") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"--auth-method", "tls_client_auth"},
		{"--auth-method", "tls_client_auth", "--tls-san-ip", "not-an-ip"},
		{"--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=a;O=b"},
		{"--auth-method", "tls_client_auth", "--tls-san-uri", "relative"},
		{"--auth-method", "tls_client_auth", "--tls-san-dns", "a.example", "--tls-san-email", "a@a.example"},
		{"--auth-method", "self_signed_tls_client_auth"},
	} {
		out, errOut, code := runInProcess(t, data, "", append([]string{"client", "add", "--grant-types", "client_credentials", "--scope", "system/*.rs"}, args...)...)
		if code != 2 || !strings.Contains(errOut, "invalid_client_metadata") {
			t.Errorf("%v: exit %d, %q %q; want a usage error (2) naming invalid_client_metadata", args, code, out, errOut)
		}
	}
}
