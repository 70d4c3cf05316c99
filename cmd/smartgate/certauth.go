package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/certauth"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/listener"
)

// The secure interface's decision (issue 13, authz/certauth): what a
// client certificate and the bearer token together authenticate on the
// HTTPS listener's /fhir and /scim, under --client-cert-policy.

// newCertAuth makes the Decider over the authorization server (this
// server's ID tokens, the certificate's client, jwks_uri fetches), the
// identity links, the accounts and the anonymous account's scopes.
func newCertAuth(cfg *config.Config, db database, as *authz.Server, users authz.Accounts, rec audit.Recorder,
	logger *slog.Logger) (*certauth.Decider, error) {
	trusted := make([]certauth.TrustedIssuer, 0, len(cfg.TrustedJWTIssuers))
	for _, ti := range cfg.TrustedJWTIssuers {
		trusted = append(trusted, certauth.TrustedIssuer{Issuer: ti.Issuer, JWKSURI: ti.JWKSURI, Audience: ti.Audience})
	}
	d, err := certauth.New(certauth.Options{
		Policy:              cfg.CertPolicy(),
		ClientOfCertificate: as.ClientOfCertificate,
		Issuers:             as.Issuers(),
		OwnKeys:             as.IDTokenKeys,
		Trusted:             trusted,
		FetchJWKS:           as.FetchJWKS,
		Links:               db,
		Accounts:            users,
		Anonymous:           certauth.NewAnonymous(db),
		Logger:              logger,
		Audit:               rec,
	})
	if err != nil {
		return nil, fmt.Errorf("client certificate policy: %w", err)
	}
	return d, nil
}

// securityDescription is the CapabilityStatement's rest.security.description:
// on the HTTPS listener it states the client-certificate policy in effect.
func securityDescription(p clientcert.Policy) func(r *http.Request) string {
	names := map[clientcert.Action]string{
		clientcert.Reject: "reject (401)",
		clientcert.Limit:  "limit (served as the built-in anonymous account)",
		clientcert.Allow:  "allow (no difference)",
	}
	parts := make([]string, 0, len(clientcert.Cases))
	for _, c := range clientcert.Cases {
		parts = append(parts, string(c)+": "+names[p.For(c)])
	}
	https := "SMART on FHIR and OWin bearer tokens; client certificates (RFC 8705) identify a registered client, " +
		"optionally with an OpenID Connect ID token of a trusted issuer naming the user. Client certificate policy (" +
		p.String() + "): " + strings.Join(parts, "; ") + "."
	return func(r *http.Request) string {
		if info, ok := listener.From(r.Context()); ok && info.Secure {
			return https
		}
		return "SMART on FHIR and OWin bearer tokens."
	}
}
