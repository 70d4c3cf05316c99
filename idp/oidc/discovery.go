package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/idp"
)

// allowedAlgs are the id_token signature algorithms accepted: asymmetric
// only, never none or HS* (an HMAC "signed" with the client secret would
// be forgeable by anyone who knows it).
var allowedAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.EdDSA,
}

// discovery is what the provider's discovery document says, checked.
type discovery struct {
	authURL, tokenURL, userinfoURL string
	authStyle                      oauth2.AuthStyle
	// issRequired: the provider sends iss in every authorization
	// response (authorization_response_iss_parameter_supported).
	issRequired bool
	jwksURL     string
	keys        *keySet
	verifier    *oidc.IDTokenVerifier
}

// discoveryExtra are the discovery fields go-oidc's Provider keeps only
// in its raw claims.
type discoveryExtra struct {
	JWKSURL     string   `json:"jwks_uri"`
	Algs        []string `json:"id_token_signing_alg_values_supported"`
	AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	IssParam    bool     `json:"authorization_response_iss_parameter_supported"`
}

// discover returns the cached discovery, or fetches it (rate-limited
// after a failure: DiscoveryRetry).
func (c *Connector) discover(ctx context.Context) (*discovery, error) {
	c.mu.Lock()
	d := c.disc
	c.mu.Unlock()
	if d != nil {
		return d, nil
	}
	return c.fetchDiscovery(ctx, false)
}

// fetchDiscovery fetches discovery, one fetch at a time. Unless force,
// a cached discovery is returned as is and a recent failure is returned
// again without a fetch. A fetch the caller gave up on (ctx done) is not
// recorded. A failed forced fetch keeps the cached discovery.
func (c *Connector) fetchDiscovery(ctx context.Context, force bool) (*discovery, error) {
	select {
	case c.fetching <- struct{}{}:
		defer func() { <-c.fetching }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: discovery: %v", idp.ErrUnavailable, ctx.Err())
	}
	c.mu.Lock()
	d, tried, lastErr := c.disc, c.tried, c.lastErr
	c.mu.Unlock()
	if !force {
		if d != nil {
			return d, nil
		}
		if !tried.IsZero() && c.now().Sub(tried) < DiscoveryRetry && lastErr != nil {
			return nil, lastErr
		}
	}
	nd, err := c.fetchOnce(ctx, d)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: discovery: %v", idp.ErrUnavailable, ctx.Err())
	}
	c.mu.Lock()
	c.tried = c.now()
	if err == nil {
		c.disc, c.lastErr = nd, nil
	} else {
		err = fmt.Errorf("%w: %s", idp.ErrUnavailable, err.Error())
		c.lastErr = err
	}
	c.mu.Unlock()
	c.report("discovery", err)
	if err != nil {
		return nil, err
	}
	return nd, nil
}

// report records a fetch's result in Status and the log.
func (c *Connector) report(what string, err error) {
	if err == nil {
		c.setStatus(nil)
		c.log.Debug("fetched", "what", what)
		return
	}
	c.setStatus(errors.New(statusText(err)))
	c.log.Warn("fetch failed", "what", what, "err", statusText(err))
}

// withoutBody is go-oidc's discovery error, bounded, without the body of
// an error answer (go-oidc writes "404 Not Found: {body}"): what an
// upstream answered never reaches Status, the providers page or the log.
func withoutBody(err error) string {
	s := err.Error()
	if len(s) > 4 && s[3] == ' ' && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' {
		if status, _, ok := strings.Cut(s, ": "); ok {
			return "the provider answered " + idp.CleanText(status, 60)
		}
	}
	return idp.CleanText(s, 300)
}

// statusText is err's text without the sentinel's prefix.
func statusText(err error) string {
	s := err.Error()
	for _, e := range []error{idp.ErrUnavailable, idp.ErrInvalidToken, idp.ErrUpstream} {
		if p := e.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

// fetchOnce fetches and checks the discovery document; old (may be nil)
// lends its key set when the jwks_uri is unchanged, keeping cached keys.
func (c *Connector) fetchOnce(ctx context.Context, old *discovery) (*discovery, error) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.client), c.issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %s", c.issuer, withoutBody(err))
	}
	var x discoveryExtra
	if err := p.Claims(&x); err != nil {
		return nil, fmt.Errorf("discovery of %s: %s", c.issuer, idp.CleanText(err.Error(), 300))
	}
	ep := p.Endpoint()
	d := &discovery{
		authURL: ep.AuthURL, tokenURL: ep.TokenURL, userinfoURL: p.UserInfoEndpoint(),
		authStyle: authStyle(x.AuthMethods), issRequired: x.IssParam, jwksURL: x.JWKSURL,
	}
	for _, e := range []struct{ name, url string }{
		{"authorization_endpoint", d.authURL}, {"token_endpoint", d.tokenURL}, {"jwks_uri", d.jwksURL},
	} {
		if !upstreamURL(e.url) {
			return nil, fmt.Errorf("discovery of %s: %s %q is not an https URL", c.issuer, e.name, idp.CleanText(e.url, 100))
		}
	}
	if d.userinfoURL != "" && !upstreamURL(d.userinfoURL) {
		return nil, fmt.Errorf("discovery of %s: userinfo_endpoint %q is not an https URL", c.issuer, idp.CleanText(d.userinfoURL, 100))
	}
	algs := signingAlgs(x.Algs)
	if len(algs) == 0 {
		return nil, fmt.Errorf("discovery of %s: the provider signs id_tokens with none of %v", c.issuer, allowedAlgs)
	}
	if old != nil && old.jwksURL == d.jwksURL {
		d.keys = old.keys
	} else {
		d.keys = newKeySet(d.jwksURL, c.client, c.now, algs, func(err error) { c.report("keys", err) })
	}
	d.verifier = oidc.NewVerifier(c.issuer, d.keys, &oidc.Config{
		ClientID: c.clientID, SupportedSigningAlgs: algs, Now: c.now,
	})
	return d, nil
}

// signingAlgs are the provider's id_token algorithms that are allowed
// (RS256, the required default, when it names none).
func signingAlgs(offered []string) []string {
	if len(offered) == 0 {
		return []string{oidc.RS256}
	}
	var out []string
	for _, a := range offered {
		if slices.Contains(allowedAlgs, a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func joseAlgs(algs []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// authStyle is how the client authenticates at the token endpoint:
// client_secret_basic (the default of OpenID Connect Discovery), or
// client_secret_post when the provider supports only that.
func authStyle(methods []string) oauth2.AuthStyle {
	if len(methods) == 0 || slices.Contains(methods, "client_secret_basic") || !slices.Contains(methods, "client_secret_post") {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}
