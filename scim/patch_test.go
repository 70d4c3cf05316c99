package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func patchBody(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

func TestPatchUser(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(aliceBody)
	// Entra ID style: capitalised ops, path-less value objects, "False"
	// as a string, value-filter paths.
	r := e.do("PATCH", "/scim/v2/Users/"+id, patchBody(
		`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"alice@new.example.org"}`,
		`{"op":"Add","value":{"displayName":"Alice N","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Ward 9"}}`,
		`{"op":"replace","path":"name.familyName","value":"Newman"}`,
	), "If-Match", `W/"1"`).want(t, http.StatusOK)
	m := r.json(t)
	if r.header.Get("ETag") != `W/"2"` || m["displayName"] != "Alice N" || get(m, "name.familyName") != "Newman" ||
		fmt.Sprint(m["emails"]) != "[map[primary:true type:work value:alice@new.example.org]]" ||
		getURN(m, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department") != "Ward 9" {
		t.Errorf("PATCH: %s %s", r.header.Get("ETag"), r.body)
	}
	u, err := e.db.User(context.Background(), id)
	if err != nil || u.DisplayName != "Alice N" || u.FHIRUser != "Practitioner/alice" || !u.Active {
		t.Fatalf("stored %+v %v", u, err)
	}

	// Deactivation with a string boolean revokes.
	e.do("PATCH", "/scim/v2/Users/"+id, patchBody(`{"op":"Replace","value":{"active":"False"}}`)).want(t, http.StatusOK)
	if got := <-e.revoked; got != id {
		t.Errorf("revoked %q", got)
	}
	if u, _ := e.db.User(context.Background(), id); u.Active {
		t.Error("still active")
	}

	// A password set by PATCH goes through the policy and is hashed.
	before, _ := e.db.User(context.Background(), id)
	e.do("PATCH", "/scim/v2/Users/"+id, patchBody(`{"op":"replace","path":"password","value":"short"}`)).wantError(t, 400, "invalidValue")
	e.do("PATCH", "/scim/v2/Users/"+id, patchBody(`{"op":"replace","path":"password","value":"Sekr3t-pass-patched"}`)).want(t, http.StatusOK)
	after, _ := e.db.User(context.Background(), id)
	if after.PasswordHash == before.PasswordHash || !strings.HasPrefix(after.PasswordHash, "$argon2id$") {
		t.Error("PATCH password did not set a new hash")
	}

	// A PATCH that changes nothing keeps the version.
	v := after.Meta.Version
	r = e.do("PATCH", "/scim/v2/Users/"+id, patchBody(`{"op":"replace","path":"displayName","value":"Alice N"}`)).want(t, http.StatusOK)
	if r.header.Get("ETag") != fmt.Sprintf(`W/"%d"`, v) {
		t.Errorf("no-op PATCH: ETag %q, want version %d", r.header.Get("ETag"), v)
	}

	// attributes on a PATCH answer: 200 with the projection.
	r = e.do("PATCH", "/scim/v2/Users/"+id+"?attributes=displayName", patchBody(`{"op":"replace","path":"displayName","value":"A"}`)).want(t, http.StatusOK)
	if m := r.json(t); m["displayName"] != "A" || m["userName"] != nil {
		t.Errorf("PATCH with attributes: %s", r.body)
	}
}

func TestPatchUserErrors(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(aliceBody)
	before, err := e.db.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, body, ifMatch string
		status              int
		scimType            string
	}{
		{"id", patchBody(`{"op":"replace","path":"id","value":"x"}`), "", 400, "mutability"},
		{"meta", patchBody(`{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}`), "", 400, "mutability"},
		{"groups", patchBody(`{"op":"add","path":"groups","value":[{"value":"g"}]}`), "", 400, "mutability"},
		{"unknown path", patchBody(`{"op":"replace","path":"shoeSize","value":1}`), "", 400, "invalidPath"},
		{"bad op", patchBody(`{"op":"upsert","path":"displayName","value":"x"}`), "", 400, "invalidSyntax"},
		{"no schemas", `{"Operations":[{"op":"replace","path":"displayName","value":"x"}]}`, "", 400, "invalidSyntax"},
		{"malformed", `{"schemas":`, "", 400, "invalidSyntax"},
		{"bad role", patchBody(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:roles","value":["god"]}`), "", 400, "invalidValue"},
		// The second operation fails: the first is not applied either.
		{"all or nothing", patchBody(`{"op":"replace","path":"displayName","value":"changed"}`, `{"op":"replace","path":"id","value":"x"}`), "", 400, "mutability"},
		{"stale", patchBody(`{"op":"replace","path":"displayName","value":"changed"}`), `W/"9"`, 412, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.ifMatch != "" {
				hdr = []string{"If-Match", c.ifMatch}
			}
			e.do("PATCH", "/scim/v2/Users/"+id, c.body, hdr...).wantError(t, c.status, c.scimType)
		})
	}
	after, err := e.db.User(context.Background(), id)
	if err != nil || after.Meta.Version != before.Meta.Version || after.DisplayName != before.DisplayName {
		t.Errorf("a refused PATCH changed the user: %+v %v", after, err)
	}
	e.do("PATCH", "/scim/v2/Users/nope", patchBody(`{"op":"replace","path":"displayName","value":"x"}`)).wantError(t, 404, "")
}

// TestPatchRemovesExtension: a PATCH that removes the smartgate
// extension's attributes clears them (only a PUT's omission keeps them).
func TestPatchRemovesExtension(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(aliceBody)
	e.do("PATCH", "/scim/v2/Users/"+id, patchBody(
		`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:fhirUser"}`,
		`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:roles"}`)).
		want(t, http.StatusOK)
	u, err := e.db.User(context.Background(), id)
	if err != nil || u.FHIRUser != "" || len(u.Roles) != 0 {
		t.Errorf("after removing the extension: %q %v %v", u.FHIRUser, u.Roles, err)
	}
}
