package account

import (
	"context"
	"time"
)

// Link ties an identity at a federated provider, named by (Issuer,
// Subject) and nothing else, to a local account. Only the link is kept,
// never the provider's tokens.
type Link struct {
	Issuer  string
	Subject string
	UserID  string
	// Provider is the configured provider id the link was made through
	// (shown on the pages; a provider renamed later keeps its links by
	// issuer).
	Provider string
	// Email is the provider's email when the link was made (shown to
	// administrators; never used to find the account).
	Email     string
	Created   time.Time
	LastLogin time.Time // zero until the first log-in after linking
}

// Links stores the links of federated identities to accounts; a deleted
// account's links go with it.
type Links interface {
	// CreateLink stores l; an (Issuer, Subject) already linked (to any
	// account) gives store.ErrConflict.
	CreateLink(ctx context.Context, l *Link) error
	// LinkOf returns the link of (issuer, subject), or store.ErrNotFound.
	LinkOf(ctx context.Context, issuer, subject string) (*Link, error)
	// LinksOf returns userID's links, oldest first.
	LinksOf(ctx context.Context, userID string) ([]Link, error)
	// LinksOfUsers returns the links of each of userIDs (one query; SCIM
	// lists), keyed by user id.
	LinksOfUsers(ctx context.Context, userIDs []string) (map[string][]Link, error)
	// TouchLink records a log-in through the link at at.
	TouchLink(ctx context.Context, issuer, subject string, at time.Time) error
	// DeleteLink removes userID's link of (issuer, subject), or gives
	// store.ErrNotFound when userID has no such link.
	DeleteLink(ctx context.Context, userID, issuer, subject string) error
}

// SignInCode is a one-time code an administrator issued for a person's
// log-in at /login/code. Only the SHA-256 of the code is kept.
type SignInCode struct {
	Hash     []byte // SHA-256 of the code as issued (normalised)
	UserID   string
	IssuedBy string // the administrator's account id
	Created  time.Time
	Expires  time.Time
}

// SignInCodeStore stores sign-in codes.
type SignInCodeStore interface {
	// PutSignInCode stores c and drops expired codes.
	PutSignInCode(ctx context.Context, c *SignInCode) error
	// TakeSignInCode returns and deletes, in one step, the live code with
	// hash (single use); store.ErrNotFound when there is none or it
	// expired at now.
	TakeSignInCode(ctx context.Context, hash []byte, now time.Time) (*SignInCode, error)
	// DeleteSignInCodes drops every code of userID (a new code replaces
	// the old; an account deactivated or deleted loses its codes).
	DeleteSignInCodes(ctx context.Context, userID string) error
}
