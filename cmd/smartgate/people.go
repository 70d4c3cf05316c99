package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/store/sqlite"
)

// newPeople is the one account.People of a process over db: where people
// and groups change (the CLI, the first start, the demo accounts, SCIM and
// the people pages). revoke ends what a deactivated or deleted person
// holds; nil is the store's revocation of their tokens (the CLI, another
// process than the server's, has nothing more to end).
func newPeople(db *sqlite.DB, hasher *account.Hasher, revoke func(ctx context.Context, userID string) error) *account.People {
	if revoke == nil {
		revoke = storeRevoke(db)
	}
	return account.NewPeople(account.PeopleConfig{Store: db, Hasher: hasher, Revoke: revoke})
}

// storeRevoke revokes every access and refresh token of a person in the
// store (what authz.Server.RevokeGrants does in the server).
func storeRevoke(db *sqlite.DB) func(ctx context.Context, userID string) error {
	return func(ctx context.Context, userID string) error {
		return db.RevokeSubjectTokens(ctx, userID, "", time.Now())
	}
}

// personRevoker is the server's PeopleConfig.Revoke: every refresh and
// access token of the person is revoked at the authorization server, and
// the FHIR endpoint forgets its verifications of them, so that the next
// request with one is refused (not after the bearer cache's bound). Its
// parts are set once newApp has built them (the pages, built first, need
// People's rights).
type personRevoker struct {
	db     *sqlite.DB
	tokens *authz.Server
	fhir   *bearer.Authenticator
}

func (p *personRevoker) revoke(ctx context.Context, userID string) error {
	if userID == "" {
		return errors.New("revoke: no person")
	}
	var err error
	if p.tokens != nil {
		err = p.tokens.RevokeGrants(ctx, userID, "")
	} else {
		err = storeRevoke(p.db)(ctx, userID)
	}
	// Forget after the revocation: a verification made in between is not
	// cached (bearer.Authenticator.ForgetSubject).
	if p.fhir != nil {
		p.fhir.ForgetSubject(userID)
	}
	if err != nil {
		return fmt.Errorf("revoking the tokens of %s: %w", userID, err)
	}
	return nil
}
