package main

// Administrator-assisted sign-in through the whole server (issue 12): an
// administrator issues a code on /admin/users/{id}, sees it once, the
// person logs in with it at /login/code, and it cannot be used again; the
// issue and the use are audited, and no record holds the code.

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
)

var reSignInCode = regexp.MustCompile(`data-signin-code="([^"]+)"`)

func TestSignInCodeThroughTheServer(t *testing.T) {
	h := newFedHarness(t, "log_level: info\n", nil)
	ctx := context.Background()
	fay := &account.User{UserName: "fay", Active: true, Roles: []string{"patient"}}
	if err := h.app.people.Create(ctx, fay, userPassword); err != nil {
		t.Fatal(err)
	}
	admin := h.pageSession("admin", adminPassword)
	person := h.baseA + "/admin/users/" + fay.ID
	page := h.page(admin, "GET", person, nil)
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `action="/admin/users/`+fay.ID+`/signin-code"`) {
		t.Fatalf("GET %s: %d, want the sign-in code button %.300s", person, page.status, page.body)
	}
	r := h.page(admin, "POST", person+"/signin-code", url.Values{"csrf_token": {field(reCSRF, page.body)}, "action": {"signin-code"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("issue: %d %.300s", r.status, r.body)
	}
	shown := h.page(admin, "GET", h.baseA+r.header.Get("Location"), nil)
	code := field(reSignInCode, shown.body)
	if shown.status != http.StatusOK || code == "" {
		t.Fatalf("the code's page: %d %.300s", shown.status, shown.body)
	}
	if again := h.page(admin, "GET", h.baseA+r.header.Get("Location"), nil); reSignInCode.Match(again.body) {
		t.Error("the code is shown a second time")
	}

	b := h.fedBrowser()
	form := h.page(b, "GET", h.baseA+"/login/code?"+url.Values{"return_to": {"/account/apps"}}.Encode(), nil)
	if form.status != http.StatusOK || !strings.Contains(string(form.body), `name="code"`) {
		t.Fatalf("GET /login/code: %d %.300s", form.status, form.body)
	}
	use := h.page(b, "POST", h.baseA+"/login/code", url.Values{"csrf_token": {field(reCSRF, form.body)},
		"return_to": {"/account/apps"}, "code": {code}})
	if use.status != http.StatusSeeOther || use.header.Get("Location") != "/account/apps" {
		t.Fatalf("POST /login/code: %d %q %.300s", use.status, use.header.Get("Location"), use.body)
	}
	if !h.loggedIn(t, b) {
		t.Fatal("no session after the code")
	}
	if ev := h.waitAudit(t, use); ev.Action != "signin_code" || ev.Outcome != audit.Success || ev.Actor != fay.ID {
		t.Errorf("audit of the use: %+v", ev)
	}

	other := h.fedBrowser()
	form = h.page(other, "GET", h.baseA+"/login/code", nil)
	reuse := h.page(other, "POST", h.baseA+"/login/code", url.Values{"csrf_token": {field(reCSRF, form.body)}, "code": {code}})
	if reuse.status != http.StatusUnauthorized {
		t.Fatalf("the code used again: %d, want 401 %.300s", reuse.status, reuse.body)
	}
	if h.loggedIn(t, other) {
		t.Fatal("a used code gave a session")
	}
	if ev := h.waitAudit(t, reuse); ev.Outcome == audit.Success {
		t.Errorf("audit of the reuse: %+v", ev)
	}

	evs, err := h.db.AuditEvents(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	issued := false
	for _, ev := range evs {
		if strings.Contains(ev.Detail+ev.Resource+ev.Action+ev.Actor, code) {
			t.Errorf("an audit record holds the code: %+v", ev)
		}
		issued = issued || ev.Kind == "signin_code" && ev.Action == "issue" && ev.Resource == "User/"+fay.ID && ev.Outcome == audit.Success
	}
	if !issued {
		t.Error("no signin_code/issue audit record of User/" + fay.ID)
	}
}
