package main

// /account/password in the whole server: the page changes the password
// through account.People, and the person's earlier tokens and other
// sessions end while this session stays.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPasswordPageEndsEarlierTokensAndSessions(t *testing.T) {
	h := newHarness(t)
	mine := h.pageSession("lind", userPassword)
	other := h.pageSession("lind", userPassword)
	token := h.owin("lind", userPassword) // not used before the change (no FHIR cache)
	page := h.page(mine, "GET", h.baseA+"/account/password", nil)
	if page.status != http.StatusOK {
		t.Fatalf("GET /account/password: %d", page.status)
	}
	const next = "lind's brand new password"
	r := h.page(mine, "POST", h.baseA+"/account/password", url.Values{"csrf_token": {field(reCSRF, page.body)},
		"current_password": {userPassword}, "new_password": {next}, "confirm_password": {next}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account/password?changed=1" {
		t.Fatalf("POST /account/password: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	if r := h.page(mine, "GET", h.baseA+"/account/apps", nil); r.status != http.StatusOK {
		t.Fatalf("this session after the change: %d, want it kept", r.status)
	}
	if r := h.page(other, "GET", h.baseA+"/account/apps", nil); r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/login") {
		t.Fatalf("the other session after the change: %d %q, want a redirect to log in", r.status, r.header.Get("Location"))
	}
	if r := h.do("GET", h.baseA+"/fhir/Patient/"+h.patients["Lind"], token, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("FHIR with the token from before the change: %d, want 401", r.status)
	}
	if r := h.do("GET", h.baseA+"/fhir/Patient/"+h.patients["Lind"], h.owin("lind", next), nil); r.status != http.StatusOK {
		t.Fatalf("FHIR with a token from the new password: %d %.200s", r.status, r.body)
	}
}
