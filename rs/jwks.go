package rs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// JWKSOptions configure a JWKS Verifier.
type JWKSOptions struct {
	// Issuer is the authorization server's issuer identifier; a token's iss
	// must be exactly it. Required.
	Issuer string
	// Audience must be one of a token's aud values (the resource server's
	// own URL, as the authorization server puts it in tokens for it).
	// Required: a token issued for another resource server is refused.
	Audience string
	// JWKSURL is where the issuer's keys are; empty: discovered from
	// Issuer + /.well-known/openid-configuration, else
	// /.well-known/smart-configuration (its issuer must be Issuer).
	JWKSURL string
	// Algorithms a token may be signed with; default RS256, RS384, RS512,
	// PS256, PS384, PS512, ES256, ES384, ES512. "none" and the HMAC
	// algorithms are never accepted.
	Algorithms []jose.SignatureAlgorithm
	// AllowUntyped accepts a token whose JOSE typ is "JWT" or absent, as
	// some SMART servers issue; by default only RFC 9068's "at+jwt" is
	// (so that an ID token cannot pass for an access token).
	AllowUntyped bool
	// Leeway for exp, nbf and iat; default 30 s.
	Leeway time.Duration
	// KeysTTL is how long fetched keys are used before they are fetched
	// again; default 5 minutes.
	KeysTTL time.Duration
	// MinRefresh is the shortest time between two fetches of the keys
	// (an unknown kid refetches them, but at most this often, so that
	// tokens with made-up key ids cannot make the service hammer the
	// issuer); default 10 s.
	MinRefresh time.Duration
	// HTTPClient fetches discovery and keys; default a client with a
	// 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// maxDocument bounds a discovery document or key set read from the issuer.
const maxDocument = 1 << 20

// JWKS verifies access tokens as signed JWTs (RFC 9068) against the
// issuer's published keys.
type JWKS struct {
	opts JWKSOptions
	algs []jose.SignatureAlgorithm

	fetching sync.Mutex // one fetch at a time; held while fetching

	mu        sync.RWMutex // guards the fields below
	jwksURL   string
	keys      *jose.JSONWebKeySet
	fetchedAt time.Time
}

// NewJWKS returns a JWKS Verifier; the keys are fetched on first use.
func NewJWKS(opts JWKSOptions) (*JWKS, error) {
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("rs: JWKS needs Issuer and Audience")
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.KeysTTL == 0 {
		opts.KeysTTL = 5 * time.Minute
	}
	if opts.MinRefresh == 0 {
		opts.MinRefresh = 10 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	algs := opts.Algorithms
	if len(algs) == 0 {
		algs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
			jose.ES256, jose.ES384, jose.ES512}
	}
	for _, a := range algs {
		if a == "none" || strings.HasPrefix(string(a), "HS") {
			return nil, fmt.Errorf("rs: algorithm %s is not allowed for access tokens", a)
		}
	}
	return &JWKS{opts: opts, algs: algs, jwksURL: opts.JWKSURL}, nil
}

// Verify checks token's signature, type, issuer, audience and times.
func (v *JWKS) Verify(ctx context.Context, token string) (*Claims, error) {
	jws, err := jose.ParseSigned(token, v.algs)
	if err != nil {
		return nil, invalid("not a signed JWT with an allowed algorithm")
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("not exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !v.typeOK(typ) {
		return nil, invalid("typ %q is not at+jwt", typ)
	}
	key, err := v.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, invalid("bad signature")
	}
	var raw rawClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, invalid("claims: %v", err)
	}
	return raw.claims(v.opts.Issuer, v.opts.Audience, v.opts.Now(), v.opts.Leeway, false)
}

// typeOK: RFC 9068 §2.1 at+jwt (or its media-type form); with
// AllowUntyped also JWT or none.
func (v *JWKS) typeOK(typ string) bool {
	switch strings.ToLower(typ) {
	case "at+jwt", "application/at+jwt":
		return true
	case "jwt", "":
		return v.opts.AllowUntyped
	}
	return false
}

// key returns the public key for kid usable with alg, fetching the keys
// when they are stale or kid is unknown (at most every MinRefresh).
func (v *JWKS) key(ctx context.Context, kid, alg string) (any, error) {
	now := v.opts.Now()
	v.mu.RLock()
	keys, fetchedAt := v.keys, v.fetchedAt
	v.mu.RUnlock()
	if keys != nil && now.Sub(fetchedAt) <= v.opts.KeysTTL {
		if k, ok := pick(keys, kid, alg); ok {
			return k, nil
		}
	}
	v.fetching.Lock()
	defer v.fetching.Unlock()
	v.mu.RLock()
	keys, fetchedAt = v.keys, v.fetchedAt
	v.mu.RUnlock()
	stale := keys == nil || now.Sub(fetchedAt) > v.opts.KeysTTL
	if k, ok := pick(keys, kid, alg); ok && !stale {
		return k, nil // fetched meanwhile
	}
	if fetchedAt.IsZero() || now.Sub(fetchedAt) >= v.opts.MinRefresh {
		fresh, err := v.fetch(ctx, now)
		switch {
		case err == nil:
			keys = fresh
		case keys == nil:
			return nil, err
		}
	} else if keys == nil {
		return nil, fmt.Errorf("rs: the issuer's keys could not be fetched; next try in %s", v.opts.MinRefresh-now.Sub(fetchedAt))
	}
	if k, ok := pick(keys, kid, alg); ok {
		return k, nil
	}
	return nil, invalid("no key %q for %s", kid, alg)
}

// pick finds the signing key kid (any key when the token names none and
// the set has exactly one) whose alg, when the JWK states one, is alg.
func pick(set *jose.JSONWebKeySet, kid, alg string) (any, bool) {
	if set == nil {
		return nil, false
	}
	var found []jose.JSONWebKey
	for _, k := range set.Keys {
		if (kid == "" || k.KeyID == kid) && k.IsPublic() && (k.Use == "" || k.Use == "sig") && (k.Algorithm == "" || k.Algorithm == alg) {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return nil, false
	}
	return found[0].Key, true
}

// fetch reads the key set (discovering its URL first if need be) and
// stores it; a failed fetch keeps the old keys, and also waits MinRefresh
// before the next. Called with v.fetching held.
func (v *JWKS) fetch(ctx context.Context, now time.Time) (*jose.JSONWebKeySet, error) {
	v.mu.Lock()
	v.fetchedAt = now
	url := v.jwksURL
	v.mu.Unlock()
	if url == "" {
		u, err := v.discover(ctx)
		if err != nil {
			return nil, err
		}
		url = u
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, v.opts.HTTPClient, url, &set); err != nil {
		return nil, fmt.Errorf("rs: issuer keys: %w", err)
	}
	v.mu.Lock()
	v.jwksURL, v.keys = url, &set
	v.mu.Unlock()
	return &set, nil
}

// discover finds jwks_uri in the issuer's OpenID configuration (OpenID
// Connect Discovery 1.0 §4), else its SMART configuration; the document's
// issuer must be the configured one (§4.3).
func (v *JWKS) discover(ctx context.Context) (string, error) {
	base := strings.TrimSuffix(v.opts.Issuer, "/")
	var errs []error
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/smart-configuration"} {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := getJSON(ctx, v.opts.HTTPClient, base+path, &doc); err != nil {
			errs = append(errs, err)
			continue
		}
		if doc.Issuer != "" && doc.Issuer != v.opts.Issuer {
			errs = append(errs, fmt.Errorf("%s names issuer %q, not %q", path, doc.Issuer, v.opts.Issuer))
			continue
		}
		if doc.JWKSURI == "" {
			errs = append(errs, fmt.Errorf("%s has no jwks_uri", path))
			continue
		}
		return doc.JWKSURI, nil
	}
	return "", fmt.Errorf("rs: discovering the issuer's keys: %w", errors.Join(errs...))
}

// getJSON GETs url and decodes its JSON body (at most maxDocument bytes).
func getJSON(ctx context.Context, c *http.Client, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(b) > maxDocument {
		return fmt.Errorf("GET %s: larger than %d bytes", url, maxDocument)
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
