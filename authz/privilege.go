package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// Privilege is one of the administrators' rights that an API outside FHIR
// checks on a bearer token: the SCIM API (ScopeSCIM, Client.AllowSCIM) and
// the launch API (ScopeLaunchCreate, Client.AllowLaunchCreate).
type Privilege struct {
	// Scope is the scope a token must carry, unless it is an
	// administrator's OWin token.
	Scope string
	// Allowed reports whether an administrator allowed the client the
	// right (the client's flag), read as the client is now.
	Allowed func(*Client) bool
}

// PrivilegeSCIM and PrivilegeLaunchCreate are the two privileges.
var (
	PrivilegeSCIM         = Privilege{Scope: ScopeSCIM, Allowed: func(c *Client) bool { return c.AllowSCIM }}
	PrivilegeLaunchCreate = Privilege{Scope: ScopeLaunchCreate, Allowed: func(c *Client) bool { return c.AllowLaunchCreate }}
)

// PrivilegedCaller is whom a token holding a privilege speaks for.
type PrivilegedCaller struct {
	// Admin is true for an administrator (an OWin token, or a user token
	// with the scope); false for a client's own token (client_credentials).
	Admin bool
	// Subject is the administrator's account id, or the client id.
	Subject  string
	ClientID string
}

// ErrNotPrivileged is returned for a valid token without the privilege
// (403 insufficient_scope).
var ErrNotPrivileged = errors.New("authz: the token does not carry this right")

// ClientReader reads a client as it is now (the ClientCache, so that a
// disable or an edit on the pages is seen at once).
type ClientReader interface {
	GetClient(ctx context.Context, id string) (*Client, error)
}

// Caller is the one rule of who holds privilege p, from a verified token:
//
//   - an administrator's OWin token (an OWin token carries its account's
//     whole rights, interface.md);
//   - a token carrying p.Scope from a client that exists, is enabled and
//     is allowed p now (the flag may have been cleared since the token was
//     issued): a client_credentials token speaks for the client; a user
//     token for its account, which must be an administrator. Not any
//     token of an administrator: a SMART app an administrator once used
//     holds one too, and must not manage people or open charts.
//
// The account is read as it is now (a demoted administrator's tokens stop
// at once): ErrInactiveToken for one that is gone or deactivated,
// ErrNotPrivileged for a token without the right, an error wrapping
// store.ErrUnavailable when the store is down.
func (p Privilege) Caller(ctx context.Context, ti *TokenInfo, clients ClientReader, accounts AccountClaims) (*PrivilegedCaller, error) {
	if ti.Grant == grantPassword {
		if !hasRole(ti.Roles, account.RoleAdmin) {
			return nil, ErrNotPrivileged
		}
		return adminCaller(ctx, ti, accounts)
	}
	if !slices.Contains(ti.Scopes, p.Scope) {
		return nil, ErrNotPrivileged
	}
	c, err := clients.GetClient(ctx, ti.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNotPrivileged
	case err != nil:
		return nil, fmt.Errorf("authz: client %q: %w", ti.ClientID, err)
	case c.Disabled || c.Pending || !p.Allowed(c):
		return nil, ErrNotPrivileged
	}
	if ti.Grant == grantClientCredentials {
		return &PrivilegedCaller{Subject: ti.ClientID, ClientID: ti.ClientID}, nil
	}
	return adminCaller(ctx, ti, accounts)
}

// adminCaller is the administrator ti speaks for, when its account is an
// active administrator now.
func adminCaller(ctx context.Context, ti *TokenInfo, accounts AccountClaims) (*PrivilegedCaller, error) {
	uc, err := accounts.Claims(ctx, ti.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInactiveToken
	case err != nil:
		return nil, fmt.Errorf("authz: account of the token: %w", err)
	case !hasRole(uc.Roles, account.RoleAdmin):
		return nil, ErrNotPrivileged
	}
	return &PrivilegedCaller{Admin: true, Subject: ti.Subject, ClientID: ti.ClientID}, nil
}
