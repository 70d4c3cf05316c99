package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// Client_credentials access tokens are stateless: no oauth_tokens row is
// written when they are issued (that row and its fsync'd commit were most
// of the cost of issuing one). Their jti carries the mark statelessPrefix,
// which only a token we signed can carry, so after signature verification
// the mark is trustworthy. Introspection (and so the FHIR endpoint) stays
// authoritative for them through
//   - the revocation list (RFC 7009 revocation records the jti until exp),
//   - a live check of the client: gone, disabled or pending → inactive,
//     and re-created (same id) after the token was issued → inactive.
// Every other token goes through fosite's store-backed handlers unchanged.

// statelessPrefix starts the jti of a stateless (client_credentials)
// access token.
const statelessPrefix = "cc."

// grantClientCredentials is Session.Grant of a backend-service token.
const grantClientCredentials = "client_credentials"

// statelessToken is a verified stateless access token.
type statelessToken struct {
	jti, clientID, subject, issuer string
	cnf                            string // the bound x5t#S256 (RFC 8705), or ""
	scopes, aud                    []string
	iat, exp                       time.Time
}

// hasStatelessMark reports, without verifying anything, whether token is a
// JWT whose jti has the stateless mark: a cheap routing decision, so that
// other tokens are verified once (by fosite's handlers), not twice.
func hasStatelessMark(token string) bool {
	i := strings.IndexByte(token, '.')
	if i < 0 {
		return false
	}
	rest := token[i+1:]
	j := strings.IndexByte(rest, '.')
	if j < 0 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(rest[:j])
	if err != nil {
		return false
	}
	var c struct {
		JTI string `json:"jti"`
	}
	return json.Unmarshal(payload, &c) == nil && strings.HasPrefix(c.JTI, statelessPrefix)
}

// verifyStateless verifies token (signature with our keys, ES256, expiry)
// and returns it when it is a stateless access token; ok is false for any
// other token, valid or not.
func (s *accessTokenStrategy) verifyStateless(ctx context.Context, token string) (statelessToken, bool) {
	if !hasStatelessMark(token) {
		return statelessToken{}, false
	}
	claims, err := s.verify(ctx, token)
	if err != nil {
		return statelessToken{}, false
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	num := func(k string) (time.Time, bool) {
		v, ok := claims[k].(float64)
		if !ok {
			return time.Time{}, false
		}
		return time.Unix(int64(v), 0).UTC(), true
	}
	t := statelessToken{jti: str("jti"), clientID: str("client_id"), subject: str("sub"), issuer: str("iss"),
		cnf: cnfThumbprint(claims), scopes: strings.Fields(str("scope")), aud: audClaim(claims["aud"])}
	iat, ok1 := num("iat")
	exp, ok2 := num("exp")
	if !ok1 || !ok2 || t.clientID == "" || !strings.HasPrefix(t.jti, statelessPrefix) {
		return statelessToken{}, false
	}
	t.iat, t.exp = iat, exp
	return t, true
}

// statelessIntrospector answers for stateless access tokens and hands
// every other token to next (fosite's CoreValidator).
type statelessIntrospector struct {
	srv  *Server
	next fosite.TokenIntrospector
}

var _ fosite.TokenIntrospector = (*statelessIntrospector)(nil)

// IntrospectToken implements fosite.TokenIntrospector. Like CoreValidator,
// it finds an access token whatever the token_type_hint.
func (v *statelessIntrospector) IntrospectToken(ctx context.Context, token string, tokenUse fosite.TokenUse, ar fosite.AccessRequester, scopes []string) (fosite.TokenUse, error) {
	t, ok := v.srv.at.verifyStateless(ctx, token)
	if !ok {
		return v.next.IntrospectToken(ctx, token, tokenUse, ar, scopes)
	}
	or, err := v.srv.statelessRequest(ctx, t)
	if err != nil {
		return "", err
	}
	ss := v.srv.fc.GetScopeStrategy(ctx)
	for _, sc := range scopes {
		if sc != "" && !ss(or.GetGrantedScopes(), sc) {
			return "", fosite.ErrInvalidScope.WithHintf("The request scope '%s' has not been granted or is not allowed to be requested.", sc)
		}
	}
	ar.Merge(or)
	return fosite.AccessToken, nil
}

// statelessRequest is the grant of an active stateless token, built as
// fositeStore.hydrate builds it for a stored one; an inactive token gives
// fosite.ErrRequestUnauthorized (wrapping any store error).
func (s *Server) statelessRequest(ctx context.Context, t statelessToken) (*fosite.Request, error) {
	inactive := func(err error) error {
		e := fosite.ErrRequestUnauthorized
		if err != nil {
			e = e.WithWrap(err).WithDebug(err.Error())
		}
		return e
	}
	revoked, err := s.st.AccessJTIRevoked(ctx, t.jti)
	if err != nil {
		return nil, inactive(err)
	}
	if revoked {
		return nil, inactive(nil)
	}
	c, err := s.client(ctx, t.clientID) // fosite.ErrNotFound when gone or disabled
	if err != nil {
		return nil, inactive(err)
	}
	// Client ids can be reused after a delete: a client (re)created after
	// the token was issued is not the one it was issued to. iat has whole
	// seconds, so compare seconds (a token is not younger than its client).
	if c.c.Pending || c.c.Disabled || c.c.CreatedAt.Unix() > t.iat.Unix() {
		return nil, inactive(nil)
	}
	sess := newSession()
	sess.Subject = t.subject
	sess.Issuer = t.issuer
	sess.Claims.Issuer = t.issuer
	sess.Grant = grantClientCredentials
	sess.CertThumbprint = t.cnf
	sess.SetExpiresAt(fosite.AccessToken, t.exp)
	return &fosite.Request{
		ID: t.jti, RequestedAt: t.iat, Client: c,
		RequestedScope: fosite.Arguments(t.scopes), GrantedScope: fosite.Arguments(t.scopes),
		GrantedAudience: fosite.Arguments(t.aud),
		Form:            map[string][]string{}, Session: sess,
	}, nil
}

// statelessRevoker is RFC 7009 revocation of stateless access tokens (the
// jti goes on the revocation list); every other token goes to next
// (fosite's TokenRevocationHandler). An invalid, expired or unknown token
// also goes to next, which answers as it always did (200).
type statelessRevoker struct {
	srv  *Server
	next fosite.RevocationHandler
}

var _ fosite.RevocationHandler = (*statelessRevoker)(nil)

// RevokeToken implements fosite.RevocationHandler.
func (r *statelessRevoker) RevokeToken(ctx context.Context, token string, tokenType fosite.TokenType, client fosite.Client) error {
	t, ok := r.srv.at.verifyStateless(ctx, token)
	if !ok {
		return r.next.RevokeToken(ctx, token, tokenType, client)
	}
	if t.clientID != client.GetID() {
		// As fosite's handler answers for another client's stored token.
		return fosite.ErrUnauthorizedClient
	}
	if err := r.srv.st.RevokeAccessJTI(ctx, t.jti, t.clientID, t.exp); err != nil {
		// The token may still be active: the client should retry.
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	return nil
}
