package account

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/smartgate/smartgate/store"
)

// ErrLastAdmin refuses a change that would leave no active administrator:
// deactivating, deleting or demoting the last one.
var ErrLastAdmin = errors.New("account: the last active administrator cannot be deactivated, deleted or demoted")

// ErrPatientLinked refuses linking an account to a Patient (fhirUser
// Patient/…) that another account is already linked to: the second would
// read the first's chart. Only Patient references are unique; several
// accounts may name the same Practitioner (or other person) resource.
var ErrPatientLinked = errors.New("account: another account is linked to this Patient")

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
//
// Changes that may touch the administrators are serialised within the
// process, so that two concurrent demotions cannot both pass the last
// administrator check; another process (the CLI) is not.
type People struct {
	cfg PeopleConfig
	mu  sync.Mutex
}

// NewPeople returns People over cfg. A nil Hasher is the default one.
func NewPeople(cfg PeopleConfig) *People {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Hasher == nil {
		cfg.Hasher = NewHasher(DefaultParams, 1)
	}
	return &People{cfg: cfg}
}

// prepare normalises u's user name, validates u, and sets password (when
// not empty) through the policy and the Hasher.
func (p *People) prepare(ctx context.Context, u *User, password string) error {
	return prepareUser(ctx, p.cfg.Hasher, u, password)
}

// prepareUser is the one check of a person before it is stored: the user
// name normalised, Validate, and a non-empty password through the policy
// and h.
func prepareUser(ctx context.Context, h *Hasher, u *User, password string) error {
	n, err := NormalizeUserName(u.UserName)
	if err != nil {
		return err
	}
	u.UserName = n
	if err := u.Validate(); err != nil {
		return err
	}
	if password != "" {
		return SetPassword(ctx, h, u, password)
	}
	return nil
}

// Create validates u (normalising its user name) and stores it; a
// non-empty password goes through CheckPassword and the Hasher, an empty
// one leaves the account without a password (a hash the caller put in u
// is never stored). A taken user name is store.ErrConflict; a Patient
// fhirUser another account has is ErrPatientLinked.
func (p *People) Create(ctx context.Context, u *User, password string) error {
	u.PasswordHash = ""
	if err := p.prepare(ctx, u, password); err != nil {
		return err
	}
	if _, ok := PatientOf(u.FHIRUser); ok {
		// Serialised, so that two creations cannot both pass the check.
		p.mu.Lock()
		defer p.mu.Unlock()
		if err := p.patientFree(ctx, u); err != nil {
			return err
		}
	}
	if err := p.cfg.Store.CreateUser(ctx, u); err != nil {
		return fmt.Errorf("account: create %q: %w", u.UserName, err)
	}
	return nil
}

// Bootstrap is the first start (account.Bootstrap) through Create.
func (p *People) Bootstrap(ctx context.Context, password string) (generated string, created bool, err error) {
	return bootstrap(ctx, p.cfg.Store, p.Create, password)
}

// Replace stores u over the stored record when u.Meta.Version matches
// (store.ErrConflict otherwise); a non-empty password is set as by
// Create, an empty one keeps the stored hash. It refuses ErrLastAdmin and
// (for a changed fhirUser) ErrPatientLinked, and revokes
// (PeopleConfig.Revoke) when u turns inactive and when the password
// changes (someone else set it, as ResetPassword); the same password again
// (a provisioning client's sync re-sends it) keeps the stored hash and
// revokes nothing. The store ends the log-in sessions of an inactive
// account.
func (p *People) Replace(ctx context.Context, u *User, password string) error {
	if err := p.prepare(ctx, u, ""); err != nil {
		return err
	}
	cur, err := p.cfg.Store.User(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("account: replace %s: %w", u.ID, err)
	}
	// Hashing is slow: done before the lock, against the hash read now,
	// which must still be the stored one under the lock.
	changed, err := p.newPassword(ctx, u, cur.PasswordHash, password)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old, err := p.cfg.Store.User(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("account: replace %s: %w", u.ID, err)
	}
	if old.Meta.Version != u.Meta.Version || old.PasswordHash != cur.PasswordHash {
		return fmt.Errorf("account: replace %s: %w: version %d, stored %d", u.ID, store.ErrConflict, u.Meta.Version, old.Meta.Version)
	}
	if err := p.keepAdmin(ctx, old, u); err != nil {
		return err
	}
	if u.FHIRUser != old.FHIRUser {
		if err := p.patientFree(ctx, u); err != nil {
			return err
		}
	}
	if err := p.cfg.Store.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("account: replace %s: %w", u.ID, err)
	}
	if changed || (old.Active && !u.Active) {
		return p.revoke(ctx, u.ID)
	}
	return nil
}

// newPassword sets u.PasswordHash for Replace: stored when password is
// empty or verifies against stored, else password through the policy and
// the Hasher (changed is then true).
func (p *People) newPassword(ctx context.Context, u *User, stored, password string) (changed bool, err error) {
	u.PasswordHash = stored
	if password == "" {
		return false, nil
	}
	if stored != "" {
		// A stored hash that does not decode counts as another password.
		same, err := p.cfg.Hasher.Verify(ctx, password, stored)
		if cerr := ctx.Err(); err != nil && cerr != nil {
			return false, fmt.Errorf("account: replace %s: %w", u.ID, cerr)
		}
		if same && err == nil {
			return false, nil
		}
	}
	if err := SetPassword(ctx, p.cfg.Hasher, u, password); err != nil {
		return false, err
	}
	return true, nil
}

// patientFree refuses (ErrPatientLinked) a Patient fhirUser of u that an
// account other than u has. The caller holds p.mu.
func (p *People) patientFree(ctx context.Context, u *User) error {
	if _, ok := PatientOf(u.FHIRUser); !ok {
		return nil
	}
	others, _, err := p.cfg.Store.SearchUsers(ctx, Query{Limit: 2,
		Filter: Compare{Attr: "smartgate.fhirUser", Op: OpEq, Value: u.FHIRUser, CaseExact: true}})
	if err != nil {
		return fmt.Errorf("account: accounts of %s: %w", u.FHIRUser, err)
	}
	for _, o := range others {
		if o.ID != u.ID {
			return fmt.Errorf("%w: %s", ErrPatientLinked, u.FHIRUser)
		}
	}
	return nil
}

// Delete removes user id when version is 0 or matches; ErrLastAdmin for
// the last active administrator; revokes.
func (p *People) Delete(ctx context.Context, id string, version int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, err := p.cfg.Store.User(ctx, id)
	if err != nil {
		return fmt.Errorf("account: delete %s: %w", id, err)
	}
	if version != 0 && version != old.Meta.Version {
		return fmt.Errorf("account: delete %s: %w: version %d, stored %d", id, store.ErrConflict, version, old.Meta.Version)
	}
	if err := p.keepAdmin(ctx, old, nil); err != nil {
		return err
	}
	if err := p.cfg.Store.DeleteUser(ctx, id); err != nil {
		return fmt.Errorf("account: delete %s: %w", id, err)
	}
	return p.revoke(ctx, id)
}

// SetPassword sets user id's password through the policy and the Hasher,
// saved under the version it was read at (store.ErrConflict when the
// account changed meanwhile).
func (p *People) SetPassword(ctx context.Context, id, password string) error {
	u, err := p.cfg.Store.User(ctx, id)
	if err != nil {
		return fmt.Errorf("account: set password of %s: %w", id, err)
	}
	if err := SetPassword(ctx, p.cfg.Hasher, u, password); err != nil {
		return err
	}
	if err := p.cfg.Store.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("account: set password of %s: %w", id, err)
	}
	return nil
}

// ResetPassword is SetPassword by someone else (an administrator): the
// person's tokens are revoked (PeopleConfig.Revoke), since whoever knew the
// old password may hold them.
func (p *People) ResetPassword(ctx context.Context, id, password string) error {
	if err := p.SetPassword(ctx, id, password); err != nil {
		return err
	}
	return p.revoke(ctx, id)
}

// revoke calls PeopleConfig.Revoke for userID.
func (p *People) revoke(ctx context.Context, userID string) error {
	if p.cfg.Revoke == nil {
		return nil
	}
	if err := p.cfg.Revoke(ctx, userID); err != nil {
		return fmt.Errorf("account: revoke the tokens of %s: %w", userID, err)
	}
	return nil
}

// validateGroup checks a group's name, roles and ceiling.
func validateGroup(g *Group) error {
	if g.DisplayName == "" {
		return fmt.Errorf("%w: a group needs a displayName", ErrInvalidUser)
	}
	for _, r := range g.Roles {
		if !ValidRole(r) {
			return fmt.Errorf("%w: unknown role %q of group %q", ErrInvalidUser, r, g.DisplayName)
		}
	}
	return ValidateCeiling(g.Ceiling)
}

// CreateGroup, ReplaceGroup, ChangeMembers and DeleteGroup change groups
// after validating roles and ceiling; a change that would leave no active
// administrator (a group giving admin) is refused with ErrLastAdmin.
func (p *People) CreateGroup(ctx context.Context, g *Group) error {
	if err := validateGroup(g); err != nil {
		return err
	}
	if err := p.cfg.Store.CreateGroup(ctx, g); err != nil {
		return fmt.Errorf("account: create group %q: %w", g.DisplayName, err)
	}
	return nil
}

// ReplaceGroup: see CreateGroup.
func (p *People) ReplaceGroup(ctx context.Context, g *Group) error {
	if err := validateGroup(g); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old, err := p.cfg.Store.Group(ctx, g.ID)
	if err != nil {
		return fmt.Errorf("account: replace group %s: %w", g.ID, err)
	}
	if old.Meta.Version != g.Meta.Version {
		return fmt.Errorf("account: replace group %s: %w: version %d, stored %d", g.ID, store.ErrConflict, g.Meta.Version, old.Meta.Version)
	}
	err = p.keepGroupAdmin(ctx, old, func(ctx context.Context) (bool, error) {
		if !slices.Contains(g.Roles, RoleAdmin) {
			return false, nil
		}
		return p.anyActive(ctx, memberIDs(g.Members))
	})
	if err != nil {
		return err
	}
	if err := p.cfg.Store.UpdateGroup(ctx, g); err != nil {
		return fmt.Errorf("account: replace group %s: %w", g.ID, err)
	}
	return nil
}

// ChangeMembers: see CreateGroup and Directory.ChangeMembers.
func (p *People) ChangeMembers(ctx context.Context, id string, version int64, add, remove []string) (Meta, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(remove) > 0 {
		old, err := p.cfg.Store.Group(ctx, id)
		if err != nil {
			return Meta{}, fmt.Errorf("account: change members of %s: %w", id, err)
		}
		err = p.keepGroupAdmin(ctx, old, func(ctx context.Context) (bool, error) {
			if ok, err := p.anyActive(ctx, add); ok || err != nil {
				return ok, err
			}
			return p.activeMemberOf(ctx, id, remove)
		})
		if err != nil {
			return Meta{}, err
		}
	}
	m, err := p.cfg.Store.ChangeMembers(ctx, id, version, add, remove)
	if err != nil {
		return Meta{}, fmt.Errorf("account: change members of %s: %w", id, err)
	}
	return m, nil
}

// DeleteGroup: see CreateGroup.
func (p *People) DeleteGroup(ctx context.Context, id string, version int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, err := p.cfg.Store.Group(ctx, id)
	if err != nil {
		return fmt.Errorf("account: delete group %s: %w", id, err)
	}
	if version != 0 && version != old.Meta.Version {
		return fmt.Errorf("account: delete group %s: %w: version %d, stored %d", id, store.ErrConflict, version, old.Meta.Version)
	}
	err = p.keepGroupAdmin(ctx, old, func(context.Context) (bool, error) { return false, nil })
	if err != nil {
		return err
	}
	if err := p.cfg.Store.DeleteGroup(ctx, id); err != nil {
		return fmt.Errorf("account: delete group %s: %w", id, err)
	}
	return nil
}

// Rights returns u's effective rights (EffectiveRights over u's groups).
func (p *People) Rights(ctx context.Context, u *User) (Rights, error) {
	groups, err := p.cfg.Store.GroupsOf(ctx, u.ID)
	if err != nil {
		return Rights{}, fmt.Errorf("account: groups of %s: %w", u.ID, err)
	}
	return EffectiveRights(u, groups), nil
}

// IsAdmin reports whether u is an administrator, directly or through a
// group (Rights.Admin of Rights), active or not.
func (p *People) IsAdmin(ctx context.Context, u *User) (bool, error) {
	r, err := p.Rights(ctx, u)
	if err != nil {
		return false, err
	}
	return r.Admin(), nil
}

func memberIDs(ms []Member) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Value)
	}
	return out
}
