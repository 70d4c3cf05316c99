package scim

import (
	"errors"
	"fmt"
	"net/http"
)

// Caller is who a SCIM request speaks for.
type Caller struct {
	// Kind is how the caller authenticated: CallerClient (a bearer token
	// with the scim scope, from a client an administrator allowed SCIM),
	// CallerAdmin (an administrator's own token) or CallerProvisioning (a
	// provisioning token issued on the clients page).
	Kind     string
	Subject  string // user id, or the client id
	ClientID string
}

// Caller kinds.
const (
	CallerClient       = "client"
	CallerAdmin        = "admin"
	CallerProvisioning = "provisioning"
)

// Errors of an Authorizer: ErrNoCredentials answers 401 with
// WWW-Authenticate, ErrForbidden 403; anything else 503 (store down).
var (
	ErrNoCredentials = errors.New("scim: no valid credentials")
	ErrForbidden     = errors.New("scim: credentials do not allow SCIM")
	// ErrInvalidToken is ErrNoCredentials for a bearer access token that
	// is not valid here (inactive, or certificate-bound and presented
	// without its certificate): the challenge adds error="invalid_token"
	// (RFC 6750 §3.1).
	ErrInvalidToken = fmt.Errorf("%w: invalid access token", ErrNoCredentials)
)

// Authorizer decides who a SCIM request is, before anything else is done.
type Authorizer interface {
	AuthorizeSCIM(r *http.Request) (*Caller, error)
}

// Challenge is an ErrNoCredentials that names its own WWW-Authenticate
// challenge (RFC 6750 §3) and detail, for an Authorizer whose refusals say
// more (authz/certauth: the client-certificate policy): 401 with the SCIM
// error body.
type Challenge struct {
	Header string // the WWW-Authenticate value
	Detail string
}

func (c *Challenge) Error() string { return ErrNoCredentials.Error() + ": " + c.Detail }
func (c *Challenge) Unwrap() error { return ErrNoCredentials }
