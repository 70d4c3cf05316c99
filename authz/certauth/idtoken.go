package certauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/store"
)

// idToken verifies tok as an OpenID Connect ID token naming the person
// beside the trusted certificate peer, and returns the JWTUser decision.
// Its errors say why not (for the log: never the token), or wrap
// store.ErrUnavailable.
func (d *Decider) idToken(ctx context.Context, peer *clientcert.Peer, tok string) (Decision, error) {
	c, err := d.client(ctx, peer)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return Decision{}, err
	case err != nil:
		return Decision{}, errors.New("the certificate is no registered client's")
	}
	claims, err := d.verify(ctx, tok, c.ID)
	if err != nil {
		return Decision{}, err
	}
	subject := claims.Subject
	if !d.ownIssuer(claims.Issuer) {
		// Another issuer's subject names a person by its link only
		// (never by e-mail or any other claim).
		l, err := d.o.Links.LinkOf(ctx, claims.Issuer, claims.Subject)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Decision{}, errors.New("the ID token's subject is linked to no account")
		case err != nil:
			return Decision{}, fmt.Errorf("link of the ID token's subject: %w", err)
		}
		subject = l.UserID
	}
	uc, err := d.o.Accounts.Claims(ctx, subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Decision{}, errors.New("the ID token's account is gone or deactivated")
	case err != nil:
		return Decision{}, fmt.Errorf("account of the ID token: %w", err)
	}
	scopes, _ := smart.ParseScopes(strings.Join(personScopes(c, uc), " "))
	p := &access.Principal{Subject: uc.Subject, ClientID: c.ID, Scopes: scopes, FHIRUser: uc.FHIRUser,
		Roles: uc.Roles, CertThumbprint: peer.Thumbprint}
	return Decision{Kind: JWTUser, Client: c, Principal: p}, nil
}

// idClaims are the claims verify checks.
type idClaims struct {
	Issuer    string               `json:"iss"`
	Subject   string               `json:"sub"`
	Audience  josejwt.Audience     `json:"aud"`
	Expiry    *josejwt.NumericDate `json:"exp"`
	NotBefore *josejwt.NumericDate `json:"nbf"`
}

// verify checks tok's signature (an allowed asymmetric alg, a key of its
// issuer's set, chosen by kid), its header typ (not an access token), and
// its claims: iss exactly this server's or a trusted issuer's, exp (and
// nbf) within the leeway, aud containing clientID or the trusted issuer's
// configured audience, a non-empty sub.
func (d *Decider) verify(ctx context.Context, tok, clientID string) (*idClaims, error) {
	jwt, err := josejwt.ParseSigned(tok, allowedAlgs())
	if err != nil {
		return nil, errors.New("not a JWT signed with an allowed algorithm")
	}
	if len(jwt.Headers) != 1 {
		return nil, errors.New("not one signature")
	}
	h := jwt.Headers[0]
	if isAccessTokenType(h.ExtraHeaders[jose.HeaderType]) {
		return nil, errors.New("an access token, not an ID token")
	}
	var unverified idClaims
	if err := jwt.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, errors.New("claims do not decode")
	}
	iss := unverified.Issuer
	audience := clientID
	var keys func(force bool) (*jose.JSONWebKeySet, error)
	switch {
	case iss != "" && d.ownIssuer(iss):
		keys = func(force bool) (*jose.JSONWebKeySet, error) { return d.o.OwnKeys(ctx, force) }
	default:
		i := slices.IndexFunc(d.o.Trusted, func(t TrustedIssuer) bool { return t.Issuer == iss })
		if iss == "" || i < 0 {
			return nil, errors.New("the issuer is not trusted")
		}
		ti := d.o.Trusted[i]
		if ti.Audience != "" {
			audience = ti.Audience
		}
		keys = func(force bool) (*jose.JSONWebKeySet, error) { return d.o.FetchJWKS(ctx, ti.JWKSURI, force) }
	}
	key, err := signingKey(keys, h)
	if err != nil {
		return nil, err
	}
	var c idClaims
	if err := jwt.Claims(key.Key, &c); err != nil {
		return nil, errors.New("the signature does not verify")
	}
	now := d.o.Now()
	switch {
	case c.Issuer != iss:
		return nil, errors.New("the issuer changed") // cannot happen: one payload
	case c.Subject == "":
		return nil, errors.New("no sub")
	case c.Expiry == nil:
		return nil, errors.New("no exp")
	case !now.Before(c.Expiry.Time().Add(d.o.Leeway)):
		return nil, errors.New("expired")
	case c.NotBefore != nil && now.Add(d.o.Leeway).Before(c.NotBefore.Time()):
		return nil, errors.New("not yet valid (nbf)")
	case !c.Audience.Contains(audience):
		return nil, fmt.Errorf("the audience is not %q", audience)
	}
	return &c, nil
}

// signingKey is the key of set (reloaded once for an unknown kid) that
// signed a token with header h: by kid when the token names one (else the
// one key that fits), of the type the algorithm needs, and whose own alg,
// when the set states one, is the token's.
func signingKey(set func(force bool) (*jose.JSONWebKeySet, error), h jose.Header) (*jose.JSONWebKey, error) {
	for _, force := range []bool{false, true} {
		s, err := set(force)
		if err != nil {
			if errors.Is(err, store.ErrUnavailable) {
				return nil, err
			}
			return nil, errors.New("the issuer's keys cannot be fetched")
		}
		var fits []*jose.JSONWebKey
		for i := range s.Keys {
			k := &s.Keys[i]
			if h.KeyID != "" && k.KeyID != h.KeyID {
				continue
			}
			if k.Use != "" && k.Use != "sig" || k.Algorithm != "" && k.Algorithm != h.Algorithm || !keyFits(k, h.Algorithm) {
				continue
			}
			fits = append(fits, k)
		}
		switch {
		case len(fits) == 1:
			return fits[0], nil
		case len(fits) > 1:
			return nil, errors.New("the token's key is ambiguous")
		case h.KeyID == "":
			return nil, errors.New("no key of the issuer fits")
		}
	}
	return nil, errors.New("the token's kid is not a key of the issuer")
}

// keyFits reports whether k is a public key of the type alg needs.
func keyFits(k *jose.JSONWebKey, alg string) bool {
	if !k.IsPublic() {
		return false
	}
	switch jose.SignatureAlgorithm(alg) {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		_, ok := k.Key.(*rsa.PublicKey)
		return ok
	case jose.ES256, jose.ES384, jose.ES512:
		pub, ok := k.Key.(*ecdsa.PublicKey)
		want := map[jose.SignatureAlgorithm]elliptic.Curve{jose.ES256: elliptic.P256(), jose.ES384: elliptic.P384(), jose.ES512: elliptic.P521()}
		return ok && pub.Curve == want[jose.SignatureAlgorithm(alg)]
	case jose.EdDSA:
		_, ok := k.Key.(ed25519.PublicKey)
		return ok
	}
	return false
}
