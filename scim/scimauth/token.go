package scimauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix starts every provisioning token, so that the authorizer
// tells one from an access token (a JWT) without a store lookup, and a
// leaked one is recognisable to secret scanners.
const TokenPrefix = "sgp_"

// Token is a provisioning token's record: a long-lived bearer secret an
// administrator issued for one client (Entra ID's and Okta's "secret
// token"). The token itself is never stored, only Hash.
type Token struct {
	ID        string // random, names the token in URLs (never the secret)
	ClientID  string
	Label     string
	Hash      []byte // SHA-256 of the token
	CreatedBy string // the administrator's user id
	CreatedAt time.Time
	// LastUsedAt is when it last authorised a request, to about
	// TouchInterval; zero when never.
	LastUsedAt time.Time
	// RevokedAt is zero while the token is valid.
	RevokedAt time.Time
}

// Revoked reports whether the token was revoked.
func (t Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// TokenStore keeps provisioning tokens (store/sqlite implements it; the
// contract is storetest.RunProvisioningTokens).
type TokenStore interface {
	// CreateProvisioningToken stores t: store.ErrNotFound when its client
	// does not exist, store.ErrConflict when its id or hash does.
	CreateProvisioningToken(ctx context.Context, t Token) error
	// ProvisioningTokenByHash returns the token (revoked ones too) whose
	// hash is hash, or store.ErrNotFound.
	ProvisioningTokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ProvisioningTokens lists a client's tokens, newest first.
	ProvisioningTokens(ctx context.Context, clientID string) ([]Token, error)
	// RevokeProvisioningToken revokes token id of clientID at at (revoking
	// twice keeps the first time); store.ErrNotFound when clientID has no
	// such token.
	RevokeProvisioningToken(ctx context.Context, clientID, id string, at time.Time) error
	// TouchProvisioningToken records a use of token id at at.
	TouchProvisioningToken(ctx context.Context, id string, at time.Time) error
}

// NewToken returns a new provisioning token (TokenPrefix and 256 random
// bits), to be shown once, and its record's ID and Hash.
func NewToken() (secret string, id string, hash []byte, err error) {
	b := make([]byte, 32+16)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("scimauth: random: %w", err)
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:32])
	return secret, base64.RawURLEncoding.EncodeToString(b[32:]), HashToken(secret), nil
}

// HashToken is the stored form of a provisioning token: its SHA-256 (the
// token carries 256 bits, so a slow hash adds nothing).
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// IsProvisioningToken reports whether a bearer token is shaped like a
// provisioning token.
func IsProvisioningToken(tok string) bool { return strings.HasPrefix(tok, TokenPrefix) }
