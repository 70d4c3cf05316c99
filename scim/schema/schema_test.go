package schema

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	cases := []struct {
		res  *Resource
		in   string
		path string
		top  string
		typ  Type
	}{
		{User(), "userName", "userName", "userName", String},
		{User(), "USERNAME", "userName", "userName", String},
		{User(), "urn:ietf:params:scim:schemas:core:2.0:User:userName", "userName", "userName", String},
		{User(), "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.GIVENNAME", "name.givenName", "name", String},
		{User(), "name.givenName", "name.givenName", "name", String},
		{User(), "emails", "emails", "emails", Complex},
		{User(), "emails.value", "emails.value", "emails", String},
		{User(), "id", "id", "id", String},
		{User(), "urn:ietf:params:scim:schemas:core:2.0:User:id", "id", "id", String},
		{User(), "meta.lastModified", "meta.lastModified", "meta", DateTime},
		{User(), "active", "active", "active", Boolean},
		{User(), "groups.value", "groups.value", "groups", String},
		{User(), "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "enterprise.department", "enterprise.department", String},
		{User(), "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "enterprise.manager", "enterprise.manager", Complex},
		{User(), "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "enterprise.manager.value", "enterprise.manager", String},
		{User(), "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:fhirUser", "smartgate.fhirUser", "smartgate.fhirUser", Reference},
		{User(), "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:ROLES", "smartgate.roles", "smartgate.roles", String},
		{Group(), "displayName", "displayName", "displayName", String},
		{Group(), "members.value", "members.value", "members", String},
		{Group(), "members.$ref", "members.$ref", "members", Reference},
		{Group(), "urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group:ceiling", "smartgate.ceiling", "smartgate.ceiling", String},
	}
	for _, c := range cases {
		f, err := c.res.Lookup(c.in)
		if err != nil {
			t.Errorf("Lookup(%q): %v", c.in, err)
			continue
		}
		if f.Path != c.path || f.Top != c.top || f.Attribute.Type != c.typ {
			t.Errorf("Lookup(%q) = %q top %q %s, want %q top %q %s", c.in, f.Path, f.Top, f.Attribute.Type, c.path, c.top, c.typ)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, in := range []string{
		"", "nope", "name.nope", "userName.x", "emails.value.x", "department", "fhirUser",
		"enterprise.department", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:", "urn:x:y:department",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:Userdepartment",
		"urn:ietf:params:scim:schemas:core:2.0:Group:userName", "members.value", "addresses",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:id",
	} {
		if f, err := User().Lookup(in); !errors.Is(err, ErrUnknown) {
			t.Errorf("User Lookup(%q) = %+v, %v; want ErrUnknown", in, f, err)
		}
	}
}

// TestFilterable pins the filterable attributes to the canonical paths
// listed in account/directory.go's Filter doc comment.
func TestFilterable(t *testing.T) {
	users := "id, externalId, userName, displayName, active, name.givenName, name.familyName, name.formatted, name.middleName, nickName, title, userType, preferredLanguage, locale, timezone, profileUrl, emails.value, emails.type, emails.primary, phoneNumbers.value, phoneNumbers.type, meta.created, meta.lastModified, groups.value, enterprise.employeeNumber, enterprise.costCenter, enterprise.organization, enterprise.division, enterprise.department, enterprise.manager.value, smartgate.fhirUser, smartgate.roles"
	groups := "id, externalId, displayName, members.value, meta.created, meta.lastModified, smartgate.roles"
	for _, c := range []struct {
		r    *Resource
		want string
	}{{User(), users}, {Group(), groups}} {
		got := filterablePaths(c.r)
		want := strings.Split(c.want, ", ")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s filterable:\n got %v\nwant %v", c.r.Name, got, want)
		}
	}
}

func filterablePaths(r *Resource) []string {
	var out []string
	walk := func(s *Schema, attrs []Attribute) {
		for i := range attrs {
			a := &attrs[i]
			name := a.Name
			if s.Alias != "" {
				name = s.Alias + "." + name
			}
			if a.Filterable {
				out = append(out, name)
			}
			for _, sub := range a.SubAttributes {
				if sub.Filterable {
					out = append(out, name+"."+sub.Name)
				}
			}
		}
	}
	walk(&r.Core, r.Common)
	walk(&r.Core, r.Core.Attributes)
	for i := range r.Extensions {
		walk(&r.Extensions[i], r.Extensions[i].Attributes)
	}
	return out
}

func TestRFCCharacteristics(t *testing.T) {
	u := User()
	get := func(p string) *Attribute {
		f, err := u.Lookup(p)
		if err != nil {
			t.Fatal(err)
		}
		return f.Attribute
	}
	if a := get("userName"); a.CaseExact || !a.Required || a.Uniqueness != Server {
		t.Errorf("userName: %+v", a)
	}
	if !get("id").CaseExact || !get("externalId").CaseExact {
		t.Error("id and externalId must be caseExact")
	}
	if a := get("id"); a.Mutability != ReadOnly || a.Returned != Always {
		t.Errorf("id: %+v", a)
	}
	if a := get("password"); a.Mutability != WriteOnly || a.Returned != Never {
		t.Errorf("password: %+v", a)
	}
	if a := get("groups"); a.Mutability != ReadOnly || !a.MultiValued {
		t.Errorf("groups: %+v", a)
	}
	if get("meta").Mutability != ReadOnly || get("meta.created").Mutability != ReadOnly {
		t.Error("meta must be readOnly")
	}
	if a := get("emails.type"); !slices.Equal(a.CanonicalValues, []string{"work", "home", "other"}) {
		t.Errorf("emails.type canonical values %v", a.CanonicalValues)
	}
	m, _ := Group().Lookup("members.value")
	if m.Attribute.Mutability != Immutable || !m.Parent.MultiValued {
		t.Errorf("members.value: %+v", m.Attribute)
	}
}

func TestFreshValues(t *testing.T) {
	u := User()
	u.Core.Attributes[0].Name = "changed"
	if _, err := User().Lookup("userName"); err != nil {
		t.Fatal("User() shares its table between calls")
	}
}

func TestSchemaDocuments(t *testing.T) {
	docs := User().SchemaDocuments("https://h/scim/v2/")
	if len(docs) != 3 {
		t.Fatalf("%d documents", len(docs))
	}
	b, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	wantIDs := []string{UserURN, EnterpriseUserURN, SmartgateUserURN}
	for i, d := range got {
		if d["id"] != wantIDs[i] {
			t.Errorf("doc %d id %v", i, d["id"])
		}
		meta := d["meta"].(map[string]any)
		if meta["resourceType"] != "Schema" || meta["location"] != "https://h/scim/v2/Schemas/"+wantIDs[i] {
			t.Errorf("doc %d meta %v", i, meta)
		}
		if s := d["schemas"].([]any); len(s) != 1 || s[0] != SchemaURN {
			t.Errorf("doc %d schemas %v", i, s)
		}
	}
	core := string(b[:strings.Index(string(b), EnterpriseUserURN)])
	for _, bad := range []string{"Filterable", "filterable", `"name":"id"`, `"name":"meta"`} {
		if strings.Contains(core, bad) {
			t.Errorf("core schema document contains %s", bad)
		}
	}
	attrs := got[0]["attributes"].([]any)
	first := attrs[0].(map[string]any)
	for _, k := range []string{"name", "type", "multiValued", "description", "required", "caseExact", "mutability", "returned", "uniqueness"} {
		if _, ok := first[k]; !ok {
			t.Errorf("attribute lacks %q: %v", k, first)
		}
	}
	if first["name"] != "userName" || first["caseExact"] != false || first["uniqueness"] != "server" {
		t.Errorf("userName rendered as %v", first)
	}
}

func TestResourceType(t *testing.T) {
	b, err := json.Marshal(Group().ResourceType("https://h/scim/v2"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],"id":"Group","name":"Group","endpoint":"/Groups","description":"Group","schema":"urn:ietf:params:scim:schemas:core:2.0:Group","schemaExtensions":[{"schema":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group","required":false}],"meta":{"resourceType":"ResourceType","location":"https://h/scim/v2/ResourceTypes/Group"}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
