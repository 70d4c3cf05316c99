package authz

import "errors"

// Further outcomes of Interaction.Authorize for OIDC prompt=none (and
// similar) requests that cannot proceed without showing a page: authz
// redirects to the client with the matching OIDC error (login_required,
// consent_required, interaction_required) and the state. Like
// ErrAccessDenied, the implementation writes nothing when it returns one.
var (
	ErrLoginRequired       = errors.New("authz: login required")
	ErrConsentRequired     = errors.New("authz: consent required")
	ErrInteractionRequired = errors.New("authz: interaction required")
)
