// Package local is smartgate's own account store as a password connector:
// the one password check (account.Authenticator, with its throttle and
// lockout) that the log-in form and the OWin password grant use, so that
// the program wires a single local connector into both.
package local

import (
	"context"
	"errors"
	"fmt"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/idp"
)

// Passwords checks a local password under the log-in throttle
// (*account.Authenticator implements it).
type Passwords interface {
	Authenticate(ctx context.Context, userName, password, address string) (*account.User, error)
}

// Connector is the local account store as an idp.PasswordConnector. Its
// Authenticate is also the password checker the log-in form
// (web.PasswordChecker) and the OWin grant (authz.AccountPasswords) take.
type Connector struct {
	passwords Passwords
}

var _ idp.PasswordConnector = (*Connector)(nil)

// New returns the connector over p (normally the program's one
// *account.Authenticator).
func New(p Passwords) *Connector { return &Connector{passwords: p} }

// Authenticate returns the active account named userName when password is
// theirs: account.ErrBadCredentials for any mismatch (unknown name, wrong
// password, no password, inactive account), account.ErrThrottled while
// the account or address is locked out, other errors for storage
// failures. address is the client's (throttling).
func (c *Connector) Authenticate(ctx context.Context, userName, password, address string) (*account.User, error) {
	if c == nil || c.passwords == nil {
		return nil, fmt.Errorf("idp/local: no password check: %w", account.ErrBadCredentials)
	}
	return c.passwords.Authenticate(ctx, userName, password, address)
}

// Login is Authenticate as an Identity: Issuer "" (local), Subject the
// account id, the primary (else the first) email, unverified (an account's
// email is as an administrator or provisioning client entered it), the
// account's label and name parts, the user name as PreferredUsername,
// and AMR ["pwd"] (RFC 8176). Errors are those of Authenticate.
func (c *Connector) Login(ctx context.Context, username, password, address string) (idp.Identity, error) {
	u, err := c.Authenticate(ctx, username, password, address)
	if err != nil {
		return idp.Identity{}, err
	}
	if u == nil || u.ID == "" {
		return idp.Identity{}, errors.New("idp/local: the account store returned no account id")
	}
	return identityOf(u), nil
}

func identityOf(u *account.User) idp.Identity {
	id := idp.Identity{Subject: u.ID, Name: u.Label(), GivenName: u.Name.GivenName,
		FamilyName: u.Name.FamilyName, PreferredUsername: u.UserName, AMR: []string{"pwd"}, Email: u.PrimaryEmail()}
	return id
}
