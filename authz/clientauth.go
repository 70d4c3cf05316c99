package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/store"
)

const assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAssertionAlgs are the algorithms accepted for private_key_jwt.
var clientAssertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.ES256, jose.ES384}

// authenticateClient is our fosite ClientAuthenticationStrategy: none
// (public, identified by client_id), client_secret_basic,
// client_secret_post, private_key_jwt, and (RFC 8705 §2) tls_client_auth
// and self_signed_tls_client_auth by the connection's client certificate
// (certificateAuthenticates). A client may use only its
// registered kind of credential (no downgrade from a key to a secret or to
// none).
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	invalid := func(hint string) error { return fosite.ErrInvalidClient.WithHint(hint) }
	if at := form.Get("client_assertion_type"); at != "" || form.Get("client_assertion") != "" {
		if at != assertionTypeJWTBearer {
			return nil, fosite.ErrInvalidRequest.WithHint("Unsupported client_assertion_type.")
		}
		return s.authenticateAssertion(ctx, form)
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, invalid("The client credentials in the Authorization header are malformed.")
		}
		if f := form.Get("client_id"); f != "" && f != id {
			return nil, invalid("client_id does not match the Authorization header.")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, invalid("Client authentication is required.")
	}
	fc, err := s.client(ctx, id)
	if err != nil {
		return nil, invalid("Unknown client or wrong credentials.")
	}
	c := fc.c
	switch c.TokenEndpointAuthMethod {
	case AuthNone:
		if secret != "" {
			return nil, invalid("This client is public and has no secret.")
		}
		return fc, nil
	case AuthClientSecretBasic, AuthClientSecretPost:
		if secret == "" || !checkSecret(c.SecretHash, secret) {
			return nil, invalid("Unknown client or wrong credentials.")
		}
		return fc, nil
	case AuthTLSClientAuth, AuthSelfSignedTLSClientAuth:
		// RFC 8705 §2: client_id in the form, the certificate of the TLS
		// connection; never a secret (nor, above, an assertion).
		if basic || secret != "" {
			return nil, invalid("This client authenticates with its TLS client certificate (RFC 8705), not a secret; send client_id in the form.")
		}
		if !s.certificateAuthenticates(ctx, r, c) {
			return nil, invalid("The TLS client certificate does not authenticate this client.")
		}
		return fc, nil
	default:
		return nil, invalid("This client must authenticate with private_key_jwt.")
	}
}

func (s *Server) authenticateAssertion(ctx context.Context, form url.Values) (fosite.Client, error) {
	invalid := func(hint string) error { return fosite.ErrInvalidClient.WithHint(hint) }
	raw := form.Get("client_assertion")
	tok, err := josejwt.ParseSigned(raw, clientAssertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, invalid("The client_assertion is not a JWT signed with RS256, RS384, ES256 or ES384.")
	}
	var unverified josejwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, invalid("The client_assertion claims are malformed.")
	}
	if unverified.Issuer == "" || unverified.Issuer != unverified.Subject {
		return nil, invalid("The client_assertion iss and sub must both be the client_id.")
	}
	if f := form.Get("client_id"); f != "" && f != unverified.Issuer {
		return nil, invalid("client_id does not match the client_assertion.")
	}
	fc, err := s.client(ctx, unverified.Issuer)
	if err != nil {
		return nil, invalid("Unknown client.")
	}
	c := fc.c
	if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		return nil, invalid("This client is not registered for private_key_jwt.")
	}
	h := tok.Headers[0]
	if jku, ok := h.ExtraHeaders["jku"].(string); ok && jku != c.JWKSURI {
		return nil, invalid("The jku header does not name the registered jwks_uri.")
	}
	set, err := s.clientKeys(ctx, c, false)
	if err != nil {
		return nil, invalid("The client's keys could not be obtained.")
	}
	key, ok := pickKey(set, h.KeyID, h.Algorithm)
	if !ok && c.JWKSURI != "" {
		if set, err = s.clientKeys(ctx, c, true); err == nil {
			key, ok = pickKey(set, h.KeyID, h.Algorithm)
		}
	}
	if !ok {
		return nil, invalid("No registered key matches the client_assertion's kid and alg.")
	}
	var claims josejwt.Claims
	if err := tok.Claims(key.Key, &claims); err != nil {
		return nil, invalid("The client_assertion signature is invalid.")
	}
	now := s.cfg.Now()
	if claims.Expiry == nil {
		return nil, invalid("The client_assertion has no exp.")
	}
	exp := claims.Expiry.Time()
	if !now.Before(exp.Add(30 * time.Second)) {
		return nil, invalid("The client_assertion has expired.")
	}
	if exp.After(now.Add(5*time.Minute + 30*time.Second)) {
		return nil, invalid("The client_assertion exp is more than 5 minutes ahead.")
	}
	if claims.NotBefore != nil && now.Add(30*time.Second).Before(claims.NotBefore.Time()) {
		return nil, invalid("The client_assertion is not valid yet.")
	}
	if !s.assertionAudienceOK(claims.Audience) {
		return nil, invalid("The client_assertion aud must be the token endpoint URL or the issuer identifier.")
	}
	if claims.ID == "" {
		return nil, invalid("The client_assertion has no jti.")
	}
	if err := s.st.UseJTI(ctx, hashKey(c.ID+"\x00"+claims.ID), exp.Add(time.Minute), now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, invalid("The client_assertion jti was already used.")
		}
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	return fc, nil
}

// assertionAudienceOK reports whether a client assertion's aud (a single
// string or an array) names this authorization server: the token endpoint
// URL (RFC 7523 §3, SMART) or the issuer identifier (draft-ietf-oauth-
// rfc7523bis; what openid-client 6.x sends), each compared exactly. Both
// listeners are one authorization server (one client registry, one jti
// store, tokens valid on either FHIR base), so either listener's values
// are accepted, as the token URLs always were (checklist K5).
func (s *Server) assertionAudienceOK(aud josejwt.Audience) bool {
	for _, b := range s.cfg.BaseURLs {
		if aud.Contains(b+"/oauth/token") || aud.Contains(b) {
			return true
		}
	}
	return false
}

func pickKey(set *jose.JSONWebKeySet, kid, alg string) (jose.JSONWebKey, bool) {
	var match []jose.JSONWebKey
	for _, k := range set.Keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !keyFitsAlg(k, alg) {
			continue
		}
		match = append(match, k)
	}
	if len(match) != 1 {
		return jose.JSONWebKey{}, false
	}
	return match[0], true
}

func keyFitsAlg(k jose.JSONWebKey, alg string) bool {
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return (alg == "RS256" || alg == "RS384") && pub.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return alg == "ES256" && pub.Curve == elliptic.P256() || alg == "ES384" && pub.Curve == elliptic.P384()
	}
	return false
}

// clientKeys returns the client's registered keys: by value, or fetched
// from jwks_uri (cached; refetched when forced, e.g. for an unknown kid).
func (s *Server) clientKeys(ctx context.Context, c *Client, force bool) (*jose.JSONWebKeySet, error) {
	if c.JWKS != "" {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil {
			return nil, err
		}
		return &set, nil
	}
	if c.JWKSURI == "" {
		return nil, errors.New("authz: client has no keys")
	}
	return s.jwks.get(ctx, c.JWKSURI, force)
}

// jwksFetcher fetches client key sets with a timeout, a size cap, a cache,
// and (unless allowed) never from loopback, private or link-local addresses.
type jwksFetcher struct {
	client   *http.Client
	maxBytes int64
	ttl      time.Duration
	now      func() time.Time
	// allowHTTP permits plain-http jwks_uri (lab mode, JWKSAllowPrivate).
	allowHTTP bool

	mu    sync.Mutex
	cache map[string]cachedJWKS
	// attempted is when each URI was last fetched (or tried), for
	// getRateLimited.
	attempted map[string]time.Time
}

type cachedJWKS struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
	ttl     time.Duration
}

func newJWKSFetcher(cfg Config) *jwksFetcher {
	dialer := &net.Dialer{Timeout: cfg.JWKSTimeout}
	if !cfg.JWKSAllowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() ||
				ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
				return fmt.Errorf("authz: jwks_uri address %s is not allowed", host)
			}
			return nil
		}
	}
	tr := &http.Transport{DialContext: dialer.DialContext, Proxy: nil, TLSHandshakeTimeout: cfg.JWKSTimeout,
		ResponseHeaderTimeout: cfg.JWKSTimeout, MaxIdleConns: 4,
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.JWKSRootCAs}}
	return &jwksFetcher{
		allowHTTP: cfg.JWKSAllowPrivate,
		client: &http.Client{Transport: tr, Timeout: cfg.JWKSTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		maxBytes: cfg.JWKSMaxBytes, ttl: cfg.JWKSCacheTTL, now: cfg.Now, cache: map[string]cachedJWKS{}, attempted: map[string]time.Time{},
	}
}

func (f *jwksFetcher) get(ctx context.Context, uri string, force bool) (*jose.JSONWebKeySet, error) {
	f.mu.Lock()
	c, ok := f.cache[uri]
	f.mu.Unlock()
	now := f.now()
	// The cached set is used while its Cache-Control lifetime lasts (never
	// longer: no-store means refetch, checklist K8). A forced refetch (an
	// unknown kid) is honoured at most every 10 seconds per URI.
	age := now.Sub(c.fetched)
	if ok && (!force && age < c.ttl || force && age < 10*time.Second) {
		return c.set, nil
	}
	f.mu.Lock()
	f.attempted[uri] = now
	if len(f.attempted) > 4096 {
		clear(f.attempted)
	}
	f.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	// Keys that authenticate a client must come over TLS (SMART
	// client-confidential-asymmetric; checklist K8), except in lab mode.
	if req.URL.Scheme != "https" && !(f.allowHTTP && req.URL.Scheme == "http") {
		return nil, fmt.Errorf("authz: fetch jwks: %s is not an https URL", uri)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authz: fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authz: fetch jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("authz: fetch jwks: %w", err)
	}
	if int64(len(body)) > f.maxBytes {
		return nil, errors.New("authz: fetch jwks: too large")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("authz: fetch jwks: %w", err)
	}
	set.Keys = slices.DeleteFunc(set.Keys, func(k jose.JSONWebKey) bool { return !k.IsPublic() })
	f.mu.Lock()
	f.cache[uri] = cachedJWKS{set: &set, fetched: now, ttl: cacheTTL(resp.Header.Get("Cache-Control"), f.ttl)}
	f.mu.Unlock()
	return &set, nil
}

// getRateLimited is get (unforced) for lookups that no client named
// (ClientOfCertificate scans every self-signed client's keys for any
// certificate any peer presents): within 10 s of the last fetch of uri,
// successful or not, it answers the cached set (or the failure) without
// fetching again, so that a peer cannot make the server fetch every
// client's jwks_uri on every request.
func (f *jwksFetcher) getRateLimited(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	f.mu.Lock()
	c, ok := f.cache[uri]
	last, tried := f.attempted[uri]
	f.mu.Unlock()
	if tried && f.now().Sub(last) < 10*time.Second {
		if ok {
			return c.set, nil
		}
		return nil, errors.New("authz: fetch jwks: the last fetch failed less than 10 s ago")
	}
	return f.get(ctx, uri, false)
}

// cacheTTL honours a response's Cache-Control (no-store, no-cache,
// max-age) but never caches longer than limit.
func cacheTTL(cc string, limit time.Duration) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.Atoi(strings.TrimPrefix(d, "max-age=")); err == nil && n >= 0 {
				return min(time.Duration(n)*time.Second, limit)
			}
		}
	}
	return limit
}
