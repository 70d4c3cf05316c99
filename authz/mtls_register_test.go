package authz_test

import (
	"context"
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/registration"
)

// TestS13_RegisterTLSClientAuth: RFC 7591 registration of the RFC 8705
// metadata (§2.1.2, §2.2, §3.4) over HTTP, stored, returned at once and by
// RFC 7592 reads and updates.
func TestS13_RegisterTLSClientAuth(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	key := newBackendKey(t, jose.ES256)
	for _, tc := range []struct {
		name  string
		field string
		value string
		want  string // the registered value (IP addresses in canonical form)
		check func(authz.TLSClientAuth) string
	}{
		{"subject DN", "tls_client_auth_subject_dn", "CN=lab-app, O=Example Hospital, C=DE", "CN=lab-app, O=Example Hospital, C=DE",
			func(a authz.TLSClientAuth) string { return a.SubjectDN }},
		{"dNSName", "tls_client_auth_san_dns", "backend.example.org", "backend.example.org", func(a authz.TLSClientAuth) string { return a.SANDNS }},
		{"URI", "tls_client_auth_san_uri", "spiffe://example.org/backend", "spiffe://example.org/backend", func(a authz.TLSClientAuth) string { return a.SANURI }},
		{"IP", "tls_client_auth_san_ip", "2001:DB8:0::7", "2001:db8::7", func(a authz.TLSClientAuth) string { return a.SANIP }},
		{"e-mail", "tls_client_auth_san_email", "ops@example.org", "ops@example.org", func(a authz.TLSClientAuth) string { return a.SANEmail }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := e.mustRegister(admin, map[string]any{"client_name": "Lab " + tc.name, "token_endpoint_auth_method": "tls_client_auth",
				"grant_types": []string{"client_credentials"}, "scope": "system/*.rs", tc.field: tc.value,
				"tls_client_certificate_bound_access_tokens": true})
			id, _ := m["client_id"].(string)
			if m["token_endpoint_auth_method"] != "tls_client_auth" || m[tc.field] != tc.want ||
				m["tls_client_certificate_bound_access_tokens"] != true || m["client_secret"] != nil {
				t.Fatalf("registration response %v", m)
			}
			c, err := e.db.GetClient(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if tc.check(c.TLSClientAuth) != tc.want || !c.CertBoundAccessTokens || c.SecretHash != nil || c.Public {
				t.Fatalf("stored %+v", c)
			}
			resp, got := e.call(http.MethodGet, "/oauth/register/"+id, m["registration_access_token"].(string), nil)
			if resp.StatusCode != http.StatusOK || got[tc.field] != tc.want || got["tls_client_certificate_bound_access_tokens"] != true ||
				got["token_endpoint_auth_method"] != "tls_client_auth" {
				t.Fatalf("RFC 7592 read: %d %v", resp.StatusCode, got)
			}
		})
	}
	t.Run("self-signed with jwks, then an update", func(t *testing.T) {
		m := e.mustRegister(admin, map[string]any{"client_name": "Self", "token_endpoint_auth_method": "self_signed_tls_client_auth",
			"grant_types": []string{"client_credentials"}, "scope": "system/*.rs", "jwks": jwksValue(key)})
		if m["token_endpoint_auth_method"] != "self_signed_tls_client_auth" || m["jwks"] == nil || m["client_secret"] != nil {
			t.Fatalf("registration response %v", m)
		}
		if _, ok := m["tls_client_certificate_bound_access_tokens"]; ok {
			t.Errorf("false bound-token flag should be left out: %v", m)
		}
		id := m["client_id"].(string)
		// RFC 7592 §2.2: the update replaces the metadata; the method stays.
		resp, up := e.call(http.MethodPut, "/oauth/register/"+id, m["registration_access_token"].(string), map[string]any{
			"client_id": id, "client_name": "Self", "token_endpoint_auth_method": "self_signed_tls_client_auth",
			"grant_types": []string{"client_credentials"}, "scope": "system/*.rs", "jwks": jwksValue(key),
			"tls_client_certificate_bound_access_tokens": true})
		if resp.StatusCode != http.StatusOK || up["tls_client_certificate_bound_access_tokens"] != true {
			t.Fatalf("update: %d %v", resp.StatusCode, up)
		}
		if c, _ := e.db.GetClient(context.Background(), id); !c.CertBoundAccessTokens || c.TokenEndpointAuthMethod != authz.AuthSelfSignedTLSClientAuth {
			t.Fatalf("stored after update %+v", c)
		}
	})
	t.Run("the method follows from a tls_client_auth member", func(t *testing.T) {
		m := e.mustRegister(admin, map[string]any{"client_name": "Implied", "grant_types": []string{"client_credentials"},
			"scope": "system/*.rs", "tls_client_auth_san_dns": "implied.example"})
		if m["token_endpoint_auth_method"] != "tls_client_auth" {
			t.Fatalf("registration response %v", m)
		}
	})
	t.Run("authorization code", func(t *testing.T) {
		m := e.mustRegister(admin, map[string]any{"client_name": "Web", "token_endpoint_auth_method": "tls_client_auth",
			"redirect_uris": []string{"https://web.example/cb"}, "tls_client_auth_subject_dn": "CN=web"})
		if c, _ := e.db.GetClient(context.Background(), m["client_id"].(string)); c == nil || c.Public || c.TokenEndpointAuthMethod != authz.AuthTLSClientAuth || c.SecretHash != nil {
			t.Fatalf("stored %+v", c)
		}
	})
}

func jwksValue(keys ...backendKey) map[string]any {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	return map[string]any{"keys": set.Keys}
}

// TestS13_RegisterTLSClientAuthRefused: bad RFC 8705 metadata is 400
// invalid_client_metadata (RFC 7591 §3.2.2), and open registration cannot
// create certificate clients (they are confidential).
func TestS13_RegisterTLSClientAuthRefused(t *testing.T) {
	e := newRegEnv(t, true)
	admin := e.ownToken("root", "root-pw")
	key := newBackendKey(t, jose.ES256)
	backend := func(extra map[string]any) map[string]any {
		m := map[string]any{"client_name": "Bad", "grant_types": []string{"client_credentials"}, "scope": "system/*.rs"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"DN that does not parse", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=a;O=b"})},
		{"DN with an unknown attribute", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "XYZ=a"})},
		{"IP that is not one", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_ip": "300.1.2.3"})},
		{"IP with a zone", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_ip": "fe80::1%eth0"})},
		{"relative URI", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_uri": "backend/path"})},
		{"URI with a space", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_uri": "https://a.example/x y"})},
		{"DNS name that is not one", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "a..example"})},
		{"e-mail without domain", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_email": "ops@"})},
		{"tls_client_auth without a member", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth"})},
		{"tls_client_auth with two members", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth",
			"tls_client_auth_subject_dn": "CN=a", "tls_client_auth_san_dns": "a.example"})},
		{"a member with another method", backend(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": jwksValue(key),
			"tls_client_auth_san_dns": "a.example"})},
		{"self-signed without keys", backend(map[string]any{"token_endpoint_auth_method": "self_signed_tls_client_auth"})},
		{"self-signed with a member", backend(map[string]any{"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": jwksValue(key),
			"tls_client_auth_subject_dn": "CN=a"})},
		{"tls_client_auth with keys", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "jwks": jwksValue(key),
			"tls_client_auth_subject_dn": "CN=a"})},
		{"bound tokens not a boolean", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=a",
			"tls_client_certificate_bound_access_tokens": "yes"})},
		{"DN not a string", backend(map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": []string{"CN=a"}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, m := e.register(admin, tc.body)
			t.Log(m["error_description"])
			if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
				t.Fatalf("%d %v, want 400 invalid_client_metadata", resp.StatusCode, m)
			}
		})
	}
	t.Run("open registration", func(t *testing.T) {
		resp, m := e.register("", map[string]any{"client_name": "Open", "redirect_uris": []string{"https://a.example/cb"},
			"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=a"})
		if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
			t.Fatalf("%d %v, want 400 invalid_client_metadata", resp.StatusCode, m)
		}
	})
}

// TestS13_CreateClientChecksTLSMetadata: CreateClient (the CLI and the
// pages after registration.Validate) refuses what registration refuses.
func TestS13_CreateClientChecksTLSMetadata(t *testing.T) {
	e := newEnv(t)
	for _, nc := range []authz.NewClient{
		{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, GrantTypes: []string{"client_credentials"}},
		{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, GrantTypes: []string{"client_credentials"}, TLSClientAuth: authz.TLSClientAuth{SubjectDN: "CN=a", SANIP: "192.0.2.1"}},
		{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, GrantTypes: []string{"client_credentials"}, TLSClientAuth: authz.TLSClientAuth{SANIP: "192.0.2"}},
		{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, GrantTypes: []string{"client_credentials"}, TLSClientAuth: authz.TLSClientAuth{SubjectDN: "CN"}},
		{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, GrantTypes: []string{"client_credentials"}, TLSClientAuth: authz.TLSClientAuth{SANURI: "/relative"}},
		{TokenEndpointAuthMethod: authz.AuthSelfSignedTLSClientAuth, GrantTypes: []string{"client_credentials"}},
		{TokenEndpointAuthMethod: authz.AuthClientSecretBasic, RedirectURIs: []string{"https://a.example/cb"}, TLSClientAuth: authz.TLSClientAuth{SANDNS: "a.example"}},
	} {
		if c, _, err := authz.CreateClient(context.Background(), e.db, nc, e.clock.Now()); err == nil {
			t.Errorf("CreateClient(%+v) = %+v, want an error", nc, c)
		}
	}
}

// TestS13_CertificateMethodsForAdministratorsOnly: a person's own app (the
// ceiling policy of "My apps") or an open registration cannot take a
// certificate method: another client registered for the same subject or
// public key would make that certificate authenticate nobody.
func TestS13_CertificateMethodsForAdministratorsOnly(t *testing.T) {
	for _, p := range []registration.Policy{
		authz.CeilingPolicy(authz.DefaultUserScopes(), true),
		authz.CeilingPolicy(authz.DefaultOpenRegistrationScopes(), false),
	} {
		for _, m := range []registration.Metadata{
			{RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: "tls_client_auth", TLSClientAuthSubjectDN: "CN=a"},
			{RedirectURIs: []string{"https://a.example/cb"}, TLSClientAuthSubjectDN: "CN=a"},
			{RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: "self_signed_tls_client_auth", JWKSURI: "https://a.example/jwks"},
		} {
			if out, err := registration.Validate(m, p); err == nil {
				t.Errorf("Validate(%+v) under %+v = %+v, want invalid_client_metadata", m, p, out)
			}
		}
	}
	// An administrator's certificate client keeps its method in RFC 7592
	// updates (UpdatePolicy).
	c := &authz.Client{TokenEndpointAuthMethod: authz.AuthTLSClientAuth, GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}}
	c.SetCeiling()
	if _, err := registration.Validate(registration.Metadata{TokenEndpointAuthMethod: "tls_client_auth", GrantTypes: []string{"client_credentials"},
		Scope: "system/*.rs", TLSClientAuthSANDNS: "renewed.example"}, authz.UpdatePolicy(c)); err != nil {
		t.Errorf("update of a tls_client_auth client: %v", err)
	}
}
