package authz

import (
	"context"
	"errors"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/store"
)

// AccountClaims reads the current claims of an account (Users and
// Accounts implement it): an error wrapping store.ErrNotFound for a
// deleted or deactivated one.
type AccountClaims interface {
	Claims(ctx context.Context, subject string) (UserClaims, error)
}

// CurrentAccount is the one check of the account a token or grant speaks
// for, as it is now: person is false for a client's own grant
// (client_credentials: no account behind it) and when there are no
// accounts (accounts nil); otherwise it is subject's claims, or Claims'
// error: store.ErrNotFound for an account deleted or deactivated since,
// store.ErrUnavailable when it cannot tell now. The FHIR endpoint
// (fhir/bearer), introspection and the token endpoint (grantRights) ask
// it.
func CurrentAccount(ctx context.Context, accounts AccountClaims, grant, subject string) (uc UserClaims, person bool, err error) {
	if accounts == nil || grant == grantClientCredentials {
		return UserClaims{}, false, nil
	}
	uc, err = accounts.Claims(ctx, subject)
	return uc, true, err
}

// grantRights is the one rule of a person's current rights at the token
// endpoint, for the authorization code exchange and every refresh: it
// re-reads the account of the grant (CurrentAccount), and
//   - a deactivated or deleted account is invalid_grant;
//   - so is a launch patient who is not the person's own record when their
//     roles now may not act for others (account.User.MayActForWith: a
//     patient picked while a group allowed it does not outlive the group);
//   - the roles a token carries become the current effective ones;
//   - the grant's scopes are to be narrowed to the returned ceiling, the
//     person's ceiling for apps now (account.Rights.AppLimit: what a group
//     took away since the consent is not granted, nor ever a system/
//     scope).
//
// person is false for a client's own grant, which has no account (nothing
// is checked or narrowed then).
func grantRights(ctx context.Context, users Users, sess *Session) (ceiling []string, person bool, err error) {
	uc, person, err := CurrentAccount(ctx, users, sess.Grant, sess.Subject)
	actor := sess.Subject
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, true, fosite.ErrInvalidGrant.WithHint("The account of this grant is no longer active.").
			WithWrap(&refusal{outcome: audit.Denied, detail: "account inactive", actor: actor})
	case errors.Is(err, store.ErrUnavailable):
		return nil, true, fosite.ErrTemporarilyUnavailable.WithWrap(err)
	case err != nil:
		return nil, true, fosite.ErrServerError.WithWrap(err).WithDebugf("account: %v", err)
	case !person:
		return nil, false, nil
	}
	if p := sess.patientID(); p != "" && !uc.mayActFor(p) {
		return nil, true, fosite.ErrInvalidGrant.WithHint("The account of this grant may no longer act for its patient.").
			WithWrap(&refusal{outcome: audit.Denied, detail: "patient context no longer allowed", actor: actor})
	}
	if sess.Roles != nil {
		sess.Roles = uc.Roles
	}
	return uc.appCeiling(), true, nil
}

// mayActFor reports whether the person of c may, with their current
// effective roles, act for the patient with the bare id patient
// (account.User.MayActForWith).
func (c UserClaims) mayActFor(patient string) bool {
	u := account.User{FHIRUser: c.FHIRUser}
	return u.MayActForWith(c.Roles, patient)
}

// appCeiling is the most an app acting for c's person may be granted
// (account.Rights.AppLimit).
func (c UserClaims) appCeiling() []string {
	return account.Rights{Roles: c.Roles, Ceiling: c.Ceiling}.AppLimit()
}

// narrowingRequester grants, of each scope fosite grants to it, what the
// ceiling allows (smart.NarrowTo): fosite's code exchange grants the
// stored consent's scopes itself, just before it issues the tokens.
type narrowingRequester struct {
	fosite.AccessRequester
	ceiling []string
}

// GrantScope grants what the ceiling allows of scope.
func (r narrowingRequester) GrantScope(scope string) {
	for _, sc := range smart.NarrowTo([]string{scope}, r.ceiling) {
		r.AccessRequester.GrantScope(sc)
	}
}
