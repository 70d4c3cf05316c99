package account

import (
	"context"
	"errors"
	"time"
)

// ErrLastAdmin refuses a change that would leave no active administrator:
// deactivating, deleting or demoting the last one.
var ErrLastAdmin = errors.New("account: the last active administrator cannot be deactivated, deleted or demoted")

// PeopleConfig holds what People needs.
type PeopleConfig struct {
	Store  Directory
	Hasher *Hasher
	// Revoke ends what a person holds (refresh and access tokens, and the
	// FHIR endpoint's trust in them): called when a person is deactivated
	// or deleted, and when their password is set by someone else. May be
	// nil (no tokens in this process).
	Revoke func(ctx context.Context, userID string) error
	Now    func() time.Time
}

// People is the one place where people and groups change: SCIM, the people
// pages, the CLI, the first start and federation all call it, so the rules
// (validation, the password policy and argon2id, the last administrator,
// revocation on deactivation) exist once.
type People struct {
	cfg PeopleConfig
}

// NewPeople returns People over cfg.
func NewPeople(cfg PeopleConfig) *People {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &People{cfg: cfg}
}

var errNotBuilt = errors.New("account: people: not built yet (issue 11)")

// Create validates u (normalising its user name) and stores it; a
// non-empty password goes through CheckPassword and the Hasher.
func (p *People) Create(ctx context.Context, u *User, password string) error { return errNotBuilt }

// Replace stores u over the stored record when u.Meta.Version matches
// (store.ErrConflict otherwise); a non-empty password is set as by
// Create, an empty one keeps the stored hash. It refuses ErrLastAdmin,
// and revokes (PeopleConfig.Revoke) when u turns inactive.
func (p *People) Replace(ctx context.Context, u *User, password string) error { return errNotBuilt }

// Delete removes user id when version is 0 or matches; ErrLastAdmin for
// the last active administrator; revokes.
func (p *People) Delete(ctx context.Context, id string, version int64) error { return errNotBuilt }

// SetPassword sets user id's password through the policy and the Hasher.
func (p *People) SetPassword(ctx context.Context, id, password string) error { return errNotBuilt }

// CreateGroup, ReplaceGroup, ChangeMembers and DeleteGroup change groups
// after validating roles and ceiling; a change that would leave no active
// administrator (a group giving admin) is refused with ErrLastAdmin.
func (p *People) CreateGroup(ctx context.Context, g *Group) error { return errNotBuilt }

// ReplaceGroup: see CreateGroup.
func (p *People) ReplaceGroup(ctx context.Context, g *Group) error { return errNotBuilt }

// ChangeMembers: see CreateGroup and Directory.ChangeMembers.
func (p *People) ChangeMembers(ctx context.Context, id string, version int64, add, remove []string) (Meta, error) {
	return Meta{}, errNotBuilt
}

// DeleteGroup: see CreateGroup.
func (p *People) DeleteGroup(ctx context.Context, id string, version int64) error { return errNotBuilt }

// Rights returns u's effective rights (EffectiveRights over u's groups).
func (p *People) Rights(ctx context.Context, u *User) (Rights, error) { return Rights{}, errNotBuilt }
