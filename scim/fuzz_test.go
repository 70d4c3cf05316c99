package scim

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeUser: the body decoder never panics, refuses with a 4xx SCIM
// error, and what it accepts survives rendering and decoding again
// unchanged (and never renders the password).
func FuzzDecodeUser(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		  "userName":"Bob","active":"False","emails":[{"value":"b@x","primary":"TRUE"}],"name":{"givenName":"B"},
		  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m"}}}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
		  "userName":"c","password":"pw-pw-pw-pw-pw","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"roles":["admin","admin"],"fhirUser":"Patient/1"}}`,
		`{"schemas":["urn:x"],"userName":"a"}`, `{"userName":1}`, `[]`, `{`, `null`, `{"schemas":[],"x":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := decodeUser(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Detail == "" {
				t.Fatalf("error %v is not a 4xx SCIM error", err)
			}
			return
		}
		in.user.ID = "id"
		out, err := json.Marshal(renderUser(&in.user, nil, nil, "https://h/scim/v2"))
		if err != nil {
			t.Fatal(err)
		}
		if in.password != "" && strings.Contains(string(out), in.password) || strings.Contains(string(out), `"password"`) {
			t.Fatalf("password rendered: %s", out)
		}
		again, err := decodeUser(out)
		if err != nil {
			t.Fatalf("rendered user does not decode: %v\n%s", err, out)
		}
		again.user.ID = "id"
		if !reflect.DeepEqual(in.user, again.user) {
			t.Fatalf("round trip changed the user:\n%+v\n%+v", in.user, again.user)
		}
	})
}

// FuzzDecodeGroup is FuzzDecodeUser for groups.
func FuzzDecodeGroup(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{"value":"a"},{"value":"a"}]}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"],
		  "displayName":"n","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group":{"roles":["practitioner"],"ceiling":["user/*.rs"]}}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{"value":"a","type":"Group"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := decodeGroup(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Detail == "" {
				t.Fatalf("error %v is not a 4xx SCIM error", err)
			}
			return
		}
		out, err := json.Marshal(renderGroup(&in.group, "https://h/scim/v2"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeGroup(out)
		if err != nil {
			t.Fatalf("rendered group does not decode: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(in.group, again.group) {
			t.Fatalf("round trip changed the group:\n%+v\n%+v", in.group, again.group)
		}
	})
}
