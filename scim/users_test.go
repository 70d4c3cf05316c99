package scim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

const aliceBody = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
              "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
  "userName": "Alice@Example.org",
  "externalId": "ext-alice",
  "name": {"givenName": "Alice", "familyName": "Liddell", "formatted": "Alice Liddell", "middleName": "P"},
  "displayName": "Alice L",
  "title": "Nurse",
  "active": true,
  "password": "Sekr3t-pass-alice",
  "emails": [{"value": "alice@example.org", "type": "work", "primary": true}],
  "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ward 3", "employeeNumber": "42"},
  "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User": {"fhirUser": "Practitioner/alice", "roles": ["practitioner"]}
}`

func TestCreateGetUser(t *testing.T) {
	e := newEnv(t)
	id, r := e.createUser(aliceBody)
	m := r.json(t)
	if loc := r.header.Get("Location"); loc != e.srv.URL+"/scim/v2/Users/"+id || get(m, "meta.location") != loc {
		t.Errorf("Location %q, meta.location %v", loc, get(m, "meta.location"))
	}
	if r.header.Get("ETag") != `W/"1"` || get(m, "meta.version") != `W/"1"` {
		t.Errorf("ETag %q, meta.version %v", r.header.Get("ETag"), get(m, "meta.version"))
	}
	for path, want := range map[string]any{
		"userName": "alice@example.org", "externalId": "ext-alice", "name.givenName": "Alice", "name.middleName": "P",
		"displayName": "Alice L", "title": "Nurse", "active": true, "meta.resourceType": "User",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department": "Ward 3",
	} {
		if got := getURN(m, path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	sg, _ := m["urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"].(map[string]any)
	if sg["fhirUser"] != "Practitioner/alice" || fmt.Sprint(sg["roles"]) != "[practitioner]" {
		t.Errorf("smartgate extension %v", sg)
	}
	if get(m, "meta.created") == nil || get(m, "meta.lastModified") == nil {
		t.Errorf("meta %v", m["meta"])
	}

	// Stored: the same record every other part of smartgate reads, with
	// the password hashed.
	u, err := e.db.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.UserName != "alice@example.org" || u.FHIRUser != "Practitioner/alice" || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("stored %+v", u)
	}

	g := e.do("GET", "/scim/v2/Users/"+id, "").want(t, http.StatusOK)
	if g.header.Get("ETag") != `W/"1"` || g.json(t)["userName"] != "alice@example.org" {
		t.Errorf("GET: %s %s", g.header.Get("ETag"), g.body)
	}
	e.do("GET", "/scim/v2/Users/no-such-id", "").wantError(t, http.StatusNotFound, "")

	ok := false
	for _, ev := range e.audit.all() {
		if ev.Kind == "scim" && ev.Action == "create User" && ev.Resource == "Users/"+id && ev.Outcome == "success" && ev.Actor == "admin-user-id" {
			ok = true
		}
		if strings.Contains(fmt.Sprintf("%+v", ev), testPassword) {
			t.Errorf("audit holds a password: %+v", ev)
		}
	}
	if !ok {
		t.Errorf("no audit record of the creation: %+v", e.audit.all())
	}
}

// getURN is get for paths whose first key is a URN (with dots).
func getURN(m map[string]any, path string) any {
	if strings.HasPrefix(path, "urn:") {
		i := strings.LastIndex(path, ".")
		ext, _ := m[path[:i]].(map[string]any)
		return ext[path[i+1:]]
	}
	return get(m, path)
}

func TestCreateUserBadInput(t *testing.T) {
	e := newEnv(t)
	e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}`)
	core := `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
	for _, c := range []struct {
		name, body string
		status     int
		scimType   string
	}{
		{"malformed JSON", `{"schemas":`, 400, "invalidSyntax"},
		{"not an object", `[1,2]`, 400, "invalidSyntax"},
		{"two values", `{` + core + `,"userName":"x"} {}`, 400, "invalidSyntax"},
		{"no schemas", `{"userName":"carol"}`, 400, "invalidSyntax"},
		{"unknown schema", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:nope"],"userName":"carol"}`, 400, "invalidSyntax"},
		{"unknown attribute", `{` + core + `,"userName":"carol","shoeSize":44}`, 400, "invalidValue"},
		{"unknown sub-attribute", `{` + core + `,"userName":"carol","name":{"nick":"c"}}`, 400, "invalidValue"},
		{"wrong type", `{` + core + `,"userName":"carol","active":"maybe"}`, 400, "invalidValue"},
		{"wrong type string", `{` + core + `,"userName":42}`, 400, "invalidValue"},
		{"no userName", `{` + core + `}`, 400, "invalidValue"},
		{"bad userName", `{` + core + `,"userName":"two words"}`, 400, "invalidValue"},
		{"weak password", `{` + core + `,"userName":"carol","password":"short"}`, 400, "invalidValue"},
		{"unknown role", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],"userName":"carol","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"roles":["god"]}}`, 400, "invalidValue"},
		{"bad fhirUser", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],"userName":"carol","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"fhirUser":"Observation/1"}}`, 400, "invalidValue"},
		{"duplicate userName", `{` + core + `,"userName":"BOB"}`, 409, "uniqueness"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.do("POST", "/scim/v2/Users", c.body).wantError(t, c.status, c.scimType)
		})
	}
	// Nothing was half-created; every refusal is audited, the duplicate
	// as denied.
	if n, err := e.db.CountUsers(context.Background()); err != nil || n != 1 {
		t.Errorf("%d users (%v), want 1", n, err)
	}
	outcomes := map[string]int{}
	for _, ev := range e.audit.all() {
		if ev.Action == "create User" {
			outcomes[ev.Outcome]++
		}
	}
	if outcomes["success"] != 1 || outcomes["failure"] != 14 || outcomes["denied"] != 1 {
		t.Errorf("audited outcomes %v, want 1 success, 14 failures, 1 denied", outcomes)
	}
	e.do("POST", "/scim/v2/Users", `{`+core+`,"userName":"dave"}`, "Content-Type", "text/plain").wantError(t, http.StatusUnsupportedMediaType, "")
	e.do("POST", "/scim/v2/Users", `{`+core+`,"userName":"dave"}`, "Content-Type", "application/json").want(t, http.StatusCreated)
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *scim.Config) { c.MaxBodyBytes = 1000 })
	big := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big","displayName":"` + strings.Repeat("x", 2000) + `"}`
	e.do("POST", "/scim/v2/Users", big).wantError(t, http.StatusRequestEntityTooLarge, "")
	if n, err := e.db.CountUsers(context.Background()); err != nil || n != 0 {
		t.Errorf("%d users (%v), want 0", n, err)
	}
	if scim.DefaultMaxBodyBytes != 1<<20 {
		t.Errorf("DefaultMaxBodyBytes %d", scim.DefaultMaxBodyBytes)
	}
}

func TestStringBooleans(t *testing.T) {
	e := newEnv(t)
	id, r := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"erin","active":"False",
		"emails":[{"value":"erin@example.org","primary":"TRUE"}]}`)
	m := r.json(t)
	if m["active"] != false || get(m["emails"].([]any)[0].(map[string]any), "primary") != true {
		t.Errorf("string booleans: %s", r.body)
	}
	r = e.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"erin","active":"true"}`).want(t, http.StatusOK)
	if r.json(t)["active"] != true {
		t.Errorf("PUT active \"true\": %s", r.body)
	}
}

func TestReplaceUser(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(aliceBody)
	// An Okta-style PUT: no smartgate extension, no password, readOnly
	// attributes (id, meta, groups) that are ignored.
	put := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"something-else","userName":"alice@example.org",
		"name":{"givenName":"Alicia","familyName":"Liddell"},"emails":[{"value":"alicia@example.org","type":"work","primary":true}],
		"groups":[{"value":"g1"}],"meta":{"resourceType":"User","version":"W/\"99\""}}`
	r := e.do("PUT", "/scim/v2/Users/"+id, put, "If-Match", `W/"1"`).want(t, http.StatusOK)
	m := r.json(t)
	if m["id"] != id || get(m, "name.givenName") != "Alicia" || r.header.Get("ETag") != `W/"2"` || m["displayName"] != nil || m["title"] != nil {
		t.Errorf("PUT answer: %s %s", r.header.Get("ETag"), r.body)
	}
	u, err := e.db.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.FHIRUser != "Practitioner/alice" || fmt.Sprint(u.Roles) != "[practitioner]" {
		t.Errorf("an omitted smartgate extension changed fhirUser/roles: %q %v", u.FHIRUser, u.Roles)
	}
	if !u.Active || !strings.HasPrefix(u.PasswordHash, "$argon2id$") || u.Enterprise != (account.Enterprise{}) {
		t.Errorf("after PUT: active %v, hash %q, enterprise %+v", u.Active, u.PasswordHash, u.Enterprise)
	}
	// With the extension, it is replaced; a password is set.
	oldHash := u.PasswordHash
	put = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
		"userName":"alice@example.org","password":"Sekr3t-pass-new-one",
		"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"fhirUser":"Patient/p1"}}`
	e.do("PUT", "/scim/v2/Users/"+id, put).want(t, http.StatusOK)
	u, err = e.db.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.FHIRUser != "Patient/p1" || len(u.Roles) != 0 || u.PasswordHash == oldHash {
		t.Errorf("PUT with the extension: %q %v, hash changed %v", u.FHIRUser, u.Roles, u.PasswordHash != oldHash)
	}

	// Stale If-Match: 412, nothing changed.
	e.do("PUT", "/scim/v2/Users/"+id, strings.Replace(put, "Patient/p1", "Patient/p2", 1), "If-Match", `W/"1"`).
		wantError(t, http.StatusPreconditionFailed, "")
	if u2, _ := e.db.User(context.Background(), id); u2.FHIRUser != "Patient/p1" {
		t.Errorf("a stale PUT changed the user: %q", u2.FHIRUser)
	}
	e.do("PUT", "/scim/v2/Users/nope", put).wantError(t, http.StatusNotFound, "")
	e.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice","nope":1}`).
		wantError(t, http.StatusBadRequest, "invalidValue")

	// Renaming onto someone else's userName is 409 uniqueness.
	e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}`)
	e.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Bob"}`).
		wantError(t, http.StatusConflict, "uniqueness")
}

func TestConditionalGet(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"frank"}`)
	r := e.do("GET", "/scim/v2/Users/"+id, "", "If-None-Match", `W/"1"`)
	if r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != `W/"1"` {
		t.Errorf("If-None-Match current: %d %q %s", r.status, r.header.Get("ETag"), r.body)
	}
	e.do("GET", "/scim/v2/Users/"+id, "", "If-None-Match", `W/"7", W/"8"`).want(t, http.StatusOK)
	e.do("GET", "/scim/v2/Users/"+id, "", "If-None-Match", `"1"`).want(t, http.StatusNotModified)
}

func TestDeleteAndDeactivateRevoke(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"gina"}`)
	e.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"gina","active":false}`).
		want(t, http.StatusOK)
	if got := <-e.revoked; got != id {
		t.Errorf("revoked %q, want %q", got, id)
	}
	e.do("DELETE", "/scim/v2/Users/"+id, "", "If-Match", `W/"1"`).wantError(t, http.StatusPreconditionFailed, "")
	r := e.do("DELETE", "/scim/v2/Users/"+id, "", "If-Match", `W/"2"`)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if got := <-e.revoked; got != id {
		t.Errorf("revoked %q, want %q", got, id)
	}
	e.do("GET", "/scim/v2/Users/"+id, "").wantError(t, http.StatusNotFound, "")
	e.do("DELETE", "/scim/v2/Users/"+id, "").wantError(t, http.StatusNotFound, "")
}

func TestLastAdministrator(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
		"userName":"root","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"roles":["admin"]}}`)
	m := e.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"root","active":false}`).
		wantError(t, http.StatusConflict, "")
	if !strings.Contains(m["detail"].(string), "last active administrator") {
		t.Errorf("detail %q", m["detail"])
	}
	e.do("DELETE", "/scim/v2/Users/"+id, "").wantError(t, http.StatusConflict, "")
	e.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
		"userName":"root","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"roles":[]}}`).wantError(t, http.StatusConflict, "")
	u, err := e.db.User(context.Background(), id)
	if err != nil || !u.Active || !u.HasRole(account.RoleAdmin) || u.Meta.Version != 1 {
		t.Errorf("the last administrator changed: %+v %v", u, err)
	}
}

func TestStoreUnavailable(t *testing.T) {
	e := newEnvOn(t, sqlite.Options{MaxSizeBytes: 256 << 10})
	e.user("before")
	blob := bytes.Repeat([]byte("x"), 8<<10)
	for i := 0; ; i++ {
		err := e.db.PutSetting(context.Background(), "fill"+strconv.Itoa(i), blob)
		if errors.Is(err, store.ErrUnavailable) {
			break
		}
		if err != nil || i > 1000 {
			t.Fatalf("filling the database: %v", err)
		}
	}
	r := e.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"after","displayName":"`+strings.Repeat("y", 9000)+`"}`)
	r.wantError(t, http.StatusServiceUnavailable, "")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if _, err := e.db.UserByName(context.Background(), "after"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed create left a user: %v", err)
	}
}

// TestVendorBodies: the create and replace bodies of Entra ID's and
// Okta's published examples are accepted as they are.
func TestVendorBodies(t *testing.T) {
	e := newEnv(t)
	// Entra ID (Microsoft Learn, "Understand the Microsoft Entra SCIM
	// implementation": Create User).
	_, r := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1","active":true,
		"emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
		"meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
		"roles":[],"addresses":[{"type":"work","formatted":"1 Main St","primary":true}]}`)
	m := r.json(t)
	// The core roles are dropped; the addresses are kept.
	if m["userName"] != "test_user_ab6490ee-1e48-479e-a20b-2d77186b5dd1" || m["roles"] != nil ||
		string(mustJSON(m["addresses"])) != `[{"formatted":"1 Main St","primary":true,"type":"work"}]` {
		t.Errorf("Entra ID create: %s", r.body)
	}
	// Okta (developer.okta.com SCIM 2.0 reference: Create the User, then
	// a PUT of the whole user).
	id, r := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local",
		"name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
		"displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"Sekr3t-pass-okta","active":true}`)
	if r.json(t)["locale"] != "en-US" {
		t.Errorf("Okta create: %s", r.body)
	}
	e.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"`+id+`","userName":"test.user@okta.local",
		"name":{"givenName":"Another","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
		"displayName":"Another User","locale":"en-US","groups":[],"active":true,"meta":{"resourceType":"User"}}`).want(t, http.StatusOK)
	m = e.do("GET", "/scim/v2/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100", "").want(t, http.StatusOK).json(t)
	if m["totalResults"] != float64(1) || get(m["Resources"].([]any)[0].(map[string]any), "name.givenName") != "Another" {
		t.Errorf("Okta list: %v", m)
	}
}

// TestPatientLinkedToOneUser: two Users with fhirUser Patient/X would let
// the second read the first's chart: the second is 409 uniqueness, on
// create, PUT and PATCH, and nothing is stored. A Practitioner may be
// shared.
func TestPatientLinkedToOneUser(t *testing.T) {
	e := newEnv(t)
	body := func(name, fhirUser string) string {
		return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
			"userName":"` + name + `","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"fhirUser":"` + fhirUser + `"}}`
	}
	e.createUser(body("first", "Patient/x1"))
	e.do("POST", "/scim/v2/Users", body("second", "Patient/x1")).wantError(t, http.StatusConflict, "uniqueness")
	if _, err := e.db.UserByName(context.Background(), "second"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second: %v, want not stored", err)
	}
	other, _ := e.createUser(body("other", "Patient/x2"))
	e.do("PUT", "/scim/v2/Users/"+other, body("other", "Patient/x1")).wantError(t, http.StatusConflict, "uniqueness")
	e.do("PATCH", "/scim/v2/Users/"+other, patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:fhirUser","value":"Patient/x1"}`)).
		wantError(t, http.StatusConflict, "uniqueness")
	if u, err := e.db.User(context.Background(), other); err != nil || u.FHIRUser != "Patient/x2" || u.Meta.Version != 1 {
		t.Errorf("other after the refused changes: %+v %v", u, err)
	}
	e.createUser(body("doc1", "Practitioner/p1"))
	e.createUser(body("doc2", "Practitioner/p1"))
}
