// Package certauth is the secure interface's decision (issue 13,
// interface.md "Interfaces"): on the HTTPS listener's /fhir and /scim (not
// /fhir/metadata, /fhir/.well-known, discovery, /oauth or the pages), what
// a request's client certificate (clientcert.Peer, put in its context by
// the listener's Verifier) and its bearer token together authenticate, and
// what --client-cert-policy does in its four cases:
//
//   - no_certificate: no client certificate;
//   - unknown_certificate: one that neither chains to --client-ca nor is on
//     the allow-list;
//   - no_jwt: a trusted certificate and no Authorization header;
//   - bad_jwt: a trusted certificate and a bearer JWT that is not a valid
//     access token and fails verification as an OpenID Connect ID token of
//     a trusted issuer (this server, or one of trusted_jwt_issuers).
//
// reject answers 401 with WWW-Authenticate whatever else the request
// carries (the certificate, or the ID token, is mandatory); limit serves a
// request that carries no valid access token as the built-in anonymous
// account (a valid access token still decides); allow makes no
// difference (a valid access token decides; a trusted certificate alone
// acts as its registered client; anything else is the endpoint's usual
// 401). A bad access token (one that is no JWT at all, one whose header
// says it is an access token (typ at+jwt, RFC 9068: a revoked, expired or
// replayed bound token), or any token when no trusted certificate is
// presented) is always 401 invalid_token, never served as anonymous. An
// unsigned JWT (alg none) is a JWT: beside a trusted certificate it is a
// bad_jwt. So no_jwt=limit serves a trusted certificate alone as the
// anonymous account, not as its client.
//
// A trusted certificate with no token acts as its RFC 8705 client
// (authz.Server.ClientOfCertificate) with the scopes an administrator
// registered for that client. With a verified ID token beside it, the
// token's subject names the person, mapped to a local account by its
// (issuer, subject) link only (this server's own ID tokens: sub is the
// account id); the client's scopes then act for that person (system/
// scopes as user/, within the person's rights: their app ceiling). An ID
// token beside a trusted certificate that is no registered client's, or
// whose keys cannot be fetched, fails verification (bad_jwt): there is no
// client for the person to act through.
//
// On /scim the anonymous account may do nothing (403); a certificate's
// client may when it may be granted the scim scope (an administrator
// allowed it SCIM: the rule of its tokens); a person through an ID token
// when they are an administrator now and the client may be granted scim.
package certauth
