// Package idp is federated and local log-in, after dexidp/dex's
// connector/connector.go: a connector is any value; what it can do is said
// by the small capability interfaces it implements (CallbackConnector for a
// redirect log-in at an upstream provider, PasswordConnector for a user
// name and password), and every connector returns the one Identity type.
//
// Connectors live in sub-packages (idp/oidc: OpenID Connect with the
// google, hl7 and none presets; idp/oauth2: OAuth 2.0 plus a userinfo
// endpoint, with the facebook preset; idp/local: the local account store).
// Each has a Config whose Open checks it and builds the connector; the
// program lists the connector types in an explicit map where it is wired
// (cmd/smartgate), with no init() registration. idp/link turns a verified
// Identity into a local account (links keyed by issuer and subject).
//
// idp knows nothing of OAuth tokens or pages: the pages (package web) keep
// the State of a log-in bound to the browser that started it and call
// HandleCallback with what the provider sent back.
package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"time"
)

// Identity is a person as a connector verified them. Issuer and Subject
// together name the person at the provider (the link key); nothing else
// does, an email least of all.
type Identity struct {
	// Issuer is the provider's issuer: the id_token's iss for OpenID
	// Connect, the preset's fixed issuer otherwise (Facebook:
	// FacebookIssuer); "" for local accounts.
	Issuer string
	// Subject is the provider's stable id of the person (sub, Facebook's
	// id; the account id for local accounts).
	Subject string
	// Email and EmailVerified are as the provider says, after claim
	// mapping; a provider that cannot say (Facebook) gives false.
	Email         string
	EmailVerified bool
	// Name is the display name; GivenName, FamilyName and
	// PreferredUsername when the provider gives them.
	Name              string
	GivenName         string
	FamilyName        string
	PreferredUsername string
	// Domain is the verified hosted domain (Google's hd claim, or the
	// configured domain claim), or "".
	Domain string
	// AMR are the upstream's authentication methods (id_token amr), if any.
	AMR []string
}

// Connector is an opened provider; see the capability interfaces.
type Connector any

// CallbackConnector logs a person in by sending the browser to the
// provider and verifying what comes back to the callback.
type CallbackConnector interface {
	// LoginURL is where the browser goes to log in; the caller keeps st
	// bound to the browser until the callback.
	LoginURL(ctx context.Context, st State) (string, error)
	// HandleCallback verifies the provider's answer (the callback's query)
	// for the log-in st started, and returns the verified person. The
	// caller has already matched q's state to st (and refused a mismatch).
	// Errors wrap one of the Err values below.
	HandleCallback(ctx context.Context, st State, q url.Values) (Identity, error)
}

// PasswordConnector logs a person in with a user name and a password.
type PasswordConnector interface {
	// Login returns the person, or an error wrapping
	// account.ErrBadCredentials or account.ErrThrottled. address is the
	// client's address (throttling).
	Login(ctx context.Context, username, password, address string) (Identity, error)
}

// StatusReporter is implemented by connectors that fetch something at run
// time (discovery, keys): the result of the last fetch, for the providers
// page and the log-in button.
type StatusReporter interface {
	Status() Status
}

// Checker is implemented by connectors that can fetch their upstream
// metadata now (the providers page's "check now"); the result also shows
// in Status.
type Checker interface {
	Check(ctx context.Context) error
}

// Status is the result of a connector's last upstream fetch.
type Status struct {
	// Checked is when the last fetch ended (zero: never tried).
	Checked time.Time
	// Err is the last fetch's error ("" when it worked). It names what
	// failed, never a secret.
	Err string
}

// OK reports whether the last fetch worked (or none was needed yet).
func (s Status) OK() bool { return s.Err == "" }

// State is what binds a callback to the log-in that started it: the
// state and nonce parameters and the PKCE S256 verifier. It is kept
// server-side, bound to the browser, and used once.
type State struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	// RedirectURI is the callback of the listener the log-in started on
	// ({base}/login/{id}/callback), sent in the authorization request and
	// again in the code exchange.
	RedirectURI string `json:"redirect_uri"`
}

// NewState makes a fresh State for redirectURI: 256-bit random state and
// nonce, and a PKCE verifier of 43 characters (RFC 7636 §4.1).
func NewState(redirectURI string) State {
	return State{State: random(), Nonce: random(), Verifier: random(), RedirectURI: redirectURI}
}

// Challenge is the PKCE S256 code_challenge of st.Verifier.
func (st State) Challenge() string {
	sum := sha256.Sum256([]byte(st.Verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Errors of HandleCallback (wrapped, with a description a page may show).
var (
	// ErrUpstream: the provider answered the callback with an error
	// (error=access_denied, …) or refused the code exchange.
	ErrUpstream = errors.New("idp: the provider refused the log-in")
	// ErrUnavailable: the provider could not be reached in time, or sent
	// something too large or unreadable (discovery, token, keys, userinfo).
	ErrUnavailable = errors.New("idp: the provider could not be reached")
	// ErrInvalidToken: the identity could not be verified (id_token
	// signature, issuer, audience, expiry, nonce; the iss response
	// parameter; a missing subject).
	ErrInvalidToken = errors.New("idp: the identity could not be verified")
	// ErrDomain: the verified domain is not one of the allowed domains.
	ErrDomain = errors.New("idp: the account's domain is not allowed")
)

// Provisioning says what the first log-in of an unlinked identity does.
type Provisioning string

// The provisioning policies.
const (
	// ProvisionInvite: only into an account an administrator made (linked
	// by a log-in to that account, or by a trusted verified email).
	ProvisionInvite Provisioning = "invite"
	// ProvisionAuto: a new account (role patient, no fhirUser) is made.
	ProvisionAuto Provisioning = "auto"
)

// Provider is a configured, opened provider as the program wires it.
type Provider struct {
	// ID is the configured id: the log-in page links /login/{ID}, the
	// callback is {base}/login/{ID}/callback.
	ID string
	// Name is shown on the log-in button and the pages.
	Name string
	// Type is "oidc" or "oauth2"; Preset the preset ("google",
	// "facebook", "hl7", "none").
	Type, Preset string
	// Issuer is the issuer linked identities carry (Identity.Issuer).
	Issuer       string
	Provisioning Provisioning
	// TrustedEmail: a verified email from this provider may link an
	// existing account that has that email.
	TrustedEmail bool
	Connector    CallbackConnector
}

// Status is p's connector's status (always OK for connectors that fetch
// nothing).
func (p Provider) Status() Status {
	if r, ok := p.Connector.(StatusReporter); ok {
		return r.Status()
	}
	return Status{}
}

// Fixed issuers of the presets (the link key's issuer).
const (
	GoogleIssuer   = "https://accounts.google.com"
	FacebookIssuer = "https://www.facebook.com"
)

// PresetName is the display name of a preset ("Google", "Facebook",
// "HL7.org"): the default label of a provider's log-in button; "" for
// "none" and unknown presets (the provider's id is the label then).
func PresetName(preset string) string {
	switch preset {
	case "google":
		return "Google"
	case "facebook":
		return "Facebook"
	case "hl7":
		return "HL7.org"
	}
	return ""
}

// Reserved reports whether id may not name a provider: the pages' own
// paths under /login/ (/login/code, /login/link, /login/second-factor,
// /login/enrol) and "callback".
func Reserved(id string) bool {
	switch id {
	case "code", "callback", "link", "second-factor", "enrol":
		return true
	}
	return false
}
