package authz

import (
	"context"
	"crypto/x509"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// ScopeStrategy reports whether the scope needle is covered by haystack
// (granted or allowed scopes). authz/smart provides the SMART one.
type ScopeStrategy func(haystack []string, needle string) bool

// ExactScopeStrategy is the default ScopeStrategy: exact string match.
func ExactScopeStrategy(haystack []string, needle string) bool {
	for _, h := range haystack {
		if h == needle {
			return true
		}
	}
	return false
}

// Config configures the authorization server. The zero value of every field
// but BaseURLs and FHIRBaseURLs has a usable default.
type Config struct {
	// BaseURLs are the public base URLs of every listener (e.g.
	// http://localhost:8080 and https://localhost:8443). Tokens issued under
	// one are accepted under the others; private_key_jwt assertions may name
	// the token endpoint of any of them.
	BaseURLs []string
	// FHIRBaseURLs are the FHIR bases an authorize aud may name, e.g.
	// <httpURL>/fhir and <httpsURL>/fhir (compared without trailing slash).
	FHIRBaseURLs []string
	// ExtraFHIRBaseURLs are other FHIR bases (gateways, proxies elsewhere)
	// an authorize aud may name too: the token's aud is then that base
	// alone, so that it is good there and not at this server's own
	// FHIR endpoint (whose tokens name FHIRBaseURLs).
	ExtraFHIRBaseURLs []string
	// MTLSBaseURL is the public base URL of the HTTPS listener, where
	// client certificates are requested ("" when it is off): discovery
	// then offers certificate-bound access tokens (RFC 8705 §3), and names
	// its endpoints in mtls_endpoint_aliases (§5) when served under
	// another base.
	MTLSBaseURL string

	AccessTokenTTL  time.Duration // default 1h
	RefreshTokenTTL time.Duration // default 720h
	CodeTTL         time.Duration // default 1m
	IDTokenTTL      time.Duration // default 1h
	// BackendTokenTTL is the lifetime of client_credentials tokens
	// (SMART Backend Services: ≤ 5 minutes recommended). Default 5m.
	BackendTokenTTL time.Duration

	// PKCE (S256) is required from public clients always and from
	// confidential ones unless the client's RequirePKCE is off (SMART v1).
	// PKCEForAll ignores those per-client exemptions: PKCE for everyone.
	PKCEForAll bool

	// RefreshGrace is how long an already-rotated refresh token is still
	// accepted (lost responses). Zero means no grace; default 0.
	RefreshGrace time.Duration

	// OWin enables the password grant for local accounts.
	OWin bool
	// OWinOffListeners turns the password grant off on the named listeners
	// (listener.Info.Name: "http", "https") while OWin is on.
	OWinOffListeners []string
	// SecondFactor is the second factor of accounts (nil: none): the OWin
	// grant asks for its code in the otp parameter when an account has
	// one enrolled or must have one.
	SecondFactor SecondFactorChecker

	// KeyRotation rotates the signing keys when the active ones are older
	// (default 90 days; negative disables scheduled rotation).
	KeyRotation time.Duration

	// JWKSAllowPrivate lets jwks_uri point at loopback or private-range
	// addresses (tests, labs), and be plain http. Off by default: a
	// jwks_uri is then fetched over TLS only (checklist K8).
	JWKSAllowPrivate bool
	// JWKSRootCAs, when set, are the roots trusted for jwks_uri TLS instead
	// of the system's (tests, labs with a private CA).
	JWKSRootCAs *x509.CertPool
	// JWKSTimeout, JWKSMaxBytes and JWKSCacheTTL bound jwks_uri fetches
	// (defaults 5s, 64 KiB, 5m).
	JWKSTimeout  time.Duration
	JWKSMaxBytes int64
	JWKSCacheTTL time.Duration

	// ScopeStrategy matches requested scopes against allowed/granted ones
	// (default ExactScopeStrategy).
	ScopeStrategy ScopeStrategy
	// AllowOrigin decides which browser origins may call the token,
	// revocation and userinfo endpoints (CORS; never with credentials).
	// Nil allows every origin. Discovery and JWKS are open to all.
	AllowOrigin func(ctx context.Context, origin string) bool
	// Clients is the client cache every client change of this process goes
	// through (the pages' too); nil: New makes one over the Store. See
	// ClientCache.
	Clients *ClientCache
	// ManagementPath and RegistrationPath, when set, are advertised in the
	// SMART configuration as management_endpoint (the page where people
	// review and revoke app access) and registration_endpoint (RFC 7591).
	ManagementPath   string
	RegistrationPath string
	// OpenRegistration lets requests without an initial access token
	// register public clients (RFC 7591 §3) under OpenRegistrationScopes
	// (default DefaultOpenRegistrationScopes). Off: an administrator's
	// bearer token is required.
	OpenRegistration       bool
	OpenRegistrationScopes []string
	// RegistrationTokenTTL is the lifetime of an RFC 7592 registration
	// access token (a new one with each update); default 24h.
	RegistrationTokenTTL time.Duration
	// SmartStylePath is the path (with a content-version query) of the SMART
	// style sheet on every listener, e.g. /static/smart-style.json?v=…;
	// launch contexts carry smart_style_url = listener base URL + it.
	SmartStylePath string
	// Launches enables EHR launch (the launch parameter): it resolves the
	// launch values this server issued (package launch); when it also
	// implements LaunchConsumer, a launch is used up when its code is
	// issued. Nil: no EHR launch.
	Launches LaunchResolver
	// ExtraCapabilities are SMART capabilities that other parts of the
	// server provide (e.g. context-standalone-encounter).
	ExtraCapabilities []string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTokenTTL, time.Hour)
	def(&c.RefreshTokenTTL, 720*time.Hour)
	def(&c.CodeTTL, time.Minute)
	def(&c.IDTokenTTL, time.Hour)
	def(&c.BackendTokenTTL, 5*time.Minute)
	def(&c.KeyRotation, 90*24*time.Hour)
	def(&c.JWKSTimeout, 5*time.Second)
	def(&c.JWKSCacheTTL, 5*time.Minute)
	def(&c.RegistrationTokenTTL, 24*time.Hour)
	if c.JWKSMaxBytes <= 0 {
		c.JWKSMaxBytes = 64 << 10
	}
	if c.ScopeStrategy == nil {
		c.ScopeStrategy = ExactScopeStrategy
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	for i, u := range c.BaseURLs {
		c.BaseURLs[i] = strings.TrimRight(u, "/")
	}
	for i, u := range c.FHIRBaseURLs {
		c.FHIRBaseURLs[i] = strings.TrimRight(u, "/")
	}
	for i, u := range c.ExtraFHIRBaseURLs {
		c.ExtraFHIRBaseURLs[i] = strings.TrimRight(u, "/")
	}
	c.MTLSBaseURL = strings.TrimRight(c.MTLSBaseURL, "/")
}

// fositeConfig is fosite's configuration with the issuer taken from the
// request (each listener is its own issuer).
type fositeConfig struct {
	*fosite.Config
}

type issuerKey struct{}

func withIssuer(ctx context.Context, iss string) context.Context {
	return context.WithValue(ctx, issuerKey{}, iss)
}

func issuerFrom(ctx context.Context) string {
	s, _ := ctx.Value(issuerKey{}).(string)
	return s
}

func (c fositeConfig) GetIDTokenIssuer(ctx context.Context) string     { return issuerFrom(ctx) }
func (c fositeConfig) GetAccessTokenIssuer(ctx context.Context) string { return issuerFrom(ctx) }

// fositeClient adapts Client to fosite.Client.
type fositeClient struct {
	c        *Client
	audience []string
}

var _ fosite.Client = (*fositeClient)(nil)

func (f *fositeClient) GetID() string                      { return f.c.ID }
func (f *fositeClient) GetHashedSecret() []byte            { return f.c.SecretHash }
func (f *fositeClient) GetRedirectURIs() []string          { return f.c.RedirectURIs }
func (f *fositeClient) GetGrantTypes() fosite.Arguments    { return f.c.GrantTypes }
func (f *fositeClient) GetResponseTypes() fosite.Arguments { return f.c.ResponseTypes }
func (f *fositeClient) GetScopes() fosite.Arguments        { return f.c.GrantableScopes() }
func (f *fositeClient) IsPublic() bool                     { return f.c.Public }
func (f *fositeClient) GetAudience() fosite.Arguments      { return f.audience }

// GetResponseModes: only the query response mode (explicit
// response_mode=query is accepted; fragment and form_post are not).
func (f *fositeClient) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeQuery}
}
