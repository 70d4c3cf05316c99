// Package registration validates OAuth 2.0 Dynamic Client Registration
// metadata (RFC 7591, RFC 7592) for smartgate's registration endpoint
// (/oauth/register), the administrator's "new client" page and
// `smartgate client add`. It is a pure leaf package: it decides what may be
// registered and builds the response object, but it does not generate or
// store client ids, secrets or registration access tokens.
//
// The rules are the security profile of RFC 9700 (OAuth 2.0 Security BCP)
// §2.1 and §4.1, RFC 8252 (OAuth 2.0 for Native Apps) §7 and the SMART App
// Launch IG 2.2 (client-confidential-asymmetric.html#registering-a-client,
// backend-services.html):
//
//   - Decode reads a registration request (RFC 7591 §3.1) with exact,
//     case-sensitive member names; members it does not know (including
//     client_id and client_secret, RFC 9700 §2.6 / checklist S12) are ignored
//     and never echoed, as RFC 7591 §3.1 requires of unknown metadata.
//   - Validate checks and normalises Metadata under a Policy and returns an
//     *Error carrying an RFC 7591 §3.2.2 error code.
//   - NewResponse builds the RFC 7591 §3.2.1 / RFC 7592 §3 response.
//   - ParseJWKS checks a JWK Set registered by value (checklist DCR9) and
//     Fetcher retrieves one registered by reference (jwks_uri, checklist K8).
//   - ParseDN, DNFromCertificate and DN.Equal read and compare RFC 4514
//     distinguished names (RFC 8705 tls_client_auth_subject_dn against a
//     certificate's subject); TLSSubjectProblem checks the other
//     tls_client_auth_* values.
package registration
