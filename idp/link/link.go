// Package link turns a verified federated Identity into a local account.
// An identity is keyed by (issuer, subject), never by email alone:
//
//   - linked already: that account (refused when it is inactive);
//   - else, when the provider is trusted_email and says the email is
//     verified: the one active account with that email, linked now
//     (never an administrator's account: those link only by logging in);
//   - else, provisioning auto: a new account (role patient, no fhirUser),
//     linked;
//   - else: no account (NeedsAccount): the person may log in to an
//     existing account to link the identity (Link), or ask an
//     administrator.
//
// The account's fhirUser, roles, groups and consents are the local
// account's whichever way the person logs in.
package link

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
)

// Store is what the linker needs from storage.
type Store interface {
	account.Links
	account.Directory
}

// Creator makes accounts with the same checks as every other path
// (*account.People implements it).
type Creator interface {
	Create(ctx context.Context, u *account.User, password string) error
}

// Config holds the linker's dependencies.
type Config struct {
	Store  Store
	People Creator
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
}

// Linker resolves identities to accounts and keeps the links.
type Linker struct {
	cfg Config
}

// New returns a Linker.
func New(cfg Config) *Linker { return &Linker{cfg: cfg} }

// Outcome is the result of Resolve.
type Outcome struct {
	// User is the account to log in (nil with NeedsAccount).
	User *account.User
	// Provisioned: User was made now (provisioning auto); LinkedByEmail:
	// the link was made now by a trusted verified email.
	Provisioned   bool
	LinkedByEmail bool
	// NeedsAccount: no account is linked and none may be made or found.
	NeedsAccount bool
}

// Refusals of Resolve and Link.
var (
	// ErrInactive: the linked account is deactivated.
	ErrInactive = errors.New("link: the account is deactivated")
	// ErrLinkedElsewhere: Link of an identity already linked to another
	// account.
	ErrLinkedElsewhere = errors.New("link: the identity is linked to another account")
	// ErrIncomplete: the identity has no issuer or subject.
	ErrIncomplete = errors.New("link: the identity has no issuer or subject")
)

var errNotBuilt = errors.New("link: not built yet")

// Resolve finds or makes the account of id, which p verified.
func (l *Linker) Resolve(ctx context.Context, p idp.Provider, id idp.Identity) (Outcome, error) {
	return Outcome{}, errNotBuilt
}

// Link links id (verified by p) to the account userID, after that person
// logged in to it in the same browser and confirmed.
func (l *Linker) Link(ctx context.Context, userID string, p idp.Provider, id idp.Identity) error {
	return errNotBuilt
}

// LinksOf returns userID's links (the person's own page, the users page).
func (l *Linker) LinksOf(ctx context.Context, userID string) ([]account.Link, error) {
	return l.cfg.Store.LinksOf(ctx, userID)
}

// Unlink removes userID's link of (issuer, subject); actor is who did it
// (the person or an administrator), for the audit trail.
func (l *Linker) Unlink(ctx context.Context, actor, userID, issuer, subject string) error {
	return errNotBuilt
}
