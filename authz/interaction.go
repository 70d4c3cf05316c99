package authz

import (
	"errors"
	"net/http"
	"time"
)

// Interaction is what the authorization endpoint needs from the pages that
// log a person in, let a practitioner pick a patient and ask for consent.
// Package web implements it; authz knows nothing of pages or sessions.
//
// The authorization endpoint validates the request first (client, exact
// redirect URI, response type, PKCE, aud, launch), so that an invalid request
// never reaches the pages. Then it calls Authorize on every pass:
//   - when the person still has to log in, pick or consent, Authorize writes a
//     response (usually a 303 to a page whose flow ends with a redirect back to
//     req.ResumeURL) and returns ErrInteractionPending;
//   - when the person refused, it returns ErrAccessDenied and writes nothing:
//     authz redirects to the client with error=access_denied and the state;
//   - when the person has decided, it returns the Decision and writes nothing.
//
// A Decision is used once: the implementation forgets it when it returns it.
type Interaction interface {
	Authorize(w http.ResponseWriter, r *http.Request, req *AuthorizeRequest) (*Decision, error)
}

// ErrInteractionPending means Interaction.Authorize has written a response
// (a redirect to a page) and the authorization endpoint must write nothing.
var ErrInteractionPending = errors.New("authz: interaction pending")

// ErrAccessDenied means the person refused (or may not grant) the request.
var ErrAccessDenied = errors.New("authz: access denied by the user")

// DeniedError ends the authorization with error=access_denied and
// Description as error_description: the person may not grant what was
// asked (e.g. a patient context their account does not have). It matches
// ErrAccessDenied under errors.Is.
type DeniedError struct {
	Description string
}

func (e *DeniedError) Error() string { return "authz: access denied: " + e.Description }

// Unwrap makes errors.Is(err, ErrAccessDenied) hold.
func (e *DeniedError) Unwrap() error { return ErrAccessDenied }

// ErrLoginRequired, ErrConsentRequired and ErrInteractionRequired answer a
// request with prompt=none that would need the person to log in, consent, or
// pick (e.g. a patient): Authorize writes nothing and authz redirects to the
// client with error=login_required, consent_required or
// interaction_required (OIDC Core §3.1.2.6).
var (
	ErrLoginRequired       = errors.New("authz: login required")
	ErrConsentRequired     = errors.New("authz: consent required")
	ErrInteractionRequired = errors.New("authz: interaction required")
)

// AuthorizeRequest is a validated authorization request, as the pages see it.
type AuthorizeRequest struct {
	// ID identifies this request across the page round trips; it is derived
	// from the request's parameters and the client, so a resumed request has
	// the same ID.
	ID string
	// ResumeURL is where the browser goes to continue the authorization once
	// the pages are done (an absolute URL on the same listener).
	ResumeURL  string
	ClientID   string
	ClientName string
	// LogoURI and ClientURI are registered client metadata, already checked
	// to be https (or empty).
	LogoURI     string
	ClientURI   string
	RedirectURI string
	// Scopes are the requested scopes, in request order, after dropping
	// those the client may never have.
	Scopes []string
	// Aud is the FHIR base URL named by aud (SMART), or empty.
	Aud string
	// Prompt holds the OIDC prompt values (none, login, consent,
	// select_account); MaxAge is the OIDC max_age (negative when absent).
	Prompt    []string
	MaxAge    time.Duration
	LoginHint string
	// Launch is the context of an EHR launch (launch parameter), or nil.
	Launch *LaunchContext
}

// LaunchContext is the SMART launch context carried from an EHR launch or
// chosen during a standalone launch.
type LaunchContext struct {
	Patient           string // bare Patient id
	Encounter         string // bare Encounter id
	FHIRContext       []map[string]any
	Intent            string
	NeedPatientBanner *bool
	SmartStyleURL     string
	Tenant            string
	// Issuer is the FHIR base an EHR launch gave the app as iss; when set,
	// the authorization request's aud must name it (never sent to clients).
	Issuer string `json:",omitempty"`
	// LaunchedBy is the user id of the person who made an EHR launch (never
	// sent to clients); the Interaction lets only that person, or someone
	// who may act for the launch's patient, redeem it.
	LaunchedBy string `json:",omitempty"`
}

// Decision is what the person decided on the pages.
type Decision struct {
	// Subject is the local, stable user id (the sub claim).
	Subject string
	// AuthTime is when the person last authenticated (auth_time).
	AuthTime time.Time
	// AMR lists how they authenticated (pwd, fed, …).
	AMR []string
	// Scopes are the scopes the person approved: a subset of the request's,
	// possibly narrowed (e.g. a category-restricted v2 scope instead of a
	// resource-level one).
	Scopes []string
	// Context is the launch context chosen (standalone picker) or confirmed
	// (EHR launch); nil when there is none.
	Context *LaunchContext
	// SessionID identifies the person's log-in session, so that tokens granted
	// with online_access end when the session ends.
	SessionID string
}
