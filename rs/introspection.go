package rs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// IntrospectionOptions configure an Introspection Verifier.
type IntrospectionOptions struct {
	// URL is the authorization server's RFC 7662 endpoint. Required.
	URL string
	// ClientID and ClientSecret authenticate this resource server to it
	// (client_secret_basic, RFC 6749 §2.3.1). Required.
	ClientID, ClientSecret string
	// Issuer, when set, must be the answer's iss (when it names one).
	Issuer string
	// Audience, when set, must be one of the answer's aud values.
	Audience string
	// CacheTTL is the longest an active answer is reused (never past the
	// token's exp); default 5 s, so that a revocation is seen within it.
	// A negative value turns the cache off.
	CacheTTL time.Duration
	// NegativeTTL is how long an inactive answer is reused; default 1 s.
	NegativeTTL time.Duration
	// MaxEntries bounds the cache; default 10000 (when full, expired
	// entries are dropped, then the cache is cleared).
	MaxEntries int
	// Leeway for exp and nbf; default 30 s.
	Leeway time.Duration
	// HTTPClient calls the endpoint; default a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Introspection verifies access tokens by asking the authorization server
// (RFC 7662), with a short cache.
type Introspection struct {
	opts IntrospectionOptions

	mu    sync.Mutex
	cache map[[32]byte]entry // by SHA-256 of the token: tokens are not kept
}

type entry struct {
	claims *Claims // nil: inactive
	until  time.Time
}

// NewIntrospection returns an Introspection Verifier.
func NewIntrospection(opts IntrospectionOptions) (*Introspection, error) {
	if opts.URL == "" || opts.ClientID == "" || opts.ClientSecret == "" {
		return nil, errors.New("rs: Introspection needs URL, ClientID and ClientSecret")
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 5 * time.Second
	}
	if opts.NegativeTTL == 0 {
		opts.NegativeTTL = time.Second
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = 10000
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Introspection{opts: opts, cache: map[[32]byte]entry{}}, nil
}

// Verify introspects token (or reuses a cached answer).
func (v *Introspection) Verify(ctx context.Context, token string) (*Claims, error) {
	key := sha256.Sum256([]byte(token))
	now := v.opts.Now()
	if c, hit := v.cached(key, now); hit {
		if c == nil {
			return nil, invalid("inactive")
		}
		if !c.Expiry.IsZero() && !now.Before(c.Expiry.Add(v.opts.Leeway)) {
			return nil, invalid("expired")
		}
		return c, nil
	}
	raw, err := v.introspect(ctx, token)
	if err != nil {
		return nil, err
	}
	if raw.Active == nil || !*raw.Active {
		v.store(key, entry{until: now.Add(v.opts.NegativeTTL)}, now)
		return nil, invalid("inactive")
	}
	iss := v.opts.Issuer
	if raw.Issuer == "" {
		iss = "" // iss is optional in RFC 7662 §2.2
	}
	c, err := raw.claims(iss, v.opts.Audience, now, v.opts.Leeway, true)
	if err != nil {
		return nil, err
	}
	until := now.Add(v.opts.CacheTTL)
	if !c.Expiry.IsZero() && c.Expiry.Before(until) {
		until = c.Expiry
	}
	v.store(key, entry{claims: c, until: until}, now)
	return c, nil
}

func (v *Introspection) cached(key [32]byte, now time.Time) (*Claims, bool) {
	if v.opts.CacheTTL < 0 {
		return nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.cache[key]
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.claims, true
}

func (v *Introspection) store(key [32]byte, e entry, now time.Time) {
	if v.opts.CacheTTL < 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= v.opts.MaxEntries {
		for k, old := range v.cache {
			if !now.Before(old.until) {
				delete(v.cache, k)
			}
		}
		if len(v.cache) >= v.opts.MaxEntries {
			clear(v.cache)
		}
	}
	v.cache[key] = e
}

// introspect POSTs token to the endpoint and decodes the answer.
func (v *Introspection) introspect(ctx context.Context, token string) (*rawClaims, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.opts.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("rs: introspection: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(v.opts.ClientID), url.QueryEscape(v.opts.ClientSecret))
	resp, err := v.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rs: introspection: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("rs: introspection: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rs: introspection: status %d", resp.StatusCode)
	}
	if len(b) > maxDocument {
		return nil, errors.New("rs: introspection: answer too large")
	}
	var raw rawClaims
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("rs: introspection: %w", err)
	}
	return &raw, nil
}
