package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/authz/smart"
)

// Token endpoint authentication methods.
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// Client is a registered OAuth client.
type Client struct {
	ID            string
	Name          string
	SecretHash    []byte // SHA-256 of the secret; nil when there is none
	RedirectURIs  []string
	GrantTypes    []string
	ResponseTypes []string
	// Scopes is the ceiling of what the client may ever be granted.
	Scopes                  []string
	TokenEndpointAuthMethod string
	JWKS                    string // JSON Web Key Set by value, or ""
	JWKSURI                 string
	LaunchURI               string
	LogoURI                 string
	ClientURI               string
	// RequirePKCE: when false, a confidential client (SMART v1) may omit
	// PKCE. Public clients always need it.
	RequirePKCE bool
	Public      bool
	Disabled    bool
	CreatedAt   time.Time

	// RFC 7591 metadata kept to be shown and returned (RFC 7592 reads).
	Contacts               []string
	TOSURI                 string
	PolicyURI              string
	PostLogoutRedirectURIs []string
	SoftwareID             string
	SoftwareVersion        string
	// RegistrationTokenHash is the SHA-256 of the RFC 7592 registration
	// access token; nil when the client has none.
	RegistrationTokenHash []byte
	// RegistrationTokenExpiresAt ends the registration access token's life
	// (Config.RegistrationTokenTTL after it was issued); a zero time is
	// expired.
	RegistrationTokenExpiresAt time.Time
	// Ceiling bounds what the registration access token may change the
	// client to (RFC 7592 updates; see UpdatePolicy).
	Ceiling Ceiling
	// IntrospectAll marks a resource server that an administrator allowed
	// to introspect tokens of every client (RFC 7662 §4); any other caller
	// learns only about tokens issued to itself.
	IntrospectAll bool
	// Policy records how the client was registered (PolicyAdmin,
	// PolicyOpen, PolicySelf).
	Policy string
	// Owner is the user id of the person who registered the client on the
	// "My apps" page, or "".
	Owner string
	// Pending is set while a self-registered client awaits an
	// administrator's approval (it is also Disabled until then).
	Pending bool
	// AllowSystemScopes lets a client that authenticates with a secret be
	// granted the system/ scopes of its Scopes (client_credentials). SMART
	// Backend Services authenticate with keys (private_key_jwt), and
	// without this flag a secret client's system/ scopes are never
	// granted. Only an administrator sets it (the edit page, the CLI);
	// registration requests and RFC 7592 updates never change it.
	AllowSystemScopes bool
	// AllowSCIM lets the client be granted the scim scope (ScopeSCIM) and
	// hold provisioning tokens: it may call /scim/v2. Administrators only,
	// like AllowSystemScopes.
	AllowSCIM bool
	// AllowLaunchCreate lets the client be granted the launch:create scope
	// (ScopeLaunchCreate): it may create EHR launches through the launch
	// API, as an EHR that opens apps does. Administrators only.
	AllowLaunchCreate bool

	// TLSClientAuth is the RFC 8705 §2.1.2 metadata of a tls_client_auth
	// client: the one subject DN or SAN its certificate must carry.
	TLSClientAuth TLSClientAuth
	// CertBoundAccessTokens (RFC 8705 §3.4,
	// tls_client_certificate_bound_access_tokens): every access token
	// issued to the client is bound to the certificate it presented at the
	// token endpoint, and the client must present one there.
	CertBoundAccessTokens bool
}

// TLSClientAuth names the certificate of a tls_client_auth client
// (RFC 8705 §2.1.2): exactly one of the fields is set.
type TLSClientAuth struct {
	SubjectDN string // tls_client_auth_subject_dn (RFC 4514 string)
	SANDNS    string // tls_client_auth_san_dns
	SANURI    string // tls_client_auth_san_uri
	SANIP     string // tls_client_auth_san_ip
	SANEmail  string // tls_client_auth_san_email
}

// IsZero reports whether no field is set.
func (t TLSClientAuth) IsZero() bool { return t == TLSClientAuth{} }

// The RFC 8705 client authentication methods.
const (
	AuthTLSClientAuth           = "tls_client_auth"
	AuthSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// ScopeSCIM is the scope of a token that may call the SCIM API: granted
// only to clients an administrator allowed SCIM (Client.AllowSCIM). It is
// not advertised in scopes_supported. A person is granted it only when
// their ceiling holds it (an administrator's: smart.NarrowTo).
const ScopeSCIM = smart.ScopeSCIM

// ScopeLaunchCreate is the scope of a token that may create EHR launches
// (package launch): granted only to clients an administrator allowed it
// (Client.AllowLaunchCreate), and to people whose ceiling holds it.
const ScopeLaunchCreate = smart.ScopeLaunchCreate

// GrantableScopes is the part of c.Scopes that c may be granted now:
// without scim unless an administrator allowed SCIM, without launch:create
// unless an administrator allowed launches, and without system/
// scopes for a client that authenticates with a secret unless an
// administrator allowed them (SMART system/ scopes are for key- or
// certificate-authenticated clients). fosite checks every request
// (authorize, client_credentials, refresh) against it.
// The result is c.Scopes itself when nothing is withheld (the token
// endpoint's hot path); callers must not change it.
func (c *Client) GrantableScopes() []string {
	withheld := func(sc string) bool {
		return sc == ScopeSCIM && !c.AllowSCIM || sc == ScopeLaunchCreate && !c.AllowLaunchCreate ||
			strings.HasPrefix(sc, "system/") && UsesSecret(c.TokenEndpointAuthMethod) && !c.AllowSystemScopes
	}
	if !slices.ContainsFunc(c.Scopes, withheld) {
		return c.Scopes
	}
	out := make([]string, 0, len(c.Scopes))
	for _, sc := range c.Scopes {
		if !withheld(sc) {
			out = append(out, sc)
		}
	}
	return out
}

// Ceiling is what a client may be without an administrator: its scopes,
// grant types and authentication method after the last administrator
// action (registration by an administrator, an edit on /admin/clients, the
// CLI), or, for a client nobody administered (open registration, "My
// apps"), those of the policy it was registered under. An RFC 7592 update
// with the registration access token stays within it and never changes it.
type Ceiling struct {
	Scopes     []string
	GrantTypes []string
	AuthMethod string
}

// SetCeiling records c's current scopes, grant types and authentication
// method as its ceiling. Every administrator change calls it (CreateClient
// does for clients without an explicit ceiling); the registration access
// token's path never does.
func (c *Client) SetCeiling() {
	c.Ceiling = Ceiling{Scopes: slices.Clone(c.Scopes), GrantTypes: slices.Clone(c.GrantTypes), AuthMethod: c.TokenEndpointAuthMethod}
}

// ceiling is c.Ceiling, or c's current values when none was recorded (a
// client stored without one: it may only narrow).
func (c *Client) ceiling() Ceiling {
	if c.Ceiling.AuthMethod != "" {
		return c.Ceiling
	}
	return Ceiling{Scopes: c.Scopes, GrantTypes: c.GrantTypes, AuthMethod: c.TokenEndpointAuthMethod}
}

// Registration policies (Client.Policy).
const (
	PolicyAdmin = "admin" // an administrator (page, CLI or initial access token)
	PolicyOpen  = "open"  // unauthenticated RFC 7591 registration
	PolicySelf  = "self"  // a signed-in person on the "My apps" page
)

// NewClient describes a client to register with CreateClient.
type NewClient struct {
	Name                    string
	RedirectURIs            []string
	GrantTypes              []string // default authorization_code + refresh_token
	Scopes                  []string
	TokenEndpointAuthMethod string // default client_secret_basic
	JWKS                    string
	JWKSURI                 string
	LaunchURI               string
	LogoURI                 string
	ClientURI               string
	// AllowNoPKCE lets a confidential SMART v1 client omit PKCE.
	AllowNoPKCE bool

	ResponseTypes          []string // default [code] when authorization_code is registered
	Contacts               []string
	TOSURI                 string
	PolicyURI              string
	PostLogoutRedirectURIs []string
	SoftwareID             string
	SoftwareVersion        string
	RegistrationTokenHash  []byte
	Policy                 string // default PolicyAdmin
	Owner                  string
	// RegistrationTokenExpiresAt goes with RegistrationTokenHash.
	RegistrationTokenExpiresAt time.Time
	// Ceiling is the ceiling of a client no administrator registered (open
	// registration, "My apps"); nil means the registered values (Client.SetCeiling).
	Ceiling *Ceiling
	// IntrospectAll: see Client.IntrospectAll (administrators only).
	IntrospectAll bool
	// AllowSystemScopes, AllowSCIM, AllowLaunchCreate: see Client
	// (administrators only).
	AllowSystemScopes, AllowSCIM, AllowLaunchCreate bool
	// Pending registers the client disabled, awaiting approval.
	Pending bool
	// TLSClientAuth, CertBoundAccessTokens: see Client (RFC 8705).
	TLSClientAuth         TLSClientAuth
	CertBoundAccessTokens bool

	// ID is a fixed client id chosen by an administrator (the CLI, for
	// scripts and benchmarks); empty means a random one. Never set it from
	// a registration request (RFC 9700 §2.6, checklist S12).
	ID string
	// Secret is an administrator-provided secret (at least MinSecretLength
	// characters) used instead of a generated one, for the secret methods.
	Secret string
}

// MinSecretLength is the shortest administrator-provided client secret.
const MinSecretLength = 32

// DefaultUserScopes is the scope ceiling of a user-facing client registered
// without scopes. (A ceiling is not a grant: the person still consents.)
func DefaultUserScopes() []string {
	return []string{"openid", "fhirUser", "profile", "email", "offline_access", "online_access",
		"launch", "launch/patient", "launch/encounter", "patient/*.cruds", "user/*.cruds"}
}

// DefaultBackendScopes is the scope ceiling of a client_credentials-only
// client registered without scopes.
func DefaultBackendScopes() []string { return []string{"system/*.rs"} }

// ErrInvalidClientMetadata is returned by CreateClient for metadata it
// refuses (RFC 7591 invalid_client_metadata / invalid_redirect_uri).
var ErrInvalidClientMetadata = errors.New("authz: invalid client metadata")

// CreateClient validates nc, generates the client id and (for the secret
// methods) a 256-bit secret, stores the client and returns it with the
// secret, which is shown once and stored only as its SHA-256.
func CreateClient(ctx context.Context, st ClientStore, nc NewClient, now time.Time) (*Client, string, error) {
	c := &Client{
		Name:                    strings.TrimSpace(nc.Name),
		RedirectURIs:            nc.RedirectURIs,
		GrantTypes:              nc.GrantTypes,
		ResponseTypes:           []string{"code"},
		Scopes:                  nc.Scopes,
		TokenEndpointAuthMethod: nc.TokenEndpointAuthMethod,
		JWKS:                    strings.TrimSpace(nc.JWKS),
		JWKSURI:                 strings.TrimSpace(nc.JWKSURI),
		LaunchURI:               nc.LaunchURI,
		LogoURI:                 nc.LogoURI,
		ClientURI:               nc.ClientURI,
		RequirePKCE:             !nc.AllowNoPKCE,
		CreatedAt:               now.UTC(),
		Contacts:                nc.Contacts,
		TOSURI:                  nc.TOSURI,
		PolicyURI:               nc.PolicyURI,
		PostLogoutRedirectURIs:  nc.PostLogoutRedirectURIs,
		SoftwareID:              nc.SoftwareID,
		SoftwareVersion:         nc.SoftwareVersion,
		RegistrationTokenHash:   nc.RegistrationTokenHash,
		Policy:                  nc.Policy,
		Owner:                   nc.Owner,
		Pending:                 nc.Pending,
		Disabled:                nc.Pending,
	}
	c.RegistrationTokenExpiresAt, c.IntrospectAll = nc.RegistrationTokenExpiresAt.UTC(), nc.IntrospectAll
	c.AllowSystemScopes, c.AllowSCIM, c.AllowLaunchCreate = nc.AllowSystemScopes, nc.AllowSCIM, nc.AllowLaunchCreate
	c.TLSClientAuth, c.CertBoundAccessTokens = nc.TLSClientAuth, nc.CertBoundAccessTokens
	if c.Policy == "" {
		c.Policy = PolicyAdmin
	}
	if len(nc.ResponseTypes) > 0 {
		c.ResponseTypes = nc.ResponseTypes
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthClientSecretBasic
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if err := validateClient(c); err != nil {
		return nil, "", err
	}
	if len(c.Scopes) == 0 {
		if slices.Contains(c.GrantTypes, "authorization_code") {
			c.Scopes = DefaultUserScopes()
		} else {
			c.Scopes = DefaultBackendScopes()
		}
	}
	c.Public = c.TokenEndpointAuthMethod == AuthNone
	if c.Public {
		c.RequirePKCE = true
	}
	if !slices.Contains(c.GrantTypes, "authorization_code") {
		c.ResponseTypes = nil
	}
	c.SetCeiling()
	if nc.Ceiling != nil {
		c.Ceiling = Ceiling{Scopes: slices.Clone(nc.Ceiling.Scopes), GrantTypes: slices.Clone(nc.Ceiling.GrantTypes), AuthMethod: nc.Ceiling.AuthMethod}
	}
	c.ID = nc.ID
	if c.ID == "" {
		id, err := randomString(16)
		if err != nil {
			return nil, "", err
		}
		c.ID = id
	} else if err := validFixedID(c.ID); err != nil {
		return nil, "", err
	}
	var secret string
	if UsesSecret(c.TokenEndpointAuthMethod) {
		switch {
		case nc.Secret != "":
			if len(nc.Secret) < MinSecretLength {
				return nil, "", fmt.Errorf("%w: a provided client secret must have at least %d characters", ErrInvalidClientMetadata, MinSecretLength)
			}
			secret = nc.Secret
		default:
			var err error
			if secret, err = randomString(32); err != nil {
				return nil, "", err
			}
		}
		c.SecretHash = HashSecret(secret)
	} else if nc.Secret != "" {
		return nil, "", fmt.Errorf("%w: token_endpoint_auth_method %s uses no secret", ErrInvalidClientMetadata, c.TokenEndpointAuthMethod)
	}
	if err := CertificateConflict(ctx, st, c); err != nil {
		return nil, "", err
	}
	if err := st.CreateClient(ctx, c); err != nil {
		return nil, "", fmt.Errorf("authz: create client: %w", err)
	}
	return c, secret, nil
}

// ResetClientSecret gives a secret-based client a new secret and returns it.
func ResetClientSecret(ctx context.Context, st ClientStore, id string) (string, error) {
	secret, err := randomString(32)
	if err != nil {
		return "", err
	}
	err = st.UpdateClient(ctx, id, func(c Client) (Client, error) {
		if !UsesSecret(c.TokenEndpointAuthMethod) {
			return c, fmt.Errorf("%w: client %q does not use a secret", ErrInvalidClientMetadata, id)
		}
		c.SecretHash = HashSecret(secret)
		return c, nil
	})
	if err != nil {
		return "", fmt.Errorf("authz: reset secret of %q: %w", id, err)
	}
	return secret, nil
}

// UsesSecret reports whether method authenticates with a client secret.
func UsesSecret(method string) bool {
	return method == AuthClientSecretBasic || method == AuthClientSecretPost
}

// validFixedID checks an administrator-chosen client id: 1 to 64 characters
// of the unreserved URI set, and never the OWin client's id.
func validFixedID(id string) error {
	if len(id) > 64 || id == owinClientID {
		return fmt.Errorf("%w: client id %q is not allowed", ErrInvalidClientMetadata, id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return fmt.Errorf("%w: client id %q may contain only letters, digits and -._~", ErrInvalidClientMetadata, id)
		}
	}
	return nil
}

func validateClient(c *Client) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidClientMetadata, fmt.Sprintf(format, a...))
	}
	switch c.TokenEndpointAuthMethod {
	case AuthNone, AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthTLSClientAuth, AuthSelfSignedTLSClientAuth:
	default:
		return bad("token_endpoint_auth_method %q is not supported", c.TokenEndpointAuthMethod)
	}
	for _, g := range c.GrantTypes {
		switch g {
		case "authorization_code", "refresh_token":
		case "client_credentials":
			if c.TokenEndpointAuthMethod == AuthNone {
				return bad("a public client may not use client_credentials")
			}
		default:
			return bad("grant type %q is not supported", g)
		}
	}
	if slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) == 0 {
		return bad("authorization_code needs at least one redirect URI")
	}
	for _, u := range c.RedirectURIs {
		if problem := registration.RedirectURIProblem(u); problem != "" {
			return bad("redirect URI %q %s", u, problem)
		}
	}
	if c.JWKS != "" && c.JWKSURI != "" {
		return bad("jwks and jwks_uri are mutually exclusive")
	}
	if c.TokenEndpointAuthMethod == AuthPrivateKeyJWT || c.TokenEndpointAuthMethod == AuthSelfSignedTLSClientAuth {
		if c.JWKS == "" && c.JWKSURI == "" {
			return bad("%s needs jwks or jwks_uri", c.TokenEndpointAuthMethod)
		}
	}
	if err := validateTLSClientAuth(c); err != nil {
		return bad("%s", err)
	}
	if c.JWKS != "" {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil || len(set.Keys) == 0 {
			return bad("jwks is not a JSON Web Key Set")
		}
		for _, k := range set.Keys {
			if !k.IsPublic() || k.KeyID == "" {
				return bad("every JWK needs a kid and must be a public key")
			}
		}
	}
	if c.JWKSURI != "" {
		u, err := url.Parse(c.JWKSURI)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return bad("jwks_uri must be an absolute URL")
		}
	}
	for _, s := range []string{c.LaunchURI, c.LogoURI, c.ClientURI} {
		if s == "" {
			continue
		}
		if u, err := url.Parse(s); err != nil || !u.IsAbs() {
			return bad("%q is not an absolute URL", s)
		}
	}
	return nil
}

// isLoopbackHost is registration's reading of a loopback host (RFC 8252
// §7.3): the plain-HTTP listener accepts only such redirect URIs.
func isLoopbackHost(h string) bool { return registration.IsLoopbackHost(h) }

// HashSecret returns the SHA-256 of a client secret. Server-generated
// secrets carry 256 bits of entropy, so a slow password hash adds nothing.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// checkSecret compares a presented secret with the stored hash in constant time.
func checkSecret(hash []byte, presented string) bool {
	h := sha256.Sum256([]byte(presented))
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(hash, h[:]) == 1
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("authz: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// validateTLSClientAuth checks the RFC 8705 §2.1.2 metadata: a
// tls_client_auth client names exactly one subject DN or SAN, valid for its
// kind (registration.TLSSubjectProblem); no other client names any.
func validateTLSClientAuth(c *Client) error {
	t := c.TLSClientAuth
	n := 0
	for _, f := range []struct{ name, v string }{
		{registration.FieldTLSSubjectDN, t.SubjectDN}, {registration.FieldTLSSANDNS, t.SANDNS},
		{registration.FieldTLSSANURI, t.SANURI}, {registration.FieldTLSSANIP, t.SANIP},
		{registration.FieldTLSSANEmail, t.SANEmail},
	} {
		if f.v == "" {
			continue
		}
		n++
		if c.TokenEndpointAuthMethod != AuthTLSClientAuth {
			return fmt.Errorf("%s is only for token_endpoint_auth_method tls_client_auth", f.name)
		}
		if problem := registration.TLSSubjectProblem(f.name, f.v); problem != "" {
			return fmt.Errorf("%s %q %s", f.name, f.v, problem)
		}
	}
	if c.TokenEndpointAuthMethod == AuthTLSClientAuth && n != 1 {
		return errors.New("tls_client_auth needs exactly one of tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip and tls_client_auth_san_email (RFC 8705 §2.1.2)")
	}
	return nil
}
