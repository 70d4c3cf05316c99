package authz

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smartgate/smartgate/server"
)

// The token and introspection endpoints look their client up on every
// request, and every CORS request asks whether its origin is a registered
// client's; reading and decoding rows was a fifth of the CPU of a
// client_credentials token. ClientCache keeps both in memory, in front of
// any backend's ClientStore.
//
// Every change made through a ClientCache (CreateClient, UpdateClient,
// DeleteClient: registration, RFC 7592, the admin and "My apps" pages,
// secret resets, disable/enable) drops the cached client and the origin
// list before the change is acknowledged, so that this process sees it at
// once. The one invalidation point is this type's write methods: every
// writer in a process must share one ClientCache (authz.New makes it, or
// takes Config.Clients). A change made by another process on the same
// database (the smartgate client command while the server runs, another
// replica) is seen within ClientCacheTTL for the client and within
// OriginCacheTTL for CORS.
const (
	ClientCacheTTL  = time.Second
	OriginCacheTTL  = 10 * time.Second
	clientCacheSize = 1024
)

// ClientCache is a ClientStore that caches GetClient and the registered
// origins of another. Its zero value is not usable: see NewClientCache.
type ClientCache struct {
	st  ClientStore
	now func() time.Time

	mu sync.RWMutex
	// gen counts invalidations, so that a read that raced with a change
	// does not put the old row (or origin list) back.
	gen     uint64
	m       map[string]cachedClient
	origins []string // sorted; nil until loaded
	until   time.Time
	// certClients are the certificate-authenticated clients
	// (ClientsByCertificateAuth), until certUntil; nil until loaded.
	certClients []*Client
	certUntil   time.Time
	// load serialises origin list reloads (one ListClients at a time).
	load sync.Mutex
}

type cachedClient struct {
	c   *Client
	exp time.Time
}

var _ ClientStore = (*ClientCache)(nil)

// NewClientCache caches st. now is the clock (nil: time.Now).
func NewClientCache(st ClientStore, now func() time.Time) *ClientCache {
	if now == nil {
		now = time.Now
	}
	return &ClientCache{st: st, now: now, m: map[string]cachedClient{}}
}

// GetClient returns a copy of the client, from the cache when it is fresh.
func (cc *ClientCache) GetClient(ctx context.Context, id string) (*Client, error) {
	now := cc.now()
	cc.mu.RLock()
	e, ok := cc.m[id]
	gen := cc.gen
	cc.mu.RUnlock()
	if ok && now.Before(e.exp) {
		return cloneClient(e.c), nil
	}
	c, err := cc.st.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	if gen == cc.gen {
		if len(cc.m) >= clientCacheSize {
			clear(cc.m)
		}
		cc.m[id] = cachedClient{c: cloneClient(c), exp: now.Add(ClientCacheTTL)}
	}
	cc.mu.Unlock()
	return c, nil
}

// invalidate drops id and the origin list (called before and after each
// change).
func (cc *ClientCache) invalidate(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	delete(cc.m, id)
	cc.origins, cc.until = nil, time.Time{}
	cc.certClients, cc.certUntil = nil, time.Time{}
}

// CreateClient stores a new client.
func (cc *ClientCache) CreateClient(ctx context.Context, c *Client) error {
	cc.invalidate(c.ID)
	defer cc.invalidate(c.ID)
	return cc.st.CreateClient(ctx, c)
}

// UpdateClient changes a client (see ClientStore.UpdateClient).
func (cc *ClientCache) UpdateClient(ctx context.Context, id string, update func(old Client) (Client, error)) error {
	cc.invalidate(id)
	defer cc.invalidate(id)
	return cc.st.UpdateClient(ctx, id, update)
}

// DeleteClient removes a client (see ClientStore.DeleteClient).
func (cc *ClientCache) DeleteClient(ctx context.Context, id string, at time.Time) error {
	cc.invalidate(id)
	defer cc.invalidate(id)
	return cc.st.DeleteClient(ctx, id, at)
}

// ListClients reads every client from the store (never cached).
func (cc *ClientCache) ListClients(ctx context.Context) ([]*Client, error) {
	return cc.st.ListClients(ctx)
}

// ClientsByCertificateAuth returns copies of the enabled certificate-
// authenticated clients (ClientStore.ClientsByCertificateAuth), from the
// cache for ClientCacheTTL: every request that presents a certificate may
// ask (ClientOfCertificate). A change through the cache drops the list.
func (cc *ClientCache) ClientsByCertificateAuth(ctx context.Context) ([]*Client, error) {
	now := cc.now()
	cc.mu.RLock()
	list, until, gen := cc.certClients, cc.certUntil, cc.gen
	cc.mu.RUnlock()
	if list == nil || !now.Before(until) {
		fresh, err := cc.st.ClientsByCertificateAuth(ctx)
		if err != nil {
			return nil, err
		}
		list = make([]*Client, 0, len(fresh))
		for _, c := range fresh {
			list = append(list, cloneClient(c))
		}
		cc.mu.Lock()
		if gen == cc.gen {
			cc.certClients, cc.certUntil = list, now.Add(ClientCacheTTL)
		}
		cc.mu.Unlock()
	}
	out := make([]*Client, 0, len(list))
	for _, c := range list {
		out = append(out, cloneClient(c))
	}
	return out, nil
}

// OriginAllowed reports whether origin (scheme://host[:port], any case) is
// the origin of a redirect URI of an enabled client: the CORS policy of the
// APIs browser apps call. A store error allows nothing.
func (cc *ClientCache) OriginAllowed(ctx context.Context, origin string) bool {
	origin = strings.ToLower(origin)
	if list, ok := cc.freshOrigins(); ok {
		_, found := slices.BinarySearch(list, origin)
		return found
	}
	cc.load.Lock()
	defer cc.load.Unlock()
	list, ok := cc.freshOrigins() // loaded while this call waited
	if !ok {
		var err error
		if list, err = cc.loadOrigins(ctx); err != nil {
			return false
		}
	}
	_, found := slices.BinarySearch(list, origin)
	return found
}

func (cc *ClientCache) freshOrigins() ([]string, bool) {
	cc.mu.RLock()
	defer cc.mu.RUnlock()
	return cc.origins, cc.origins != nil && cc.now().Before(cc.until)
}

// loadOrigins reads the origin list and keeps it unless a change happened
// while it was read.
func (cc *ClientCache) loadOrigins(ctx context.Context) ([]string, error) {
	cc.mu.RLock()
	gen := cc.gen
	cc.mu.RUnlock()
	clients, err := cc.st.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: registered origins: %w", err)
	}
	list := []string{}
	for _, c := range clients {
		if c.Disabled {
			continue
		}
		for _, u := range c.RedirectURIs {
			if o := server.OriginOf(u); o != "" {
				list = append(list, o)
			}
		}
	}
	slices.Sort(list)
	list = slices.Compact(list)
	cc.mu.Lock()
	if gen == cc.gen {
		cc.origins, cc.until = list, cc.now().Add(OriginCacheTTL)
	}
	cc.mu.Unlock()
	return list, nil
}

// cloneClient copies c deeply: callers may change the client they got.
func cloneClient(c *Client) *Client {
	d := *c
	d.SecretHash = bytes.Clone(c.SecretHash)
	d.RedirectURIs = slices.Clone(c.RedirectURIs)
	d.GrantTypes = slices.Clone(c.GrantTypes)
	d.ResponseTypes = slices.Clone(c.ResponseTypes)
	d.Scopes = slices.Clone(c.Scopes)
	d.Contacts = slices.Clone(c.Contacts)
	d.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	d.RegistrationTokenHash = bytes.Clone(c.RegistrationTokenHash)
	d.Ceiling.Scopes = slices.Clone(c.Ceiling.Scopes)
	d.Ceiling.GrantTypes = slices.Clone(c.Ceiling.GrantTypes)
	return &d
}

// cachingStore is a Store whose client methods go through a ClientCache.
type cachingStore struct {
	Store
	clients *ClientCache
}

func (s cachingStore) CreateClient(ctx context.Context, c *Client) error {
	return s.clients.CreateClient(ctx, c)
}

func (s cachingStore) GetClient(ctx context.Context, id string) (*Client, error) {
	return s.clients.GetClient(ctx, id)
}

func (s cachingStore) UpdateClient(ctx context.Context, id string, update func(old Client) (Client, error)) error {
	return s.clients.UpdateClient(ctx, id, update)
}

func (s cachingStore) DeleteClient(ctx context.Context, id string, at time.Time) error {
	return s.clients.DeleteClient(ctx, id, at)
}

func (s cachingStore) ListClients(ctx context.Context) ([]*Client, error) {
	return s.clients.ListClients(ctx)
}

func (s cachingStore) ClientsByCertificateAuth(ctx context.Context) ([]*Client, error) {
	return s.clients.ClientsByCertificateAuth(ctx)
}

// Clients is the server's client cache: give it to every other writer of
// clients in this process (the pages), and its OriginAllowed to the CORS
// policies.
func (s *Server) Clients() *ClientCache { return s.cfg.Clients }
