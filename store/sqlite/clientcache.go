package sqlite

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/smartgate/smartgate/authz"
)

// The token and introspection endpoints look their client up on every
// request; reading and decoding the row was a fifth of the CPU of a
// client_credentials token. clientCache keeps decoded clients for a short
// time. Every change made through this DB (CreateClient, UpdateClient,
// DeleteClient: registration, the admin pages, secret resets) drops the
// entry at once, before the change is acknowledged. A change made by
// another process on the same file (the smartgate client command while the
// server runs) is seen within clientCacheTTL.
const (
	clientCacheTTL  = time.Second
	clientCacheSize = 1024
)

type cachedClient struct {
	c   *authz.Client
	exp time.Time
}

type clientCache struct {
	mu sync.Mutex
	// gen counts invalidations, so that a read that raced with a change
	// does not put the old row back.
	gen uint64
	m   map[string]cachedClient
}

func (cc *clientCache) get(id string, now time.Time) (*authz.Client, uint64, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[id]
	if !ok || now.After(e.exp) {
		return nil, cc.gen, false
	}
	return cloneClient(e.c), cc.gen, true
}

// put stores c, read when the generation was gen, unless a change has
// happened since.
func (cc *clientCache) put(c *authz.Client, gen uint64, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if gen != cc.gen {
		return
	}
	if cc.m == nil || len(cc.m) >= clientCacheSize {
		cc.m = make(map[string]cachedClient)
	}
	cc.m[c.ID] = cachedClient{c: cloneClient(c), exp: now.Add(clientCacheTTL)}
}

// invalidate drops id (called before and after each change to it).
func (cc *clientCache) invalidate(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	delete(cc.m, id)
}

// cloneClient copies c deeply: callers may change the client they got.
func cloneClient(c *authz.Client) *authz.Client {
	d := *c
	d.SecretHash = bytes.Clone(c.SecretHash)
	d.RedirectURIs = slices.Clone(c.RedirectURIs)
	d.GrantTypes = slices.Clone(c.GrantTypes)
	d.ResponseTypes = slices.Clone(c.ResponseTypes)
	d.Scopes = slices.Clone(c.Scopes)
	d.Contacts = slices.Clone(c.Contacts)
	d.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	d.RegistrationTokenHash = bytes.Clone(c.RegistrationTokenHash)
	return &d
}
