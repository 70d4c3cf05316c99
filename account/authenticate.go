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
// theirs. It returns ErrThrottled while the account or address is locked
// (without checking the password), ErrBadCredentials on any mismatch, and
// other errors for storage or context failures. The time taken does not
// depend on whether the account exists.
func (a *Authenticator) Authenticate(ctx context.Context, userName, password, address string) (*User, error) {
	name, nerr := NormalizeUserName(userName)
	if nerr != nil {
		name = userName
	}
	if err := a.throttle.Check(name, address); err != nil {
		return nil, err
	}
	var u *User
	if nerr == nil {
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
		a.throttle.Failure(name, address)
		return nil, ErrBadCredentials
	}
	a.throttle.Success(name)
	a.upgrade(ctx, u, password)
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
	} else if err := CheckPassword(AdminUserName, password); err != nil {
		return "", false, fmt.Errorf("account: bootstrap: administrator password: %w", err)
	}
	hash, err := NewHasher(DefaultParams, 1).Hash(ctx, password)
	if err != nil {
		return "", false, fmt.Errorf("account: bootstrap: %w", err)
	}
	u := &User{UserName: AdminUserName, DisplayName: "Administrator", Active: true, PasswordHash: hash,
		Roles: []string{RoleAdmin}}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", false, nil // created concurrently
		}
		return "", false, fmt.Errorf("account: bootstrap: %w", err)
	}
	return generated, true, nil
}
