package certauth

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/store"
)

// FHIR wraps the FHIR endpoint's Authenticator (fhir/bearer) with the
// policy, on the requests it Applies to; principal makes the endpoint's
// principal of a decided one (bearer.Authenticator.Principal: the same
// access rules as a token's).
func (d *Decider) FHIR(inner fhir.Authenticator, principal func(*access.Principal) fhir.Principal) fhir.Authenticator {
	return &fhirAuth{d: d, inner: inner, principal: principal}
}

type fhirAuth struct {
	d         *Decider
	inner     fhir.Authenticator
	principal func(*access.Principal) fhir.Principal
}

var _ fhir.Authenticator = (*fhirAuth)(nil)

// Authenticate implements fhir.Authenticator.
func (a *fhirAuth) Authenticate(r *http.Request) (fhir.Principal, error) {
	if !Applies(r) {
		return a.inner.Authenticate(r)
	}
	var (
		p   fhir.Principal
		err error
		ran bool
	)
	check := func() bool {
		p, err = a.inner.Authenticate(r)
		ran = true
		return errors.Is(err, fhir.ErrInvalidToken)
	}
	dec := a.d.Decide(r, check)
	switch dec.Kind {
	case Reject:
		base := fhir.ErrNoToken
		if dec.Error == "invalid_token" {
			base = fhir.ErrInvalidToken
		}
		return nil, &fhir.Challenge{Err: base, Header: dec.Challenge(), Detail: dec.Detail}
	case Limit, CertClient, JWTUser:
		return a.principal(dec.Principal), nil
	case Unavailable:
		return nil, fmt.Errorf("certauth: %s: %w", dec.Detail, store.ErrUnavailable)
	}
	if ran {
		return p, err
	}
	return a.inner.Authenticate(r)
}

// SCIM wraps the SCIM API's Authorizer (scim/scimauth) with the policy,
// on the requests it Applies to. The anonymous account may not use SCIM
// (403); a certificate's client may when it may be granted the scim
// scope (Client.GrantableScopes: an administrator allowed it SCIM), the
// rule of its tokens; a person through an ID token when they are an
// administrator now and the client may be granted scim (the rule of a
// user token).
func (d *Decider) SCIM(inner scim.Authorizer) scim.Authorizer {
	return &scimAuth{d: d, inner: inner}
}

type scimAuth struct {
	d     *Decider
	inner scim.Authorizer
}

var _ scim.Authorizer = (*scimAuth)(nil)

// AuthorizeSCIM implements scim.Authorizer.
func (a *scimAuth) AuthorizeSCIM(r *http.Request) (*scim.Caller, error) {
	if !Applies(r) {
		return a.inner.AuthorizeSCIM(r)
	}
	var (
		c   *scim.Caller
		err error
		ran bool
	)
	check := func() bool {
		c, err = a.inner.AuthorizeSCIM(r)
		ran = true
		return errors.Is(err, scim.ErrNoCredentials)
	}
	dec := a.d.Decide(r, check)
	switch dec.Kind {
	case Reject:
		return nil, &scim.Challenge{Header: dec.Challenge(), Detail: dec.Detail}
	case Limit:
		return nil, scim.ErrForbidden
	case CertClient:
		if !mayUseSCIM(dec.Client) {
			return nil, scim.ErrForbidden
		}
		return &scim.Caller{Kind: scim.CallerClient, Subject: dec.Client.ID, ClientID: dec.Client.ID}, nil
	case JWTUser:
		p := dec.Principal
		if !mayUseSCIM(dec.Client) || !slices.Contains(p.Roles, account.RoleAdmin) || !slices.Contains(p.Scopes.Strings(), authz.ScopeSCIM) {
			return nil, scim.ErrForbidden
		}
		return &scim.Caller{Kind: scim.CallerAdmin, Subject: p.Subject, ClientID: dec.Client.ID}, nil
	case Unavailable:
		return nil, fmt.Errorf("certauth: %s: %w", dec.Detail, store.ErrUnavailable)
	}
	if ran {
		return c, err
	}
	return a.inner.AuthorizeSCIM(r)
}

// mayUseSCIM: c may be granted the scim scope now.
func mayUseSCIM(c *authz.Client) bool {
	return c != nil && !c.Disabled && !c.Pending && c.AllowSCIM && slices.Contains(c.GrantableScopes(), authz.ScopeSCIM)
}
