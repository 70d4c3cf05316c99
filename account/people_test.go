package account_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

const longPassword = "a long enough password"

type peopleEnv struct {
	t       *testing.T
	ctx     context.Context
	db      *sqlite.DB
	people  *account.People
	revoked []string
}

func newPeopleEnv(t *testing.T) *peopleEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &peopleEnv{t: t, ctx: ctx, db: db}
	e.people = account.NewPeople(account.PeopleConfig{Store: db,
		Hasher: account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 2),
		Revoke: func(_ context.Context, id string) error { e.revoked = append(e.revoked, id); return nil }})
	return e
}

func (e *peopleEnv) user(name string, roles ...string) *account.User {
	e.t.Helper()
	u := &account.User{UserName: name, Active: true, Roles: roles}
	if err := e.people.Create(e.ctx, u, ""); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *peopleEnv) group(name string, roles []string, ceiling []string, members ...*account.User) *account.Group {
	e.t.Helper()
	g := &account.Group{DisplayName: name, Roles: roles, Ceiling: ceiling}
	for _, m := range members {
		g.Members = append(g.Members, account.Member{Value: m.ID})
	}
	if err := e.people.CreateGroup(e.ctx, g); err != nil {
		e.t.Fatal(err)
	}
	return g
}

// reload returns the stored user id.
func (e *peopleEnv) reload(id string) *account.User {
	e.t.Helper()
	u, err := e.db.User(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func TestPeopleCreate(t *testing.T) {
	e := newPeopleEnv(t)
	u := &account.User{UserName: "  Alice ", Active: true, Roles: []string{account.RolePractitioner}}
	if err := e.people.Create(e.ctx, u, longPassword); err != nil {
		t.Fatal(err)
	}
	got := e.reload(u.ID)
	if got.UserName != "alice" || got.PasswordHash == "" || !got.Active {
		t.Fatalf("stored %+v", got)
	}
	if err := e.people.Create(e.ctx, &account.User{UserName: "ALICE", Active: true}, ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken user name: %v, want store.ErrConflict", err)
	}
	for _, tc := range []struct {
		name     string
		u        account.User
		password string
		want     error
	}{
		{"short password", account.User{UserName: "bob"}, "short", account.ErrWeakPassword},
		{"password is the user name", account.User{UserName: "bobbybobbybob"}, "BobbyBobbyBob", account.ErrWeakPassword},
		{"bad user name", account.User{UserName: "bo b"}, "", account.ErrInvalidUserName},
		{"unknown role", account.User{UserName: "bob", Roles: []string{"root"}}, "", account.ErrInvalidUser},
		{"bad fhirUser", account.User{UserName: "bob", FHIRUser: "Observation/1"}, "", account.ErrInvalidUser},
	} {
		if err := e.people.Create(e.ctx, &tc.u, tc.password); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := e.db.UserByName(e.ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused user was stored: %v", err)
	}
	nopw := &account.User{UserName: "carol", Active: true, PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"}
	if err := e.people.Create(e.ctx, nopw, ""); err != nil {
		t.Fatal(err)
	}
	if e.reload(nopw.ID).PasswordHash != "" {
		t.Error("an account created without a password has a hash")
	}
}

func TestPeopleReplace(t *testing.T) {
	e := newPeopleEnv(t)
	u := &account.User{UserName: "dora", Active: true}
	if err := e.people.Create(e.ctx, u, longPassword); err != nil {
		t.Fatal(err)
	}
	hash := e.reload(u.ID).PasswordHash
	stale := *e.reload(u.ID)
	next := *e.reload(u.ID)
	next.DisplayName, next.PasswordHash = "Dora", ""
	if err := e.people.Replace(e.ctx, &next, ""); err != nil {
		t.Fatal(err)
	}
	if got := e.reload(u.ID); got.PasswordHash != hash || got.DisplayName != "Dora" {
		t.Fatalf("empty password did not keep the hash, or the change was lost: %+v", got)
	}
	stale.DisplayName = "Stale"
	if err := e.people.Replace(e.ctx, &stale, ""); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale version: %v, want store.ErrConflict", err)
	}
	cur := e.reload(u.ID)
	if err := e.people.Replace(e.ctx, cur, "short"); !errors.Is(err, account.ErrWeakPassword) {
		t.Fatalf("weak password: %v", err)
	}
	cur = e.reload(u.ID)
	if err := e.people.Replace(e.ctx, cur, "another long password"); err != nil {
		t.Fatal(err)
	}
	if e.reload(u.ID).PasswordHash == hash {
		t.Error("the new password was not set")
	}
	// A new password is set by someone else: it revokes (see
	// TestPeopleReplacePasswordRevokes).
	if !slices.Equal(e.revoked, []string{u.ID}) {
		t.Errorf("new password: revoked %q, want %q", e.revoked, u.ID)
	}
	e.revoked = nil
	// Deactivation revokes, and ends the log-in sessions.
	sess := &account.Session{ID: "s1", UserID: u.ID, AuthTime: cur.Meta.Created, Created: cur.Meta.Created,
		ExpiresAt: cur.Meta.Created.Add(1 << 40)}
	if err := e.db.CreateSession(e.ctx, sess); err != nil {
		t.Fatal(err)
	}
	cur = e.reload(u.ID)
	cur.Active = false
	if err := e.people.Replace(e.ctx, cur, ""); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.revoked, []string{u.ID}) {
		t.Errorf("revoked %q, want %q", e.revoked, u.ID)
	}
	if s, err := e.db.Session(e.ctx, "s1"); err != nil || s.EndedAt.IsZero() {
		t.Errorf("session after deactivation: %+v %v", s, err)
	}
	if err := e.people.Delete(e.ctx, u.ID, 1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete at a stale version: %v", err)
	}
	if err := e.people.Delete(e.ctx, u.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.User(e.ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user: %v", err)
	}
	if len(e.revoked) != 2 {
		t.Errorf("delete did not revoke: %q", e.revoked)
	}
}

// TestPeopleLastAdmin: the last active administrator, by the admin role held
// directly or through a group, cannot be deactivated, deleted or demoted,
// nor lose the group; with another administrator each change passes.
func TestPeopleLastAdmin(t *testing.T) {
	deactivate := func(u *account.User) { u.Active = false }
	demote := func(u *account.User) { u.Roles = nil }
	for _, tc := range []struct {
		name   string
		change func(e *peopleEnv, admin *account.User, g *account.Group) error
	}{
		{"deactivate", func(e *peopleEnv, a *account.User, _ *account.Group) error {
			u := e.reload(a.ID)
			deactivate(u)
			return e.people.Replace(e.ctx, u, "")
		}},
		{"demote", func(e *peopleEnv, a *account.User, _ *account.Group) error {
			u := e.reload(a.ID)
			demote(u)
			return e.people.Replace(e.ctx, u, "")
		}},
		{"delete", func(e *peopleEnv, a *account.User, _ *account.Group) error { return e.people.Delete(e.ctx, a.ID, 0) }},
	} {
		t.Run("direct/"+tc.name, func(t *testing.T) {
			e := newPeopleEnv(t)
			admin := e.user("root", account.RoleAdmin)
			e.user("doc", account.RolePractitioner)
			e.user("off", account.RoleAdmin)
			off := e.reload(e.mustByName("off").ID)
			off.Active = false
			if err := e.people.Replace(e.ctx, off, ""); err != nil {
				t.Fatal(err) // an inactive administrator does not count
			}
			if err := tc.change(e, admin, nil); !errors.Is(err, account.ErrLastAdmin) {
				t.Fatalf("last admin: %v, want ErrLastAdmin", err)
			}
			e.user("root2", account.RoleAdmin)
			if err := tc.change(e, admin, nil); err != nil {
				t.Fatalf("with another admin: %v", err)
			}
		})
		t.Run("group/"+tc.name, func(t *testing.T) {
			e := newPeopleEnv(t)
			admin := e.user("root") // admin only through the group
			g := e.group("administrators", []string{account.RoleAdmin}, nil, admin)
			if err := tc.change(e, admin, g); tc.name != "demote" && !errors.Is(err, account.ErrLastAdmin) {
				t.Fatalf("last admin through a group: %v, want ErrLastAdmin", err)
			} else if tc.name == "demote" && err != nil {
				t.Fatalf("no direct role to take away: %v", err) // the group still makes root an admin
			}
		})
	}
	t.Run("group changes", func(t *testing.T) {
		e := newPeopleEnv(t)
		admin := e.user("root")
		doc := e.user("doc")
		g := e.group("administrators", []string{account.RoleAdmin}, nil, admin)
		if _, err := e.people.ChangeMembers(e.ctx, g.ID, 0, nil, []string{admin.ID}); !errors.Is(err, account.ErrLastAdmin) {
			t.Errorf("removing the last admin's membership: %v", err)
		}
		cur, err := e.db.Group(e.ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		cur.Roles = []string{account.RolePractitioner}
		if err := e.people.ReplaceGroup(e.ctx, cur); !errors.Is(err, account.ErrLastAdmin) {
			t.Errorf("taking admin from the group: %v", err)
		}
		if err := e.people.DeleteGroup(e.ctx, g.ID, 0); !errors.Is(err, account.ErrLastAdmin) {
			t.Errorf("deleting the group: %v", err)
		}
		// Swapping members in one step keeps an administrator.
		if _, err := e.people.ChangeMembers(e.ctx, g.ID, 0, []string{doc.ID}, []string{admin.ID}); err != nil {
			t.Fatalf("swap: %v", err)
		}
		if r, err := e.people.Rights(e.ctx, e.reload(doc.ID)); err != nil || !slices.Contains(r.Roles, account.RoleAdmin) {
			t.Fatalf("doc's rights after the swap: %+v %v", r, err)
		}
		if r, _ := e.people.Rights(e.ctx, e.reload(admin.ID)); slices.Contains(r.Roles, account.RoleAdmin) {
			t.Fatalf("root is still an admin: %+v", r)
		}
		e.user("root2", account.RoleAdmin)
		if err := e.people.DeleteGroup(e.ctx, g.ID, 0); err != nil {
			t.Fatalf("with a direct admin: %v", err)
		}
	})
}

func (e *peopleEnv) mustByName(name string) *account.User {
	e.t.Helper()
	u, err := e.db.UserByName(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func TestPeopleGroupsAndRights(t *testing.T) {
	e := newPeopleEnv(t)
	nurse := e.user("nurse", account.RolePractitioner)
	for _, bad := range []account.Group{
		{DisplayName: "x", Roles: []string{"root"}},
		{DisplayName: "y", Ceiling: []string{"openid"}},
		{DisplayName: "z", Ceiling: []string{"user/*.xyz"}},
		{DisplayName: ""},
	} {
		if err := e.people.CreateGroup(e.ctx, &bad); !errors.Is(err, account.ErrInvalidUser) {
			t.Errorf("group %+v: %v, want ErrInvalidUser", bad, err)
		}
	}
	e.group("nurses", nil, []string{"user/*.rs"}, nurse)
	e.group("lab", nil, []string{"user/Observation.cruds"}, nurse)
	r, err := e.people.Rights(e.ctx, nurse)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(r.Ceiling) // in the order of the groups
	if !slices.Equal(r.Roles, []string{account.RolePractitioner}) || !slices.Equal(r.Ceiling, []string{"user/*.rs", "user/Observation.cruds"}) {
		t.Fatalf("rights %+v", r)
	}
	if err := e.people.SetPassword(e.ctx, nurse.ID, "short"); !errors.Is(err, account.ErrWeakPassword) {
		t.Errorf("weak password: %v", err)
	}
	if err := e.people.ResetPassword(e.ctx, nurse.ID, longPassword); err != nil || e.reload(nurse.ID).PasswordHash == "" {
		t.Errorf("reset password: %v", err)
	}
	if !slices.Equal(e.revoked, []string{nurse.ID}) {
		t.Errorf("reset did not revoke: %q", e.revoked)
	}
}

// TestPeopleReplacePasswordRevokes: a new password set by Replace (someone
// else: a provisioning client, an administrator) revokes what the person
// holds, as ResetPassword does; the same password again (a sync that
// re-sends it) keeps the hash and revokes nothing.
func TestPeopleReplacePasswordRevokes(t *testing.T) {
	e := newPeopleEnv(t)
	u := &account.User{UserName: "pat", Active: true}
	if err := e.people.Create(e.ctx, u, longPassword); err != nil {
		t.Fatal(err)
	}
	hash := e.reload(u.ID).PasswordHash
	same := e.reload(u.ID)
	if err := e.people.Replace(e.ctx, same, longPassword); err != nil {
		t.Fatal(err)
	}
	if got := e.reload(u.ID); len(e.revoked) != 0 || got.PasswordHash != hash {
		t.Errorf("same password again: revoked %v, hash changed %v", e.revoked, got.PasswordHash != hash)
	}
	next := e.reload(u.ID)
	if err := e.people.Replace(e.ctx, next, "another long password"); err != nil {
		t.Fatal(err)
	}
	if got := e.reload(u.ID); !slices.Equal(e.revoked, []string{u.ID}) || got.PasswordHash == hash {
		t.Errorf("new password: revoked %v, hash changed %v", e.revoked, got.PasswordHash != hash)
	}
	// No password keeps the hash and revokes nothing more.
	e.revoked = nil
	kept := e.reload(u.ID)
	kept.DisplayName = "Pat"
	if err := e.people.Replace(e.ctx, kept, ""); err != nil {
		t.Fatal(err)
	}
	if len(e.revoked) != 0 {
		t.Errorf("no password: revoked %v", e.revoked)
	}
	// A password the policy refuses changes nothing.
	bad := e.reload(u.ID)
	if err := e.people.Replace(e.ctx, bad, "short"); err == nil {
		t.Errorf("a too short password was accepted")
	}
	if len(e.revoked) != 0 {
		t.Errorf("refused password: revoked %v", e.revoked)
	}
}

// TestPeopleMultiValuedCapped: more than MaxValues emails, phone numbers,
// addresses or roles is ErrInvalidUser, on Create and Replace.
func TestPeopleMultiValuedCapped(t *testing.T) {
	e := newPeopleEnv(t)
	n := account.MaxValues + 1
	for name, u := range map[string]*account.User{
		"emails":       {UserName: "e", Emails: make([]account.Email, n)},
		"phoneNumbers": {UserName: "p", Profile: account.Profile{PhoneNumbers: make([]account.PhoneNumber, n)}},
		"addresses":    {UserName: "a", Profile: account.Profile{Addresses: make([]account.Address, n)}},
		"roles":        {UserName: "r", Roles: slices.Repeat([]string{account.RolePatient}, n)},
	} {
		if err := e.people.Create(e.ctx, u, ""); !errors.Is(err, account.ErrInvalidUser) {
			t.Errorf("create with %d %s: %v, want ErrInvalidUser", n, name, err)
		}
	}
	u := e.user("capped")
	u.Emails = make([]account.Email, n)
	if err := e.people.Replace(e.ctx, u, ""); !errors.Is(err, account.ErrInvalidUser) {
		t.Errorf("replace with %d emails: %v, want ErrInvalidUser", n, err)
	}
	if got := e.reload(u.ID); len(got.Emails) != 0 {
		t.Errorf("stored %d emails", len(got.Emails))
	}
}

// TestPeoplePatientLinkedOnce: a Patient fhirUser links one account only,
// on Create and Replace (ErrPatientLinked); a Practitioner may be shared,
// and a person keeps their own Patient on a Replace.
func TestPeoplePatientLinkedOnce(t *testing.T) {
	e := newPeopleEnv(t)
	first := &account.User{UserName: "first", Active: true, FHIRUser: "Patient/x1"}
	if err := e.people.Create(e.ctx, first, ""); err != nil {
		t.Fatal(err)
	}
	second := &account.User{UserName: "second", Active: true, FHIRUser: "Patient/x1"}
	if err := e.people.Create(e.ctx, second, ""); !errors.Is(err, account.ErrPatientLinked) {
		t.Fatalf("second account on Patient/x1: %v, want ErrPatientLinked", err)
	}
	if _, err := e.db.UserByName(e.ctx, "second"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the second account was stored: %v", err)
	}
	other := e.user("other")
	other.FHIRUser = "Patient/x1"
	if err := e.people.Replace(e.ctx, other, ""); !errors.Is(err, account.ErrPatientLinked) {
		t.Errorf("replace onto Patient/x1: %v, want ErrPatientLinked", err)
	}
	if got := e.reload(other.ID); got.FHIRUser != "" {
		t.Errorf("stored fhirUser %q", got.FHIRUser)
	}
	same := e.reload(first.ID)
	same.DisplayName = "First"
	if err := e.people.Replace(e.ctx, same, ""); err != nil {
		t.Errorf("replace keeping one's own Patient: %v", err)
	}
	for _, name := range []string{"doc1", "doc2"} {
		if err := e.people.Create(e.ctx, &account.User{UserName: name, Active: true, FHIRUser: "Practitioner/p1"}, ""); err != nil {
			t.Errorf("shared Practitioner/p1 (%s): %v", name, err)
		}
	}
}
