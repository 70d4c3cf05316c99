package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/grants"
)

// newPeople is the one account.People of a process over db: where people
// and groups change (the CLI, the first start, the demo accounts, SCIM and
// the people pages). revoke ends what a deactivated or deleted person
// holds; nil is the store's revocation of their tokens (the CLI, another
// process than the server's, has nothing more to end).
func newPeople(db database, hasher *account.Hasher, revoke func(ctx context.Context, userID string) error) *account.People {
	if revoke == nil {
		revoke = storeRevoke(db)
	}
	return account.NewPeople(account.PeopleConfig{Store: db, Hasher: hasher, Revoke: revoke})
}

// storeRevoke is the command line's PeopleConfig.Revoke: it revokes every
// access and refresh token of the person in the database (introspection and
// the FHIR endpoint of a running server read that state, what
// authz.Server.RevokeGrants does in the server) and ends their log-in
// sessions.
func storeRevoke(db database) func(ctx context.Context, userID string) error {
	return func(ctx context.Context, userID string) error {
		now := time.Now()
		if err := db.RevokeSubjectTokens(ctx, userID, "", now); err != nil {
			return err
		}
		return db.EndUserSessions(ctx, userID, "", now)
	}
}

// personRevoker is the server's one revocation of a person's tokens:
// PeopleConfig.Revoke (revoke), and the pages' Revoker and SessionGrants
// (a changed password or second factor, a withdrawn app, a log-out). Every
// path revokes at the authorization server and then makes the FHIR
// endpoint forget its verifications of the person's tokens, so that the
// next request with one is refused (not after the bearer cache's bound).
// Its parts are set once newApp has built them (the pages, built first,
// need People's rights).
type personRevoker struct {
	db     database
	tokens *authz.Server
	fhir   *bearer.Authenticator
}

var (
	_ web.TokenRevoker   = (*personRevoker)(nil)
	_ web.SessionRevoker = (*personRevoker)(nil)
	_ grants.Revoker     = (*personRevoker)(nil)
)

// errNotReady answers a revocation asked before the authorization server
// is built.
var errNotReady = errors.New("authorization server not ready")

// revoke ends everything userID holds: tokens and log-in sessions.
func (p *personRevoker) revoke(ctx context.Context, userID string) error {
	if userID == "" {
		return errors.New("revoke: no person")
	}
	var err error
	if p.tokens != nil {
		err = errors.Join(p.RevokeAll(ctx, userID, ""), p.db.EndUserSessions(ctx, userID, "", time.Now()))
	} else {
		err = storeRevoke(p.db)(ctx, userID)
		p.forget(userID)
	}
	if err != nil {
		return fmt.Errorf("revoking the tokens of %s: %w", userID, err)
	}
	return nil
}

// RevokeAll revokes every access and refresh token of subject (only
// clientID's when not empty), then forgets their verifications.
func (p *personRevoker) RevokeAll(ctx context.Context, subject, clientID string) error {
	if p.tokens == nil {
		return errNotReady
	}
	err := p.tokens.RevokeGrants(ctx, subject, clientID)
	p.forget(subject)
	return err
}

// RevokeFamily ends subject's grant requestID (one refresh-token family:
// its refresh and access tokens), then forgets the verifications of the
// subject's tokens (the FHIR endpoint caches them by person, not by
// grant; the others are verified again on their next request).
func (p *personRevoker) RevokeFamily(ctx context.Context, subject, requestID string) error {
	if p.tokens == nil {
		return errNotReady
	}
	err := p.tokens.RevokeFamily(ctx, requestID)
	p.forget(subject)
	return err
}

// RevokeSession ends the online_access grants of a log-in session
// (log-out), then forgets the verifications of its person's tokens (the
// FHIR endpoint caches them by person, not by session).
func (p *personRevoker) RevokeSession(ctx context.Context, sessionID string) error {
	if p.tokens == nil {
		return errNotReady
	}
	if err := p.tokens.RevokeSession(ctx, sessionID); err != nil {
		return err
	}
	s, err := p.db.Session(ctx, sessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("the person of session: %w", err)
	}
	p.forget(s.UserID)
	return nil
}

// forget drops the FHIR endpoint's cached verifications of subject's
// tokens; called after their revocation, so that a verification made in
// between is not cached (bearer.Authenticator.ForgetSubject).
func (p *personRevoker) forget(subject string) {
	if p.fhir != nil {
		p.fhir.ForgetSubject(subject)
	}
}
