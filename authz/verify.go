package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/store"
)

// ErrInactiveToken is returned by VerifyAccessToken for a token that is
// unknown, expired, revoked or not an access token.
var ErrInactiveToken = errors.New("authz: token is not active")

// TokenInfo is what a resource server (the FHIR endpoint) needs to know
// about an active access token.
type TokenInfo struct {
	Subject   string // user id; the client id for client_credentials
	ClientID  string
	Username  string
	FHIRUser  string // relative reference, e.g. Practitioner/9
	Scopes    []string
	Audience  []string // the FHIR base(s) the token is for
	Issuer    string
	Grant     string // authorization_code, client_credentials or password
	Roles     []string
	Launch    *LaunchContext // SMART launch context (patient, encounter, …), or nil
	ExpiresAt time.Time
	// CertThumbprint is the x5t#S256 the token is bound to (RFC 8705), or
	// "": check it with clientcert.BoundMatches.
	CertThumbprint string
}

// Patient is the bare id of the token's patient context, or "".
func (ti *TokenInfo) Patient() string {
	if ti.Launch == nil {
		return ""
	}
	return ti.Launch.Patient
}

// VerifyAccessToken checks a bearer access token against the store (so a
// revoked token fails even though its JWT signature is still valid). It
// returns ErrInactiveToken for a token that must be refused (401) and an
// error wrapping store.ErrUnavailable when the store is down (503).
// It implements what the FHIR endpoint's TokenVerifier needs.
//
// ctx must be the request's: a certificate-bound token (RFC 8705) is
// inactive unless ctx carries its certificate (clientcert.BoundMatches),
// so never valid over the HTTP listener. A caller that caches the answer
// checks TokenInfo.CertThumbprint again on every request.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*TokenInfo, error) {
	tu, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, newSession())
	if errors.Is(err, store.ErrUnavailable) {
		return nil, fmt.Errorf("authz: verify access token: %w", err)
	}
	if err != nil || tu != fosite.AccessToken {
		return nil, ErrInactiveToken
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return nil, ErrInactiveToken
	}
	if !clientcert.BoundMatches(ctx, sess.CertThumbprint) {
		s.logBindingRefusal(ctx, "certificate-bound access token without its certificate", ar.GetClient().GetID())
		return nil, ErrInactiveToken
	}
	aud := []string(ar.GetGrantedAudience())
	if len(aud) == 0 {
		// Issued without an aud parameter (OWin, client_credentials): the
		// token's aud claim names the FHIR bases of the server that issued
		// it, which need not be this configuration's.
		claims, err := s.at.verify(ctx, token)
		if err != nil {
			return nil, ErrInactiveToken
		}
		aud = audClaim(claims["aud"])
	}
	sub := sess.GetSubject()
	if sub == "" {
		sub = ar.GetClient().GetID()
	}
	return &TokenInfo{
		Subject: sub, ClientID: ar.GetClient().GetID(), Username: sess.Username, FHIRUser: sess.FHIRUser,
		Scopes: ar.GetGrantedScopes(), Audience: aud, Issuer: sess.Issuer, Grant: sess.Grant, Roles: sess.Roles,
		Launch: sess.Launch, ExpiresAt: sess.GetExpiresAt(fosite.AccessToken), CertThumbprint: sess.CertThumbprint,
	}, nil
}

// audClaim reads a JWT aud claim (a string or an array of strings).
func audClaim(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
