package rowmap

import (
	"encoding/json"
	"fmt"

	"github.com/smartgate/smartgate/authz"
)

// ClientColumns are the columns of oauth_clients, in the order of
// ClientArgs and ScanClient.
const ClientColumns = `id, name, secret_hash, redirect_uris, grant_types, response_types, scopes,
	token_endpoint_auth_method, jwks, jwks_uri, launch_uri, logo_uri, client_uri, require_pkce, public, disabled, created_at,
	contacts, tos_uri, policy_uri, post_logout_redirect_uris, software_id, software_version, registration_token_hash,
	policy, owner, pending, ceiling_scopes, ceiling_grant_types, ceiling_auth_method, registration_token_expires_at, introspect_all,
	allow_system_scopes, allow_scim, tls_subject_dn, tls_san_dns, tls_san_uri, tls_san_ip, tls_san_email, cert_bound_tokens,
	allow_launch_create`

// ClientArgs are the values of ClientColumns for c (an empty policy is
// authz.PolicyAdmin).
func ClientArgs(c *authz.Client) []any {
	policy := c.Policy
	if policy == "" {
		policy = authz.PolicyAdmin
	}
	return []any{c.ID, c.Name, c.SecretHash, jsonList(c.RedirectURIs), jsonList(c.GrantTypes), jsonList(c.ResponseTypes),
		jsonList(c.Scopes), c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI, c.LaunchURI, c.LogoURI, c.ClientURI,
		boolInt(c.RequirePKCE), boolInt(c.Public), boolInt(c.Disabled), encodeTime(c.CreatedAt),
		jsonList(c.Contacts), c.TOSURI, c.PolicyURI, jsonList(c.PostLogoutRedirectURIs), c.SoftwareID, c.SoftwareVersion,
		c.RegistrationTokenHash, policy, c.Owner, boolInt(c.Pending),
		jsonList(c.Ceiling.Scopes), jsonList(c.Ceiling.GrantTypes), c.Ceiling.AuthMethod, encodeTime(c.RegistrationTokenExpiresAt), boolInt(c.IntrospectAll),
		boolInt(c.AllowSystemScopes), boolInt(c.AllowSCIM),
		c.TLSClientAuth.SubjectDN, c.TLSClientAuth.SANDNS, c.TLSClientAuth.SANURI, c.TLSClientAuth.SANIP, c.TLSClientAuth.SANEmail,
		boolInt(c.CertBoundAccessTokens), boolInt(c.AllowLaunchCreate)}
}

// ScanClient reads a row of ClientColumns.
func ScanClient(s Scanner) (*authz.Client, error) {
	var c authz.Client
	var ru, gt, rt, sc, contacts, plru, csc, cgt string
	var created, ratExp int64
	var pkce, pub, dis, pending, all, sys, scim, bound, launchCreate int64
	if err := s.Scan(&c.ID, &c.Name, &c.SecretHash, &ru, &gt, &rt, &sc, &c.TokenEndpointAuthMethod, &c.JWKS, &c.JWKSURI,
		&c.LaunchURI, &c.LogoURI, &c.ClientURI, &pkce, &pub, &dis, &created,
		&contacts, &c.TOSURI, &c.PolicyURI, &plru, &c.SoftwareID, &c.SoftwareVersion, &c.RegistrationTokenHash,
		&c.Policy, &c.Owner, &pending, &csc, &cgt, &c.Ceiling.AuthMethod, &ratExp, &all, &sys, &scim,
		&c.TLSClientAuth.SubjectDN, &c.TLSClientAuth.SANDNS, &c.TLSClientAuth.SANURI, &c.TLSClientAuth.SANIP, &c.TLSClientAuth.SANEmail,
		&bound, &launchCreate); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		s string
		v *[]string
	}{{ru, &c.RedirectURIs}, {gt, &c.GrantTypes}, {rt, &c.ResponseTypes}, {sc, &c.Scopes}, {contacts, &c.Contacts}, {plru, &c.PostLogoutRedirectURIs},
		{csc, &c.Ceiling.Scopes}, {cgt, &c.Ceiling.GrantTypes}} {
		if err := json.Unmarshal([]byte(p.s), p.v); err != nil {
			return nil, fmt.Errorf("client %q: %w", c.ID, err)
		}
	}
	c.RequirePKCE, c.Public, c.Disabled, c.Pending, c.IntrospectAll = pkce != 0, pub != 0, dis != 0, pending != 0, all != 0
	c.AllowSystemScopes, c.AllowSCIM, c.CertBoundAccessTokens, c.AllowLaunchCreate = sys != 0, scim != 0, bound != 0, launchCreate != 0
	c.CreatedAt, c.RegistrationTokenExpiresAt = decodeTime(created), decodeTime(ratExp)
	return &c, nil
}
