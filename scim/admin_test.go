package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// TestOnlyAdministratorsMakeAdministrators: a provisioning client may
// provision people and groups, but not give or take the admin role,
// directly or through a group's roles or members.
func TestOnlyAdministratorsMakeAdministrators(t *testing.T) {
	e := newEnv(t)
	adminBody := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
		"userName":"%s","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"roles":["admin"]}}`
	root, _ := e.createUser(fmt.Sprintf(adminBody, "root"))
	plain := e.user("plain")
	gid, _ := e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"],
		"displayName":"Admins","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group":{"roles":["admin"]}}`).want(t, http.StatusCreated).json(t)["id"].(string)

	e.token = "client-token"
	e.do("POST", "/scim/v2/Users", fmt.Sprintf(adminBody, "sneaky")).wantError(t, http.StatusForbidden, "")
	e.do("PATCH", "/scim/v2/Users/"+plain, patchBody(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User:roles","value":["admin"]}`)).
		wantError(t, http.StatusForbidden, "")
	e.do("PUT", "/scim/v2/Users/"+root, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
		"userName":"root","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"roles":[]}}`).wantError(t, http.StatusForbidden, "")
	e.do("PATCH", "/scim/v2/Groups/"+gid, patchBody(`{"op":"add","path":"members","value":[{"value":"`+plain+`"}]}`)).
		wantError(t, http.StatusForbidden, "")
	e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"],
		"displayName":"More admins","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group":{"roles":["admin"]}}`).wantError(t, http.StatusForbidden, "")
	e.do("PUT", "/scim/v2/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Admins","members":[{"value":"`+plain+`"}]}`).
		wantError(t, http.StatusForbidden, "")
	if g, err := e.db.Group(context.Background(), gid); err != nil || len(g.Members) != 0 {
		t.Errorf("members of Admins: %+v %v", g, err)
	}
	// What a provisioning client does is allowed: a plain person. An
	// administrator it may not change at all, not even their displayName
	// (their password or userName would take them over), nor delete them
	// or the group that gives the role.
	e.user("provisioned")
	e.do("PATCH", "/scim/v2/Users/"+root, patchBody(`{"op":"replace","path":"displayName","value":"Root"}`)).wantError(t, http.StatusForbidden, "")
	e.do("DELETE", "/scim/v2/Users/"+root, "").wantError(t, http.StatusForbidden, "")
	e.do("DELETE", "/scim/v2/Groups/"+gid, "").wantError(t, http.StatusForbidden, "")

	// The administrator may.
	e.token = "admin-token"
	e.do("PATCH", "/scim/v2/Groups/"+gid, patchBody(`{"op":"add","path":"members","value":[{"value":"`+plain+`"}]}`)).want(t, http.StatusNoContent)
}
