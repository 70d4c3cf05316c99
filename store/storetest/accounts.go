package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// AccountsBackend is what RunAccounts needs: local accounts (account.Users)
// and the log-in sessions that deactivation ends.
type AccountsBackend interface {
	account.Users
	CreateSession(ctx context.Context, s *account.Session) error
	Session(ctx context.Context, id string) (*account.Session, error)
}

// SessionsBackend is what RunSessions needs.
type SessionsBackend interface {
	CreateUser(ctx context.Context, u *account.User) error
	account.Consents
	account.Sessions
	account.Pendings
}

// RunAccounts tests local accounts: create, read, update with a version
// check, deactivate, list, and the first administrator.
func RunAccounts[B AccountsBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"UsersCRUD", func(t *testing.T, b B) { testUsersCRUD(t, b) }},
		{"UserNameCaseInsensitiveUnique", func(t *testing.T, b B) { testUserNameUnique(t, b) }},
		{"UserUpdateVersionConflict", func(t *testing.T, b B) { testUserUpdateConflict(t, b) }},
		{"UserDeactivateEndsSessions", func(t *testing.T, b B) { testDeactivateEndsSessions(t, b) }},
		{"UsersListAndCount", func(t *testing.T, b B) { testUsersList(t, b) }},
		{"BootstrapAdminOnlyWhenEmpty", func(t *testing.T, b B) { testBootstrap(t, b) }},
	})
}

// RunSessions tests what a browser's log-in leaves behind: remembered
// consents, log-in sessions and pending authorization requests.
func RunSessions[B SessionsBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"Consents", func(t *testing.T, b B) { testConsents(t, b) }},
		{"Sessions", func(t *testing.T, b B) { testSessions(t, b) }},
		{"EndUserSessions", func(t *testing.T, b B) { testEndUserSessions(t, b) }},
		{"PendingSingleUse", func(t *testing.T, b B) { testPendingSingleUse(t, b) }},
	})
}

func newUser(name string) *account.User {
	return &account.User{
		UserName:    name,
		Name:        account.Name{GivenName: "Ada", FamilyName: "Lovelace", Formatted: "Ada Lovelace"},
		DisplayName: "Ada",
		Emails:      []account.Email{{Value: name + "@example.org", Type: "work", Primary: true}, {Value: name + "@home.example"}},
		Active:      true,
		FHIRUser:    "Patient/p1",
		Roles:       []string{account.RolePatient},
	}
}

func testUsersCRUD(t *testing.T, b AccountsBackend) {
	ctx := context.Background()
	u := newUser("ada")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.Meta.Version != 1 || u.Meta.Created.IsZero() {
		t.Fatalf("CreateUser did not set id/meta: %+v", u)
	}
	got, err := b.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserName != "ada" || got.Name != u.Name || got.DisplayName != "Ada" || !got.Active ||
		got.FHIRUser != "Patient/p1" || !slices.Equal(got.Roles, u.Roles) || !slices.Equal(got.Emails, u.Emails) ||
		got.Meta.Version != 1 || !SameInstant(got.Meta.Created, u.Meta.Created) {
		t.Fatalf("User = %+v, want %+v", got, u)
	}
	byName, err := b.UserByName(ctx, "ADA")
	if err != nil || byName.ID != u.ID {
		t.Fatalf("UserByName(ADA) = %v, %v", byName, err)
	}
	got.DisplayName = "Countess"
	got.Emails = got.Emails[:1]
	if err := b.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got.Meta.Version != 2 {
		t.Fatalf("version after update = %d, want 2", got.Meta.Version)
	}
	again, _ := b.User(ctx, u.ID)
	if again.DisplayName != "Countess" || len(again.Emails) != 1 || again.Meta.Version != 2 {
		t.Fatalf("after update: %+v", again)
	}
	if _, err := b.User(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("User(missing) = %v, want ErrNotFound", err)
	}
	if _, err := b.UserByName(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByName(missing) = %v, want ErrNotFound", err)
	}
	if err := b.CreateUser(ctx, &account.User{UserName: "Not Normal"}); err == nil {
		t.Fatal("CreateUser accepted a user name that is not normalised")
	}
	if err := b.CreateUser(ctx, &account.User{UserName: "x", Roles: []string{"root"}}); err == nil {
		t.Fatal("CreateUser accepted an unknown role")
	}
}

func testUserNameUnique(t *testing.T, b AccountsBackend) {
	ctx := context.Background()
	if err := b.CreateUser(ctx, newUser("bob")); err != nil {
		t.Fatal(err)
	}
	n, _ := account.NormalizeUserName("BOB")
	if err := b.CreateUser(ctx, newUser(n)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second bob = %v, want ErrConflict", err)
	}
}

func testUserUpdateConflict(t *testing.T, b AccountsBackend) {
	ctx := context.Background()
	u := newUser("carol")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	a, _ := b.User(ctx, u.ID)
	c, _ := b.User(ctx, u.ID)
	a.DisplayName = "A"
	if err := b.UpdateUser(ctx, a); err != nil {
		t.Fatal(err)
	}
	c.DisplayName = "C"
	if err := b.UpdateUser(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update = %v, want ErrConflict", err)
	}
	missing := newUser("dave")
	missing.ID = "none"
	missing.Meta.Version = 1
	if err := b.UpdateUser(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of missing user = %v, want ErrNotFound", err)
	}
}

func testDeactivateEndsSessions(t *testing.T, b AccountsBackend) {
	ctx := context.Background()
	u := newUser("erin")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := &account.Session{ID: "s1", UserID: u.ID, AuthTime: now, AMR: []string{"pwd"}, ExpiresAt: now.Add(time.Hour)}
	if err := b.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := b.DeactivateUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := b.User(ctx, u.ID)
	if got.Active || got.Meta.Version != 2 {
		t.Fatalf("after deactivate: active=%v version=%d", got.Active, got.Meta.Version)
	}
	gs, err := b.Session(ctx, "s1")
	if err != nil || gs.Active(time.Now()) {
		t.Fatalf("session after deactivate = %+v, %v; want ended", gs, err)
	}
	if err := b.DeactivateUser(ctx, "none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deactivate missing = %v", err)
	}
}

func testUsersList(t *testing.T, b AccountsBackend) {
	ctx := context.Background()
	if n, err := b.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on empty = %d, %v", n, err)
	}
	for _, n := range []string{"zed", "amy", "kim"} {
		if err := b.CreateUser(ctx, newUser(n)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := b.CountUsers(ctx); n != 3 {
		t.Fatalf("CountUsers = %d, want 3", n)
	}
	all, err := b.Users(ctx, account.ListQuery{})
	if err != nil || len(all) != 3 || all[0].UserName != "amy" || all[2].UserName != "zed" || len(all[0].Emails) != 2 {
		t.Fatalf("Users = %+v, %v", all, err)
	}
	page, _ := b.Users(ctx, account.ListQuery{Offset: 1, Limit: 1})
	if len(page) != 1 || page[0].UserName != "kim" {
		t.Fatalf("page = %+v", page)
	}
	one, _ := b.Users(ctx, account.ListQuery{UserName: "KIM"})
	if len(one) != 1 || one[0].UserName != "kim" {
		t.Fatalf("by name = %+v", one)
	}
}

func testConsents(t *testing.T, b SessionsBackend) {
	ctx := context.Background()
	u := newUser("fay")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Consent(ctx, u.ID, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Consent(missing) = %v", err)
	}
	if err := b.PutConsent(ctx, &account.Consent{UserID: u.ID, ClientID: "app", Scopes: []string{"openid", "patient/*.rs"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutConsent(ctx, &account.Consent{UserID: u.ID, ClientID: "other", Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutConsent(ctx, &account.Consent{UserID: u.ID, ClientID: "app", Scopes: []string{"launch/patient"}}); err != nil {
		t.Fatal(err)
	}
	c, err := b.Consent(ctx, u.ID, "app")
	if err != nil || !slices.Equal(c.Scopes, []string{"launch/patient"}) || c.Created.After(c.Updated) {
		t.Fatalf("Consent = %+v, %v", c, err)
	}
	list, err := b.Consents(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].ClientID != "app" {
		t.Fatalf("Consents = %+v, %v", list, err)
	}
	if err := b.DeleteConsent(ctx, u.ID, "app"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteConsent(ctx, u.ID, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete = %v", err)
	}
	if list, _ := b.Consents(ctx, u.ID); len(list) != 1 {
		t.Fatalf("after delete: %+v", list)
	}
}

func testSessions(t *testing.T, b SessionsBackend) {
	ctx := context.Background()
	u := newUser("gus")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	s := &account.Session{ID: "sess", UserID: u.ID, AuthTime: now, AMR: []string{"pwd"}, ExpiresAt: now.Add(time.Hour)}
	if err := b.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := b.Session(ctx, "sess")
	if err != nil || got.UserID != u.ID || !SameInstant(got.AuthTime, now) || !slices.Equal(got.AMR, []string{"pwd"}) || !got.Active(now) {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if err := b.CreateSession(ctx, s); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate session id = %v, want ErrConflict", err)
	}
	later := now.Add(2 * time.Hour)
	if err := b.ExtendSession(ctx, "sess", later); err != nil {
		t.Fatal(err)
	}
	if got, _ = b.Session(ctx, "sess"); !SameInstant(got.ExpiresAt, later) {
		t.Fatalf("extended session expires %v, want %v", got.ExpiresAt, later)
	}
	if err := b.EndSession(ctx, "sess", now); err != nil {
		t.Fatal(err)
	}
	if err := b.ExtendSession(ctx, "sess", later.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ExtendSession(ended) = %v, want ErrNotFound", err)
	}
	got, _ = b.Session(ctx, "sess")
	if got.Active(now) || !SameInstant(got.EndedAt, now) {
		t.Fatalf("ended session = %+v", got)
	}
	if err := b.EndSession(ctx, "sess", now.Add(time.Minute)); err != nil {
		t.Fatalf("ending twice: %v", err)
	}
	if err := b.EndSession(ctx, "missing", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EndSession(missing) = %v", err)
	}
	if _, err := b.Session(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Session(missing) = %v", err)
	}
}

func testPendingSingleUse(t *testing.T, b SessionsBackend) {
	ctx := context.Background()
	p := &account.Pending{BrowserID: "b1", RequestID: "r1", Request: []byte(`{"a":1}`), ExpiresAt: time.Now().Add(time.Hour)}
	if err := b.PutPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Pending(ctx, "b2", "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other browser sees the request: %v", err)
	}
	p.Decision = []byte(`{"d":1}`)
	if err := b.PutPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := b.Pending(ctx, "b1", "r1")
	if err != nil || string(got.Decision) != `{"d":1}` || string(got.Request) != `{"a":1}` {
		t.Fatalf("Pending = %+v, %v", got, err)
	}
	taken, err := b.TakePending(ctx, "b1", "r1")
	if err != nil || string(taken.Decision) != `{"d":1}` {
		t.Fatalf("TakePending = %+v, %v", taken, err)
	}
	if _, err := b.TakePending(ctx, "b1", "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second TakePending = %v, want ErrNotFound", err)
	}
	old := &account.Pending{BrowserID: "b1", RequestID: "old", Request: []byte(`{}`), ExpiresAt: time.Now().Add(-time.Second)}
	if err := b.PutPending(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Pending(ctx, "b1", "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired pending = %v, want ErrNotFound", err)
	}
}

func testBootstrap(t *testing.T, b AccountsBackend) {
	ctx := context.Background()
	if _, _, err := account.Bootstrap(ctx, b, "short"); !errors.Is(err, account.ErrWeakPassword) {
		t.Fatalf("Bootstrap with a weak password = %v, want ErrWeakPassword", err)
	}
	gen, created, err := account.Bootstrap(ctx, b, "")
	if err != nil || !created || len(gen) < account.MinPasswordLength {
		t.Fatalf("Bootstrap = %q, %v, %v", gen, created, err)
	}
	admin, err := b.UserByName(ctx, "admin")
	if err != nil || !admin.HasRole(account.RoleAdmin) || !admin.Active {
		t.Fatalf("admin = %+v, %v", admin, err)
	}
	ok, err := account.NewHasher(account.Params{}, 1).Verify(ctx, gen, admin.PasswordHash)
	if err != nil || !ok {
		t.Fatalf("generated password does not verify: %v", err)
	}
	gen2, created, err := account.Bootstrap(ctx, b, "another-long-password")
	if err != nil || created || gen2 != "" {
		t.Fatalf("second Bootstrap = %q, %v, %v; want no-op", gen2, created, err)
	}
	if n, _ := b.CountUsers(ctx); n != 1 {
		t.Fatalf("users after bootstrap = %d", n)
	}
}

func testEndUserSessions(t *testing.T, b SessionsBackend) {
	ctx := context.Background()
	u, other := newUser("fay"), newUser("gil")
	for _, x := range []*account.User{u, other} {
		if err := b.CreateUser(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for id, owner := range map[string]string{"keep": u.ID, "end1": u.ID, "end2": u.ID, "others": other.ID} {
		s := &account.Session{ID: id, UserID: owner, AuthTime: now, AMR: []string{"pwd"}, ExpiresAt: now.Add(time.Hour)}
		if err := b.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.EndSession(ctx, "end2", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	at := now.Add(time.Second)
	if err := b.EndUserSessions(ctx, u.ID, "keep", at); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]time.Time{"keep": {}, "end1": at, "end2": now.Add(-time.Minute), "others": {}} {
		s, err := b.Session(ctx, id)
		if err != nil || !SameInstant(s.EndedAt, want) {
			t.Fatalf("session %s after EndUserSessions: %+v, %v; want ended at %v", id, s, err, want)
		}
	}
	if err := b.EndUserSessions(ctx, u.ID, "", at); err != nil {
		t.Fatal(err)
	}
	if s, err := b.Session(ctx, "keep"); err != nil || s.Active(now) {
		t.Fatalf("session keep after EndUserSessions without an exception: %+v, %v; want ended", s, err)
	}
}
