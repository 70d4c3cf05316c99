package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"
)

// The people pages as newApp mounts them: an administrator disables a
// person on /admin/users/{id} and the person's tokens stop working at once
// (account.People revokes through the authorization server), the OWin grant
// refuses them; enabled again and given a new password on the page, they
// get a token with it. Only administrators reach the pages.
func TestPeoplePagesAsWired(t *testing.T) {
	h := newHarness(t)
	doc, err := h.db.UserByName(context.Background(), "doc")
	if err != nil {
		t.Fatal(err)
	}
	token := h.owin("doc", userPassword)
	if r := h.fhirRequest(t, "GET", h.baseA+"/fhir/Patient?_count=1", token, nil, nil); r.status != http.StatusOK {
		t.Fatalf("doc's token before: %d", r.status)
	}
	if r := h.page(h.pageSession("doc", userPassword), "GET", h.baseA+"/admin/users", nil); r.status != http.StatusForbidden {
		t.Errorf("a practitioner on /admin/users: %d", r.status)
	}
	admin := h.pageSession("admin", adminPassword)
	person := h.baseA + "/admin/users/" + doc.ID
	post := func(action string, f url.Values) *response {
		t.Helper()
		page := h.page(admin, "GET", person, nil)
		if page.status != http.StatusOK {
			t.Fatalf("GET %s: %d", person, page.status)
		}
		f.Set("csrf_token", field(reCSRF, page.body))
		f.Set("version", field(reVersion, page.body))
		return h.page(admin, "POST", person+action, f)
	}
	if r := post("/disable", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %.300s", r.status, r.body)
	}
	if r := h.fhirRequest(t, "GET", h.baseA+"/fhir/Patient?_count=1", token, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("a disabled person's token at /fhir: %d, want 401", r.status)
	}
	r := h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"doc"}, "password": {userPassword}}, nil)
	if r.status == http.StatusOK {
		t.Error("the OWin grant gave a disabled person a token")
	}
	if r := post("/enable", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("enable: %d", r.status)
	}
	if r := post("/password", url.Values{"new_password": {"a new password from the page"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %.300s", r.status, r.body)
	}
	h.owin("doc", "a new password from the page")
}

var reVersion = regexp.MustCompile(`name="version" value="(\d+)"`)
