// Package oidc is the OpenID Connect connector: discovery, the
// authorization code flow with PKCE S256, state and nonce, the RFC 9207
// iss response parameter (mix-up defence), the id_token verified
// (signature against the provider's keys, issuer, audience, azp, expiry,
// nonce), optional userinfo, claim mapping and an hd-style domain
// restriction on the verified claim.
//
// Presets: "google" (Google's fixed issuer, hosted domain claim hd),
// "hl7" (HL7.org: off until the administrator configures the issuer HL7
// gives them) and "none" (any OpenID provider: Entra ID, Okta, Keycloak,
// Auth0, login.gov…; issuer required).
//
// Nothing is fetched at Open: discovery and keys are fetched at first use,
// cached, and a failed fetch is retried at a later use (not more often
// than DiscoveryRetry), so an unreachable provider never stops the
// server; Status reports the last fetch and Check fetches now. Keys are
// refreshed on an unknown kid, at most once per KeyRefresh.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/idp"
)

// Rate limits of upstream fetches.
const (
	// DiscoveryRetry is the least time between two discovery fetches
	// after one failed.
	DiscoveryRetry = 30 * time.Second
	// KeyRefresh is the least time between two fetches of the provider's
	// keys (an unknown kid triggers one).
	KeyRefresh = 10 * time.Second
)

// The presets.
const (
	PresetGoogle = "google"
	PresetHL7    = "hl7"
	PresetNone   = "none"
)

// preset is what a preset fills in.
type preset struct {
	issuer      string // fixed issuer, or "" (configured)
	domainClaim string // default domain claim
	needIssuer  string // Open's message when the issuer is missing
}

func presetOf(name string) (preset, bool) {
	switch name {
	case PresetGoogle:
		return preset{issuer: idp.GoogleIssuer, domainClaim: "hd"}, true
	case PresetHL7:
		return preset{needIssuer: "the hl7 preset is off until configured: " +
			"set issuer to the OpenID Connect issuer HL7.org gives you"}, true
	case PresetNone, "":
		return preset{needIssuer: "issuer is required (the provider's OpenID Connect issuer URL)"}, true
	}
	return preset{}, false
}

// Presets are the preset names this connector knows.
func Presets() []string { return []string{PresetGoogle, PresetHL7, PresetNone} }

// Claim names: the keys of Config.Claims.
const (
	ClaimEmail             = "email"
	ClaimEmailVerified     = "email_verified"
	ClaimName              = "name"
	ClaimGivenName         = "given_name"
	ClaimFamilyName        = "family_name"
	ClaimPreferredUsername = "preferred_username"
	ClaimDomain            = "domain"
)

var claimKeys = []string{ClaimEmail, ClaimEmailVerified, ClaimName, ClaimGivenName,
	ClaimFamilyName, ClaimPreferredUsername, ClaimDomain}

// Config configures an OpenID Connect provider. The zero values of the
// optional fields are safe defaults.
type Config struct {
	// Preset is "google", "hl7" or "none" ("" is "none").
	Preset string
	// Issuer is the provider's issuer URL (https, or http on loopback),
	// exactly as its discovery document says it. Fixed by the google
	// preset (idp.GoogleIssuer; may be left empty); required otherwise.
	// Identity.Issuer is this value.
	Issuer string
	// ClientID and ClientSecret are smartgate's client at the provider.
	// ClientSecret is the secret's value, which the caller read from
	// client_secret_env or client_secret_file; it is never logged.
	ClientID     string
	ClientSecret string
	// Scopes requested (default openid email profile); openid is added
	// when missing.
	Scopes []string
	// AllowedDomains, when set, admit only people whose verified domain
	// is one of them (case-insensitive): the domain claim when the token
	// has one (Google: hd), else the domain of the email when the
	// provider says it is verified; anyone else is refused (ErrDomain).
	AllowedDomains []string
	// Claims maps smartgate's names (email, email_verified, name,
	// given_name, family_name, preferred_username, domain) to the
	// provider's claim names; unset names map to themselves, except
	// domain, which is hd for the google preset and unset otherwise.
	Claims map[string]string
	// HTTPClient makes every upstream call (default idp.HTTPClient(nil,
	// 0, 0): bounded time and size).
	HTTPClient *http.Client
	// Now is the clock (default time.Now): token expiry and the rate
	// limits of fetches.
	Now func() time.Time
	// The logger is Open's argument (dex's signature), not a field.
}

// Connector is an opened OpenID Connect provider. It is safe for
// concurrent use.
type Connector struct {
	id             string
	issuer         string
	clientID       string
	clientSecret   string
	scopes         []string
	allowedDomains []string
	claims         map[string]string // smartgate name → claim name; "" unset
	client         *http.Client
	now            func() time.Time
	log            *slog.Logger

	fetching chan struct{} // holds one token while discovery is fetched
	mu       sync.Mutex    // guards the fields below
	disc     *discovery    // the last good discovery, or nil
	tried    time.Time     // when discovery was last tried
	lastErr  error         // the last discovery error, or nil
	status   idp.Status
}

var (
	_ idp.CallbackConnector = (*Connector)(nil)
	_ idp.StatusReporter    = (*Connector)(nil)
	_ idp.Checker           = (*Connector)(nil)
)

// Open checks c (every problem at once) and returns the connector for
// the provider id. It fetches nothing: an unreachable provider does not
// stop the server. logger may be nil.
func (c *Config) Open(id string, logger *slog.Logger) (*Connector, error) {
	p, known := presetOf(c.Preset)
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("provider %q: "+format, append([]any{id}, args...)...))
	}
	if !known {
		bad("unknown preset %q (one of %s)", c.Preset, strings.Join(Presets(), ", "))
	}
	issuer := c.Issuer
	switch {
	case p.issuer != "" && issuer == "":
		issuer = p.issuer
	case p.issuer != "" && issuer != p.issuer:
		bad("the %s preset's issuer is %s, not %q", c.Preset, p.issuer, issuer)
	case known && issuer == "":
		bad("%s", p.needIssuer)
	case issuer != "" && !idp.SecureURL(issuer):
		bad("issuer %q must be an https URL (or http on loopback)", issuer)
	}
	if c.ClientID == "" {
		bad("client_id is required")
	}
	if c.ClientSecret == "" {
		bad("the client secret is required (client_secret_env or client_secret_file)")
	}
	claims, cerrs := claimMap(c.Claims, p.domainClaim)
	for _, e := range cerrs {
		bad("%s", e)
	}
	domains, derrs := domainList(c.AllowedDomains)
	for _, e := range derrs {
		bad("%s", e)
	}
	scopes, serr := scopeList(c.Scopes)
	if serr != "" {
		bad("%s", serr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := c.HTTPClient
	if client == nil {
		client = idp.HTTPClient(nil, 0, 0)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Connector{
		id: id, issuer: issuer, clientID: c.ClientID, clientSecret: c.ClientSecret,
		scopes: scopes, allowedDomains: domains, claims: claims, client: client, now: now,
		log:      logger.With(slog.Group("connector", "type", "oidc", "id", id)),
		fetching: make(chan struct{}, 1),
	}, nil
}

func claimMap(in map[string]string, domainClaim string) (map[string]string, []string) {
	out := make(map[string]string, len(claimKeys))
	for _, k := range claimKeys {
		out[k] = k
	}
	out[ClaimDomain] = domainClaim
	var errs []string
	for k, v := range in {
		switch {
		case !slices.Contains(claimKeys, k):
			errs = append(errs, fmt.Sprintf("claims: unknown name %q (one of %s)", k, strings.Join(claimKeys, ", ")))
		case strings.TrimSpace(v) == "":
			errs = append(errs, fmt.Sprintf("claims: %s maps to an empty claim name", k))
		default:
			out[k] = v
		}
	}
	slices.Sort(errs) // map order: a stable message
	return out, errs
}

func domainList(in []string) ([]string, []string) {
	var out, errs []string
	for _, d := range in {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, "@/: ") {
			errs = append(errs, fmt.Sprintf("allowed_domains: %q is not a domain", d))
			continue
		}
		out = append(out, d)
	}
	return out, errs
}

func scopeList(in []string) ([]string, string) {
	if len(in) == 0 {
		return []string{"openid", "email", "profile"}, ""
	}
	out := []string{"openid"}
	for _, s := range in {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			return nil, fmt.Sprintf("scopes: %q is not a scope", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, ""
}

// ID is the provider id the connector was opened for.
func (c *Connector) ID() string { return c.id }

// Issuer is the issuer identities of this provider carry.
func (c *Connector) Issuer() string { return c.issuer }

// LoginURL is the provider's authorization endpoint with a code request
// for st: response_type=code, PKCE S256, state, nonce, redirect_uri and
// the scopes. It fails with ErrUnavailable when discovery cannot be
// fetched.
func (c *Connector) LoginURL(ctx context.Context, st idp.State) (string, error) {
	if st.State == "" || st.Nonce == "" || len(st.Verifier) < 43 || st.RedirectURI == "" {
		return "", errors.New("oidc: incomplete log-in state")
	}
	d, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	conf := c.oauth2Config(d, st.RedirectURI)
	return conf.AuthCodeURL(st.State,
		oauth2.SetAuthURLParam("nonce", st.Nonce),
		oauth2.SetAuthURLParam("code_challenge", st.Challenge()),
		oauth2.SetAuthURLParam("code_challenge_method", "S256")), nil
}

func (c *Connector) oauth2Config(d *discovery, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.clientID,
		ClientSecret: c.clientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: d.authURL, TokenURL: d.tokenURL, AuthStyle: d.authStyle},
		RedirectURL:  redirectURI,
		Scopes:       c.scopes,
	}
}

// Status is the result of the last upstream fetch (discovery or keys).
func (c *Connector) Status() idp.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *Connector) setStatus(err error) {
	s := idp.Status{Checked: c.now()}
	if err != nil {
		s.Err = err.Error()
	}
	c.mu.Lock()
	c.status = s
	c.mu.Unlock()
}

// Check fetches the discovery document and the keys now (the providers
// page's "check now"), whatever the rate limits; the result also shows
// in Status.
func (c *Connector) Check(ctx context.Context) error {
	d, err := c.fetchDiscovery(ctx, true)
	if err != nil {
		return err
	}
	return d.keys.refresh(ctx, true)
}

// upstreamURL reports whether raw may be an endpoint of the provider.
func upstreamURL(raw string) bool {
	if !idp.SecureURL(raw) {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && u.Fragment == ""
}
