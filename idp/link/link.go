// Package link turns a verified federated Identity into a local account.
// An identity is keyed by (issuer, subject), never by email alone:
//
//   - linked already: that account (refused when it is inactive);
//   - else, when the provider is trusted_email and says the email is
//     verified: the one active account with that email, linked now;
//     never an account that may act for others (an administrator or
//     practitioner, directly or through a group), one that holds a link
//     of the same issuer already (another subject), or one without a
//     password that holds any link (its only way in is a provider, e.g.
//     made by provisioning auto): those link only by logging in (Link).
//     When the email names such an account, or several, the answer is
//     NeedsAccount whatever the provisioning: never a second account with
//     an address that is already someone's here;
//   - else, provisioning auto: a new account (role patient, no fhirUser,
//     no password), linked. It gets the identity's email (and that email
//     as its user name, when free) only when the provider is trusted_email
//     and says the email is verified; otherwise no email (the link keeps
//     it, for the pages) and the user name {provider}-{12 hex digits of
//     SHA-256(issuer "\n" subject)}. So an address nobody vouched for
//     never lands on an account that trusted email could later match;
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
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/store"
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
	// Audit records every link made or removed (nil: none).
	Audit  audit.Recorder
	Logger *slog.Logger // nil: discarded
	Now    func() time.Time
}

// Linker resolves identities to accounts and keeps the links.
type Linker struct {
	cfg          Config
	provisioning sync.Mutex // see provision
}

// New returns a Linker.
func New(cfg Config) *Linker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Linker{cfg: cfg}
}

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

// How a link was made (the audit record's detail).
const (
	howLogin = "login"         // Link: the person logged in to the account
	howEmail = "trusted_email" // Resolve: a trusted provider's verified email
	howAuto  = "auto"          // Resolve: the account was provisioned now
)

// Resolve finds or makes the account of id, which p verified, by the rule
// of the package doc. It returns ErrIncomplete for an identity without
// issuer or subject and ErrInactive when the linked account is
// deactivated; Outcome.NeedsAccount when no account may be found or made.
func (l *Linker) Resolve(ctx context.Context, p idp.Provider, id idp.Identity) (Outcome, error) {
	if id.Issuer == "" || id.Subject == "" {
		return Outcome{}, ErrIncomplete
	}
	if out, found, err := l.linked(ctx, id); found || err != nil {
		return out, err
	}
	u, named, err := l.byTrustedEmail(ctx, p, id)
	if err != nil {
		return Outcome{}, err
	}
	if u == nil && named {
		// The email is an account's here, which links only by logging in
		// to it: no second account with that email.
		return Outcome{NeedsAccount: true}, nil
	}
	if u != nil {
		err := l.createLink(ctx, u.ID, p, id, howEmail)
		if errors.Is(err, store.ErrConflict) { // linked meanwhile
			return l.relinked(ctx, id)
		}
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{User: u, LinkedByEmail: true}, nil
	}
	if p.Provisioning == idp.ProvisionAuto {
		return l.provision(ctx, p, id)
	}
	return Outcome{NeedsAccount: true}, nil
}

// linked is the account id is linked to (found), with its log-in recorded;
// ErrInactive when that account is deactivated.
func (l *Linker) linked(ctx context.Context, id idp.Identity) (out Outcome, found bool, err error) {
	ln, err := l.cfg.Store.LinkOf(ctx, id.Issuer, id.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return Outcome{}, false, nil
	}
	if err != nil {
		return Outcome{}, false, fmt.Errorf("link: look up the link: %w", err)
	}
	u, err := l.cfg.Store.User(ctx, ln.UserID)
	if err != nil {
		return Outcome{}, true, fmt.Errorf("link: account %s of a link: %w", ln.UserID, err)
	}
	if !u.Active {
		return Outcome{}, true, ErrInactive
	}
	if err := l.cfg.Store.TouchLink(ctx, id.Issuer, id.Subject, l.cfg.Now()); err != nil {
		// The log-in stands; only its time on the pages is missed.
		l.cfg.Logger.WarnContext(ctx, "link: recording a log-in through a link failed", "user", u.ID, "provider", ln.Provider, "err", err)
	}
	return Outcome{User: u}, true, nil
}

// relinked is Resolve's answer when its link lost a race to another one
// made meanwhile: the account that one links.
func (l *Linker) relinked(ctx context.Context, id idp.Identity) (Outcome, error) {
	out, found, err := l.linked(ctx, id)
	if err == nil && !found {
		err = fmt.Errorf("link: the identity was linked and unlinked meanwhile: %w", store.ErrConflict)
	}
	return out, err
}

// byTrustedEmail is the account a trusted provider's verified email
// names (trustedEmail): the one active account with that email (compared
// without regard to case), unless mayLinkByEmail refuses it. Otherwise
// nil.
func (l *Linker) byTrustedEmail(ctx context.Context, p idp.Provider, id idp.Identity) (*account.User, bool, error) {
	email := trustedEmail(p, id)
	if email == "" {
		return nil, false, nil
	}
	users, total, err := l.cfg.Store.SearchUsers(ctx, account.Query{Limit: 2, Filter: account.And{
		Left:  account.Compare{Attr: "emails.value", Op: account.OpEq, Value: email},
		Right: account.Compare{Attr: "active", Op: account.OpEq, Value: true},
	}})
	if err != nil {
		return nil, false, fmt.Errorf("link: accounts with the identity's email: %w", err)
	}
	if total != 1 || len(users) != 1 {
		if total > 1 {
			l.cfg.Logger.InfoContext(ctx, "link: a trusted email names several accounts; none is linked", "provider", p.ID, "accounts", total)
		}
		return nil, total > 0, nil
	}
	u := &users[0]
	why, err := l.notByEmail(ctx, u, id)
	if err != nil || why != "" {
		if why != "" {
			l.cfg.Logger.InfoContext(ctx, "link: a trusted email names an account that links only by logging in to it",
				"provider", p.ID, "user", u.ID, "reason", why)
		}
		return nil, err == nil, err
	}
	return u, true, nil
}

// notByEmail is why trusted email must not link id to u ("" when it may):
// u may act for others (an administrator or practitioner, directly or
// through a group); u holds a link of id's issuer already (another
// subject of that issuer: a provider that gave the address to someone
// else); or u has no password and holds a link (an account whose only
// way in is a provider, such as one made by provisioning: auto). Such
// accounts get more links only by logging in to them (Link).
func (l *Linker) notByEmail(ctx context.Context, u *account.User, id idp.Identity) (string, error) {
	groups, err := l.cfg.Store.GroupsOf(ctx, u.ID)
	if err != nil {
		return "", fmt.Errorf("link: groups of %s: %w", u.ID, err)
	}
	if account.MayActForOthers(account.EffectiveRights(u, groups).Roles) {
		return "acts for others", nil
	}
	links, err := l.cfg.Store.LinksOf(ctx, u.ID)
	if err != nil {
		return "", fmt.Errorf("link: links of %s: %w", u.ID, err)
	}
	for _, ln := range links {
		if ln.Issuer == id.Issuer {
			return "linked to another subject of the issuer", nil
		}
	}
	if u.PasswordHash == "" && len(links) > 0 {
		return "federated only", nil
	}
	return "", nil
}

// Link links id (verified by p) to the account userID, after that person
// logged in to it in the same browser and confirmed. An identity linked to
// that account already is no error; linked to another one it is
// ErrLinkedElsewhere. A deactivated account is ErrInactive, an identity
// without issuer or subject ErrIncomplete.
func (l *Linker) Link(ctx context.Context, userID string, p idp.Provider, id idp.Identity) error {
	if id.Issuer == "" || id.Subject == "" {
		return ErrIncomplete
	}
	u, err := l.cfg.Store.User(ctx, userID)
	if err != nil {
		return fmt.Errorf("link: account %s: %w", userID, err)
	}
	if !u.Active {
		return ErrInactive
	}
	err = l.createLink(ctx, userID, p, id, howLogin)
	if !errors.Is(err, store.ErrConflict) {
		return err
	}
	cur, lerr := l.cfg.Store.LinkOf(ctx, id.Issuer, id.Subject)
	switch {
	case lerr != nil:
		return fmt.Errorf("link: the link that is in the way: %w", lerr)
	case cur.UserID == userID:
		return nil
	}
	return ErrLinkedElsewhere
}

// LinksOf returns userID's links (the person's own page, the users page).
func (l *Linker) LinksOf(ctx context.Context, userID string) ([]account.Link, error) {
	return l.cfg.Store.LinksOf(ctx, userID)
}

// Unlink removes userID's link of (issuer, subject); actor is who did it
// (the person or an administrator), for the audit trail. A link that is
// not userID's is store.ErrNotFound.
func (l *Linker) Unlink(ctx context.Context, actor, userID, issuer, subject string) error {
	ln, err := l.cfg.Store.LinkOf(ctx, issuer, subject)
	if err == nil && ln.UserID != userID {
		err = store.ErrNotFound
	}
	if err == nil {
		err = l.cfg.Store.DeleteLink(ctx, userID, issuer, subject)
	}
	if err != nil {
		return fmt.Errorf("link: unlink from %s: %w", userID, err)
	}
	l.record(ctx, audit.Event{Actor: actor, Action: "delete", Resource: "User/" + userID, Detail: "provider=" + ln.Provider})
	return nil
}

// createLink stores the link of id to userID, made how, and audits it;
// store.ErrConflict when the identity is linked already.
func (l *Linker) createLink(ctx context.Context, userID string, p idp.Provider, id idp.Identity, how string) error {
	ln := &account.Link{Issuer: id.Issuer, Subject: id.Subject, UserID: userID, Provider: p.ID,
		Email: boundedEmail(id.Email), Created: l.cfg.Now()}
	if err := l.cfg.Store.CreateLink(ctx, ln); err != nil {
		return fmt.Errorf("link: link an identity of %s to %s: %w", p.ID, userID, err)
	}
	l.record(ctx, audit.Event{Actor: userID, Action: "create", Resource: "User/" + userID,
		Detail: "provider=" + p.ID + " how=" + how})
	return nil
}

// record audits a change of links (Kind "link"); never a secret.
func (l *Linker) record(ctx context.Context, ev audit.Event) {
	if l.cfg.Audit == nil {
		return
	}
	ev.At, ev.Kind, ev.Outcome, ev.RequestID = l.cfg.Now(), "link", audit.Success, reqctx.ID(ctx)
	l.cfg.Audit.Record(ctx, ev)
}
