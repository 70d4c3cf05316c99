package authz

import (
	"context"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/clientcert"
)

// Certificate-bound access tokens (RFC 8705 §3).
//
// A client registered with tls_client_certificate_bound_access_tokens
// (Client.CertBoundAccessTokens) gets access tokens bound to the client
// certificate of the TLS connection its token request came over: the
// token carries cnf {"x5t#S256": thumbprint} (Session.CertThumbprint, the
// JWT's cnf claim, introspection's cnf) and every resource server of this
// process accepts it only on a request that presents that certificate
// (clientcert.BoundMatches, the one rule).
//
// The certificate need not be trusted (chain to --client-ca or be on the
// allow-list) for binding: the TLS handshake has proven that the client
// holds its private key, and that possession is all a binding asks for
// (RFC 8705 §3: the token is bound to the certificate used for mutual TLS,
// whoever issued it; self_signed_tls_client_auth clients have nothing
// else). Whether a certificate authenticates a client, or may reach
// /fhir and /scim at all, is decided elsewhere (client authentication,
// --client-cert-policy).
//
// A refresh token is bound with its access tokens: the new tokens of a
// bound grant are bound to the same certificate, and a refresh over a
// connection without it (none, or another one) is refused. RFC 8705 §4
// asks this for public clients, whose refresh token is their only
// credential; for confidential clients it is stricter than needed, but a
// grant keeps one binding from start to end (a stolen refresh token and a
// leaked client secret together still do not give tokens for another
// key), and a client that changes its certificate authorizes again.
//
// The token response's token_type stays Bearer (RFC 8705 §3).

// certRequiredDescription is the answer to a bound client that asks for a
// token without a client certificate.
const certRequiredDescription = "This client's tokens are certificate-bound; present its certificate."

// bindCertificate decides, after the client has authenticated and before
// any token is issued, which certificate the new tokens are bound to
// (Session.CertThumbprint), or refuses the request: a client registered
// for bound tokens without a certificate (invalid_request), a refresh of a
// bound grant without its certificate (invalid_request) or with another
// one (invalid_grant).
func (s *Server) bindCertificate(ctx context.Context, ar fosite.AccessRequester) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebugf("unexpected session type %T", ar.GetSession())
	}
	peer := clientcert.From(ctx)
	noCertificate := func(detail string) error {
		s.logBindingRefusal(ctx, "token request refused: "+detail, ar.GetClient().GetID())
		return fosite.ErrInvalidRequest.WithDescription(certRequiredDescription).
			WithWrap(&refusal{outcome: audit.Denied, detail: detail, actor: sess.Subject})
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") && sess.CertThumbprint != "" {
		switch {
		case clientcert.BoundMatches(ctx, sess.CertThumbprint):
			return nil // the new tokens keep the grant's binding
		case peer == nil:
			return noCertificate("certificate-bound refresh token without a client certificate")
		default:
			s.logBindingRefusal(ctx, "token request refused: certificate-bound refresh token with another client certificate", ar.GetClient().GetID())
			return fosite.ErrInvalidGrant.WithHint("The refresh token is bound to another client certificate.").
				WithWrap(&refusal{outcome: audit.Denied, detail: "certificate-bound refresh token with another client certificate", actor: sess.Subject})
		}
	}
	// A code's or a new grant's session carries no binding of its own.
	sess.CertThumbprint = ""
	bound, err := s.certBoundClient(ctx, ar.GetClient())
	if err != nil || !bound {
		return err
	}
	if peer == nil {
		return noCertificate("certificate-bound client without a client certificate")
	}
	sess.CertThumbprint = peer.Thumbprint
	return nil
}

// certBoundClient reports whether c is registered for certificate-bound
// access tokens.
func (s *Server) certBoundClient(ctx context.Context, c fosite.Client) (bool, error) {
	if fc, ok := c.(*fositeClient); ok {
		return fc.c.CertBoundAccessTokens, nil
	}
	fc, err := s.client(ctx, c.GetID())
	if err != nil {
		return false, unavailable(fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
	}
	return fc.c.CertBoundAccessTokens, nil
}

// logBindingRefusal logs a refusal over a certificate binding: what, the
// client, and whether a certificate was presented (never the token).
func (s *Server) logBindingRefusal(ctx context.Context, what, clientID string) {
	s.log.WarnContext(ctx, what, "client_id", clientID, "certificate_presented", clientcert.From(ctx) != nil)
}

// cnfClaim is the RFC 8705 §3.1 confirmation claim of a bound token.
func cnfClaim(thumb string) map[string]any {
	return map[string]any{"x5t#S256": thumb}
}

// cnfThumbprint reads the x5t#S256 of a verified JWT's cnf claim, or "".
func cnfThumbprint(claims map[string]any) string {
	cnf, _ := claims["cnf"].(map[string]any)
	t, _ := cnf["x5t#S256"].(string)
	return t
}

// mtlsDiscovery adds RFC 8705's metadata to a discovery document served
// under base: bound tokens are offered when the HTTPS listener (where
// client certificates are requested) is on, and a document of another
// listener names the HTTPS listener's endpoints in mtls_endpoint_aliases
// (§5), where a client must send its certificate-bound requests.
func (s *Server) mtlsDiscovery(d map[string]any, base string) {
	m := s.cfg.MTLSBaseURL
	if m == "" {
		return
	}
	d["tls_client_certificate_bound_access_tokens"] = true
	if base == m {
		return
	}
	d["mtls_endpoint_aliases"] = map[string]string{
		"token_endpoint":         m + "/oauth/token",
		"introspection_endpoint": m + "/oauth/introspect",
		"revocation_endpoint":    m + "/oauth/revoke",
		"userinfo_endpoint":      m + "/oauth/userinfo",
	}
}
