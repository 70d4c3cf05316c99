// Package authz is smartgate's OAuth 2.0 / OpenID Connect / SMART App Launch
// authorization server, built on github.com/ory/fosite: the /oauth endpoints,
// discovery documents, signing keys and the client model. It declares the
// storage and interaction interfaces it needs and imports no page, identity
// provider or storage backend.
package authz
