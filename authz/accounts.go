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

// Accounts implements Users over smartgate's local accounts: the one
// adapter between package account and authz's UserClaims.
type Accounts struct {
	Store AccountReader
	// Passwords checks OWin log-ins; nil refuses every password.
	Passwords AccountPasswords
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
	switch {
	case errors.Is(err, account.ErrBadCredentials), errors.Is(err, account.ErrInvalidUserName):
		return UserClaims{}, fmt.Errorf("%w: %w", ErrInvalidCredentials, err)
	case errors.Is(err, account.ErrThrottled):
		return UserClaims{}, fmt.Errorf("%w: %w", ErrAccountLocked, err)
	case err != nil:
		return UserClaims{}, err
	}
	return ClaimsOf(u), nil
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
	return ClaimsOf(u), nil
}

// ClaimsOf is what authz knows of an account: its id, user name, label,
// e-mail (the primary one, else the first), fhirUser and roles.
func ClaimsOf(u *account.User) UserClaims {
	c := UserClaims{Subject: u.ID, Username: u.UserName, Name: u.Label(), FHIRUser: u.FHIRUser, Roles: u.Roles}
	for _, e := range u.Emails {
		if e.Primary || c.Email == "" {
			c.Email = e.Value
		}
	}
	return c
}
