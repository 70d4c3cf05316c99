package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"testing"
)

func (e *env) user(name string) string {
	e.t.Helper()
	id, _ := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `","displayName":"` + name + ` D"}`)
	return id
}

func memberIDs(t *testing.T, m map[string]any) []string {
	t.Helper()
	var ids []string
	ms, _ := m["members"].([]any)
	for _, x := range ms {
		ids = append(ids, x.(map[string]any)["value"].(string))
	}
	sort.Strings(ids)
	return ids
}

func sorted(ids ...string) []string { sort.Strings(ids); return ids }

func TestGroups(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.user("ann"), e.user("ben"), e.user("cat")
	r := e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"],
		"displayName":"Nurses","externalId":"n1","members":[{"value":"`+a+`"},{"value":"`+b+`","type":"User"}],
		"urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group":{"roles":["practitioner"],"ceiling":["user/*.rs"]}}`).want(t, http.StatusCreated)
	m := r.json(t)
	gid, _ := m["id"].(string)
	if r.header.Get("Location") != e.srv.URL+"/scim/v2/Groups/"+gid || r.header.Get("ETag") != `W/"1"` || get(m, "meta.resourceType") != "Group" {
		t.Errorf("create: %v %s", r.header, r.body)
	}
	if fmt.Sprint(memberIDs(t, m)) != fmt.Sprint(sorted(a, b)) {
		t.Errorf("members %v", m["members"])
	}
	for _, x := range m["members"].([]any) {
		mm := x.(map[string]any)
		if mm["$ref"] != e.srv.URL+"/scim/v2/Users/"+mm["value"].(string) || mm["display"] == nil {
			t.Errorf("member %v", mm)
		}
	}
	ext := m["urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"].(map[string]any)
	if fmt.Sprint(ext["roles"]) != "[practitioner]" || fmt.Sprint(ext["ceiling"]) != "[user/*.rs]" {
		t.Errorf("extension %v", ext)
	}
	// The user shows the group.
	u := e.do("GET", "/scim/v2/Users/"+a, "").want(t, http.StatusOK).json(t)
	if gs, _ := u["groups"].([]any); len(gs) != 1 || gs[0].(map[string]any)["value"] != gid || gs[0].(map[string]any)["display"] != "Nurses" {
		t.Errorf("user groups %v", u["groups"])
	}
	// Group filters: by user membership too.
	l := e.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`groups.value eq "`+gid+`"`), "").want(t, http.StatusOK).json(t)
	if l["totalResults"] != float64(2) {
		t.Errorf("users in the group: %v", l["totalResults"])
	}

	e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"nurses"}`).wantError(t, 409, "uniqueness")
	e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"X","members":[{"value":"nobody"}]}`).
		wantError(t, 400, "invalidValue")
	e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"],
		"displayName":"Y","urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group":{"ceiling":["openid"]}}`).wantError(t, 400, "invalidValue")
	e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]}`).wantError(t, 400, "invalidValue")

	// List, filter, members left out when not asked for.
	l = e.do("GET", "/scim/v2/Groups?filter="+url.QueryEscape(`displayName eq "NURSES"`)+"&excludedAttributes=members", "").want(t, http.StatusOK).json(t)
	res := l["Resources"].([]any)
	if l["totalResults"] != float64(1) || res[0].(map[string]any)["members"] != nil || res[0].(map[string]any)["displayName"] != "Nurses" {
		t.Errorf("group list: %v", l)
	}
	l = e.do("GET", "/scim/v2/Groups?filter="+url.QueryEscape(`members.value eq "`+b+`"`), "").want(t, http.StatusOK).json(t)
	if l["totalResults"] != float64(1) || len(l["Resources"].([]any)[0].(map[string]any)["members"].([]any)) != 2 {
		t.Errorf("group list by member: %v", l)
	}

	// PUT without the extension keeps roles and ceiling; members replaced.
	r = e.do("PUT", "/scim/v2/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Nurses",
		"members":[{"value":"`+c+`"}]}`, "If-Match", `W/"1"`).want(t, http.StatusOK)
	m = r.json(t)
	ext = m["urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"].(map[string]any)
	if fmt.Sprint(memberIDs(t, m)) != fmt.Sprint([]string{c}) || fmt.Sprint(ext["ceiling"]) != "[user/*.rs]" || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("PUT: %s %s", r.header.Get("ETag"), r.body)
	}
	e.do("PUT", "/scim/v2/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Z"}`, "If-Match", `W/"1"`).
		wantError(t, 412, "")
	g := e.do("GET", "/scim/v2/Groups/"+gid, "", "If-None-Match", `W/"2"`)
	if g.status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", g.status)
	}

	e.do("DELETE", "/scim/v2/Groups/"+gid, "", "If-Match", `W/"1"`).wantError(t, 412, "")
	if d := e.do("DELETE", "/scim/v2/Groups/"+gid, ""); d.status != http.StatusNoContent {
		t.Errorf("DELETE: %d %s", d.status, d.body)
	}
	e.do("GET", "/scim/v2/Groups/"+gid, "").wantError(t, 404, "")
	e.do("DELETE", "/scim/v2/Groups/"+gid, "").wantError(t, 404, "")
}

func TestPatchGroupMembers(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.user("ann"), e.user("ben"), e.user("cat")
	gid, _ := e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Ward",
		"members":[{"value":"`+a+`"}]}`).want(t, http.StatusCreated).json(t)["id"].(string)
	members := func() []string {
		g, err := e.db.Group(context.Background(), gid)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range g.Members {
			ids = append(ids, m.Value)
		}
		sort.Strings(ids)
		return ids
	}
	// Okta/Entra member batches: 204 with the new ETag.
	r := e.do("PATCH", "/scim/v2/Groups/"+gid, patchBody(
		`{"op":"Add","path":"members","value":[{"value":"`+b+`"},{"value":"`+c+`"}]}`,
		`{"op":"Remove","path":"members[value eq \"`+a+`\"]"}`), "If-Match", `W/"1"`)
	if r.status != http.StatusNoContent || r.header.Get("ETag") != `W/"2"` || len(r.body) != 0 {
		t.Fatalf("member PATCH: %d %q %s", r.status, r.header.Get("ETag"), r.body)
	}
	if got := members(); fmt.Sprint(got) != fmt.Sprint(sorted(b, c)) {
		t.Errorf("members %v", got)
	}
	e.do("PATCH", "/scim/v2/Groups/"+gid, patchBody(`{"op":"add","path":"members","value":[{"value":"`+a+`"}]}`), "If-Match", `W/"1"`).
		wantError(t, 412, "")
	e.do("PATCH", "/scim/v2/Groups/"+gid, patchBody(`{"op":"add","path":"members","value":[{"value":"nobody"}]}`)).
		wantError(t, 400, "invalidValue")
	e.do("PATCH", "/scim/v2/Groups/nope", patchBody(`{"op":"add","path":"members","value":[{"value":"`+a+`"}]}`)).
		wantError(t, 404, "")
	if got := members(); fmt.Sprint(got) != fmt.Sprint(sorted(b, c)) {
		t.Errorf("a refused PATCH changed the members: %v", got)
	}

	// With attributes the answer is 200 and the resource.
	r = e.do("PATCH", "/scim/v2/Groups/"+gid+"?attributes=members", patchBody(`{"op":"remove","path":"members","value":[{"value":"`+b+`"}]}`)).
		want(t, http.StatusOK)
	if m := r.json(t); fmt.Sprint(memberIDs(t, m)) != fmt.Sprint([]string{c}) || m["displayName"] != nil {
		t.Errorf("PATCH with attributes: %s", r.body)
	}

	// Any other PATCH is applied to the whole group.
	r = e.do("PATCH", "/scim/v2/Groups/"+gid, patchBody(`{"op":"replace","path":"displayName","value":"Ward 2"}`,
		`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group:ceiling","value":["user/*.rs"]}`)).want(t, http.StatusOK)
	m := r.json(t)
	if m["displayName"] != "Ward 2" || fmt.Sprint(m["urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"]) != "map[ceiling:[user/*.rs]]" {
		t.Errorf("full PATCH: %s", r.body)
	}
	e.do("PATCH", "/scim/v2/Groups/"+gid, patchBody(`{"op":"replace","path":"id","value":"x"}`)).wantError(t, 400, "mutability")
}

func TestRootSearch(t *testing.T) {
	e := newEnv(t)
	e.user("ann")
	e.user("ben")
	e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"ann D team"}`).want(t, http.StatusCreated)
	search := func(body string) map[string]any {
		return e.do("POST", "/scim/v2/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],`+body+`}`).
			want(t, http.StatusOK).json(t)
	}
	m := search(`"filter":"displayName sw \"ann\""`)
	if m["totalResults"] != float64(2) {
		t.Errorf("root search: %v", m)
	}
	var types []string
	for _, r := range m["Resources"].([]any) {
		types = append(types, get(r.(map[string]any), "meta.resourceType").(string))
	}
	if fmt.Sprint(types) != "[User Group]" {
		t.Errorf("types %v", types)
	}
	// userName exists only on Users; paging runs across both.
	if m := search(`"filter":"userName eq \"ben\""`); m["totalResults"] != float64(1) {
		t.Errorf("users-only filter: %v", m)
	}
	m = search(`"startIndex":3,"count":5`)
	if m["totalResults"] != float64(3) || m["itemsPerPage"] != float64(1) || get(m["Resources"].([]any)[0].(map[string]any), "meta.resourceType") != "Group" {
		t.Errorf("root paging: %v", m)
	}
	e.do("POST", "/scim/v2/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"bogus eq 1"}`).
		wantError(t, 400, "invalidFilter")
}
