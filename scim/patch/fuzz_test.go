package patch

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/smartgate/smartgate/scim/schema"
)

// FuzzApply decodes arbitrary PatchOp bodies and applies them to a user
// and a group: no panics, errors are *Error with a scimType, the input
// is never changed, read-only attributes never change, and the result
// is still a JSON document.
func FuzzApply(f *testing.F) {
	for _, s := range []string{
		`{"op":"add","path":"members","value":[{"value":"a"}]}`,
		`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x"}`,
		`{"op":"remove","path":"members[value eq \"2819c223\"]"}`,
		`{"op":"replace","value":{"active":"False","name.givenName":"B","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m"}}}`,
		`{"op":"add","path":"emails","value":[{"value":"n","primary":true}]}`,
		`{"op":"replace","value":{"id":"e9e30dba","displayName":"x"}}`,
		`{"op":"remove","path":"name.givenName"}`,
	} {
		f.Add(body(s))
	}
	f.Fuzz(func(t *testing.T, in string) {
		ops, err := Decode([]byte(in))
		if err != nil {
			if ScimType(err) == "" {
				t.Fatalf("Decode error without scimType: %v", err)
			}
			return
		}
		for _, c := range []struct {
			r   *schema.Resource
			doc string
		}{{schema.User(), bjensen}, {schema.Group(), group}} {
			in := decodeDoc(t, c.doc)
			before := decodeDoc(t, c.doc)
			out, err := Apply(c.r, in, ops)
			if !reflect.DeepEqual(in, before) {
				t.Fatal("Apply changed its input")
			}
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) || pe.ScimType == "" || out != nil {
					t.Fatalf("Apply error %v", err)
				}
				continue
			}
			for _, k := range []string{"id", "meta", "groups"} {
				if !reflect.DeepEqual(out[k], before[k]) {
					t.Fatalf("read-only %s changed: %v -> %v", k, before[k], out[k])
				}
			}
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("result is not JSON: %v", err)
			}
			MemberChanges(ops)
		}
	})
}
