package scim_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// sevenUsers creates user0 … user6 (user3 inactive) and returns their ids.
func sevenUsers(e *env) []string {
	var ids []string
	for i := range 7 {
		id, _ := e.createUser(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"user%d","externalId":"x%d","active":%v,
			"emails":[{"value":"user%d@example.org","type":"work"}],"name":{"givenName":"G%d","familyName":"F%d"},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D%d"}}`, i, i, i != 3, i, i, i, i))
		ids = append(ids, id)
	}
	return ids
}

func userNames(t *testing.T, m map[string]any) []string {
	t.Helper()
	var names []string
	res, ok := m["Resources"].([]any)
	if !ok {
		t.Fatalf("no Resources: %v", m)
	}
	for _, r := range res {
		n, _ := r.(map[string]any)["userName"].(string)
		names = append(names, n)
	}
	return names
}

func TestListUsersPaging(t *testing.T) {
	e := newEnv(t)
	sevenUsers(e)
	for _, c := range []struct {
		query                 string
		total, start, perPage int
		first                 string
	}{
		{"", 7, 1, 7, "user0"},
		{"?startIndex=3&count=2&sortBy=userName", 7, 3, 2, "user2"},
		{"?startIndex=0&count=2&sortBy=userName", 7, 1, 2, "user0"},
		{"?startIndex=-5&sortBy=userName", 7, 1, 7, "user0"},
		{"?startIndex=7&count=5&sortBy=userName", 7, 7, 1, "user6"},
		{"?startIndex=50", 7, 50, 0, ""},
		{"?count=0", 7, 1, 0, ""},
		{"?count=-3", 7, 1, 0, ""},
		{"?count=1000000&sortBy=userName", 7, 1, 7, "user0"},
		{"?count=99999999999999999999999&sortBy=userName", 7, 1, 7, "user0"},
		{"?count=-99999999999999999999999", 7, 1, 0, ""},
		{"?startIndex=99999999999999999999999", 7, 2147483647, 0, ""},
		{"?sortBy=userName&sortOrder=descending&count=1", 7, 1, 1, "user6"},
		{"?sortBy=name.givenName&sortOrder=DESCENDING&count=1", 7, 1, 1, "user6"},
	} {
		t.Run(c.query, func(t *testing.T) {
			m := e.do("GET", "/scim/v2/Users"+c.query, "").want(t, http.StatusOK).json(t)
			if fmt.Sprint(m["schemas"]) != "[urn:ietf:params:scim:api:messages:2.0:ListResponse]" {
				t.Errorf("schemas %v", m["schemas"])
			}
			if m["totalResults"] != float64(c.total) || m["startIndex"] != float64(c.start) || m["itemsPerPage"] != float64(c.perPage) {
				t.Errorf("total %v start %v perPage %v, want %d %d %d", m["totalResults"], m["startIndex"], m["itemsPerPage"], c.total, c.start, c.perPage)
			}
			names := userNames(t, m)
			if len(names) != c.perPage || (c.first != "" && names[0] != c.first) {
				t.Errorf("names %v, want %d starting with %q", names, c.perPage, c.first)
			}
		})
	}
	for _, q := range []string{"?count=ten", "?startIndex=1.5", "?sortBy=password", "?sortBy=emails[type eq \"work\"]", "?sortBy=userName&sortOrder=up"} {
		e.do("GET", "/scim/v2/Users"+strings.ReplaceAll(q, " ", "%20"), "").wantError(t, http.StatusBadRequest, "invalidValue")
	}
}

func TestListCountIsCapped(t *testing.T) {
	e := newEnv(t) // MaxResults 50
	for i := range 53 {
		e.createUser(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p%02d"}`, i))
	}
	m := e.do("GET", "/scim/v2/Users?count=1000000", "").want(t, http.StatusOK).json(t)
	if m["totalResults"] != float64(53) || m["itemsPerPage"] != float64(50) {
		t.Errorf("count=1000000: total %v, perPage %v", m["totalResults"], m["itemsPerPage"])
	}
	m = e.do("GET", "/scim/v2/Users?startIndex=51", "").want(t, http.StatusOK).json(t)
	if m["itemsPerPage"] != float64(3) {
		t.Errorf("last page: %v", m["itemsPerPage"])
	}
}

func TestListUsersFilter(t *testing.T) {
	e := newEnv(t)
	ids := sevenUsers(e)
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{`userName eq "USER2"`, []string{"user2"}},
		{`externalId eq "x4"`, []string{"user4"}},
		{`active eq false`, []string{"user3"}},
		{`emails[type eq "work" and value co "user5"]`, []string{"user5"}},
		{`emails.value sw "user1@"`, []string{"user1"}},
		{`name.givenName eq "G1" or name.familyName eq "F6"`, []string{"user1", "user6"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "D0"`, []string{"user0"}},
		{`id eq "` + ids[2] + `"`, []string{"user2"}},
		{`userName eq "nobody"`, nil},
	} {
		m := e.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(c.filter), "").want(t, http.StatusOK).json(t)
		got := userNames(t, m)
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(c.want) || m["totalResults"] != float64(len(c.want)) {
			t.Errorf("%s: %v (total %v), want %v", c.filter, got, m["totalResults"], c.want)
		}
	}
	for _, f := range []string{`userName eq`, `userName xx "a"`, `(userName eq "a"`, `nope eq "a"`, `password eq "x"`, `password pr`} {
		e.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), "").wantError(t, http.StatusBadRequest, "invalidFilter")
	}
}

func TestProjection(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(aliceBody)
	one := func(q string) map[string]any {
		t.Helper()
		return e.do("GET", "/scim/v2/Users/"+id+q, "").want(t, http.StatusOK).json(t)
	}
	keys := func(m map[string]any) string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		return strings.Join(k, " ")
	}
	if got := keys(one("?attributes=userName")); got != "id schemas userName" {
		t.Errorf("attributes=userName: %s", got)
	}
	m := one("?attributes=name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
	if keys(m) != "emails id name schemas urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" ||
		fmt.Sprint(m["name"]) != "map[givenName:Alice]" || fmt.Sprint(m["emails"]) != "[map[value:alice@example.org]]" ||
		fmt.Sprint(m["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]) != "map[department:Ward 3]" {
		t.Errorf("sub-attributes: %v", m)
	}
	if got := keys(one("?attributes=urn:ietf:params:scim:schemas:core:2.0:User:USERNAME,id")); got != "id schemas userName" {
		t.Errorf("qualified, case-insensitive: %s", got)
	}
	m = one("?excludedAttributes=emails,meta,id,schemas,name.givenName")
	if m["emails"] != nil || m["meta"] != nil || m["id"] != id || m["schemas"] == nil || get(m, "name.givenName") != nil || get(m, "name.familyName") != "Liddell" {
		t.Errorf("excludedAttributes: %v", m)
	}
	// Lists project the same way; password is never returned, even asked.
	l := e.do("GET", "/scim/v2/Users?attributes=userName,password", "").want(t, http.StatusOK).json(t)
	if got := keys(l["Resources"].([]any)[0].(map[string]any)); got != "id schemas userName" {
		t.Errorf("list attributes=userName,password: %s", got)
	}
	if one("?attributes=password")["password"] != nil {
		t.Error("password returned")
	}
}

func TestSearchEndpoints(t *testing.T) {
	e := newEnv(t)
	sevenUsers(e)
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"user\"","sortBy":"userName",
		"sortOrder":"descending","startIndex":2,"count":2,"attributes":["userName"]}`
	m := e.do("POST", "/scim/v2/Users/.search", body).want(t, http.StatusOK).json(t)
	if got := userNames(t, m); fmt.Sprint(got) != "[user5 user4]" || m["totalResults"] != float64(7) || m["startIndex"] != float64(2) {
		t.Errorf("Users/.search: %v %v", got, m)
	}
	e.do("POST", "/scim/v2/Users/.search", `{"filter":"userName eq \"a\""}`).wantError(t, http.StatusBadRequest, "invalidSyntax")
	e.do("POST", "/scim/v2/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq"}`).
		wantError(t, http.StatusBadRequest, "invalidFilter")
	e.do("POST", "/scim/v2/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"bogus":1}`).
		wantError(t, http.StatusBadRequest, "invalidValue")
	e.do("GET", "/scim/v2/Users/.search", "").wantError(t, http.StatusMethodNotAllowed, "")
}
