// Package rs protects an HTTP service with SMART on FHIR (OAuth 2.0) access
// tokens: the resource-server half of what smartgate, or any SMART
// authorization server, issues.
//
// Middleware takes the bearer token of each request (RFC 6750 §2.1, the
// Authorization header only: never a query parameter), has a Verifier
// check it, and puts the verified Claims in the request's context
// (FromContext): subject, client, scopes, patient, encounter, fhirUser and
// the RFC 8705 certificate binding. A certificate-bound token (cnf
// x5t#S256) is accepted only over a TLS connection that presents that same
// certificate. RequireScope then admits a request only when the token's
// scopes grant a SMART scope, understood as SMART 1 and 2 understand it
// (patient/Observation.read and patient/Observation.rs are the same grant;
// patient/*.rs covers patient/Observation.rs; a granular scope's query is
// never assembled from several scopes).
//
// Two Verifiers are offered, the two ways the SMART literature describes
// for a resource server to check a token:
//
//   - JWKS verifies the token locally as a signed JWT (RFC 9068) against
//     the issuer's keys, discovered from its OpenID or SMART configuration,
//     cached, refetched on an unknown key id at most every MinRefresh. It
//     costs no call per request, but it cannot see a revocation before the
//     token's exp.
//   - Introspection asks the authorization server (RFC 7662) and caches the
//     answer for at most CacheTTL (never past the token's exp), and an
//     inactive answer for NegativeTTL: a revoked token is refused within
//     CacheTTL.
//
// Refusals are RFC 6750 §3: 401 with WWW-Authenticate: Bearer (error
// "invalid_token" for a token that does not verify, none for a request
// without one) and 403 "insufficient_scope" naming the scope that was
// needed, each with a small JSON body. Nothing here logs a token.
//
// The package imports nothing of smartgate's server: only the scope grammar
// (authz/smart), go-jose and the standard library, so that any Go service
// can use it.
package rs
