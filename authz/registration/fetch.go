package registration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Errors of Fetcher.Get, wrapped with detail.
var (
	// ErrForbiddenURL: the jwks_uri (or a redirect) is not https, or is
	// http on a host that is not loopback, or has user information.
	ErrForbiddenURL = errors.New("registration: jwks_uri not allowed")
	// ErrForbiddenAddress: the host resolved to a loopback, private,
	// link-local or otherwise non-public address (checked at dial time).
	ErrForbiddenAddress = errors.New("registration: jwks_uri address not allowed")
	// ErrFetch: the server did not answer 200 with a body within limits.
	ErrFetch = errors.New("registration: jwks_uri fetch failed")
	// ErrNoUsableKeys: the document is not a JWK Set or has no key that
	// ParseJWKS's per-key rules accept.
	ErrNoUsableKeys = errors.New("registration: jwks_uri has no usable keys")
)

// FetcherConfig configures a Fetcher. Zero values take the defaults named.
type FetcherConfig struct {
	// Client is the template for the HTTP client. Its Transport must be nil
	// or an *http.Transport, which is cloned; the clone never uses a proxy
	// (a proxy would hide the destination address from the dial-time check)
	// and dials through a net.Dialer whose Control function checks each
	// resolved address. Nil means a new transport.
	Client *http.Client
	// Timeout bounds one fetch, redirects included. Default 10 s.
	Timeout time.Duration
	// MaxBytes caps the response body. Default MaxJWKSBytes (64 KiB).
	MaxBytes int64
	// DefaultTTL is how long a response without a usable max-age is cached.
	// Default 5 min.
	DefaultTTL time.Duration
	// MaxTTL caps any cache lifetime. Default 24 h.
	MaxTTL time.Duration
	// MaxEntries caps the number of cached URIs. Default 1000.
	MaxEntries int
	// MinRefreshInterval is how old a cached set must be before Refresh
	// refetches it. Default 1 min.
	MinRefreshInterval time.Duration
	// AllowHTTPLoopback permits http:// URLs whose host is 127.0.0.1, [::1]
	// or localhost (tests, development). It does not lift the address check.
	AllowHTTPLoopback bool
	// AllowPrivateAddresses permits loopback, private and link-local
	// destination addresses (tests, closed networks).
	AllowPrivateAddresses bool
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Fetcher fetches and caches client JWK Sets registered by reference
// (jwks_uri; RFC 7591 §2, SMART IG client-confidential-asymmetric
// #registering-a-client, checklist K8). It is safe for concurrent use.
//
// A response is cached for its Cache-Control max-age less its Age (RFC 9111
// §4.2.1, §5.1), never longer, and at most MaxTTL; "no-store" or "no-cache"
// is not cached; without max-age, until Expires; with neither, for
// DefaultTTL (a heuristic freshness lifetime, RFC 9111 §4.2.2). Failures are
// not cached, and concurrent misses for one URI may each fetch it. Keys that a JWK Set contains but that are not usable (RFC 7517
// §5: "SHOULD ignore") — other key types, private keys, short RSA keys,
// keys without kid — are left out of the returned set; keys with duplicate
// kids are kept, so key selection must insist on a unique match (K6).
type Fetcher struct {
	client   *http.Client
	cfg      FetcherConfig
	blocked  []netip.Prefix
	mu       sync.Mutex
	cache    map[string]cacheEntry
	maxBytes int64
}

type cacheEntry struct {
	keys    []jose.JSONWebKey
	fetched time.Time
	expires time.Time
}

// NewFetcher returns a Fetcher for cfg.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = MaxJWKSBytes
	}
	if cfg.DefaultTTL <= 0 {
		cfg.DefaultTTL = 5 * time.Minute
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = 24 * time.Hour
	}
	cfg.DefaultTTL = min(cfg.DefaultTTL, cfg.MaxTTL)
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1000
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var tr *http.Transport
	switch {
	case cfg.Client == nil || cfg.Client.Transport == nil:
		tr = &http.Transport{
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          10,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	default:
		t, ok := cfg.Client.Transport.(*http.Transport)
		if !ok {
			return nil, fmt.Errorf("registration: fetcher client transport %T is not *http.Transport", cfg.Client.Transport)
		}
		tr = t.Clone()
	}
	f := &Fetcher{cfg: cfg, cache: make(map[string]cacheEntry), maxBytes: cfg.MaxBytes, blocked: blockedPrefixes()}
	tr.Proxy = nil
	tr.DialTLSContext = nil
	//lint:ignore SA1019 cleared so that no deprecated dialer bypasses DialContext
	tr.DialTLS = nil
	//lint:ignore SA1019 cleared so that no deprecated dialer bypasses DialContext
	tr.Dial = nil
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, Control: f.control}).DialContext
	f.client = &http.Client{
		Transport:     tr,
		Timeout:       cfg.Timeout,
		CheckRedirect: f.checkRedirect,
	}
	return f, nil
}

// Get returns the usable public keys at jwksURI, from the cache while fresh.
// The returned set is the caller's to modify.
func (f *Fetcher) Get(ctx context.Context, jwksURI string) (*jose.JSONWebKeySet, error) {
	now := f.cfg.Now()
	f.mu.Lock()
	e, ok := f.cache[jwksURI]
	f.mu.Unlock()
	if ok && now.Before(e.expires) {
		return &jose.JSONWebKeySet{Keys: slices.Clone(e.keys)}, nil
	}
	keys, ttl, err := f.fetch(ctx, jwksURI)
	if err != nil {
		return nil, err
	}
	if ttl > 0 {
		f.store(jwksURI, cacheEntry{keys: keys, fetched: now, expires: now.Add(ttl)}, now)
	}
	return &jose.JSONWebKeySet{Keys: slices.Clone(keys)}, nil
}

// Refresh is Get for a caller that found no key for a JWT's kid (the client
// may have rotated its keys, SMART IG client-confidential-asymmetric
// #signature-verification): it refetches a cached set unless that was
// fetched less than MinRefreshInterval ago, so that a stream of JWTs with
// unknown kids cannot turn into a stream of requests to the client's server.
func (f *Fetcher) Refresh(ctx context.Context, jwksURI string) (*jose.JSONWebKeySet, error) {
	now := f.cfg.Now()
	f.mu.Lock()
	e, ok := f.cache[jwksURI]
	if ok && now.Sub(e.fetched) >= f.cfg.MinRefreshInterval {
		delete(f.cache, jwksURI)
	}
	f.mu.Unlock()
	return f.Get(ctx, jwksURI)
}

// Forget drops jwksURI from the cache, e.g. when the client's registration
// changes. Callers that refetch on an unknown kid should rate-limit that.
func (f *Fetcher) Forget(jwksURI string) {
	f.mu.Lock()
	delete(f.cache, jwksURI)
	f.mu.Unlock()
}

func (f *Fetcher) store(uri string, e cacheEntry, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.cache[uri]; !ok && len(f.cache) >= f.cfg.MaxEntries {
		for k, v := range f.cache {
			if !now.Before(v.expires) {
				delete(f.cache, k)
			}
		}
		for k := range f.cache { // still full: drop an arbitrary entry
			if len(f.cache) < f.cfg.MaxEntries {
				break
			}
			delete(f.cache, k)
		}
	}
	f.cache[uri] = e
}

func (f *Fetcher) fetch(ctx context.Context, jwksURI string) ([]jose.JSONWebKey, time.Duration, error) {
	u, err := url.Parse(jwksURI)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: not a URL", ErrForbiddenURL)
	}
	if err := f.checkURL(u); err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%w: status %d", ErrFetch, resp.StatusCode)
	}
	if resp.ContentLength > f.maxBytes {
		return nil, 0, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrFetch, resp.ContentLength, f.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: read body: %w", ErrFetch, err)
	}
	if int64(len(body)) > f.maxBytes {
		return nil, 0, fmt.Errorf("%w: body exceeds %d bytes", ErrFetch, f.maxBytes)
	}
	raws, problem := setKeys(body)
	if problem != "" {
		return nil, 0, fmt.Errorf("%w: document %s", ErrNoUsableKeys, problem)
	}
	var keys []jose.JSONWebKey
	for _, raw := range raws {
		if len(keys) == MaxKeys {
			break
		}
		if k, problem := parseKey(raw); problem == "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, 0, ErrNoUsableKeys
	}
	return keys, f.ttl(resp.Header), nil
}

// ttl is the cache lifetime of a response (see Fetcher).
func (f *Fetcher) ttl(h http.Header) time.Duration {
	maxAge := time.Duration(-1)
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				if maxAge >= 0 {
					continue // RFC 9111 §4.2.1: use the first
				}
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
				if err != nil || n < 0 {
					return 0 // invalid freshness information: treat as stale
				}
				maxAge = time.Duration(min(n, int64(f.cfg.MaxTTL/time.Second)+1)) * time.Second
			}
		}
	}
	if maxAge < 0 {
		return f.expiresTTL(h)
	}
	if age, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && age > 0 {
		maxAge -= time.Duration(min(age, int64(maxAge/time.Second))) * time.Second
	}
	return min(maxAge, f.cfg.MaxTTL)
}

// expiresTTL is the lifetime from Expires (relative to Date, or to now)
// when there is no max-age (RFC 9111 §4.2.1), else DefaultTTL; an invalid
// Expires means already stale (RFC 9111 §5.3).
func (f *Fetcher) expiresTTL(h http.Header) time.Duration {
	exp := h.Get("Expires")
	if exp == "" {
		return f.cfg.DefaultTTL
	}
	t, err := http.ParseTime(exp)
	if err != nil {
		return 0
	}
	base := f.cfg.Now()
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		base = d
	}
	return min(max(t.Sub(base), 0), f.cfg.MaxTTL)
}

// checkURL enforces https (or http on loopback when allowed) without user
// information.
func (f *Fetcher) checkURL(u *url.URL) error {
	if u.User != nil {
		return fmt.Errorf("%w: user information in URL", ErrForbiddenURL)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: no host", ErrForbiddenURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.cfg.AllowHTTPLoopback && IsLoopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("%w: scheme %q (https required)", ErrForbiddenURL, u.Scheme)
	}
	return nil
}

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return fmt.Errorf("%w: too many redirects", ErrFetch)
	}
	return f.checkURL(req.URL)
}

// control runs for every connection after name resolution, so it sees the
// address actually dialled: a host name that resolves (or re-resolves, DNS
// rebinding) to an internal address is refused.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	if f.cfg.AllowPrivateAddresses {
		return nil
	}
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: network %s", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !f.public(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// public reports whether a is a globally reachable unicast address.
func (f *Fetcher) public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() ||
		a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	for _, p := range f.blocked {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// blockedPrefixes are special-purpose ranges (IANA IPv4/IPv6 Special-Purpose
// Address Registries, RFC 6890) that are not covered by netip's predicates
// and must not be reachable from a jwks_uri, plus the NAT64 and 6to4
// prefixes, which embed IPv4 addresses.
func blockedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
		"2002::/16", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}
