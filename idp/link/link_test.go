package link_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/idp/link"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

const issuer = "https://op.example"

// recorder keeps the audit events.
type recorder struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (r *recorder) Record(_ context.Context, ev audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

func (r *recorder) events() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]audit.Event(nil), r.evs...)
}

type env struct {
	t      testing.TB
	ctx    context.Context
	db     *sqlite.DB
	people *account.People
	audit  *recorder
	clock  *testclock.Clock
	linker *link.Linker
}

// newEnv is a Linker over a real SQLite file and a real account.People.
// wrap, when set, wraps the store the linker sees.
func newEnv(t testing.TB, wrap func(link.Store) link.Store) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	people := account.NewPeople(account.PeopleConfig{Store: db,
		Hasher: account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 2)})
	e := &env{t: t, ctx: ctx, db: db, people: people, audit: &recorder{}, clock: testclock.New(time.Now().Truncate(time.Second))}
	var st link.Store = db
	if wrap != nil {
		st = wrap(db)
	}
	e.linker = link.New(link.Config{Store: st, People: people, Audit: e.audit, Now: e.clock.Now})
	return e
}

// person makes an active account with email and roles.
func (e *env) person(name, email string, roles ...string) *account.User {
	e.t.Helper()
	u := &account.User{UserName: name, Active: true, Roles: roles}
	if email != "" {
		u.Emails = []account.Email{{Value: email, Type: "work", Primary: true}}
	}
	if err := e.people.Create(e.ctx, u, ""); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) links(userID string) []account.Link {
	e.t.Helper()
	ls, err := e.db.LinksOf(e.ctx, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return ls
}

func (e *env) noLink(id idp.Identity) {
	e.t.Helper()
	if l, err := e.db.LinkOf(e.ctx, id.Issuer, id.Subject); !errors.Is(err, store.ErrNotFound) {
		e.t.Fatalf("identity linked: %+v, %v; want no link", l, err)
	}
}

func (e *env) countUsers() int {
	e.t.Helper()
	n, err := e.db.CountUsers(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// linkEvents are the audit records of links.
func (e *env) linkEvents() []audit.Event {
	var out []audit.Event
	for _, ev := range e.audit.events() {
		if ev.Kind == "link" {
			out = append(out, ev)
		}
	}
	return out
}

func (e *env) wantLinkEvent(i int, action, actor, userID, detail string) {
	e.t.Helper()
	evs := e.linkEvents()
	if len(evs) <= i {
		e.t.Fatalf("link audit records %+v, want one at %d", evs, i)
	}
	ev := evs[i]
	if ev.Action != action || ev.Actor != actor || ev.Resource != "User/"+userID || ev.Detail != detail ||
		ev.Outcome != audit.Success || ev.At.IsZero() {
		e.t.Fatalf("link audit record %d = %+v, want %s by %s of User/%s, detail %q", i, ev, action, actor, userID, detail)
	}
}

func provider(id string, prov idp.Provisioning, trusted bool) idp.Provider {
	return idp.Provider{ID: id, Name: strings.ToUpper(id), Type: "oidc", Preset: "none", Issuer: issuer,
		Provisioning: prov, TrustedEmail: trusted}
}

func identity(sub, email string, verified bool) idp.Identity {
	return idp.Identity{Issuer: issuer, Subject: sub, Email: email, EmailVerified: verified,
		Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace"}
}

func TestResolveIncompleteIdentity(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionAuto, true)
	for _, id := range []idp.Identity{{Subject: "s1"}, {Issuer: issuer}, {}} {
		if out, err := e.linker.Resolve(e.ctx, p, id); !errors.Is(err, link.ErrIncomplete) {
			t.Fatalf("Resolve(%+v) = %+v, %v; want ErrIncomplete", id, out, err)
		}
		if err := e.linker.Link(e.ctx, "someone", p, id); !errors.Is(err, link.ErrIncomplete) {
			t.Fatalf("Link(%+v) = %v; want ErrIncomplete", id, err)
		}
	}
	if n := e.countUsers(); n != 0 {
		t.Fatalf("%d accounts made for incomplete identities", n)
	}
}

func TestResolveLinkedIdentity(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionInvite, false)
	ada := e.person("ada", "ada@example.org")
	id := identity("s1", "someone-else@example.org", false)
	if err := e.linker.Link(e.ctx, ada.ID, p, id); err != nil {
		t.Fatal(err)
	}
	e.wantLinkEvent(0, "create", ada.ID, ada.ID, "provider=op how=login")
	e.clock.Advance(time.Hour)
	out, err := e.linker.Resolve(e.ctx, p, id)
	if err != nil {
		t.Fatal(err)
	}
	if out.User == nil || out.User.ID != ada.ID || out.Provisioned || out.LinkedByEmail || out.NeedsAccount {
		t.Fatalf("Resolve of a linked identity = %+v, want ada's account only", out)
	}
	ls := e.links(ada.ID)
	if len(ls) != 1 || !ls[0].LastLogin.Equal(e.clock.Now()) || ls[0].Provider != "op" || ls[0].Email != "someone-else@example.org" {
		t.Fatalf("links after the log-in = %+v, want the log-in time %v", ls, e.clock.Now())
	}
	if n := len(e.linkEvents()); n != 1 {
		t.Fatalf("%d link audit records, want 1 (a log-in through a link changes no link)", n)
	}
}

func TestResolveLinkedDeactivatedAccount(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionAuto, true)
	ada := e.person("ada", "ada@example.org")
	id := identity("s1", "ada@example.org", true)
	if err := e.linker.Link(e.ctx, ada.ID, p, id); err != nil {
		t.Fatal(err)
	}
	if err := e.db.DeactivateUser(e.ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	out, err := e.linker.Resolve(e.ctx, p, id)
	if !errors.Is(err, link.ErrInactive) || out.User != nil {
		t.Fatalf("Resolve for a deactivated account = %+v, %v; want ErrInactive", out, err)
	}
	if n := e.countUsers(); n != 1 {
		t.Fatalf("%d accounts after the refusal, want 1 (no new one provisioned)", n)
	}
	if ls := e.links(ada.ID); len(ls) != 1 || !ls[0].LastLogin.IsZero() {
		t.Fatalf("links after the refusal = %+v, want one, no log-in recorded", ls)
	}
	if err := e.linker.Link(e.ctx, ada.ID, p, identity("s2", "", false)); !errors.Is(err, link.ErrInactive) {
		t.Fatalf("Link to a deactivated account = %v, want ErrInactive", err)
	}
}

func TestResolveTrustedVerifiedEmail(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionInvite, true)
	ada := e.person("ada", "Ada@Example.org")
	e.person("bob", "bob@example.org")
	id := identity("s1", "ada@EXAMPLE.org", true)
	out, err := e.linker.Resolve(e.ctx, p, id)
	if err != nil {
		t.Fatal(err)
	}
	if out.User == nil || out.User.ID != ada.ID || !out.LinkedByEmail || out.Provisioned || out.NeedsAccount {
		t.Fatalf("Resolve by a trusted verified email = %+v, want ada's account linked by email", out)
	}
	ls := e.links(ada.ID)
	if len(ls) != 1 || ls[0].Issuer != issuer || ls[0].Subject != "s1" || ls[0].Provider != "op" || ls[0].Email != "ada@EXAMPLE.org" {
		t.Fatalf("ada's links = %+v", ls)
	}
	e.wantLinkEvent(0, "create", ada.ID, ada.ID, "provider=op how=trusted_email")
	// Linked now: the next log-in is through the link, whatever the email.
	id.Email, id.EmailVerified = "changed@example.org", false
	out, err = e.linker.Resolve(e.ctx, p, id)
	if err != nil || out.User == nil || out.User.ID != ada.ID || out.LinkedByEmail {
		t.Fatalf("second Resolve = %+v, %v; want ada's account through the link", out, err)
	}
}

// TestResolveEmailOnUntrustedProvider: an email match alone never lands in
// the existing account, verified or not.
func TestResolveEmailOnUntrustedProvider(t *testing.T) {
	e := newEnv(t, nil)
	ada := e.person("ada", "ada@example.org")
	id := identity("s1", "ada@example.org", true)
	out, err := e.linker.Resolve(e.ctx, provider("op", idp.ProvisionInvite, false), id)
	if err != nil || !out.NeedsAccount || out.User != nil {
		t.Fatalf("Resolve, untrusted invite provider = %+v, %v; want NeedsAccount", out, err)
	}
	e.noLink(id)
	out, err = e.linker.Resolve(e.ctx, provider("op", idp.ProvisionAuto, false), id)
	if err != nil || out.User == nil || !out.Provisioned || out.LinkedByEmail {
		t.Fatalf("Resolve, untrusted auto provider = %+v, %v; want a provisioned account", out, err)
	}
	if out.User.ID == ada.ID {
		t.Fatal("the email-only match landed in the existing account")
	}
	if ls := e.links(ada.ID); len(ls) != 0 {
		t.Fatalf("the existing account got links %+v", ls)
	}
	if l, err := e.db.LinkOf(e.ctx, issuer, "s1"); err != nil || l.UserID != out.User.ID {
		t.Fatalf("link = %+v, %v; want the new account's", l, err)
	}
}

func TestResolveUnverifiedEmailOnTrustedProvider(t *testing.T) {
	e := newEnv(t, nil)
	ada := e.person("ada", "ada@example.org")
	id := identity("s1", "ada@example.org", false)
	out, err := e.linker.Resolve(e.ctx, provider("op", idp.ProvisionInvite, true), id)
	if err != nil || !out.NeedsAccount || out.User != nil {
		t.Fatalf("Resolve of an unverified email, invite = %+v, %v; want NeedsAccount", out, err)
	}
	e.noLink(id)
	out, err = e.linker.Resolve(e.ctx, provider("op", idp.ProvisionAuto, true), id)
	if err != nil || out.User == nil || !out.Provisioned || out.User.ID == ada.ID {
		t.Fatalf("Resolve of an unverified email, auto = %+v, %v; want a new account", out, err)
	}
	// An unverified email is no user name.
	h := sha256.Sum256([]byte(issuer + "\ns1"))
	if want := "op-" + hex.EncodeToString(h[:])[:12]; out.User.UserName != want {
		t.Fatalf("user name %q, want %q", out.User.UserName, want)
	}
	if ls := e.links(ada.ID); len(ls) != 0 {
		t.Fatalf("the existing account got links %+v", ls)
	}
}

func TestResolveTrustedEmailOfAnAdministrator(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionInvite, true)
	root := e.person("root", "root@example.org", account.RoleAdmin)
	viaGroup := e.person("grace", "grace@example.org", account.RolePatient)
	g := &account.Group{DisplayName: "Operators", Roles: []string{account.RoleAdmin}, Members: []account.Member{{Value: viaGroup.ID}}}
	if err := e.people.CreateGroup(e.ctx, g); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who   *account.User
		email string
	}{{root, "root@example.org"}, {viaGroup, "grace@example.org"}} {
		id := identity("sub-"+c.who.UserName, c.email, true)
		out, err := e.linker.Resolve(e.ctx, p, id)
		if err != nil || !out.NeedsAccount || out.User != nil {
			t.Fatalf("Resolve by the trusted email of administrator %s = %+v, %v; want NeedsAccount", c.who.UserName, out, err)
		}
		e.noLink(id)
		// Logged in to that account, the administrator may link it.
		if err := e.linker.Link(e.ctx, c.who.ID, p, id); err != nil {
			t.Fatalf("Link by administrator %s: %v", c.who.UserName, err)
		}
	}
	// With provisioning auto, no second account with the administrator's
	// email either: the person logs in to the account to link it.
	before := e.countUsers()
	id := identity("sub-other", "root@example.org", true)
	out, err := e.linker.Resolve(e.ctx, provider("op", idp.ProvisionAuto, true), id)
	if err != nil || !out.NeedsAccount || out.User != nil || e.countUsers() != before {
		t.Fatalf("Resolve, auto, administrator's email = %+v, %v (%d accounts, were %d); want NeedsAccount", out, err, e.countUsers(), before)
	}
	e.noLink(id)
}

func TestResolveTrustedEmailOfSeveralAccounts(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionInvite, true)
	a := e.person("ada", "shared@example.org")
	b := e.person("bob", "SHARED@example.org")
	id := identity("s1", "shared@example.org", true)
	out, err := e.linker.Resolve(e.ctx, p, id)
	if err != nil || !out.NeedsAccount || out.User != nil {
		t.Fatalf("Resolve by an email two accounts have = %+v, %v; want NeedsAccount", out, err)
	}
	e.noLink(id)
	if len(e.links(a.ID))+len(e.links(b.ID)) != 0 {
		t.Fatal("one of the accounts sharing the email was linked")
	}
	if n := len(e.linkEvents()); n != 0 {
		t.Fatalf("%d link audit records, want none", n)
	}
}

func TestResolveTrustedEmailOfADeactivatedAccount(t *testing.T) {
	e := newEnv(t, nil)
	ada := e.person("ada", "ada@example.org")
	active := e.person("bob", "ada@example.org")
	if err := e.db.DeactivateUser(e.ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	// Only active accounts count: one left, bob's.
	out, err := e.linker.Resolve(e.ctx, provider("op", idp.ProvisionInvite, true), identity("s1", "ada@example.org", true))
	if err != nil || out.User == nil || out.User.ID != active.ID || !out.LinkedByEmail {
		t.Fatalf("Resolve = %+v, %v; want the one active account", out, err)
	}
	if ls := e.links(ada.ID); len(ls) != 0 {
		t.Fatalf("the deactivated account got links %+v", ls)
	}
}

// TestResolveProvisionsAccount: a trusted provider's verified email is
// the new account's email and user name (review12_test.go: no other
// email is).
func TestResolveProvisionsAccount(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionAuto, true)
	id := identity("s1", "New.Person@Example.org", true)
	out, err := e.linker.Resolve(e.ctx, p, id)
	if err != nil {
		t.Fatal(err)
	}
	if out.User == nil || !out.Provisioned || out.LinkedByEmail || out.NeedsAccount {
		t.Fatalf("Resolve, auto = %+v, want a provisioned account", out)
	}
	u, err := e.db.User(e.ctx, out.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.UserName != "new.person@example.org" || !u.Active || u.FHIRUser != "" || u.PasswordHash != "" ||
		len(u.Roles) != 1 || u.Roles[0] != account.RolePatient {
		t.Fatalf("provisioned account %+v; want the email as user name, active, patient, no fhirUser, no password", u)
	}
	if len(u.Emails) != 1 || u.Emails[0].Value != "New.Person@Example.org" || !u.Emails[0].Primary {
		t.Fatalf("provisioned emails %+v", u.Emails)
	}
	if u.Name.GivenName != "Ada" || u.Name.FamilyName != "Lovelace" || u.Name.Formatted != "Ada Lovelace" || u.DisplayName != "Ada Lovelace" {
		t.Fatalf("provisioned names %+v / %q", u.Name, u.DisplayName)
	}
	ls := e.links(u.ID)
	if len(ls) != 1 || ls[0].Subject != "s1" || ls[0].Provider != "op" || !ls[0].Created.Equal(e.clock.Now()) {
		t.Fatalf("links of the provisioned account = %+v", ls)
	}
	e.wantLinkEvent(0, "create", u.ID, u.ID, "provider=op how=auto")
	again, err := e.linker.Resolve(e.ctx, p, id)
	if err != nil || again.User == nil || again.User.ID != u.ID || again.Provisioned {
		t.Fatalf("second Resolve = %+v, %v; want the same account, not provisioned again", again, err)
	}
	if n := e.countUsers(); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}
}

func TestResolveProvisionedUserNameTaken(t *testing.T) {
	e := newEnv(t, nil)
	taken := e.person("ada@example.org", "")
	out, err := e.linker.Resolve(e.ctx, provider("op", idp.ProvisionAuto, true), identity("s1", "ada@example.org", true))
	if err != nil || out.User == nil || out.User.ID == taken.ID {
		t.Fatalf("Resolve = %+v, %v; want a new account", out, err)
	}
	h := sha256.Sum256([]byte(issuer + "\ns1"))
	if want := "op-" + hex.EncodeToString(h[:])[:12]; out.User.UserName != want {
		t.Fatalf("user name %q, want %q (the email is taken)", out.User.UserName, want)
	}
	// No email at all: the same rule.
	out, err = e.linker.Resolve(e.ctx, provider("op", idp.ProvisionAuto, false), idp.Identity{Issuer: issuer, Subject: "s2"})
	h = sha256.Sum256([]byte(issuer + "\ns2"))
	if err != nil || out.User == nil || out.User.UserName != "op-"+hex.EncodeToString(h[:])[:12] || len(out.User.Emails) != 0 {
		t.Fatalf("Resolve without email = %+v, %v", out, err)
	}
}

// racingStore links the identity to another account just before the
// linker's first CreateLink, as a concurrent Resolve would.
type racingStore struct {
	link.Store
	once  sync.Once
	other func() string
}

func (s *racingStore) CreateLink(ctx context.Context, l *account.Link) error {
	s.once.Do(func() {
		won := *l
		won.UserID = s.other()
		if err := s.Store.CreateLink(ctx, &won); err != nil {
			panic(err)
		}
	})
	return s.Store.CreateLink(ctx, l)
}

func TestResolveRaceAfterProvisioning(t *testing.T) {
	var winner *account.User
	e := newEnv(t, func(s link.Store) link.Store {
		return &racingStore{Store: s, other: func() string { return winner.ID }}
	})
	winner = e.person("winner", "")
	out, err := e.linker.Resolve(e.ctx, provider("op", idp.ProvisionAuto, true), identity("s1", "new@example.org", true))
	if err != nil || out.User == nil || out.User.ID != winner.ID || out.Provisioned {
		t.Fatalf("Resolve that lost the race = %+v, %v; want the winner's account", out, err)
	}
	if n := e.countUsers(); n != 1 {
		t.Fatalf("%d accounts, want 1 (the account made for the lost race dropped)", n)
	}
	if _, err := e.db.UserByName(e.ctx, "new@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the account made for the lost race: %v, want it gone", err)
	}
}

func TestResolveRaceAfterTrustedEmail(t *testing.T) {
	var winner *account.User
	e := newEnv(t, func(s link.Store) link.Store {
		return &racingStore{Store: s, other: func() string { return winner.ID }}
	})
	e.person("ada", "ada@example.org")
	winner = e.person("winner", "")
	out, err := e.linker.Resolve(e.ctx, provider("op", idp.ProvisionInvite, true), identity("s1", "ada@example.org", true))
	if err != nil || out.User == nil || out.User.ID != winner.ID || out.LinkedByEmail {
		t.Fatalf("Resolve that lost the race = %+v, %v; want the winner's account", out, err)
	}
}

// TestResolveConcurrentFirstLogins: several first log-ins of one identity
// at once make one account, which all of them get.
func TestResolveConcurrentFirstLogins(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionAuto, false)
	id := identity("s1", "new@example.org", true)
	const n = 6
	outs := make([]link.Outcome, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			outs[i], errs[i] = e.linker.Resolve(e.ctx, p, id)
		}()
	}
	close(start)
	wg.Wait()
	provisioned := 0
	for i := range n {
		if errs[i] != nil || outs[i].User == nil {
			t.Fatalf("Resolve %d = %+v, %v", i, outs[i], errs[i])
		}
		if outs[i].User.ID != outs[0].User.ID {
			t.Fatalf("Resolve %d gave account %s, Resolve 0 %s", i, outs[i].User.ID, outs[0].User.ID)
		}
		if outs[i].Provisioned {
			provisioned++
		}
	}
	if provisioned != 1 {
		t.Fatalf("%d outcomes say provisioned, want 1", provisioned)
	}
	if c := e.countUsers(); c != 1 {
		t.Fatalf("%d accounts, want 1", c)
	}
}

func TestLink(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionInvite, false)
	ada := e.person("ada", "")
	bob := e.person("bob", "")
	id := identity("s1", "ada@example.org", true)
	if err := e.linker.Link(e.ctx, ada.ID, p, id); err != nil {
		t.Fatal(err)
	}
	if err := e.linker.Link(e.ctx, ada.ID, p, id); err != nil {
		t.Fatalf("Link again to the same account = %v, want nil", err)
	}
	if err := e.linker.Link(e.ctx, bob.ID, p, id); !errors.Is(err, link.ErrLinkedElsewhere) {
		t.Fatalf("Link of ada's identity to bob = %v, want ErrLinkedElsewhere", err)
	}
	if ls := e.links(bob.ID); len(ls) != 0 {
		t.Fatalf("bob's links = %+v", ls)
	}
	if err := e.linker.Link(e.ctx, "nobody", p, identity("s2", "", false)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Link to no account = %v, want ErrNotFound", err)
	}
	if n := len(e.linkEvents()); n != 1 {
		t.Fatalf("%d link audit records, want 1 (only the link made)", n)
	}
	ls, err := e.linker.LinksOf(e.ctx, ada.ID)
	if err != nil || len(ls) != 1 || ls[0].Subject != "s1" {
		t.Fatalf("LinksOf = %+v, %v", ls, err)
	}
}

func TestUnlink(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionInvite, false)
	ada := e.person("ada", "")
	bob := e.person("bob", "")
	admin := e.person("root", "", account.RoleAdmin)
	id := identity("s1", "", false)
	if err := e.linker.Link(e.ctx, ada.ID, p, id); err != nil {
		t.Fatal(err)
	}
	if err := e.linker.Unlink(e.ctx, bob.ID, bob.ID, issuer, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Unlink of ada's link from bob = %v, want ErrNotFound", err)
	}
	if ls := e.links(ada.ID); len(ls) != 1 {
		t.Fatalf("ada's links after bob's unlink = %+v, want kept", ls)
	}
	if err := e.linker.Unlink(e.ctx, admin.ID, ada.ID, issuer, "s1"); err != nil {
		t.Fatal(err)
	}
	e.wantLinkEvent(1, "delete", admin.ID, ada.ID, "provider=op")
	if err := e.linker.Unlink(e.ctx, admin.ID, ada.ID, issuer, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Unlink = %v, want ErrNotFound", err)
	}
	out, err := e.linker.Resolve(e.ctx, p, id)
	if err != nil || !out.NeedsAccount {
		t.Fatalf("Resolve after unlinking = %+v, %v; want NeedsAccount", out, err)
	}
	if n := len(e.linkEvents()); n != 2 {
		t.Fatalf("%d link audit records, want 2", n)
	}
}

// TestLinkAuditHoldsNoIdentity: the link records name the provider and the
// account, not the identity's subject or email.
func TestLinkAuditHoldsNoIdentity(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionAuto, true)
	e.person("ada", "ada@example.org")
	for _, id := range []idp.Identity{identity("subject-one", "ada@example.org", true), identity("subject-two", "x@example.org", true)} {
		if _, err := e.linker.Resolve(e.ctx, p, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range e.linkEvents() {
		s := strings.Join([]string{ev.Actor, ev.Resource, ev.Detail, ev.Action}, " ")
		if strings.Contains(s, "subject-") || strings.Contains(s, "@") {
			t.Fatalf("link audit record %+v names the identity", ev)
		}
	}
}
