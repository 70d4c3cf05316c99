package authz

import (
	"net/http"
	"slices"

	"github.com/smartgate/smartgate/listener"
)

// Capabilities lists the SMART capabilities (IG 2.2 conformance.html
// #capabilities) that this server really supports. Features add theirs as
// they land (e.g. launch-ehr with the EHR launch resolver): the document
// never promises what does not work.
func (s *Server) Capabilities() []string {
	caps := []string{
		"launch-standalone",
		"authorize-post",
		"client-public",
		"client-confidential-symmetric",
		"client-confidential-asymmetric",
		"sso-openid-connect",
		"context-standalone-patient",
		"permission-offline",
		"permission-online",
		"permission-patient",
		"permission-user",
		"permission-v1",
		"permission-v2",
	}
	if s.launches != nil {
		// need_patient_banner and smart_style_url are passed through: the
		// SMART 2.x names, and the 1.0 names Inferno's g10 kit still checks.
		caps = append(caps, "launch-ehr", "context-ehr-patient", "context-ehr-encounter",
			"context-passthrough-banner", "context-passthrough-style", "context-banner", "context-style")
	}
	caps = append(caps, s.cfg.ExtraCapabilities...)
	slices.Sort(caps)
	return slices.Compact(caps)
}

// SMARTConfiguration is the .well-known/smart-configuration document for
// the listener whose public base URL is base (checklist A1-A11, K12).
func (s *Server) SMARTConfiguration(base string) map[string]any {
	d := s.Discovery(base)
	out := map[string]any{
		"issuer":                                d["issuer"],
		"jwks_uri":                              d["jwks_uri"],
		"authorization_endpoint":                d["authorization_endpoint"],
		"token_endpoint":                        d["token_endpoint"],
		"introspection_endpoint":                d["introspection_endpoint"],
		"revocation_endpoint":                   d["revocation_endpoint"],
		"userinfo_endpoint":                     d["userinfo_endpoint"],
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "refresh_token"},
		"token_endpoint_auth_methods_supported": authMethods(base),
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384", "RS256", "ES256"},
		"response_types_supported":                         []string{"code"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"capabilities":                                     s.Capabilities(),
		"scopes_supported":                                 s.ScopesSupported(),
	}
	if s.cfg.ManagementPath != "" {
		out["management_endpoint"] = base + s.cfg.ManagementPath
	}
	if v, ok := d["registration_endpoint"]; ok {
		out["registration_endpoint"] = v // the same value in both documents (M2, DCR10)
	}
	for _, k := range []string{"tls_client_certificate_bound_access_tokens", "mtls_endpoint_aliases"} { // RFC 8705
		if v, ok := d[k]; ok {
			out[k] = v
		}
	}
	return out
}

// ScopesSupported lists the scopes this server supports (every one listed
// is granted when a client and person may have it).
func (s *Server) ScopesSupported() []string {
	return []string{
		"openid", "fhirUser", "profile", "offline_access", "online_access",
		"launch", "launch/patient", "launch/encounter",
		"patient/*.cruds", "patient/*.rs", "patient/*.read", "patient/*.write", "patient/*.*",
		"user/*.cruds", "user/*.rs", "user/*.read", "user/*.write", "user/*.*",
		"system/*.cruds", "system/*.rs", "system/*.read", "system/*.write", "system/*.*",
	}
}

// handleSMARTConfiguration answers JSON whatever the Accept header says
// (checklist A2), readable from any origin (A12), without authentication
// (A13).
func (s *Server) handleSMARTConfiguration(w http.ResponseWriter, r *http.Request) {
	d := s.SMARTConfiguration(listener.BaseURL(r))
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, d, false)
}

// OAuthURIs are the endpoints of the CapabilityStatement's oauth-uris
// extension (authorize, token, register, manage, introspect, revoke),
// keyed by its sub-extension urls: the same URLs as SMARTConfiguration of
// base (checklist B4). Endpoints that are off are left out.
func (s *Server) OAuthURIs(base string) map[string]string {
	d := s.SMARTConfiguration(base)
	out := map[string]string{}
	for key, field := range map[string]string{
		"authorize": "authorization_endpoint", "token": "token_endpoint", "register": "registration_endpoint",
		"manage": "management_endpoint", "introspect": "introspection_endpoint", "revoke": "revocation_endpoint",
	} {
		if v, ok := d[field].(string); ok && v != "" {
			out[key] = v
		}
	}
	return out
}
