package scim_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestDiscoveryIsPublicAndDescribesTheServer(t *testing.T) {
	e := newEnv(t)
	e.token = ""
	m := e.do("GET", "/scim/v2/ServiceProviderConfig", "").want(t, http.StatusOK).json(t)
	for path, want := range map[string]any{
		"patch.supported": true, "bulk.supported": false, "filter.supported": true, "filter.maxResults": float64(50),
		"changePassword.supported": true, "sort.supported": true, "etag.supported": true,
		"meta.location": e.srv.URL + "/scim/v2/ServiceProviderConfig",
	} {
		if got := get(m, path); got != want {
			t.Errorf("ServiceProviderConfig %s = %#v, want %#v", path, got, want)
		}
	}
	schemes, _ := m["authenticationSchemes"].([]any)
	if len(schemes) != 1 || get(schemes[0].(map[string]any), "type") != "oauthbearertoken" {
		t.Errorf("authenticationSchemes %v", m["authenticationSchemes"])
	}

	rt := e.do("GET", "/scim/v2/ResourceTypes", "").want(t, http.StatusOK).json(t)
	if rt["totalResults"] != float64(2) {
		t.Errorf("ResourceTypes: %v", rt)
	}
	u := e.do("GET", "/scim/v2/ResourceTypes/User", "").want(t, http.StatusOK).json(t)
	if u["endpoint"] != "/Users" || u["schema"] != "urn:ietf:params:scim:schemas:core:2.0:User" ||
		get(u, "meta.location") != e.srv.URL+"/scim/v2/ResourceTypes/User" {
		t.Errorf("ResourceTypes/User: %v", u)
	}
	e.do("GET", "/scim/v2/ResourceTypes/Nope", "").wantError(t, http.StatusNotFound, "")

	sc := e.do("GET", "/scim/v2/Schemas", "").want(t, http.StatusOK).json(t)
	var ids []string
	for _, r := range sc["Resources"].([]any) {
		ids = append(ids, r.(map[string]any)["id"].(string))
	}
	for _, want := range []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User",
		"urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"} {
		if !strings.Contains(strings.Join(ids, " "), want) {
			t.Errorf("Schemas lacks %s: %v", want, ids)
		}
	}
	one := e.do("GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:extension:smartgate:2.0:User", "").want(t, http.StatusOK).json(t)
	if one["id"] != "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User" || !strings.Contains(string(mustJSON(one)), "fhirUser") {
		t.Errorf("smartgate schema: %v", one)
	}
	e.do("GET", "/scim/v2/Schemas/urn:nope", "").wantError(t, http.StatusNotFound, "")
	r := e.do("POST", "/scim/v2/ServiceProviderConfig", `{}`)
	r.wantError(t, http.StatusMethodNotAllowed, "")
	if r.header.Get("Allow") != "GET" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
}

func TestAuthorizationComesFirst(t *testing.T) {
	e := newEnv(t)
	e.token = ""
	for _, p := range []string{"/scim/v2/Users", "/scim/v2/Users/x", "/scim/v2/Groups", "/scim/v2/nope", "/scim/v2/"} {
		r := e.do("GET", p, "")
		r.wantError(t, http.StatusUnauthorized, "")
		if r.header.Get("WWW-Authenticate") != `Bearer realm="scim"` {
			t.Errorf("%s: WWW-Authenticate %q", p, r.header.Get("WWW-Authenticate"))
		}
	}
	// A malformed body is not even read before the caller is known.
	e.do("POST", "/scim/v2/Users", `{not json`).wantError(t, http.StatusUnauthorized, "")
	e.token = "someone-else"
	e.do("POST", "/scim/v2/Users", `{not json`).wantError(t, http.StatusForbidden, "")
	e.do("GET", "/scim/v2/Users", "").wantError(t, http.StatusForbidden, "")
	denied := 0
	for _, ev := range e.audit.all() {
		if ev.Kind == "scim" && ev.Outcome == "denied" {
			denied++
		}
	}
	if denied != 8 {
		t.Errorf("%d refused requests audited, want 8: %+v", denied, e.audit.all())
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/scim/v2/", "/scim/v2", "/scim/v2/Nope", "/scim/v2/Users/a/b", "/scim/v2/Groups/a/members"} {
		e.do("GET", p, "").wantError(t, http.StatusNotFound, "")
	}
	r := e.do("DELETE", "/scim/v2/Users", "")
	r.wantError(t, http.StatusMethodNotAllowed, "")
	if r.header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	r = e.do("POST", "/scim/v2/Users/abc", `{}`)
	r.wantError(t, http.StatusMethodNotAllowed, "")
	if r.header.Get("Allow") != "GET, PUT, PATCH, DELETE" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	e.do("GET", "/scim/v2/.search", "").wantError(t, http.StatusMethodNotAllowed, "")
	e.do("GET", "/scim/v2/Me", "").wantError(t, http.StatusNotImplemented, "")
}
