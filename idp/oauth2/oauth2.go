// Package oauth2 is the connector of providers that speak OAuth 2.0 but
// not OpenID Connect: the authorization code flow (state, PKCE S256) and
// then the provider's userinfo endpoint, read with the access token,
// names the person. There is no signed id_token; the identity is what
// the provider's userinfo endpoint answers over TLS to the access token
// it issued to this client.
//
// Presets: "facebook" (Facebook Login and the Graph API's
// /me?fields=id,name,email with appsecret_proof; the linking issuer is
// idp.FacebookIssuer, and Facebook's email always counts as unverified)
// and "none" (any other provider: endpoints, issuer and claim mapping
// from the configuration).
//
// The access token is used for the one userinfo call and then dropped:
// it is never stored, logged or put in an error.
package oauth2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	xoauth2 "golang.org/x/oauth2"

	"github.com/smartgate/smartgate/idp"
)

// The presets.
const (
	PresetFacebook = "facebook"
	PresetNone     = "none"
)

// Config configures an OAuth 2.0 + userinfo provider; Open checks it.
type Config struct {
	// Preset is "facebook" or "none" (default "none").
	Preset string `json:"preset"`
	// Issuer is the issuer linked identities carry (Identity.Issuer, the
	// link key with the subject): an https URL naming the provider,
	// required for "none" (and never a preset's fixed issuer). The
	// facebook preset fixes it to idp.FacebookIssuer (leave it empty or
	// set exactly that).
	Issuer string `json:"issuer"`
	// AuthURL, TokenURL and UserInfoURL are the provider's authorization,
	// token and userinfo endpoints: https, or http on a loopback host
	// (idp.SecureURL). Required for "none"; the facebook preset defaults
	// them to FacebookAuthURL, FacebookTokenURL and FacebookUserInfoURL
	// (set them only to move to another Graph API version, or in tests
	// to point the preset at a local server).
	AuthURL     string `json:"auth_url"`
	TokenURL    string `json:"token_url"`
	UserInfoURL string `json:"userinfo_url"`
	// ClientID and ClientSecret are this client's registration (for
	// Facebook, the app id and app secret). ClientSecret is the value:
	// the caller reads it from client_secret_env or client_secret_file.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"-"`
	// Scopes are requested at log-in; facebook defaults to email and
	// public_profile, "none" to no scope parameter.
	Scopes []string `json:"scopes"`
	// Claims maps smartgate's names to the top-level fields of the
	// provider's userinfo answer ("none" only; Facebook's are fixed):
	// subject (default "sub", else "id"; a string or a number), email,
	// email_verified (true, or the string "true"), name, given_name,
	// family_name, preferred_username (each defaults to its own name),
	// and domain (the provider's hosted-domain field; no default).
	Claims map[string]string `json:"claims"`
	// AllowedDomains, when set, admit only people whose domain is one of
	// them: the domain field when Claims maps domain, else the domain of
	// an email the provider says is verified (so, with Facebook, whose
	// emails are never verified, nobody: Open refuses that).
	AllowedDomains []string `json:"allowed_domains"`
	// HTTPClient makes every upstream call; nil: idp.HTTPClient's
	// defaults (10 s, 1 MiB). Give one made by idp.HTTPClient.
	HTTPClient *http.Client `json:"-"`
	// Logger is used when Open's logger is nil (nil: no logs).
	Logger *slog.Logger `json:"-"`
}

// Connector is an opened OAuth 2.0 + userinfo provider.
type Connector struct {
	id       string
	preset   string
	issuer   string
	oauth    xoauth2.Config // RedirectURL stays empty: each State has its own
	userinfo string
	secret   string // for Facebook's appsecret_proof
	claims   mapping
	allowed  []string // lower case
	client   *http.Client
	logger   *slog.Logger
}

var (
	_ idp.CallbackConnector = (*Connector)(nil)
	_ slog.LogValuer        = (*Connector)(nil)
	_ fmt.Stringer          = (*Connector)(nil)
)

// String names the connector (never its secret).
func (conn *Connector) String() string {
	return fmt.Sprintf("oauth2 connector %q (preset %s, issuer %s)", conn.id, conn.preset, conn.issuer)
}

// LogValue is the connector in a log line, without its secret.
func (conn *Connector) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", conn.id), slog.String("preset", conn.preset),
		slog.String("issuer", conn.issuer))
}

// Open checks c and returns the connector of the provider id; every
// problem is reported at once.
func (c *Config) Open(id string, logger *slog.Logger) (*Connector, error) {
	if logger == nil {
		logger = c.Logger
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	preset := c.Preset
	if preset == "" {
		preset = PresetNone
	}
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if id == "" || idp.Reserved(id) {
		bad("the id %q may not name a provider", id)
	}
	conn := &Connector{id: id, preset: preset, secret: c.ClientSecret, client: c.HTTPClient,
		logger: logger.With(slog.Group("idp", "type", "oauth2", "id", id))}
	var endpoint xoauth2.Endpoint
	switch preset {
	case PresetFacebook:
		endpoint, conn.userinfo = conn.facebook(c, bad)
	case PresetNone:
		endpoint, conn.userinfo = conn.generic(c, bad)
	default:
		bad("unknown preset %q (facebook or none)", c.Preset)
	}
	if c.ClientID == "" {
		bad("client_id is required")
	}
	if c.ClientSecret == "" {
		bad("a client secret is required (client_secret_env or client_secret_file)")
	}
	conn.allowed = allowedDomains(c.AllowedDomains, bad)
	if len(problems) > 0 {
		return nil, fmt.Errorf("idp/oauth2: provider %q: %w", id, errors.Join(problems...))
	}
	if conn.client == nil {
		conn.client = idp.HTTPClient(nil, 0, 0)
	}
	conn.oauth = xoauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: endpoint,
		Scopes: slices.Clone(c.Scopes)}
	if len(conn.oauth.Scopes) == 0 && preset == PresetFacebook {
		conn.oauth.Scopes = []string{"email", "public_profile"}
	}
	return conn, nil
}

// generic checks the "none" preset's endpoints, issuer and claims.
func (conn *Connector) generic(c *Config, bad func(string, ...any)) (xoauth2.Endpoint, string) {
	switch {
	case c.Issuer == "":
		bad("issuer is required (the issuer linked identities carry)")
	case !idp.SecureURL(c.Issuer):
		bad("issuer %q is not an https URL", c.Issuer)
	case c.Issuer == idp.FacebookIssuer || c.Issuer == idp.GoogleIssuer:
		bad("issuer %q is a preset's; use that preset", c.Issuer)
	}
	conn.issuer = c.Issuer
	for _, e := range []struct{ key, url string }{{"auth_url", c.AuthURL}, {"token_url", c.TokenURL},
		{"userinfo_url", c.UserInfoURL}} {
		checkURL(e.key, e.url, true, bad)
	}
	conn.claims = claimMapping(c.Claims, bad)
	// RFC 6749 §2.3.1: every server supports HTTP Basic for the client.
	return xoauth2.Endpoint{AuthURL: c.AuthURL, TokenURL: c.TokenURL, AuthStyle: xoauth2.AuthStyleInHeader},
		c.UserInfoURL
}

// checkURL reports a missing (when required) or insecure endpoint.
func checkURL(key, raw string, required bool, bad func(string, ...any)) {
	switch {
	case raw == "" && required:
		bad("%s is required", key)
	case raw != "" && !idp.SecureURL(raw):
		bad("%s %q is not https (http only on a loopback host)", key, raw)
	}
}

// allowedDomains is the lower-cased list, with each malformed entry
// reported.
func allowedDomains(list []string, bad func(string, ...any)) []string {
	var out []string
	for _, d := range list {
		if d == "" || strings.ContainsAny(d, "@/: ") {
			bad("allowed_domains: %q is not a domain", d)
			continue
		}
		out = append(out, strings.ToLower(d))
	}
	return out
}

// LoginURL is the provider's authorization endpoint with the code flow's
// parameters: client_id, redirect_uri (st.RedirectURI), scope, state and
// the PKCE S256 challenge of st.Verifier.
func (conn *Connector) LoginURL(_ context.Context, st idp.State) (string, error) {
	if st.State == "" || st.Verifier == "" || st.RedirectURI == "" {
		return "", errors.New("idp/oauth2: login: the state is incomplete")
	}
	return conn.oauth.AuthCodeURL(st.State,
		xoauth2.SetAuthURLParam("redirect_uri", st.RedirectURI),
		xoauth2.SetAuthURLParam("code_challenge", st.Challenge()),
		xoauth2.SetAuthURLParam("code_challenge_method", "S256")), nil
}

// HandleCallback exchanges the callback's code (with st's verifier and
// redirect URI) for an access token, reads the userinfo endpoint with it
// and returns the person. The provider's error answer is ErrUpstream; an
// unreachable, hanging or oversized upstream ErrUnavailable; a userinfo
// answer without a usable subject ErrInvalidToken; a domain not allowed
// ErrDomain. Messages are safe to show: they carry no token or secret.
func (conn *Connector) HandleCallback(ctx context.Context, st idp.State, q url.Values) (idp.Identity, error) {
	if err := callbackError(q); err != nil {
		conn.logger.InfoContext(ctx, "upstream log-in refused", "error", err.Error())
		return idp.Identity{}, err
	}
	code := q.Get("code")
	if code == "" {
		return idp.Identity{}, fmt.Errorf("%w: the answer carries no code", idp.ErrUpstream)
	}
	token, err := conn.exchange(ctx, code, st)
	if err != nil {
		return idp.Identity{}, err
	}
	body, err := conn.fetchUserInfo(ctx, token)
	if err != nil {
		return idp.Identity{}, err
	}
	id, err := identityOf(body, conn.claims)
	if err != nil {
		conn.logger.WarnContext(ctx, "userinfo refused", "error", err.Error())
		return idp.Identity{}, err
	}
	id.Issuer = conn.issuer
	if err := conn.checkDomain(id); err != nil {
		return idp.Identity{}, err
	}
	return id, nil
}

// checkDomain applies AllowedDomains to id.
func (conn *Connector) checkDomain(id idp.Identity) error {
	if len(conn.allowed) == 0 {
		return nil
	}
	d := id.Domain
	if conn.claims.domain == "" {
		d = ""
		if id.EmailVerified {
			d = emailDomain(id.Email)
		}
	}
	for _, a := range conn.allowed {
		if d != "" && strings.EqualFold(d, a) {
			return nil
		}
	}
	if d == "" {
		return fmt.Errorf("%w: the provider names no verified domain", idp.ErrDomain)
	}
	return fmt.Errorf("%w: %s", idp.ErrDomain, d)
}

// emailDomain is the part of email after its last @ ("" if none).
func emailDomain(email string) string {
	i := strings.LastIndexByte(email, '@')
	if i < 0 {
		return ""
	}
	return email[i+1:]
}
