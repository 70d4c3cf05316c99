package authz

import (
	"context"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// PostLogoutRedirectAllowed reports whether uri is a post_logout_redirect_uri
// registered (exact match) by the client named by clientID or, when clientID
// is empty, by the audience of idTokenHint, an id_token this server signed
// (OIDC RP-Initiated Logout 1.0 §2, §3). Anything else is refused: the
// logout page then never redirects (no open redirector, RFC 9700 §4.11).
func (s *Server) PostLogoutRedirectAllowed(ctx context.Context, clientID, idTokenHint, uri string) bool {
	if uri == "" {
		return false
	}
	if idTokenHint != "" {
		aud, ok := s.idTokenAudience(ctx, idTokenHint)
		if !ok || (clientID != "" && clientID != aud) {
			return false
		}
		clientID = aud
	}
	if clientID == "" {
		return false
	}
	c, err := s.st.GetClient(ctx, clientID)
	if err != nil || c.Disabled {
		return false
	}
	return slices.Contains(c.PostLogoutRedirectURIs, uri)
}

// idTokenAudience checks that hint is an id_token signed by one of this
// server's keys (current or retired) and issued by one of its listeners,
// and returns its single audience. Expiry is not checked: a hint may be
// an expired id_token (RP-Initiated Logout §2).
func (s *Server) idTokenAudience(ctx context.Context, hint string) (string, bool) {
	tok, err := josejwt.ParseSigned(hint, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return "", false
	}
	key, _, err := s.keys.verificationKey(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return "", false
	}
	var claims josejwt.Claims
	if err := tok.Claims(key, &claims); err != nil {
		return "", false
	}
	if !slices.Contains(s.cfg.BaseURLs, claims.Issuer) || len(claims.Audience) != 1 {
		return "", false
	}
	return claims.Audience[0], true
}
