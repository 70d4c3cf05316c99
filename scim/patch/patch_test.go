package patch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/scim/schema"
)

const (
	bjensen = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223","userName":"bjensen","active":true,
		"name":{"givenName":"Barbara","familyName":"Jensen"},
		"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],
		"groups":[{"value":"g1","display":"nurses"}],
		"meta":{"resourceType":"User","created":"2026-01-01T00:00:00Z","lastModified":"2026-01-01T00:00:00Z","version":"W/\"1\""}}`
	group = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"e9e30dba","displayName":"Tour Guides",
		"members":[{"value":"2819c223","display":"Babs Jensen"},{"value":"902c246b","display":"Mandy Pepperidge"}],
		"meta":{"resourceType":"Group","version":"W/\"3\""}}`
	enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

func body(ops string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`
}

func decodeDoc(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad document %s: %v", s, err)
	}
	return m
}

// run decodes and applies ops and checks that the input is unchanged.
func run(t *testing.T, r *schema.Resource, doc, ops string) (map[string]any, error) {
	t.Helper()
	in := decodeDoc(t, doc)
	before := decodeDoc(t, doc)
	list, err := Decode([]byte(body(ops)))
	if err != nil {
		return nil, err
	}
	out, err := Apply(r, in, list)
	if !reflect.DeepEqual(in, before) {
		t.Errorf("Apply changed its input document")
	}
	if err != nil && out != nil {
		t.Errorf("Apply returned a document with the error %v", err)
	}
	return out, err
}

// get reads a dotted path of plain keys (a number indexes a list).
func get(doc map[string]any, keys ...any) any {
	var v any = doc
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestApply(t *testing.T) {
	cases := []struct {
		name string
		res  *schema.Resource
		doc  string
		ops  string
		// check returns "" or what is wrong with the result.
		key  []any
		want string
	}{
		// RFC 7644 §3.5.2.1 add.
		{"rfc add member", schema.Group(), group,
			`{"op":"add","path":"members","value":[{"display":"Babs Jensen","$ref":"https://example.com/v2/Users/2819c223","value":"2819c223-7f76-453a-919d-413861904646"}]}`,
			[]any{"members"}, `[{"display":"Babs Jensen","value":"2819c223"},{"display":"Mandy Pepperidge","value":"902c246b"},{"$ref":"https://example.com/v2/Users/2819c223","value":"2819c223-7f76-453a-919d-413861904646"}]`},
		{"rfc path-less add", schema.User(), bjensen,
			`{"op":"add","value":{"emails":[{"value":"babs@jensen.org","type":"home"},{"value":"b@x.org","type":"other"}],"nickname":"Babs"}}`,
			nil, `emails=3 nickName=Babs`},
		// RFC 7644 §3.5.2.2 remove.
		{"rfc remove member by filter", schema.Group(), group,
			`{"op":"remove","path":"members[value eq \"2819c223\"]"}`,
			[]any{"members"}, `[{"display":"Mandy Pepperidge","value":"902c246b"}]`},
		{"rfc remove all members", schema.Group(), group, `{"op":"remove","path":"members"}`, []any{"members"}, `null`},
		{"rfc remove and add members", schema.Group(), group,
			`{"op":"remove","path":"members"},{"op":"add","path":"members","value":[{"value":"aaa"},{"value":"bbb"}]}`,
			[]any{"members"}, `[{"value":"aaa"},{"value":"bbb"}]`},
		{"rfc remove with and filter", schema.User(), bjensen,
			`{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}`,
			[]any{"emails"}, `[{"type":"home","value":"babs@jensen.org"}]`},
		{"remove with a filter matching nothing", schema.Group(), group,
			`{"op":"remove","path":"members[value eq \"nobody\"]"}`, []any{"members", 1, "value"}, `"902c246b"`},
		{"remove a sub-attribute", schema.User(), bjensen, `{"op":"remove","path":"name.givenName"}`, []any{"name"}, `{"familyName":"Jensen"}`},
		{"remove the last sub-attribute", schema.User(), `{"id":"1","userName":"u","name":{"givenName":"B"}}`, `{"op":"remove","path":"name.givenName"}`, []any{"name"}, `null`},
		{"remove a sub-attribute of matches", schema.User(), bjensen, `{"op":"remove","path":"emails[type eq \"work\"].primary"}`, []any{"emails", 0}, `{"type":"work","value":"bjensen@example.com"}`},
		// RFC 7644 §3.5.2.3 replace.
		{"rfc replace members", schema.Group(), group,
			`{"op":"replace","path":"members","value":[{"display":"Babs Jensen","value":"2819c223"},{"display":"James Smith","value":"08e1d05d"}]}`,
			[]any{"members"}, `[{"value":"2819c223"},{"value":"08e1d05d"}]`},
		{"rfc replace filtered element", schema.User(), bjensen,
			`{"op":"replace","path":"emails[type eq \"work\"]","value":{"type":"work","value":"barbara@example.com"}}`,
			[]any{"emails", 0}, `{"primary":true,"type":"work","value":"barbara@example.com"}`},
		{"rfc replace filtered sub-attribute", schema.User(), bjensen,
			`{"op":"replace","path":"emails[type eq \"work\"].value","value":"bj@example.com"}`,
			[]any{"emails", 0, "value"}, `"bj@example.com"`},
		{"rfc path-less replace", schema.User(), bjensen,
			`{"op":"replace","value":{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],"nickname":"Babs"}}`,
			nil, `emails=2 nickName=Babs`},
		{"replace a complex attribute merges", schema.User(), bjensen, `{"op":"replace","path":"name","value":{"givenName":"Babs"}}`, []any{"name"}, `{"familyName":"Jensen","givenName":"Babs"}`},
		{"replace a missing attribute adds it", schema.User(), bjensen, `{"op":"replace","path":"title","value":"Tour Guide"}`, []any{"title"}, `"Tour Guide"`},
		{"replace with null removes", schema.User(), bjensen, `{"op":"replace","path":"name.familyName","value":null}`, []any{"name"}, `{"givenName":"Barbara"}`},
		// Entra ID (learn.microsoft.com, "Develop a SCIM endpoint": requests).
		{"entra replace work email and family name", schema.User(), bjensen,
			`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}`,
			[]any{"emails", 0, "value"}, `"updatedEmail@microsoft.com"`},
		{"entra replace userName", schema.User(), bjensen, `{"op":"Replace","path":"userName","value":"5b50642d@testuser.com"}`, []any{"userName"}, `"5b50642d@testuser.com"`},
		{"entra disable", schema.User(), bjensen, `{"op":"Replace","path":"active","value":false}`, []any{"active"}, `false`},
		{"entra active as a string", schema.User(), bjensen, `{"op":"Replace","path":"active","value":"False"}`, []any{"active"}, `false`},
		{"entra active TRUE", schema.User(), `{"id":"1","userName":"u","active":false}`, `{"op":"replace","value":{"active":"TRUE"}}`, []any{"active"}, `true`},
		{"entra add member with null ref", schema.Group(), group, `{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}`, []any{"members", 2}, `{"value":"f648f8d5ea4e4cd38e9c"}`},
		{"entra remove member by value", schema.Group(), group, `{"op":"Remove","path":"members","value":[{"$ref":null,"value":"2819c223"}]}`, []any{"members"}, `[{"display":"Mandy Pepperidge","value":"902c246b"}]`},
		{"entra replace displayName", schema.Group(), group, `{"op":"Replace","path":"displayName","value":"1879db59updatedDisplayName"}`, []any{"displayName"}, `"1879db59updatedDisplayName"`},
		{"entra path-less dotted and URN keys", schema.User(), bjensen,
			`{"op":"Add","value":{"name.givenName":"Babs","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"701984","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"26118915"}}`,
			[]any{enterprise}, `{"employeeNumber":"701984","manager":{"value":"26118915"}}`},
		{"entra path-less filtered key", schema.User(), bjensen, `{"op":"replace","value":{"emails[type eq \"work\"].value":"w@x.org","name.familyName":"J"}}`, []any{"emails", 0, "value"}, `"w@x.org"`},
		{"entra manager by path", schema.User(), bjensen, `{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"26118915"}`, []any{enterprise, "manager"}, `{"value":"26118915"}`},
		{"entra add a work email where there is none", schema.User(), `{"id":"1","userName":"u"}`, `{"op":"Add","path":"emails[type eq \"work\"].value","value":"u@example.com"}`, []any{"emails"}, `[{"type":"work","value":"u@example.com"}]`},
		{"entra add mobile phone", schema.User(), bjensen, `{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555"}`, []any{"phoneNumbers"}, `[{"type":"mobile","value":"+1 555"}]`},
		{"path-less URN-keyed extension object", schema.User(), bjensen,
			`{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Tour Operations","manager":{"value":"m1","displayName":"ignored"}}}}`,
			[]any{enterprise}, `{"department":"Tour Operations","manager":{"value":"m1"}}`},
		{"extension listed in schemas", schema.User(), bjensen, `{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"x"}`,
			[]any{"schemas"}, `["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]`},
		{"smartgate roles", schema.User(), bjensen, `{"op":"add","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:roles","value":["practitioner"]}`,
			[]any{"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User", "roles"}, `["practitioner"]`},
		{"smartgate roles add no duplicate", schema.User(), `{"id":"1","userName":"u","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"roles":["admin"]}}`,
			`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:roles","value":["admin","patient"]}`,
			[]any{"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User", "roles"}, `["admin","patient"]`},
		{"group ceiling", schema.Group(), group, `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group:ceiling","value":["user/*.rs"]}`,
			[]any{"urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group", "ceiling"}, `["user/*.rs"]`},
		// Okta (developer.okta.com, "SCIM 2.0 protocol reference").
		{"okta add member with display", schema.Group(), group, `{"op":"add","path":"members","value":[{"value":"23a35c27","display":"test.user@okta.local"}]}`, []any{"members", 2}, `{"value":"23a35c27"}`},
		{"okta remove member", schema.Group(), group, `{"op":"remove","path":"members[value eq \"902c246b\"]"}`, []any{"members"}, `[{"display":"Babs Jensen","value":"2819c223"}]`},
		{"okta deactivate", schema.User(), bjensen, `{"op":"replace","value":{"active":false}}`, []any{"active"}, `false`},
		{"okta password", schema.User(), bjensen, `{"op":"replace","value":{"password":"t1meMa$heen"}}`, []any{"password"}, `"t1meMa$heen"`},
		{"okta rename group with its id", schema.Group(), group, `{"op":"replace","value":{"id":"e9e30dba","displayName":"Test SCIMv2"}}`, []any{"displayName"}, `"Test SCIMv2"`},
		// Adding existing values adds nothing.
		{"add identical email", schema.User(), bjensen, `{"op":"add","path":"emails","value":[{"value":"babs@jensen.org","type":"home"}]}`, []any{"emails", 2}, `null`},
		{"add single element without a list", schema.User(), bjensen, `{"op":"add","path":"emails","value":{"value":"c@x.org"}}`, []any{"emails", 2}, `{"value":"c@x.org"}`},
		{"attribute names case-insensitive", schema.User(), bjensen, `{"op":"replace","path":"NAME.GIVENNAME","value":"B"},{"op":"replace","path":"emails[TYPE eq \"WORK\"].VALUE","value":"w@x"}`, []any{"name", "givenName"}, `"B"`},
		// The primary rule.
		{"new primary clears the old", schema.User(), bjensen, `{"op":"add","path":"emails","value":[{"value":"new@x.org","type":"other","primary":true}]}`, []any{"emails"},
			`[{"primary":false,"type":"work","value":"bjensen@example.com"},{"type":"home","value":"babs@jensen.org"},{"primary":true,"type":"other","value":"new@x.org"}]`},
		{"primary by filter", schema.User(), bjensen, `{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`, []any{"emails"},
			`[{"primary":false,"type":"work","value":"bjensen@example.com"},{"primary":true,"type":"home","value":"babs@jensen.org"}]`},
		{"primary string coerced", schema.User(), bjensen, `{"op":"replace","path":"emails[type eq \"home\"].primary","value":"True"}`, []any{"emails", 0, "primary"}, `false`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := run(t, c.res, c.doc, c.ops)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			var got string
			if c.key == nil {
				got = "emails=" + itoa(len(get(out, "emails").([]any))) + " nickName=" + get(out, "nickName").(string)
			} else {
				got = js(get(out, c.key...))
			}
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if c.res.Name == "User" && get(out, "id") != get(decodeDoc(t, c.doc), "id") {
				t.Error("id changed")
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestApplyRefused(t *testing.T) {
	cases := []struct {
		name, ops, scimType string
		res                 *schema.Resource
	}{
		{"id", `{"op":"replace","path":"id","value":"x"}`, Mutability, nil},
		{"meta", `{"op":"replace","path":"meta","value":{"version":"1"}}`, Mutability, nil},
		{"meta.created", `{"op":"replace","path":"meta.created","value":"2026-01-01T00:00:00Z"}`, Mutability, nil},
		{"remove meta", `{"op":"remove","path":"meta"}`, Mutability, nil},
		{"groups", `{"op":"add","path":"groups","value":[{"value":"g2"}]}`, Mutability, nil},
		{"path-less id", `{"op":"replace","value":{"id":"other"}}`, Mutability, nil},
		{"path-less meta", `{"op":"replace","value":{"meta":{"version":"2"}}}`, Mutability, nil},
		{"member value immutable", `{"op":"replace","path":"members[value eq \"2819c223\"].value","value":"x"}`, Mutability, schema.Group()},
		{"manager displayName read-only", `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"x"}`, Mutability, nil},
		{"unknown path", `{"op":"replace","path":"nope","value":"x"}`, InvalidPath, nil},
		{"addresses not kept", `{"op":"add","path":"addresses[type eq \"work\"].formatted","value":"x"}`, InvalidPath, nil},
		{"sub of multi-valued without filter", `{"op":"replace","path":"emails.value","value":"x"}`, InvalidPath, nil},
		{"nested brackets", `{"op":"remove","path":"emails[type[value pr] eq \"x\"]"}`, InvalidPath, nil},
		{"bad filter in path", `{"op":"remove","path":"emails[type eq]"}`, InvalidPath, nil},
		{"replace filter matches nothing", `{"op":"replace","path":"emails[type eq \"other\"].value","value":"x"}`, NoTarget, nil},
		{"add with a non-eq filter matching nothing", `{"op":"add","path":"emails[type ne \"work\" and type ne \"home\"].value","value":"x"}`, NoTarget, nil},
		{"remove without path", `{"op":"remove"}`, NoTarget, nil},
		{"active yes", `{"op":"replace","path":"active","value":"yes"}`, InvalidValue, nil},
		{"path-less active yes", `{"op":"replace","value":{"active":"yes"}}`, InvalidValue, nil},
		{"active number", `{"op":"replace","path":"active","value":1}`, InvalidValue, nil},
		{"userName number", `{"op":"replace","path":"userName","value":5}`, InvalidValue, nil},
		{"path-less not an object", `{"op":"replace","value":"x"}`, InvalidValue, nil},
		{"path-less without value", `{"op":"add"}`, InvalidValue, nil},
		{"path-less unknown key", `{"op":"replace","value":{"nope":"x"}}`, InvalidValue, nil},
		{"unknown sub-attribute in value", `{"op":"add","path":"emails","value":[{"value":"x","nope":1}]}`, InvalidValue, nil},
		{"email not an object", `{"op":"add","path":"emails","value":[5]}`, InvalidValue, nil},
		{"extension not an object", `{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"x"}}`, InvalidValue, nil},
		{"two primaries", `{"op":"add","path":"emails","value":[{"value":"a","primary":true},{"value":"b","primary":true}]}`, InvalidValue, nil},
		{"remove required userName", `{"op":"remove","path":"userName"}`, InvalidValue, nil},
		{"bad op", `{"op":"move","path":"userName"}`, InvalidSyntax, nil},
		{"second op fails, first undone", `{"op":"replace","path":"userName","value":"new"},{"op":"replace","path":"id","value":"x"}`, Mutability, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, doc := schema.User(), bjensen
			if c.res != nil {
				r, doc = c.res, group
			}
			_, err := run(t, r, doc, c.ops)
			if got := ScimType(err); got != c.scimType {
				t.Errorf("err %v: scimType %q, want %q", err, got, c.scimType)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{`, `{"Operations":[{"op":"add","path":"title","value":"x"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[5]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"copy"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":5}]}`,
	} {
		if _, err := Decode([]byte(bad)); ScimType(err) != InvalidSyntax {
			t.Errorf("Decode(%s) = %v, want invalidSyntax", bad, err)
		}
	}
	ops, err := Decode([]byte(body(`{"op":"Replace","path":"title","value":null},{"op":"add","value":{"title":"x"}}`)))
	if err != nil || len(ops) != 2 || ops[0].HasValue || !ops[1].HasValue || ops[0].Op != "Replace" {
		t.Errorf("Decode = %+v, %v", ops, err)
	}
}

func TestApplyNilDocument(t *testing.T) {
	out, err := Apply(schema.User(), nil, []Operation{{Op: "add", Path: "title", Value: "x", HasValue: true}})
	if err != nil || out["title"] != "x" {
		t.Errorf("Apply(nil) = %v, %v", out, err)
	}
}

func TestMemberChanges(t *testing.T) {
	cases := []struct {
		ops         string
		add, remove string
		ok          bool
	}{
		{`{"op":"add","path":"members","value":[{"value":"a"},{"value":"b","display":"B"}]}`, "a b", "", true},
		{`{"op":"Add","path":"members","value":[{"$ref":null,"value":"a"}]}`, "a", "", true},
		{`{"op":"remove","path":"members[value eq \"a\"]"}`, "", "a", true},
		{`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"a"}]}`, "", "a", true},
		{`{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}`, "", "a b", true},
		{`{"op":"add","path":"members","value":[{"value":"a"}]},{"op":"remove","path":"members[value eq \"a\"]"},{"op":"add","path":"members","value":[{"value":"b"}]}`, "b", "a", true},
		{`{"op":"remove","path":"members"}`, "", "", false},
		{`{"op":"replace","path":"members","value":[{"value":"a"}]}`, "", "", false},
		{`{"op":"replace","path":"displayName","value":"x"}`, "", "", false},
		{`{"op":"add","path":"members","value":[{"value":"a"}]},{"op":"replace","path":"displayName","value":"x"}`, "", "", false},
		{`{"op":"remove","path":"members[display eq \"a\"]"}`, "", "", false},
		{`{"op":"remove","path":"members[value ne \"a\"]"}`, "", "", false},
		{`{"op":"remove","path":"members[value eq \"a\"].display"}`, "", "", false},
		{`{"op":"add","path":"members","value":[{"display":"no id"}]}`, "", "", false},
		{`{"op":"add","path":"members","value":[{"value":"g","type":"Group"}]}`, "", "", false},
		{`{"op":"add","value":{"members":[{"value":"a"}]}}`, "", "", false},
	}
	for _, c := range cases {
		ops, err := Decode([]byte(body(c.ops)))
		if err != nil {
			t.Fatal(err)
		}
		add, remove, ok := MemberChanges(ops)
		if ok != c.ok || strings.Join(add, " ") != c.add || strings.Join(remove, " ") != c.remove {
			t.Errorf("MemberChanges(%s) = %v %v %v, want %q %q %v", c.ops, add, remove, ok, c.add, c.remove, c.ok)
		}
	}
}
