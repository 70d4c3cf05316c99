package scimauth

import (
	"context"
	"sync"
	"time"
)

// CacheTTL is how long a TokenCache keeps a looked-up token: the bound on
// how late a revocation made by another process (another smartgate on the
// same database, the CLI) is seen. A revocation through the cache itself
// (the client pages of this process) is seen at once.
const CacheTTL = time.Second

// maxCachedTokens bounds a TokenCache; beyond it the cache starts afresh.
// Only tokens that exist are kept, so guessed tokens cannot fill it.
const maxCachedTokens = 1024

// TokenCache is a TokenStore that keeps the result of
// ProvisioningTokenByHash for CacheTTL, so that a busy provisioning client
// costs one store lookup a second, not one a request. Every change made
// through it (create, revoke, touch) empties it. The client of a token is
// still checked on every request (Authorizer, through Clients).
type TokenCache struct {
	TokenStore
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedToken
}

type cachedToken struct {
	t  Token
	at time.Time
}

// NewTokenCache returns a TokenCache over s; now is time.Now when nil.
func NewTokenCache(s TokenStore, now func() time.Time) *TokenCache {
	if now == nil {
		now = time.Now
	}
	return &TokenCache{TokenStore: s, now: now, entries: map[string]cachedToken{}}
}

// ProvisioningTokenByHash returns the token whose hash is hash, from the
// cache when it was read less than CacheTTL ago.
func (c *TokenCache) ProvisioningTokenByHash(ctx context.Context, hash []byte) (Token, error) {
	key := string(hash)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < CacheTTL && !now.Before(e.at) {
		return e.t, nil
	}
	t, err := c.TokenStore.ProvisioningTokenByHash(ctx, hash)
	if err != nil {
		return t, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedTokens {
		clear(c.entries)
	}
	c.entries[key] = cachedToken{t: t, at: now}
	c.mu.Unlock()
	return t, nil
}

// CreateProvisioningToken stores t and empties the cache.
func (c *TokenCache) CreateProvisioningToken(ctx context.Context, t Token) error {
	defer c.reset()
	return c.TokenStore.CreateProvisioningToken(ctx, t)
}

// RevokeProvisioningToken revokes the token and empties the cache, so that
// the token is refused from the next request on.
func (c *TokenCache) RevokeProvisioningToken(ctx context.Context, clientID, id string, at time.Time) error {
	defer c.reset()
	return c.TokenStore.RevokeProvisioningToken(ctx, clientID, id, at)
}

// TouchProvisioningToken records a use and empties the cache (so that the
// next lookup sees the recorded use).
func (c *TokenCache) TouchProvisioningToken(ctx context.Context, id string, at time.Time) error {
	defer c.reset()
	return c.TokenStore.TouchProvisioningToken(ctx, id, at)
}

func (c *TokenCache) reset() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
