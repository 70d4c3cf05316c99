package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/smartgate/smartgate/store"
)

// ErrBadCredentials is the one answer for an unknown user, a wrong
// password, an account without a password and an inactive account, so that
// callers cannot tell them apart.
var ErrBadCredentials = errors.New("account: invalid user name or password")

// UserLookup is what Authenticator needs from the store.
type UserLookup interface {
	UserByName(ctx context.Context, userName string) (*User, error)
}

// Authenticator checks local passwords with throttling. It is shared by the
// log-in page and the OWin password grant.
type Authenticator struct {
	users    UserLookup
	hasher   *Hasher
	throttle *Throttle
}

// NewAuthenticator returns an Authenticator over users.
func NewAuthenticator(users UserLookup, hasher *Hasher, throttle *Throttle) *Authenticator {
	return &Authenticator{users: users, hasher: hasher, throttle: throttle}
}

// Authenticate returns the active user named userName when password is
// theirs. address is the client's (reqctx.ClientAddress). The attempt is
// counted by the throttle before the password is checked (see Throttle):
// it returns ErrThrottled, without checking anything, while the account or
// the address is locked or has as many checks in flight as it has attempts
// left; ErrBadCredentials on any mismatch (counted as a failure); and other
// errors for storage or context failures (not counted). The time taken
// does not depend on whether the account exists.
func (a *Authenticator) Authenticate(ctx context.Context, userName, password, address string) (*User, error) {
	name, nerr := NormalizeUserName(userName)
	if nerr != nil {
		name = userName
	}
	attempt, err := a.throttle.Reserve(ctx, name, address)
	if err != nil {
		return nil, err
	}
	u, err := a.check(ctx, name, nerr == nil, password)
	switch {
	case err == nil:
		attempt.Succeeded()
	case errors.Is(err, ErrBadCredentials):
		attempt.Failed()
		return nil, err
	default:
		attempt.Abandoned()
		return nil, err
	}
	a.upgrade(ctx, u, password)
	return u, nil
}

// check verifies password for the user name (looked up when valid; an
// unknown or invalid name is checked against a dummy hash all the same).
func (a *Authenticator) check(ctx context.Context, name string, valid bool, password string) (*User, error) {
	var u *User
	if valid {
		var err error
		u, err = a.users.UserByName(ctx, name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("account: authenticate: %w", err)
		}
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := a.hasher.Verify(ctx, password, hash)
	if err != nil && !errors.Is(err, ErrBadHash) {
		return nil, err
	}
	if !ok || u == nil || !u.Active {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// updater is implemented by stores that can save a user; Authenticator then
// upgrades hashes made with older parameters at the next successful log-in.
type updater interface {
	UpdateUser(ctx context.Context, u *User) error
}

func (a *Authenticator) upgrade(ctx context.Context, u *User, password string) {
	up, ok := a.users.(updater)
	if !ok || !a.hasher.NeedsRehash(u.PasswordHash) {
		return
	}
	hash, err := a.hasher.Hash(ctx, password)
	if err != nil {
		return
	}
	c := *u
	c.PasswordHash = hash
	if up.UpdateUser(ctx, &c) == nil { // a concurrent change wins; the next log-in retries
		*u = c
	}
}

// BootstrapStore is what Bootstrap needs.
type BootstrapStore interface {
	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u *User) error
}

// AdminUserName is the first-start administrator.
const AdminUserName = "admin"

// Bootstrap creates the administrator account "admin" with role admin when
// the user table is empty. password is the configured one; when it is empty
// a random password is generated and returned in generated (the caller
// prints it once). created is false, and nothing changes, when any user
// exists already. A configured password must meet the policy.
func Bootstrap(ctx context.Context, st BootstrapStore, password string) (generated string, created bool, err error) {
	create := func(ctx context.Context, u *User, password string) error {
		if err := prepareUser(ctx, NewHasher(DefaultParams, 1), u, password); err != nil {
			return err
		}
		return st.CreateUser(ctx, u)
	}
	return bootstrap(ctx, st, create, password)
}

// bootstrap is Bootstrap with create storing the account (People.Create).
func bootstrap(ctx context.Context, st interface {
	CountUsers(ctx context.Context) (int, error)
}, create func(ctx context.Context, u *User, password string) error, password string) (generated string, created bool, err error) {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return "", false, fmt.Errorf("account: bootstrap: %w", err)
	}
	if n > 0 {
		return "", false, nil
	}
	if password == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", false, fmt.Errorf("account: bootstrap: %w", err)
		}
		password = base64.RawURLEncoding.EncodeToString(b)
		generated = password
	}
	u := &User{UserName: AdminUserName, DisplayName: "Administrator", Active: true, Roles: []string{RoleAdmin}}
	if err := create(ctx, u, password); err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			return "", false, nil // created concurrently
		case errors.Is(err, ErrWeakPassword):
			return "", false, fmt.Errorf("account: bootstrap: administrator password: %w", err)
		}
		return "", false, fmt.Errorf("account: bootstrap: %w", err)
	}
	return generated, true, nil
}
