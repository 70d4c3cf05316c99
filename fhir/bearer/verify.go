package bearer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/store"
)

// Introspector is the authorization server's check of an access token
// (*authz.Server implements it): the token's record, or an error wrapping
// store.ErrUnavailable when it cannot tell now; any other error refuses.
type Introspector interface {
	VerifyAccessToken(ctx context.Context, token string) (*authz.TokenInfo, error)
}

// Accounts reads the current claims of the account a token speaks for
// (authz.Accounts implements it), or an error for a deleted or
// deactivated one.
type Accounts interface {
	Claims(ctx context.Context, subject string) (authz.UserClaims, error)
}

// AuthzVerifier is the Verifier of the FHIR endpoint over the
// authorization server. It is the one place that decides whom a token
// speaks for on the FHIR endpoint:
//
//   - a client_credentials token speaks for its client (System), with no
//     account behind it;
//   - any other token speaks for its subject's local account as it is now:
//     the account's current roles decide what user/ scopes reach (the
//     token itself carries roles only for OWin), its fhirUser fills in a
//     token without one, and a deactivated or deleted account's tokens are
//     refused (within Options.Revalidate of the change, the cache bound).
//
// With Accounts nil the token's own roles and fhirUser are taken as they
// are (a server without local accounts).
type AuthzVerifier struct {
	Tokens   Introspector
	Accounts Accounts
}

var _ Verifier = AuthzVerifier{}

// Verify implements Verifier.
func (v AuthzVerifier) Verify(ctx context.Context, token string) (*access.Principal, time.Time, error) {
	ti, err := v.Tokens.VerifyAccessToken(ctx, token)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return nil, time.Time{}, err
		}
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrInactive, err)
	}
	// The scopes were checked when the token was granted; one this server
	// no longer understands is dropped (it grants nothing) rather than
	// refusing the token.
	scopes, _ := smart.ParseScopes(strings.Join(ti.Scopes, " "))
	p := &access.Principal{
		Subject:  ti.Subject,
		ClientID: ti.ClientID,
		Scopes:   scopes,
		Patient:  ti.Patient(),
		FHIRUser: ti.FHIRUser,
		Roles:    ti.Roles,
		System:   ti.Grant == "client_credentials",
		Audience: ti.Audience,
		// Checked on every request by Authenticator (RFC 8705 §3).
		CertThumbprint: ti.CertThumbprint,
	}
	uc, person, err := authz.CurrentAccount(ctx, v.Accounts, ti.Grant, ti.Subject)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return nil, time.Time{}, err
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("%w: account: %w", ErrInactive, err)
	case !person:
		return p, ti.ExpiresAt, nil
	}
	p.Roles = uc.Roles
	if p.FHIRUser == "" {
		p.FHIRUser = uc.FHIRUser
	}
	return p, ti.ExpiresAt, nil
}
