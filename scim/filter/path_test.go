package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/scim/schema"
)

func TestParsePath(t *testing.T) {
	cases := []struct {
		res                  *schema.Resource
		in                   string
		attr, filter, sub    string
		canonical, urn, name string
	}{
		{schema.User(), "name.givenName", "name", "", "givenName", "name.givenName", schema.UserURN, "givenName"},
		{schema.User(), "NAME.GIVENNAME", "name", "", "givenName", "name.givenName", schema.UserURN, "givenName"},
		{schema.User(), "userName", "userName", "", "", "userName", schema.UserURN, "userName"},
		{schema.User(), "password", "password", "", "", "password", schema.UserURN, "password"},
		{schema.User(), "emails", "emails", "", "", "emails", schema.UserURN, "emails"},
		{schema.User(), `emails[type eq "work"].value`, "emails", `(eq emails.type "work" ci)`, "value", "emails.value", schema.UserURN, "value"},
		{schema.User(), `emails[type eq "work"]`, "emails", `(eq emails.type "work" ci)`, "", "emails", schema.UserURN, "emails"},
		{schema.User(), `phoneNumbers[type eq "mobile" and primary eq true].value`, "phoneNumbers", `(and (eq phoneNumbers.type "mobile" ci) (eq phoneNumbers.primary true ci))`, "value", "phoneNumbers.value", schema.UserURN, "value"},
		{schema.User(), `emails[value eq "a].b"].type`, "emails", `(eq emails.value "a].b" ci)`, "type", "emails.type", schema.UserURN, "type"},
		{schema.User(), enterprise + "manager", "enterprise.manager", "", "", "enterprise.manager", schema.EnterpriseUserURN, "manager"},
		{schema.User(), enterprise + "manager.value", "enterprise.manager", "", "value", "enterprise.manager.value", schema.EnterpriseUserURN, "value"},
		{schema.User(), enterprise + "department", "enterprise.department", "", "", "enterprise.department", schema.EnterpriseUserURN, "department"},
		{schema.User(), smartgate + "roles", "smartgate.roles", "", "", "smartgate.roles", schema.SmartgateUserURN, "roles"},
		{schema.User(), "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "name", "", "familyName", "name.familyName", schema.UserURN, "familyName"},
		{schema.User(), "meta.lastModified", "meta", "", "lastModified", "meta.lastModified", schema.UserURN, "lastModified"},
		{schema.Group(), `members[value eq "2819c223-7f76-453a-919d-413861904646"]`, "members", `(eq members.value "2819c223-7f76-453a-919d-413861904646" cs)`, "", "members", schema.GroupURN, "members"},
		{schema.Group(), `members[display eq "Babs"].value`, "members", `(eq members.display "Babs" ci)`, "value", "members.value", schema.GroupURN, "value"},
		{schema.Group(), "members", "members", "", "", "members", schema.GroupURN, "members"},
		{schema.Group(), "urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group:ceiling", "smartgate.ceiling", "", "", "smartgate.ceiling", schema.SmartgateGroupURN, "ceiling"},
	}
	for _, c := range cases {
		p, err := ParsePath(c.res, c.in)
		if err != nil {
			t.Errorf("ParsePath(%s): %v", c.in, err)
			continue
		}
		f := ""
		if p.Filter != nil {
			f = show(p.Filter)
		}
		if p.Attr != c.attr || f != c.filter || p.Sub != c.sub || p.Canonical() != c.canonical ||
			p.Top.Schema.ID != c.urn || p.Target.Attribute.Name != c.name || p.Top.Path != c.attr {
			t.Errorf("ParsePath(%s) = %q %q %q %q %s %s", c.in, p.Attr, f, p.Sub, p.Canonical(), p.Top.Schema.ID, p.Target.Attribute.Name)
		}
	}
}

func TestParsePathRefused(t *testing.T) {
	for _, in := range []string{
		"", " ", "nope", "name.nope", "name.givenName.x", "userName.x", "emails.value.x",
		`emails[type eq "work"].value.x`, `emails[type eq "work"]value`, `emails[type eq "work"].`, `emails[type eq "work"] `,
		`emails[type eq "work"`, `emails[]`, `emails[nope eq "x"]`, `emails[type eq "work"].nope`, `emails.value[type eq "work"]`,
		`name[givenName eq "x"]`, `userName[value eq "x"]`, `emails[type eq "work"][value pr]`, `emails[type[value pr] eq "x"]`,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "department", "enterprise.department",
		"user name", `"userName"`, "(userName)", `emails[password eq "x"]`, `[type eq "work"]`,
		strings.Repeat("a", MaxLength+1),
	} {
		if p, err := ParsePath(schema.User(), in); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ParsePath(%.60q) = %+v, %v; want ErrInvalidPath", in, p, err)
		}
	}
}

func TestParseSortBy(t *testing.T) {
	for in, want := range map[string]string{
		"userName": "userName", "meta.created": "meta.created", "name.familyName": "name.familyName",
		"emails": "emails.value", "emails.value": "emails.value", enterprise + "department": "enterprise.department",
	} {
		got, err := ParseSortBy(schema.User(), in)
		if in == "emails" {
			// A multi-valued complex attribute sorts by its value; name it.
			if err == nil {
				t.Errorf("ParseSortBy(emails) = %q, want an error", got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseSortBy(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"password", "name", "meta", "nope", `emails[type eq "work"].value`, "name.honorificPrefix"} {
		if got, err := ParseSortBy(schema.User(), in); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ParseSortBy(%s) = %q, %v; want ErrInvalidPath", in, got, err)
		}
	}
}
