package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
)

// people is the cast of the search tests: four users, made in this order
// (a millisecond apart, so that their creation times differ), and a group.
type people struct {
	alice, bob, carol, dave *account.User
	nurses, admins          *account.Group
}

func seedPeople(t *testing.T, b DirectoryBackend) people {
	t.Helper()
	var p people
	p.alice = &account.User{UserName: "alice", DisplayName: "Alice Smith", Active: true, ExternalID: "EXT-A",
		Name:   account.Name{GivenName: "Alice", FamilyName: "Smith"},
		Emails: []account.Email{{Value: "alice@work.example", Type: "work", Primary: true}, {Value: "alice@home.example", Type: "home"}},
		Profile: account.Profile{Title: "Nurse 50", NickName: "cxa",
			PhoneNumbers: []account.PhoneNumber{{Value: "+1 555 0100", Type: "work"}, {Value: "+44 20 0000", Type: "home"}}},
		Enterprise: account.Enterprise{Department: "Cardiology"},
		Roles:      []string{account.RolePractitioner}, FHIRUser: "Practitioner/a1"}
	// Bob's work address is at home.example and his home one at work.example.
	p.bob = &account.User{UserName: "bob", DisplayName: "Bob", Active: false, ExternalID: "ext-b",
		Emails:   []account.Email{{Value: "bob@work.example", Type: "home"}, {Value: "bob@home.example", Type: "work"}},
		Profile:  account.Profile{PhoneNumbers: []account.PhoneNumber{{Value: "+1 555 0199", Type: "home"}}},
		Roles:    []string{account.RolePatient},
		FHIRUser: "Patient/b1"}
	p.carol = &account.User{UserName: "carol", Active: true, Name: account.Name{Formatted: "Carol C"},
		Profile: account.Profile{Title: "50% off_deal", NickName: "c_a"},
		Roles:   []string{account.RoleAdmin, account.RolePractitioner}}
	p.dave = &account.User{UserName: "dave", DisplayName: "Robert'); DROP TABLE users;--", Active: true,
		Emails:  []account.Email{{Value: "x' OR '1'='1@evil.example"}},
		Profile: account.Profile{NickName: `a\b`}}
	for _, u := range []*account.User{p.alice, p.bob, p.carol, p.dave} {
		mustCreateUser(t, b, u)
		time.Sleep(2 * time.Millisecond)
	}
	p.nurses = mustCreateGroup(t, b, &account.Group{DisplayName: "Nurses", ExternalID: "N-1",
		Members: []account.Member{{Value: p.alice.ID}, {Value: p.carol.ID}}, Ceiling: []string{"user/*.rs"}})
	p.admins = mustCreateGroup(t, b, &account.Group{DisplayName: "admins", Members: []account.Member{{Value: p.carol.ID}},
		Roles: []string{account.RoleAdmin}})
	mustCreateGroup(t, b, &account.Group{DisplayName: "Empty"})
	return p
}

func eq(attr string, v any) account.Compare {
	return account.Compare{Attr: attr, Op: account.OpEq, Value: v}
}

func op(attr string, o account.Op, v any) account.Compare {
	return account.Compare{Attr: attr, Op: o, Value: v}
}

func exactOp(attr string, o account.Op, v any) account.Compare {
	return account.Compare{Attr: attr, Op: o, Value: v, CaseExact: true}
}

// userNames runs q and returns the user names of the page, and the total.
func userNames(t *testing.T, b DirectoryBackend, q account.Query) ([]string, int) {
	t.Helper()
	us, total, err := b.SearchUsers(context.Background(), q)
	if err != nil {
		t.Fatalf("SearchUsers(%+v): %v", q, err)
	}
	var names []string
	for _, u := range us {
		names = append(names, u.UserName)
	}
	return names, total
}

func testSearchUsersFilters(t *testing.T, b DirectoryBackend) {
	p := seedPeople(t, b)
	workEmail := account.ValuePath{Attr: "emails", Filter: account.And{
		Left: eq("emails.type", "work"), Right: op("emails.value", account.OpCo, "@work")}}
	for _, tc := range []struct {
		name   string
		filter account.Filter
		want   []string
	}{
		{"everyone", nil, []string{"alice", "bob", "carol", "dave"}},
		{"userName eq other case", eq("userName", "ALICE"), []string{"alice"}},
		{"userName eq mixed case", eq("userName", "Alice"), []string{"alice"}},
		{"userName eq not normalisable", eq("userName", "ali ce"), nil},
		{"userName ne", op("userName", account.OpNe, "Alice"), []string{"bob", "carol", "dave"}},
		{"userName co", op("userName", account.OpCo, "LI"), []string{"alice"}},
		{"userName sw", op("userName", account.OpSw, "Ca"), []string{"carol"}},
		{"userName ew", op("userName", account.OpEw, "VE"), []string{"dave"}},
		{"userName gt", op("userName", account.OpGt, "BOB"), []string{"carol", "dave"}},
		{"userName ge", op("userName", account.OpGe, "bob"), []string{"bob", "carol", "dave"}},
		{"userName lt", op("userName", account.OpLt, "Bob"), []string{"alice"}},
		{"userName le", op("userName", account.OpLe, "bob"), []string{"alice", "bob"}},
		{"externalId eq is case-exact", exactOp("externalId", account.OpEq, "ext-a"), nil},
		{"externalId eq", exactOp("externalId", account.OpEq, "EXT-A"), []string{"alice"}},
		{"externalId eq case-insensitive when told", eq("externalId", "ext-a"), []string{"alice"}},
		{"id eq", exactOp("id", account.OpEq, p.bob.ID), []string{"bob"}},
		{"displayName co case-insensitive", op("displayName", account.OpCo, "SMITH"), []string{"alice"}},
		{"displayName co case-exact miss", exactOp("displayName", account.OpCo, "SMITH"), nil},
		{"displayName co case-exact", exactOp("displayName", account.OpCo, "Smith"), []string{"alice"}},
		{"displayName sw case-exact", exactOp("displayName", account.OpSw, "Al"), []string{"alice"}},
		{"displayName sw case-exact miss", exactOp("displayName", account.OpSw, "al"), nil},
		{"displayName ew case-exact", exactOp("displayName", account.OpEw, "ith"), []string{"alice"}},
		{"displayName ew longer than the value", exactOp("displayName", account.OpEw, "xBob"), nil},
		{"displayName ew case-insensitive", op("displayName", account.OpEw, "ITH"), []string{"alice"}},
		{"displayName gt case-insensitive", op("displayName", account.OpGt, "b"), []string{"bob", "dave"}},
		{"name.givenName eq", eq("name.givenName", "alice"), []string{"alice"}},
		{"name.formatted sw", op("name.formatted", account.OpSw, "carol"), []string{"carol"}},
		{"title pr", account.Present{Attr: "title"}, []string{"alice", "carol"}},
		{"not title pr", account.Not{X: account.Present{Attr: "title"}}, []string{"bob", "dave"}},
		{"not not title pr", account.Not{X: account.Not{X: account.Present{Attr: "title"}}}, []string{"alice", "carol"}},
		{"title ne matches those without one", op("title", account.OpNe, "Nurse 50"), []string{"bob", "carol", "dave"}},
		{"not title eq matches those without one", account.Not{X: eq("title", "nurse 50")}, []string{"bob", "carol", "dave"}},
		{"title lt does not match those without one", op("title", account.OpLt, "Z"), []string{"alice", "carol"}},
		{"title le does not match those without one", op("title", account.OpLe, "Z"), []string{"alice", "carol"}},
		{"title eq empty matches nobody", eq("title", ""), nil},
		{"title co empty is title pr", op("title", account.OpCo, ""), []string{"alice", "carol"}},
		{"active eq true", eq("active", true), []string{"alice", "carol", "dave"}},
		{"active eq false", eq("active", false), []string{"bob"}},
		{"active ne true", op("active", account.OpNe, true), []string{"bob"}},
		{"name pr", account.Present{Attr: "name"}, []string{"alice", "carol"}},
		{"not name pr", account.Not{X: account.Present{Attr: "name"}}, []string{"bob", "dave"}},
		{"active pr", account.Present{Attr: "active"}, []string{"alice", "bob", "carol", "dave"}},
		{"emails.value eq case-insensitive", eq("emails.value", "ALICE@WORK.EXAMPLE"), []string{"alice"}},
		{"emails.value co", op("emails.value", account.OpCo, "@home"), []string{"alice", "bob"}},
		{"emails.value ne: no e-mail is it", op("emails.value", account.OpNe, "alice@home.example"), []string{"bob", "carol", "dave"}},
		{"emails pr", account.Present{Attr: "emails"}, []string{"alice", "bob", "dave"}},
		{"emails.value pr", account.Present{Attr: "emails.value"}, []string{"alice", "bob", "dave"}},
		{"not emails pr", account.Not{X: account.Present{Attr: "emails"}}, []string{"carol"}},
		{"emails.type eq", eq("emails.type", "work"), []string{"alice", "bob"}},
		{"emails.primary eq true", eq("emails.primary", true), []string{"alice"}},
		{"two conditions on one element", workEmail, []string{"alice"}},
		{"the same conditions on different elements",
			account.And{Left: eq("emails.type", "work"), Right: op("emails.value", account.OpCo, "@work")}, []string{"alice", "bob"}},
		{"not of a bracket", account.Not{X: workEmail}, []string{"bob", "carol", "dave"}},
		{"bracket with or and not", account.ValuePath{Attr: "emails", Filter: account.Or{
			Left:  account.And{Left: eq("emails.type", "home"), Right: account.Not{X: op("emails.value", account.OpSw, "alice")}},
			Right: eq("emails.primary", true)}}, []string{"alice", "bob"}},
		{"bracket with ne", account.ValuePath{Attr: "emails", Filter: op("emails.type", account.OpNe, "work")}, []string{"alice", "bob", "dave"}},
		{"phoneNumbers bracket", account.ValuePath{Attr: "phoneNumbers", Filter: account.And{
			Left: eq("phoneNumbers.type", "work"), Right: op("phoneNumbers.value", account.OpSw, "+1")}}, []string{"alice"}},
		{"phoneNumbers on different elements", account.And{
			Left: eq("phoneNumbers.type", "home"), Right: op("phoneNumbers.value", account.OpSw, "+1")}, []string{"alice", "bob"}},
		{"phoneNumbers.value ew", op("phoneNumbers.value", account.OpEw, "0199"), []string{"bob"}},
		{"smartgate.roles eq", eq("smartgate.roles", "practitioner"), []string{"alice", "carol"}},
		{"smartgate.roles eq case-insensitive", eq("smartgate.roles", "ADMIN"), []string{"carol"}},
		{"not smartgate.roles eq", account.Not{X: eq("smartgate.roles", "practitioner")}, []string{"bob", "dave"}},
		{"smartgate.roles pr", account.Present{Attr: "smartgate.roles"}, []string{"alice", "bob", "carol"}},
		{"smartgate.roles sw", op("smartgate.roles", account.OpSw, "pat"), []string{"bob"}},
		{"smartgate.fhirUser sw", exactOp("smartgate.fhirUser", account.OpSw, "Patient/"), []string{"bob"}},
		{"enterprise.department eq", eq("enterprise.department", "cardiology"), []string{"alice"}},
		{"groups.value eq", exactOp("groups.value", account.OpEq, p.nurses.ID), []string{"alice", "carol"}},
		{"groups bracket", account.ValuePath{Attr: "groups", Filter: exactOp("groups.value", account.OpEq, p.admins.ID)}, []string{"carol"}},
		{"not groups pr", account.Not{X: account.Present{Attr: "groups"}}, []string{"bob", "dave"}},
		{"or", account.Or{Left: eq("userName", "alice"), Right: eq("userName", "bob")}, []string{"alice", "bob"}},
		{"not of or", account.Not{X: account.Or{Left: eq("userName", "alice"), Right: eq("active", false)}}, []string{"carol", "dave"}},
		{"and binds within or", account.Or{Left: account.And{Left: eq("active", true), Right: eq("smartgate.roles", "admin")},
			Right: eq("userName", "bob")}, []string{"bob", "carol"}},
		{"meta.created eq", eq("meta.created", p.bob.Meta.Created), []string{"bob"}},
		{"meta.created gt", op("meta.created", account.OpGt, p.bob.Meta.Created), []string{"carol", "dave"}},
		{"meta.created ge", op("meta.created", account.OpGe, p.bob.Meta.Created), []string{"bob", "carol", "dave"}},
		{"meta.created lt", op("meta.created", account.OpLt, p.bob.Meta.Created), []string{"alice"}},
		{"meta.created le", op("meta.created", account.OpLe, p.bob.Meta.Created), []string{"alice", "bob"}},
		{"meta.created ne", op("meta.created", account.OpNe, p.bob.Meta.Created), []string{"alice", "carol", "dave"}},
		{"meta.lastModified ge", op("meta.lastModified", account.OpGe, p.carol.Meta.LastModified), []string{"carol", "dave"}},
		// LIKE's metacharacters are matched literally.
		{"co 50%", op("title", account.OpCo, "50%"), []string{"carol"}},
		{"co _ ", op("nickName", account.OpCo, "c_a"), []string{"carol"}},
		{"co %", op("title", account.OpCo, "%"), []string{"carol"}},
		{"sw _", op("displayName", account.OpSw, "_"), nil},
		{"co backslash", op("nickName", account.OpCo, `\`), []string{"dave"}},
		{"co backslash-percent", op("nickName", account.OpCo, `\%`), nil},
		// Values that look like SQL are values.
		{"displayName with quotes", eq("displayName", "Robert'); DROP TABLE users;--"), []string{"dave"}},
		{"e-mail with quotes", eq("emails.value", "x' OR '1'='1@evil.example"), []string{"dave"}},
		{"quote or true", eq("userName", "' OR 1=1 --"), nil},
		{"co quote", op("displayName", account.OpCo, "'"), []string{"dave"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total := userNames(t, b, account.Query{Filter: tc.filter, SortBy: "userName", Limit: 100})
			if !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("got %v (total %d), want %v", got, total, tc.want)
			}
		})
	}
	if n, err := b.CountUsers(context.Background()); err != nil || n != 4 {
		t.Fatalf("CountUsers after the searches = %d, %v; want 4", n, err)
	}
}

func testSearchInvalid(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	seedPeople(t, b)
	for _, tc := range []struct {
		name string
		q    account.Query
	}{
		{"unknown attribute", account.Query{Filter: eq("shoeSize", "42")}},
		{"password", account.Query{Filter: eq("password", "x")}},
		{"gt on a boolean", account.Query{Filter: op("active", account.OpGt, true)}},
		{"string for a boolean", account.Query{Filter: eq("active", "true")}},
		{"number for a string", account.Query{Filter: eq("userName", 42.0)}},
		{"co on a dateTime", account.Query{Filter: op("meta.created", account.OpCo, time.Now())}},
		{"not a dateTime", account.Query{Filter: eq("meta.created", "yesterday")}},
		{"unknown operator", account.Query{Filter: op("userName", "like", "a")}},
		{"foreign sub-attribute in brackets", account.Query{Filter: account.ValuePath{Attr: "emails", Filter: eq("userName", "alice")}}},
		{"brackets on a single value", account.Query{Filter: account.ValuePath{Attr: "userName", Filter: eq("userName", "alice")}}},
		{"nested brackets", account.Query{Filter: account.ValuePath{Attr: "emails", Filter: account.ValuePath{Attr: "emails",
			Filter: eq("emails.type", "work")}}}},
		{"group attribute on users", account.Query{Filter: eq("members.value", "x")}},
		{"unknown sort", account.Query{SortBy: "shoeSize", Limit: 10}},
		{"unsortable multi-valued sort", account.Query{SortBy: "groups.value", Limit: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := b.SearchUsers(ctx, tc.q); !errors.Is(err, account.ErrInvalidQuery) {
				t.Errorf("SearchUsers = %v, want ErrInvalidQuery", err)
			}
		})
	}
	if _, _, err := b.SearchGroups(ctx, account.Query{Filter: eq("userName", "x")}, false); !errors.Is(err, account.ErrInvalidQuery) {
		t.Errorf("SearchGroups(userName eq) = %v, want ErrInvalidQuery", err)
	}
}

func testSearchUsersPagesAndOrder(t *testing.T, b DirectoryBackend) {
	p := seedPeople(t, b)
	byID := []string{p.alice.ID, p.bob.ID, p.carol.ID, p.dave.ID}
	slices.Sort(byID)
	names := map[string]string{p.alice.ID: "alice", p.bob.ID: "bob", p.carol.ID: "carol", p.dave.ID: "dave"}
	var idOrder []string
	for _, id := range byID {
		idOrder = append(idOrder, names[id])
	}
	activeByID := slices.DeleteFunc(slices.Clone(idOrder), func(n string) bool { return n == "bob" })
	for _, tc := range []struct {
		name  string
		q     account.Query
		want  []string
		total int
	}{
		{"default order is creation", account.Query{Limit: 10}, []string{"alice", "bob", "carol", "dave"}, 4},
		{"default order descending", account.Query{Limit: 10, Descending: true}, []string{"dave", "carol", "bob", "alice"}, 4},
		{"userName", account.Query{SortBy: "userName", Limit: 10}, []string{"alice", "bob", "carol", "dave"}, 4},
		{"userName descending", account.Query{SortBy: "userName", Descending: true, Limit: 10}, []string{"dave", "carol", "bob", "alice"}, 4},
		{"offset and limit", account.Query{SortBy: "userName", Offset: 1, Limit: 2}, []string{"bob", "carol"}, 4},
		{"offset past the end", account.Query{SortBy: "userName", Offset: 10, Limit: 2}, nil, 4},
		{"limit 0: only the total", account.Query{SortBy: "userName", Limit: 0}, nil, 4},
		{"filtered page", account.Query{Filter: eq("active", true), SortBy: "userName", Offset: 1, Limit: 1}, []string{"carol"}, 3},
		{"filtered page descending", account.Query{Filter: eq("active", true), SortBy: "userName", Descending: true, Offset: 1, Limit: 5}, []string{"carol", "alice"}, 3},
		// Resources without the value sort last ascending, first descending.
		{"title, absent last", account.Query{SortBy: "title", Limit: 10}, append([]string{"carol", "alice"}, without(idOrder, "alice", "carol")...), 4},
		{"title descending, absent first", account.Query{SortBy: "title", Descending: true, Limit: 10},
			append(reversed(without(idOrder, "alice", "carol")), "alice", "carol"), 4},
		{"displayName case-insensitively", account.Query{SortBy: "displayName", Limit: 10}, []string{"alice", "bob", "dave", "carol"}, 4},
		// A multi-valued attribute sorts by its primary value, else the first.
		{"emails", account.Query{SortBy: "emails", Limit: 10}, []string{"alice", "bob", "dave", "carol"}, 4},
		{"emails.value descending", account.Query{SortBy: "emails.value", Descending: true, Limit: 10}, []string{"carol", "dave", "bob", "alice"}, 4},
		// Ties are broken by id, so pages never overlap.
		{"active ties by id", account.Query{SortBy: "active", Limit: 10}, append([]string{"bob"}, activeByID...), 4},
		{"meta.created", account.Query{SortBy: "meta.created", Descending: true, Limit: 2}, []string{"dave", "carol"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total := userNames(t, b, tc.q)
			if !slices.Equal(got, tc.want) || total != tc.total {
				t.Errorf("got %v (total %d), want %v (total %d)", got, total, tc.want, tc.total)
			}
		})
	}
	// Paging through everyone one at a time sees each person once.
	var seen []string
	for off := 0; off < 4; off++ {
		page, _ := userNames(t, b, account.Query{SortBy: "active", Offset: off, Limit: 1})
		seen = append(seen, page...)
	}
	if want := append([]string{"bob"}, activeByID...); !slices.Equal(seen, want) {
		t.Errorf("one-by-one pages = %v, want %v", seen, want)
	}
	// A page carries the whole person.
	us, _, err := b.SearchUsers(context.Background(), account.Query{Filter: eq("userName", "alice"), Limit: 1})
	if err != nil || len(us) != 1 {
		t.Fatalf("SearchUsers(alice) = %v, %v", us, err)
	}
	sameUser(t, "searched user", &us[0], p.alice)
}

func without(s []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(x string) bool { return slices.Contains(drop, x) })
}

func reversed(s []string) []string {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

func testSearchGroups(t *testing.T, b DirectoryBackend) {
	ctx := context.Background()
	p := seedPeople(t, b)
	for _, tc := range []struct {
		name   string
		filter account.Filter
		sortBy string
		want   []string
	}{
		{"everyone by displayName", nil, "displayName", []string{"admins", "Empty", "Nurses"}},
		{"displayName eq case-insensitive", eq("displayName", "NURSES"), "", []string{"Nurses"}},
		{"displayName co", op("displayName", account.OpCo, "m"), "displayName", []string{"admins", "Empty"}},
		{"externalId eq", exactOp("externalId", account.OpEq, "N-1"), "", []string{"Nurses"}},
		{"members.value eq", exactOp("members.value", account.OpEq, p.carol.ID), "displayName", []string{"admins", "Nurses"}},
		{"members bracket", account.ValuePath{Attr: "members", Filter: exactOp("members.value", account.OpEq, p.alice.ID)}, "", []string{"Nurses"}},
		{"not members pr", account.Not{X: account.Present{Attr: "members"}}, "", []string{"Empty"}},
		{"smartgate.roles eq", eq("smartgate.roles", "admin"), "", []string{"admins"}},
		{"not smartgate.roles pr", account.Not{X: account.Present{Attr: "smartgate.roles"}}, "displayName", []string{"Empty", "Nurses"}},
		{"meta.created gt", op("meta.created", account.OpGt, p.nurses.Meta.Created), "displayName", []string{"admins", "Empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gs, total, err := b.SearchGroups(ctx, account.Query{Filter: tc.filter, SortBy: tc.sortBy, Limit: 10}, false)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range gs {
				got = append(got, g.DisplayName)
				if g.Members != nil {
					t.Errorf("%s: members loaded without withMembers", g.DisplayName)
				}
			}
			if !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("got %v (total %d), want %v", got, total, tc.want)
			}
		})
	}
	gs, total, err := b.SearchGroups(ctx, account.Query{SortBy: "displayName", Descending: true, Offset: 1, Limit: 1}, true)
	if err != nil || total != 3 || len(gs) != 1 || gs[0].DisplayName != "Empty" || gs[0].Members == nil || len(gs[0].Members) != 0 {
		t.Fatalf("SearchGroups page with members = %+v, %d, %v", gs, total, err)
	}
	gs, _, err = b.SearchGroups(ctx, account.Query{Filter: eq("displayName", "nurses"), Limit: 1}, true)
	if err != nil || len(gs) != 1 {
		t.Fatalf("SearchGroups(nurses) = %+v, %v", gs, err)
	}
	want := sorted(p.alice.ID, p.carol.ID)
	if !slices.Equal(memberValues(&gs[0]), want) || !slices.Equal(gs[0].Ceiling, []string{"user/*.rs"}) {
		t.Errorf("searched group = %+v, want members %v", gs[0], want)
	}
	for _, m := range gs[0].Members {
		if wantLabel := map[string]string{p.alice.ID: "Alice Smith", p.carol.ID: "Carol C"}[m.Value]; m.Display != wantLabel {
			t.Errorf("member %s display %q, want %q", m.Value, m.Display, wantLabel)
		}
	}
}
