package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim/schema"
)

// show renders a filter tree compactly for comparison.
func show(f account.Filter) string {
	switch f := f.(type) {
	case account.And:
		return "(and " + show(f.Left) + " " + show(f.Right) + ")"
	case account.Or:
		return "(or " + show(f.Left) + " " + show(f.Right) + ")"
	case account.Not:
		return "(not " + show(f.X) + ")"
	case account.Present:
		return "(pr " + f.Attr + ")"
	case account.ValuePath:
		return "(" + f.Attr + "[" + show(f.Filter) + "])"
	case account.Compare:
		cs := "ci"
		if f.CaseExact {
			cs = "cs"
		}
		v := fmt.Sprintf("%#v", f.Value)
		if t, ok := f.Value.(time.Time); ok {
			v = "time:" + t.UTC().Format(time.RFC3339Nano)
		}
		return fmt.Sprintf("(%s %s %s %s)", f.Op, f.Attr, v, cs)
	}
	return fmt.Sprintf("?%T", f)
}

const (
	enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	smartgate  = "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:"
)

func TestParseRFCExamples(t *testing.T) {
	// Every example filter of RFC 7644 §3.4.2.2 that names attributes
	// smartgate keeps.
	cases := []struct{ in, want string }{
		{`userName eq "bjensen"`, `(eq userName "bjensen" ci)`},
		{`name.familyName co "O'Malley"`, `(co name.familyName "O'Malley" ci)`},
		{`userName sw "J"`, `(sw userName "J" ci)`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, `(sw userName "J" ci)`},
		{`title pr`, `(pr title)`},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, `(gt meta.lastModified time:2011-05-13T04:42:34Z ci)`},
		{`meta.lastModified ge "2011-05-13T04:42:34Z"`, `(ge meta.lastModified time:2011-05-13T04:42:34Z ci)`},
		{`meta.lastModified lt "2011-05-13T04:42:34Z"`, `(lt meta.lastModified time:2011-05-13T04:42:34Z ci)`},
		{`meta.lastModified le "2011-05-13T04:42:34Z"`, `(le meta.lastModified time:2011-05-13T04:42:34Z ci)`},
		{`title pr and userType eq "Employee"`, `(and (pr title) (eq userType "Employee" ci))`},
		{`title pr or userType eq "Intern"`, `(or (pr title) (eq userType "Intern" ci))`},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
			`(and (eq userType "Employee" ci) (or (co emails.value "example.com" ci) (co emails.value "example.org" ci)))`},
		{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
			`(and (ne userType "Employee" ci) (not (or (co emails.value "example.com" ci) (co emails.value "example.org" ci))))`},
		{`userType eq "Employee" and (emails.type eq "work")`, `(and (eq userType "Employee" ci) (eq emails.type "work" ci))`},
		{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
			`(and (eq userType "Employee" ci) (emails[(and (eq emails.type "work" ci) (co emails.value "@example.com" ci))]))`},
	}
	for _, c := range cases {
		f, err := Parse(schema.User(), c.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.in, err)
			continue
		}
		if got := show(f); got != c.want {
			t.Errorf("Parse(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		res      *schema.Resource
		in, want string
	}{
		{schema.User(), `USERNAME EQ "x" AND Active Eq TRUE`, `(and (eq userName "x" ci) (eq active true ci))`},
		{schema.User(), `externalId eq "A1"`, `(eq externalId "A1" cs)`},
		{schema.User(), `id eq "2819c223"`, `(eq id "2819c223" cs)`},
		{schema.User(), `userName eq "a" or userName eq "b" and title pr`, `(or (eq userName "a" ci) (and (eq userName "b" ci) (pr title)))`},
		{schema.User(), `(userName eq "a" or userName eq "b") and title pr`, `(and (or (eq userName "a" ci) (eq userName "b" ci)) (pr title))`},
		{schema.User(), `userName eq "a" or userName eq "b" or userName eq "c"`, `(or (or (eq userName "a" ci) (eq userName "b" ci)) (eq userName "c" ci))`},
		{schema.User(), `not(active eq false)`, `(not (eq active false ci))`},
		{schema.User(), `((title pr))`, `(pr title)`},
		{schema.User(), "title\tpr", `(pr title)`},
		{schema.User(), `displayName eq "say \"hi\" \\ \u00e9\n"`, `(eq displayName "say \"hi\" \\ é\n" ci)`},
		{schema.User(), `displayName eq "a]b)c"`, `(eq displayName "a]b)c" ci)`},
		{schema.User(), `title eq null`, `(not (pr title))`},
		{schema.User(), `title ne null`, `(pr title)`},
		{schema.User(), `emails pr`, `(pr emails.value)`},
		{schema.User(), `emails eq "a@b.c"`, `(eq emails.value "a@b.c" ci)`},
		{schema.User(), `emails[type eq "work"]`, `(emails[(eq emails.type "work" ci)])`},
		{schema.User(), `emails[TYPE eq "work" and (value co "a" or not (primary eq true))]`,
			`(emails[(and (eq emails.type "work" ci) (or (co emails.value "a" ci) (not (eq emails.primary true ci))))])`},
		{schema.User(), `phoneNumbers[type eq "mobile"]`, `(phoneNumbers[(eq phoneNumbers.type "mobile" ci)])`},
		{schema.User(), `groups eq "g1"`, `(eq groups.value "g1" cs)`},
		{schema.User(), `meta.created gt "2026-01-02T03:04:05.5+01:00"`, `(gt meta.created time:2026-01-02T02:04:05.5Z ci)`},
		{schema.User(), enterprise + `department eq "Tour Operations"`, `(eq enterprise.department "Tour Operations" ci)`},
		{schema.User(), enterprise + `manager.value eq "26118915"`, `(eq enterprise.manager.value "26118915" cs)`},
		{schema.User(), enterprise + `manager eq "26118915"`, `(eq enterprise.manager.value "26118915" cs)`},
		{schema.User(), smartgate + `fhirUser eq "Practitioner/1"`, `(eq smartgate.fhirUser "Practitioner/1" cs)`},
		{schema.User(), smartgate + `roles eq "admin"`, `(eq smartgate.roles "admin" cs)`},
		{schema.User(), `userName gt "m"`, `(gt userName "m" ci)`},
		{schema.Group(), `displayName eq "nurses"`, `(eq displayName "nurses" ci)`},
		{schema.Group(), `members[value eq "2819c223-7f76-453a-919d-413861904646"]`, `(members[(eq members.value "2819c223-7f76-453a-919d-413861904646" cs)])`},
		{schema.Group(), `members eq "u1"`, `(eq members.value "u1" cs)`},
		{schema.Group(), `urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group:roles eq "practitioner"`, `(eq smartgate.roles "practitioner" cs)`},
	}
	for _, c := range cases {
		f, err := Parse(c.res, c.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.in, err)
			continue
		}
		if got := show(f); got != c.want {
			t.Errorf("Parse(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
		checkTree(t, c.in, f, false)
	}
}

func TestParseRefused(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth+1) + "title pr" + strings.Repeat(")", MaxDepth+1)
	nots := strings.Repeat("not (", MaxDepth) + "title pr" + strings.Repeat(")", MaxDepth)
	for _, in := range []string{
		// RFC examples naming attributes smartgate does not keep or filter.
		`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`,
		`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
		// Syntax.
		``, ` `, `userName`, `userName eq`, `userName eq "x" and`, `userName eq "x" or`, `and userName eq "x"`,
		`userName xx "x"`, `userName eq "x`, `userName eq "\q"`, `userName eq x`, `userName eq 01`, `userName eq 1.`,
		`(userName eq "x"`, `userName eq "x")`, `not userName eq "x"`, `userName eq "x" userName eq "y"`,
		`emails[type eq "work"`, `emails[type eq "work"]]`, `emails[]`, `emails[type eq "work"].value eq "x"`,
		`userName pr "x"`, `[type eq "x"]`, `"userName" eq "x"`,
		// Unknown attributes.
		`nope eq "x"`, `name.nope eq "x"`, `department eq "x"`, `enterprise.department eq "x"`,
		`urn:x:y:userName eq "x"`, `emails[nope eq "x"]`, `emails[emails.type eq "x"]`, `addresses pr`,
		// password anywhere.
		`password eq "secret"`, `password pr`, `userName eq "x" or password sw "a"`, `password[value eq "x"]`,
		`urn:ietf:params:scim:schemas:core:2.0:User:password eq "x"`,
		// Not filterable in the store.
		`name.honorificPrefix eq "Dr"`, `phoneNumbers[primary eq true]`, `meta.version eq "1"`, `name eq "x"`, `name pr`, `meta pr`,
		// Booleans compare with eq and ne only.
		`active gt true`, `active ge false`, `active lt true`, `active le true`, `active co true`, `active sw true`, `active ew true`,
		// Wrong value types.
		`active eq "yes"`, `active eq "true"`, `active eq 1`, `userName eq 1`, `userName eq true`, `meta.created gt "not a date"`,
		`meta.created gt 5`, `meta.created co "2011"`, `meta.created eq "2011-05-13"`, `userName gt null`, `title co null`,
		// Nesting.
		`emails[type[value eq "x"] eq "work"]`, `emails[value pr and emails[value pr]]`, `userName[value eq "x"]`, `name[givenName eq "x"]`,
		deep, nots,
		// Size.
		`userName eq "` + strings.Repeat("a", MaxLength) + `"`,
		// Groups have no userName.
		`userName eq "x"`,
	} {
		res := schema.User()
		if in == `userName eq "x"` {
			res = schema.Group()
		}
		if f, err := Parse(res, in); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("Parse(%.80s) = %v, %v; want ErrInvalidFilter", in, show(f), err)
		}
	}
}

func TestParseDepthBound(t *testing.T) {
	ok := strings.Repeat("(", MaxDepth-1) + "title pr" + strings.Repeat(")", MaxDepth-1)
	if _, err := Parse(schema.User(), ok); err != nil {
		t.Errorf("depth %d refused: %v", MaxDepth-1, err)
	}
}

// checkTree asserts the invariants of an accepted filter: every
// attribute is a canonical, filterable (or in-memory) path of the User or
// Group schema, values are typed, value paths hold only their own
// sub-attributes and never nest.
func checkTree(t *testing.T, in string, f account.Filter, inBracket bool) {
	t.Helper()
	switch f := f.(type) {
	case account.And:
		checkTree(t, in, f.Left, inBracket)
		checkTree(t, in, f.Right, inBracket)
	case account.Or:
		checkTree(t, in, f.Left, inBracket)
		checkTree(t, in, f.Right, inBracket)
	case account.Not:
		checkTree(t, in, f.X, inBracket)
	case account.Present:
		checkAttr(t, in, f.Attr)
	case account.Compare:
		checkAttr(t, in, f.Attr)
		switch f.Value.(type) {
		case string, bool, float64, time.Time:
		default:
			t.Errorf("%q: value %#v of type %T", in, f.Value, f.Value)
		}
		if strings.Contains(f.Attr, "password") {
			t.Errorf("%q: password in a filter", in)
		}
	case account.ValuePath:
		if inBracket {
			t.Errorf("%q: nested value path", in)
		}
		checkAttr(t, in, f.Attr)
		checkPrefix(t, in, f.Filter, f.Attr+".")
		checkTree(t, in, f.Filter, true)
	default:
		t.Errorf("%q: node %T", in, f)
	}
}

func checkPrefix(t *testing.T, in string, f account.Filter, prefix string) {
	t.Helper()
	switch f := f.(type) {
	case account.And:
		checkPrefix(t, in, f.Left, prefix)
		checkPrefix(t, in, f.Right, prefix)
	case account.Or:
		checkPrefix(t, in, f.Left, prefix)
		checkPrefix(t, in, f.Right, prefix)
	case account.Not:
		checkPrefix(t, in, f.X, prefix)
	case account.Present:
		if !strings.HasPrefix(f.Attr, prefix) {
			t.Errorf("%q: %s in a value filter of %s", in, f.Attr, prefix)
		}
	case account.Compare:
		if !strings.HasPrefix(f.Attr, prefix) {
			t.Errorf("%q: %s in a value filter of %s", in, f.Attr, prefix)
		}
	}
}

var canonicalPaths = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range []string{
		"id", "externalId", "userName", "displayName", "active", "name.givenName", "name.familyName", "name.formatted",
		"name.middleName", "nickName", "title", "userType", "preferredLanguage", "locale", "timezone", "profileUrl",
		"emails.value", "emails.type", "emails.primary", "phoneNumbers.value", "phoneNumbers.type", "meta.created",
		"meta.lastModified", "groups.value", "enterprise.employeeNumber", "enterprise.costCenter", "enterprise.organization",
		"enterprise.division", "enterprise.department", "enterprise.manager.value", "smartgate.fhirUser", "smartgate.roles",
		"members.value",
		// value path attributes
		"emails", "phoneNumbers", "groups", "members",
	} {
		m[s] = true
	}
	return m
}()

func checkAttr(t *testing.T, in, attr string) {
	t.Helper()
	if !canonicalPaths[attr] {
		t.Errorf("%q: attribute %q is not canonical", in, attr)
	}
}
