package authz

import (
	"context"
	"errors"
	"fmt"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// AccountReader reads a local account by id (store/sqlite implements it).
type AccountReader interface {
	User(ctx context.Context, id string) (*account.User, error)
}

// AccountPasswords checks a local account's password under the log-in
// throttle (*account.Authenticator implements it).
type AccountPasswords interface {
	Authenticate(ctx context.Context, userName, password, address string) (*account.User, error)
}

// AccountRights computes a person's effective rights (*account.People
// implements it).
type AccountRights interface {
	Rights(ctx context.Context, u *account.User) (account.Rights, error)
}

// Accounts implements Users over smartgate's local accounts: the one
// adapter between package account and authz's UserClaims.
type Accounts struct {
	Store AccountReader
	// Passwords checks OWin log-ins; nil refuses every password.
	Passwords AccountPasswords
	// Rights gives the roles and ceiling of a person with their groups;
	// nil: their own roles and the roles' base ceiling
	// (account.EffectiveRights without groups).
	Rights AccountRights
}

// claims are the claims of u with its effective rights.
func (a Accounts) claims(ctx context.Context, u *account.User) (UserClaims, error) {
	if a.Rights == nil {
		return ClaimsOf(u, account.EffectiveRights(u, nil)), nil
	}
	r, err := a.Rights.Rights(ctx, u)
	if err != nil {
		return UserClaims{}, fmt.Errorf("authz: rights of %s: %w", u.ID, err)
	}
	return ClaimsOf(u, r), nil
}

var _ Users = Accounts{}

// Authenticate checks a password; a wrong password, an unknown account or
// a malformed user name is ErrInvalidCredentials, the throttle's refusal
// ErrAccountLocked (both wrapping the accounts error).
func (a Accounts) Authenticate(ctx context.Context, username, password, address string) (UserClaims, error) {
	if a.Passwords == nil {
		return UserClaims{}, fmt.Errorf("%w: no password log-in", ErrInvalidCredentials)
	}
	u, err := a.Passwords.Authenticate(ctx, username, password, address)
	if err != nil {
		return UserClaims{}, credentialError(err)
	}
	return a.claims(ctx, u)
}

// credentialError is a password or second-factor check's error of package
// account as authz knows it: ErrInvalidCredentials for wrong credentials,
// ErrAccountLocked for a throttled check, anything else as it is.
func credentialError(err error) error {
	switch {
	case errors.Is(err, account.ErrBadCredentials), errors.Is(err, account.ErrInvalidUserName):
		return fmt.Errorf("%w: %w", ErrInvalidCredentials, err)
	case errors.Is(err, account.ErrThrottled):
		return fmt.Errorf("%w: %w", ErrAccountLocked, err)
	}
	return err
}

// AccountSecondFactors implements SecondFactorChecker over the pages'
// account.SecondFactors (and so their throttle) and their rule of who must
// have one, so that the OWin grant asks for the same second factor.
type AccountSecondFactors struct {
	Store    AccountReader
	Factors  *account.SecondFactors
	Required func(u *account.User) bool
}

var _ SecondFactorChecker = AccountSecondFactors{}

// SecondFactorNeed says whether subject has a confirmed second factor, must
// have one and has none, or needs none.
func (f AccountSecondFactors) SecondFactorNeed(ctx context.Context, subject string) (SecondFactorNeed, error) {
	u, err := f.Store.User(ctx, subject)
	if err != nil {
		return SecondFactorNone, fmt.Errorf("authz: second factor of %s: %w", subject, err)
	}
	enrolled, err := f.Factors.Enrolled(ctx, u.ID)
	switch {
	case err != nil:
		return SecondFactorNone, err
	case enrolled:
		return SecondFactorEnrolled, nil
	case f.Required != nil && f.Required(u):
		return SecondFactorMissing, nil
	}
	return SecondFactorNone, nil
}

// VerifySecondFactor checks a TOTP or recovery code under the throttle.
func (f AccountSecondFactors) VerifySecondFactor(ctx context.Context, subject, code, address string) error {
	if err := f.Factors.Verify(ctx, subject, code, address); err != nil {
		return credentialError(err)
	}
	return nil
}

// Claims returns the claims of an active account; a deactivated one is
// reported as not found (store.ErrNotFound), like a deleted one.
func (a Accounts) Claims(ctx context.Context, subject string) (UserClaims, error) {
	u, err := a.Store.User(ctx, subject)
	if err != nil {
		return UserClaims{}, err
	}
	if !u.Active {
		return UserClaims{}, fmt.Errorf("authz: user %s is not active: %w", subject, store.ErrNotFound)
	}
	return a.claims(ctx, u)
}

// ClaimsOf is what authz knows of an account with rights r: its id, user
// name, label, e-mail (the primary one, else the first), fhirUser, and its
// effective roles and ceiling (r).
func ClaimsOf(u *account.User, r account.Rights) UserClaims {
	c := UserClaims{Subject: u.ID, Username: u.UserName, Name: u.Label(), FHIRUser: u.FHIRUser, Roles: r.Roles,
		Ceiling: r.Ceiling, Email: u.PrimaryEmail()}
	return c
}

// ceiling is c's Ceiling, or its roles' base ceiling when nil.
func (c UserClaims) ceiling() []string {
	return account.Rights{Roles: c.Roles, Ceiling: c.Ceiling}.Limit()
}
