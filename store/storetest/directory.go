package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// DirectoryBackend is what RunDirectory needs: account.Directory, and the
// consents and sessions that deleting a person removes.
type DirectoryBackend interface {
	account.Directory
	PutConsent(ctx context.Context, c *account.Consent) error
	Consent(ctx context.Context, userID, clientID string) (*account.Consent, error)
	CreateSession(ctx context.Context, s *account.Session) error
	Session(ctx context.Context, id string) (*account.Session, error)
}

// RunDirectory tests the store of people and groups behind SCIM and the
// people pages (account.Directory): the SCIM attributes of a person,
// groups and their members, and searches with filters, order and pages.
func RunDirectory[B DirectoryBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"UserSCIMAttributesRoundTrip", func(t *testing.T, b B) { testUserSCIMRoundTrip(t, b) }},
		{"UserAddressesRoundTrip", func(t *testing.T, b B) { testUserAddresses(t, b) }},
		{"DeleteUser", func(t *testing.T, b B) { testDeleteUser(t, b) }},
		{"GroupsCRUD", func(t *testing.T, b B) { testGroupsCRUD(t, b) }},
		{"GroupCeilingNilIsNotEmpty", func(t *testing.T, b B) { testGroupCeiling(t, b) }},
		{"GroupDisplayNameUnique", func(t *testing.T, b B) { testGroupDisplayNameUnique(t, b) }},
		{"GroupVersionConflict", func(t *testing.T, b B) { testGroupVersionConflict(t, b) }},
		{"ChangeMembers", func(t *testing.T, b B) { testChangeMembers(t, b) }},
		{"GroupsOf", func(t *testing.T, b B) { testGroupsOf(t, b) }},
		{"GroupsOfUsers", func(t *testing.T, b B) { testGroupsOfUsers(t, b) }},
		{"DeleteUserLeavesGroups", func(t *testing.T, b B) { testDeleteUserLeavesGroups(t, b) }},
		{"SearchUsersFilters", func(t *testing.T, b B) { testSearchUsersFilters(t, b) }},
		{"SearchUsersPagesAndOrder", func(t *testing.T, b B) { testSearchUsersPagesAndOrder(t, b) }},
		{"SearchInvalid", func(t *testing.T, b B) { testSearchInvalid(t, b) }},
		{"SearchGroups", func(t *testing.T, b B) { testSearchGroups(t, b) }},
	})
}

// fullUser is a person with every SCIM attribute the store keeps.
func fullUser(name string) *account.User {
	u := newUser(name)
	u.ExternalID = "ext-" + name
	u.Profile = account.Profile{NickName: "Countess", ProfileURL: "https://example.org/" + name, Title: "Analyst",
		UserType: "Employee", PreferredLanguage: "en-GB", Locale: "en-GB", Timezone: "Europe/London",
		MiddleName: "King", HonorificPrefix: "Lady", HonorificSuffix: "FRS",
		PhoneNumbers: []account.PhoneNumber{{Value: "+44 20 7946 0000", Type: "work", Primary: true}, {Value: "+44 7700 900000", Type: "mobile"}},
		Addresses: []account.Address{
			{StreetAddress: "12 St James's Square\nFlat 2", Locality: "London", PostalCode: "SW1Y 4JH", Country: "GB", Type: "work", Primary: true},
			{Formatted: "Ockham Park\nSurrey, England", Type: "home"},
		}}
	u.Enterprise = account.Enterprise{EmployeeNumber: "1815", CostCenter: "CC-7", Organization: "Analytical Engines",
		Division: "Research", Department: "Mathematics", Manager: "manager-id"}
	return u
}

// userCreator is what mustCreateUser needs.
type userCreator interface {
	CreateUser(ctx context.Context, u *account.User) error
}

func mustCreateUser(t *testing.T, b userCreator, u *account.User) *account.User {
	t.Helper()
	if err := b.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.UserName, err)
	}
	return u
}

func sameUser(t *testing.T, what string, got, want *account.User) {
	t.Helper()
	g, w := *got, *want
	if !SameInstant(g.Meta.Created, w.Meta.Created) || !SameInstant(g.Meta.LastModified, w.Meta.LastModified) {
		t.Errorf("%s: meta %+v, want %+v", what, g.Meta, w.Meta)
	}
	g.Meta, w.Meta = account.Meta{Version: g.Meta.Version}, account.Meta{Version: w.Meta.Version}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func testUserSCIMRoundTrip(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	u := mustCreateUser(t, b, fullUser("ada"))
	got, err := b.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameUser(t, "User", got, u)
	byName, err := b.UserByName(ctx, "Ada")
	if err != nil {
		t.Fatal(err)
	}
	sameUser(t, "UserByName", byName, u)
	list, err := b.Users(ctx, account.ListQuery{})
	if err != nil || len(list) != 1 {
		t.Fatalf("Users = %d, %v", len(list), err)
	}
	sameUser(t, "Users", &list[0], u)

	got.ExternalID = "ext-2"
	got.Profile.Title = ""
	got.Profile.PhoneNumbers = got.Profile.PhoneNumbers[1:]
	got.Enterprise = account.Enterprise{}
	if err := b.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, err := b.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameUser(t, "User after update", again, got)

	// A person with none of the new attributes reads back with none.
	bare := mustCreateUser(t, b, &account.User{UserName: "bare", Active: true})
	gotBare, err := b.User(ctx, bare.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameUser(t, "bare user", gotBare, bare)
}

// testUserAddresses: a person's addresses are kept whole and in order,
// replaced by an update and cleared by one without them.
func testUserAddresses(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	u := mustCreateUser(t, b, newUser("grace"))
	u.Profile.Addresses = []account.Address{
		{Type: "other", Region: "Île-de-France", Locality: "Paris", Country: "France"},
		{Formatted: "1 Main St, Springfield", StreetAddress: "1 Main St", Locality: "Springfield", Region: "IL",
			PostalCode: "62701", Country: "US", Type: "work", Primary: true},
	}
	if err := b.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := b.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameUser(t, "User with addresses", got, u)
	if list, _, err := b.SearchUsers(ctx, account.Query{Filter: account.Compare{Attr: "userName", Op: account.OpEq, Value: "grace"}, Limit: 10}); err != nil || len(list) != 1 {
		t.Fatalf("SearchUsers = %d, %v", len(list), err)
	} else {
		sameUser(t, "SearchUsers", &list[0], u)
	}

	got.Profile.Addresses = got.Profile.Addresses[1:]
	got.Profile.Addresses[0].Primary = false
	if err := b.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, err := b.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameUser(t, "User after replacing addresses", again, got)

	again.Profile.Addresses = nil
	if err := b.UpdateUser(ctx, again); err != nil {
		t.Fatal(err)
	}
	cleared, err := b.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cleared.Profile.Addresses != nil {
		t.Errorf("addresses after clearing: %+v", cleared.Profile.Addresses)
	}
}

func testDeleteUser(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	u := mustCreateUser(t, b, fullUser("ada"))
	other := mustCreateUser(t, b, fullUser("bob"))
	if err := b.PutConsent(ctx, &account.Consent{UserID: u.ID, ClientID: "app", Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	sess := &account.Session{ID: "s-ada", UserID: u.ID, AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := b.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.User(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("User after DeleteUser = %v, want ErrNotFound", err)
	}
	if _, err := b.Consent(ctx, u.ID, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Consent after DeleteUser = %v, want ErrNotFound", err)
	}
	if _, err := b.Session(ctx, "s-ada"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session after DeleteUser = %v, want ErrNotFound", err)
	}
	if err := b.DeleteUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteUser = %v, want ErrNotFound", err)
	}
	// The name is free again and the other person is untouched.
	mustCreateUser(t, b, fullUser("ada"))
	if got, err := b.User(ctx, other.ID); err != nil || len(got.Emails) != 2 || len(got.Profile.PhoneNumbers) != 2 {
		t.Fatalf("other user after DeleteUser = %+v, %v", got, err)
	}
}

func mustCreateGroup(t *testing.T, b DirectoryBackend, g *account.Group) *account.Group {
	t.Helper()
	if err := b.CreateGroup(context.Background(), g); err != nil {
		t.Fatalf("CreateGroup(%q): %v", g.DisplayName, err)
	}
	return g
}

func memberValues(g *account.Group) []string {
	var out []string
	for _, m := range g.Members {
		out = append(out, m.Value)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func testGroupsCRUD(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	ada := mustCreateUser(t, b, newUser("ada")) // DisplayName "Ada"
	bob := mustCreateUser(t, b, &account.User{UserName: "bob", Name: account.Name{Formatted: "Robert Roe"}, Active: true})
	cy := mustCreateUser(t, b, &account.User{UserName: "cy", Active: true})
	g := mustCreateGroup(t, b, &account.Group{DisplayName: "Nurses", ExternalID: "ext-n",
		Members: []account.Member{{Value: ada.ID}, {Value: bob.ID}, {Value: cy.ID}},
		Roles:   []string{account.RolePractitioner}, Ceiling: []string{"user/*.rs", "openid"}})
	if g.ID == "" || g.Meta.Version != 1 || g.Meta.Created.IsZero() || !SameInstant(g.Meta.Created, g.Meta.LastModified) {
		t.Fatalf("CreateGroup did not set id/meta: %+v", g)
	}
	got, err := b.Group(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Nurses" || got.ExternalID != "ext-n" || !slices.Equal(got.Roles, g.Roles) ||
		!slices.Equal(got.Ceiling, g.Ceiling) || got.Meta.Version != 1 || !SameInstant(got.Meta.Created, g.Meta.Created) {
		t.Fatalf("Group = %+v, want %+v", got, g)
	}
	labels := map[string]string{}
	for _, m := range got.Members {
		labels[m.Value] = m.Display
	}
	if want := map[string]string{ada.ID: "Ada", bob.ID: "Robert Roe", cy.ID: "cy"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("member displays = %v, want %v (the members' labels)", labels, want)
	}

	got.DisplayName = "Night nurses"
	got.Members = []account.Member{{Value: cy.ID}}
	got.Roles = nil
	if err := b.UpdateGroup(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got.Meta.Version != 2 || !got.Meta.LastModified.After(got.Meta.Created) && !SameInstant(got.Meta.LastModified, got.Meta.Created) {
		t.Fatalf("meta after UpdateGroup = %+v", got.Meta)
	}
	again, err := b.Group(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.DisplayName != "Night nurses" || !slices.Equal(memberValues(again), []string{cy.ID}) || len(again.Roles) != 0 ||
		again.Meta.Version != 2 {
		t.Fatalf("Group after update = %+v", again)
	}

	unknown := &account.Group{DisplayName: "Ghosts", Members: []account.Member{{Value: "no-such-user"}}}
	if err := b.CreateGroup(ctx, unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateGroup with an unknown member = %v, want ErrNotFound", err)
	}
	if _, err := b.Group(ctx, unknown.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused group was stored: %v", err)
	}
	bad := &account.Group{DisplayName: "Bad", Roles: []string{"superuser"}}
	if err := b.CreateGroup(ctx, bad); err == nil {
		t.Error("CreateGroup with an unknown role succeeded")
	}

	if err := b.DeleteGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Group(ctx, g.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Group after DeleteGroup = %v, want ErrNotFound", err)
	}
	if err := b.DeleteGroup(ctx, g.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteGroup = %v, want ErrNotFound", err)
	}
	if gs, err := b.GroupsOf(ctx, cy.ID); err != nil || len(gs) != 0 {
		t.Errorf("GroupsOf after DeleteGroup = %+v, %v", gs, err)
	}
	if _, err := b.User(ctx, cy.ID); err != nil {
		t.Errorf("deleting a group removed its member: %v", err)
	}
}

func testGroupCeiling(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	none := mustCreateGroup(t, b, &account.Group{DisplayName: "no ceiling"})
	empty := mustCreateGroup(t, b, &account.Group{DisplayName: "empty ceiling", Ceiling: []string{}})
	gotNone, err := b.Group(ctx, none.ID)
	if err != nil {
		t.Fatal(err)
	}
	gotEmpty, err := b.Group(ctx, empty.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gotNone.Ceiling != nil {
		t.Errorf("group without a ceiling reads back with %#v, want nil", gotNone.Ceiling)
	}
	if gotEmpty.Ceiling == nil || len(gotEmpty.Ceiling) != 0 {
		t.Errorf("group with an empty ceiling reads back with %#v, want an empty, non-nil list", gotEmpty.Ceiling)
	}
	gotEmpty.Ceiling = nil
	if err := b.UpdateGroup(ctx, gotEmpty); err != nil {
		t.Fatal(err)
	}
	if g, err := b.Group(ctx, empty.ID); err != nil || g.Ceiling != nil {
		t.Errorf("ceiling after it was removed = %#v, %v; want nil", g.Ceiling, err)
	}
}

func testGroupDisplayNameUnique(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	mustCreateGroup(t, b, &account.Group{DisplayName: "Nurses"})
	if err := b.CreateGroup(ctx, &account.Group{DisplayName: "NURSES"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateGroup(NURSES) next to Nurses = %v, want ErrConflict", err)
	}
	other := mustCreateGroup(t, b, &account.Group{DisplayName: "Doctors"})
	other.DisplayName = "nurses"
	if err := b.UpdateGroup(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("renaming Doctors to nurses = %v, want ErrConflict", err)
	}
	if err := b.CreateGroup(ctx, &account.Group{DisplayName: " "}); err == nil {
		t.Error("CreateGroup without a displayName succeeded")
	}
}

func testGroupVersionConflict(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	g := mustCreateGroup(t, b, &account.Group{DisplayName: "Nurses"})
	first, _ := b.Group(ctx, g.ID)
	second, _ := b.Group(ctx, g.ID)
	first.ExternalID = "one"
	if err := b.UpdateGroup(ctx, first); err != nil {
		t.Fatal(err)
	}
	second.ExternalID = "two"
	if err := b.UpdateGroup(ctx, second); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("UpdateGroup with a stale version = %v, want ErrConflict", err)
	}
	if got, _ := b.Group(ctx, g.ID); got.ExternalID != "one" {
		t.Errorf("a stale update changed the group: %+v", got)
	}
	if _, err := b.ChangeMembers(ctx, g.ID, 1, nil, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ChangeMembers with a stale version = %v, want ErrConflict", err)
	}
	missing := &account.Group{ID: "no-such-group", DisplayName: "x", Meta: account.Meta{Version: 1}}
	if err := b.UpdateGroup(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateGroup(missing) = %v, want ErrNotFound", err)
	}
	if _, err := b.ChangeMembers(ctx, "no-such-group", 0, nil, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ChangeMembers(missing) = %v, want ErrNotFound", err)
	}
}

func testChangeMembers(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"ada", "bob", "cy", "dee"} {
		ids = append(ids, mustCreateUser(t, b, newUser(n)).ID)
	}
	g := mustCreateGroup(t, b, &account.Group{DisplayName: "Nurses", Members: []account.Member{{Value: ids[0]}, {Value: ids[1]}}})
	meta, err := b.ChangeMembers(ctx, g.ID, g.Meta.Version, []string{ids[2], ids[3], ids[0]}, []string{ids[1], "not-a-member"})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Version != 2 || !SameInstant(meta.Created, g.Meta.Created) || meta.LastModified.Before(g.Meta.LastModified) {
		t.Errorf("meta after ChangeMembers = %+v (was %+v)", meta, g.Meta)
	}
	got, err := b.Group(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := sorted(ids[0], ids[2], ids[3]); !slices.Equal(memberValues(got), want) || got.Meta.Version != 2 {
		t.Fatalf("members = %v v%d, want %v v2", memberValues(got), got.Meta.Version, want)
	}
	// Version 0: no check. An unknown user changes nothing at all.
	if _, err := b.ChangeMembers(ctx, g.ID, 0, []string{ids[1], "no-such-user"}, []string{ids[0]}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ChangeMembers with an unknown user = %v, want ErrNotFound", err)
	}
	if again, _ := b.Group(ctx, g.ID); !slices.Equal(memberValues(again), memberValues(got)) || again.Meta.Version != 2 {
		t.Fatalf("a refused ChangeMembers changed the group: %v v%d", memberValues(again), again.Meta.Version)
	}
	meta, err = b.ChangeMembers(ctx, g.ID, 0, nil, []string{ids[0], ids[2], ids[3]})
	if err != nil || meta.Version != 3 {
		t.Fatalf("ChangeMembers(remove all) = %+v, %v", meta, err)
	}
	if again, _ := b.Group(ctx, g.ID); again.Members == nil || len(again.Members) != 0 {
		t.Errorf("members of an empty group = %#v, want an empty list", again.Members)
	}
}

func testGroupsOf(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	ada := mustCreateUser(t, b, newUser("ada"))
	bob := mustCreateUser(t, b, newUser("bob"))
	nurses := mustCreateGroup(t, b, &account.Group{DisplayName: "nurses", Members: []account.Member{{Value: ada.ID}, {Value: bob.ID}},
		Ceiling: []string{"user/*.rs"}})
	admins := mustCreateGroup(t, b, &account.Group{DisplayName: "Admins", Members: []account.Member{{Value: ada.ID}},
		Roles: []string{account.RoleAdmin}})
	mustCreateGroup(t, b, &account.Group{DisplayName: "Empty"})
	gs, err := b.GroupsOf(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].ID != admins.ID || gs[1].ID != nurses.ID {
		t.Fatalf("GroupsOf(ada) = %+v, want Admins, nurses", gs)
	}
	if gs[0].Members != nil || !slices.Equal(gs[0].Roles, []string{account.RoleAdmin}) || gs[0].Ceiling != nil ||
		!slices.Equal(gs[1].Ceiling, []string{"user/*.rs"}) || gs[1].Meta.Version != 1 {
		t.Errorf("GroupsOf(ada) = %+v", gs)
	}
	if gs, err := b.GroupsOf(ctx, bob.ID); err != nil || len(gs) != 1 || gs[0].ID != nurses.ID {
		t.Errorf("GroupsOf(bob) = %+v, %v", gs, err)
	}
	if gs, err := b.GroupsOf(ctx, "no-such-user"); err != nil || len(gs) != 0 {
		t.Errorf("GroupsOf(unknown) = %+v, %v", gs, err)
	}
}

func testGroupsOfUsers(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	ada := mustCreateUser(t, b, newUser("ada"))
	bob := mustCreateUser(t, b, newUser("bob"))
	cy := mustCreateUser(t, b, newUser("cy"))
	nurses := mustCreateGroup(t, b, &account.Group{DisplayName: "nurses", Members: []account.Member{{Value: ada.ID}, {Value: bob.ID}},
		Ceiling: []string{"user/*.rs"}})
	admins := mustCreateGroup(t, b, &account.Group{DisplayName: "Admins", Members: []account.Member{{Value: ada.ID}},
		Roles: []string{account.RoleAdmin}})
	by, err := b.GroupsOfUsers(ctx, []string{ada.ID, bob.ID, cy.ID, "no-such-user"})
	if err != nil {
		t.Fatal(err)
	}
	if len(by) != 2 {
		t.Errorf("GroupsOfUsers has %d entries, want 2 (ada, bob): %+v", len(by), by)
	}
	for _, u := range []*account.User{ada, bob, cy} {
		one, err := b.GroupsOf(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(by[u.ID], one) {
			t.Errorf("GroupsOfUsers[%s] = %+v, GroupsOf = %+v", u.UserName, by[u.ID], one)
		}
	}
	if gs := by[ada.ID]; len(gs) != 2 || gs[0].ID != admins.ID || gs[1].ID != nurses.ID || gs[0].Members != nil ||
		!slices.Equal(gs[0].Roles, []string{account.RoleAdmin}) || !slices.Equal(gs[1].Ceiling, []string{"user/*.rs"}) {
		t.Errorf("GroupsOfUsers[ada] = %+v, want Admins, nurses", gs)
	}
	if gs := by[bob.ID]; len(gs) != 1 || gs[0].ID != nurses.ID {
		t.Errorf("GroupsOfUsers[bob] = %+v, want nurses", gs)
	}
	if by, err := b.GroupsOfUsers(ctx, nil); err != nil || len(by) != 0 {
		t.Errorf("GroupsOfUsers(none) = %+v, %v", by, err)
	}
}

func testDeleteUserLeavesGroups(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	ada := mustCreateUser(t, b, newUser("ada"))
	bob := mustCreateUser(t, b, newUser("bob"))
	g := mustCreateGroup(t, b, &account.Group{DisplayName: "Nurses", Members: []account.Member{{Value: ada.ID}, {Value: bob.ID}}})
	if err := b.DeleteUser(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	got, err := b.Group(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(memberValues(got), []string{bob.ID}) || got.Meta.Version != 2 {
		t.Fatalf("group after its member was deleted = %v v%d, want [%s] v2", memberValues(got), got.Meta.Version, bob.ID)
	}
	if gs, err := b.GroupsOf(ctx, ada.ID); err != nil || len(gs) != 0 {
		t.Errorf("GroupsOf(deleted user) = %+v, %v", gs, err)
	}
}
