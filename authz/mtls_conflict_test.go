package authz_test

import (
	"context"
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz"
)

// TestS13_OneCertificateOneClient: a certificate client may not claim the
// subject DN, SAN or inline JWKS key of another enabled one (the
// certificate would then authenticate neither, ClientOfCertificate), on
// every path that makes or changes a client: RFC 7591 registration,
// RFC 7592 updates with the client's own registration access token, and
// CreateClient (the CLI and the pages); a disabled client does not count.
func TestS13_OneCertificateOneClient(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	key := newBackendKey(t, jose.ES256)
	reg := func(extra map[string]any) map[string]any {
		m := map[string]any{"client_name": "Lab", "grant_types": []string{"client_credentials"}, "scope": "system/*.rs"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	wantRefused := func(t *testing.T, what string, resp *http.Response, m map[string]any) {
		t.Helper()
		if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_client_metadata" || m["error_description"] == nil {
			t.Fatalf("%s: %d %v, want 400 invalid_client_metadata", what, resp.StatusCode, m)
		}
	}
	first := e.mustRegister(admin, reg(map[string]any{"tls_client_auth_subject_dn": "CN=lab-system, O=Example Hospital"}))
	e.mustRegister(admin, reg(map[string]any{"tls_client_auth_san_dns": "lab.example.org"}))
	e.mustRegister(admin, reg(map[string]any{"tls_client_auth_san_ip": "192.0.2.7"}))
	e.mustRegister(admin, reg(map[string]any{"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": jwksValue(key)}))
	for name, m := range map[string]map[string]any{
		"same DN, other case and spacing": {"tls_client_auth_subject_dn": "cn=LAB-SYSTEM,o=example hospital"},
		"same dNSName, other case":        {"tls_client_auth_san_dns": "LAB.example.org"},
		"same IP, IPv4-mapped":            {"tls_client_auth_san_ip": "::ffff:192.0.2.7"},
		"same JWKS key":                   {"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": jwksValue(newBackendKey(t, jose.ES256), key)},
	} {
		t.Run(name, func(t *testing.T) {
			resp, got := e.register(admin, reg(m))
			wantRefused(t, "registration", resp, got)
		})
	}
	t.Run("other subjects are free", func(t *testing.T) {
		e.mustRegister(admin, reg(map[string]any{"tls_client_auth_subject_dn": "CN=lab-system, O=Other Hospital"}))
		e.mustRegister(admin, reg(map[string]any{"tls_client_auth_san_uri": "https://lab.example.org"}))
	})
	t.Run("RFC 7592 update to another client's subject", func(t *testing.T) {
		second := e.mustRegister(admin, reg(map[string]any{"tls_client_auth_subject_dn": "CN=second"}))
		id := second["client_id"].(string)
		resp, got := e.call(http.MethodPut, "/oauth/register/"+id, second["registration_access_token"].(string),
			reg(map[string]any{"client_id": id, "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=lab-system,O=Example Hospital"}))
		wantRefused(t, "update", resp, got)
		if c, err := e.db.GetClient(context.Background(), id); err != nil || c.TLSClientAuth.SubjectDN != "CN=second" {
			t.Fatalf("stored after the refused update: %+v %v", c, err)
		}
	})
	t.Run("CreateClient", func(t *testing.T) {
		_, _, err := authz.CreateClient(context.Background(), e.db, authz.NewClient{Name: "CLI", GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SubjectDN: "O=Example Hospital+CN=x"}}, e.clock.Now())
		if err != nil {
			t.Fatalf("a different DN: %v", err)
		}
		_, _, err = authz.CreateClient(context.Background(), e.db, authz.NewClient{Name: "CLI", GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SANDNS: "lab.EXAMPLE.org"}}, e.clock.Now())
		if err == nil {
			t.Fatal("CreateClient took another client's dNSName")
		}
	})
	t.Run("a disabled client does not hold its subject", func(t *testing.T) {
		id := first["client_id"].(string)
		if err := e.db.UpdateClient(context.Background(), id, func(c authz.Client) (authz.Client, error) {
			c.Disabled = true
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		// Against the store itself (the server's client cache sees a change
		// made past it within authz.ClientCacheTTL).
		c := &authz.Client{ID: "new", TokenEndpointAuthMethod: authz.AuthTLSClientAuth,
			TLSClientAuth: authz.TLSClientAuth{SubjectDN: "CN=lab-system, O=Example Hospital"}}
		if err := authz.CertificateConflict(context.Background(), e.db, c); err != nil {
			t.Fatalf("the subject of a disabled client: %v", err)
		}
	})
}
