// Package authz is smartgate's OAuth 2.0 / OpenID Connect / SMART App Launch
// authorization server, built on github.com/ory/fosite: the /oauth endpoints,
// discovery documents, signing keys and the client model. It declares the
// storage and interaction interfaces it needs and imports no page, identity
// provider or storage backend.
//
// Wiring (cmd/smartgate):
//
//	as, err := authz.New(authz.Config{
//		BaseURLs:     []string{httpURL, httpsURL},
//		FHIRBaseURLs: []string{httpURL + "/fhir", httpsURL + "/fhir"},
//		OWin:         true,
//		ScopeStrategy: smart.ScopeStrategy, // authz/smart
//		Launches:     launches, // EHR launch (optional; package launch; single use via LaunchConsumer)
//	}, db /* *sqlite.DB */, pages /* web: Interaction */, accounts /* Users */, recorder, logger)
//	as.Register(mux)
//	go as.Maintain(ctx, time.Hour) // key rotation schedule, expired-record cleanup
//
// Flows: authorization code with PKCE (S256 only; required for public
// clients and for every client whose RequirePKCE is on, the default),
// refresh tokens with rotation (reuse of a rotated one revokes the grant,
// after an optional grace window), client credentials, OpenID Connect
// (RS256 id_tokens), RFC 7662 introspection, RFC 7009 revocation and the
// OWin password grant (no client; local accounts; throttled; audited).
// Each grant is a handler in fosite's token endpoint chain, in a file named
// by its flow: flow_code.go, flow_refresh.go, flow_client_credentials.go,
// flow_owin.go; flow_token.go is the endpoint that runs the chain and
// audits every answer.
//
// Access tokens are RFC 9068 JWTs signed ES256 (kid in the JWKS); the store
// stays authoritative, so a revoked token introspects (and verifies with
// VerifyAccessToken) as inactive. Only SHA-256 hashes of token signatures
// and client secrets are stored.
//
// Client records go through one ClientCache per process (Server.Clients):
// it caches clients and the registered CORS origins in front of any
// backend and drops both on every change it makes.
//
// Client authentication by TLS certificate (RFC 8705 §2, mtls.go):
// tls_client_auth (a --client-ca certificate with the registered subject DN
// or SAN) and self_signed_tls_client_auth (a key of the client's JWKS) at
// the token, introspection and revocation endpoints; ClientOfCertificate
// maps a certificate to its one client for the HTTPS listener's
// certificate-only requests.
//
// Library functions for the command line and admin pages: CreateClient,
// ResetClientSecret, RotateKeys (and Server.RotateKeys, Server.Keys for
// the running server's keys page); for other packages: VerifyAccessToken
// (FHIR endpoint), Discovery (SMART configuration), RevokeSession (logout,
// online_access), RevokeGrants (user revokes an app, account deactivated).
package authz
