package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// accessTokenStrategy issues RFC 9068 JWT access tokens signed ES256, so
// that any resource server can check them with the JWKS. Introspection stays
// authoritative: it looks a token up by its signature in the store, or, for
// a stateless client_credentials token (jti prefix "cc.", no stored record),
// checks the revocation list and the client (stateless.go).
type accessTokenStrategy struct {
	keys *keyring
	now  func() time.Time
	aud  []string // default audience: the FHIR bases
}

var _ oauth2.AccessTokenStrategy = (*accessTokenStrategy)(nil)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s *accessTokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || strings.Count(token, ".") != 2 {
		return ""
	}
	return token[i+1:]
}

func (s *accessTokenStrategy) GenerateAccessToken(ctx context.Context, req fosite.Requester) (string, string, error) {
	sess, ok := req.GetSession().(*Session)
	if !ok {
		return "", "", fmt.Errorf("authz: unexpected session type %T", req.GetSession())
	}
	key, err := s.keys.signer(ctx, AlgAccessToken)
	if err != nil {
		return "", "", err
	}
	now := s.now().UTC()
	rnd := make([]byte, 16)
	if _, err := rand.Read(rnd); err != nil {
		return "", "", err
	}
	jti := b64(rnd)
	if sess.Grant == grantClientCredentials {
		jti = statelessPrefix + jti
	}
	iss := sess.Issuer
	if iss == "" {
		iss = issuerFrom(ctx)
	}
	aud := []string(req.GetGrantedAudience())
	if len(aud) == 0 {
		aud = s.aud
	}
	sub := sess.GetSubject()
	if sub == "" {
		sub = req.GetClient().GetID()
	}
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(time.Hour)
	}
	claims := map[string]any{
		"iss":       iss,
		"sub":       sub,
		"aud":       aud,
		"exp":       exp.Unix(),
		"iat":       now.Unix(),
		"jti":       jti,
		"client_id": req.GetClient().GetID(),
		"scope":     strings.Join(req.GetGrantedScopes(), " "),
	}
	if sess.FHIRUser != "" {
		claims["fhirUser"] = sess.FHIRUser
	}
	for k, v := range sess.contextFields() {
		claims[k] = v
	}
	if len(sess.Roles) > 0 {
		claims["roles"] = sess.Roles
	}
	if sess.CertThumbprint != "" {
		claims["cnf"] = cnfClaim(sess.CertThumbprint) // RFC 8705 §3.1
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key.priv},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", key.ID))
	if err != nil {
		return "", "", fmt.Errorf("authz: access token signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("authz: sign access token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", "", err
	}
	return tok, s.AccessTokenSignature(ctx, tok), nil
}

// ValidateAccessToken checks the signature and expiry (the store lookup by
// signature has already established that the token was issued and is not
// revoked).
func (s *accessTokenStrategy) ValidateAccessToken(ctx context.Context, _ fosite.Requester, token string) error {
	_, err := s.verify(ctx, token)
	return err
}

// verify checks a JWT access token and returns its claims.
func (s *accessTokenStrategy) verify(ctx context.Context, token string) (map[string]any, error) {
	t, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(t.Headers) != 1 {
		return nil, fosite.ErrInvalidTokenFormat
	}
	pub, alg, err := s.keys.verificationKey(ctx, t.Headers[0].KeyID)
	if err != nil || alg != AlgAccessToken {
		return nil, fosite.ErrTokenSignatureMismatch
	}
	var claims map[string]any
	var std josejwt.Claims
	if err := t.Claims(pub, &claims, &std); err != nil {
		return nil, fosite.ErrTokenSignatureMismatch
	}
	if std.Expiry == nil || !s.now().Before(std.Expiry.Time()) {
		return nil, fosite.ErrTokenExpired
	}
	return claims, nil
}
