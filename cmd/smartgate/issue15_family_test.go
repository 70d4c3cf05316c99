package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/audit"
)

var reFamily = regexp.MustCompile(`name="family_id" value="([^"]*)"`)

// familyIDs lists the family ids of the grants page at path, in order.
func (h *harness) familyIDs(admin *http.Client, path string) []string {
	h.t.Helper()
	r := h.page(admin, "GET", h.baseA+path, nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("GET %s: %d %.300s", path, r.status, r.body)
	}
	var ids []string
	for _, m := range reFamily.FindAllSubmatch(r.body, -1) {
		ids = append(ids, string(m[1]))
	}
	return ids
}

// The grants page ends one refresh-token family (issue 15 item 5, a revoke
// button per family): lind holds two families at the same app (two code
// flows with offline_access); the administrator ends one from lind's page,
// and at once that family's access and refresh tokens are inactive at
// introspection, its refresh fails with invalid_grant and FHIR answers 401
// to its access token, while the other family's tokens still work and the
// consent stays. The POST needs its CSRF token and the administrator's
// role; an unknown, ended or another pair's family id is a 4xx page; a GET
// is 405. The other family ends from the app's page.
func TestIssue15GrantsRevokeFamily(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lind, err := h.db.UserByName(ctx, "lind")
	if err != nil {
		t.Fatal(err)
	}
	admin := h.pageSession("admin", adminPassword)
	adminUser, err := h.db.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	userPage, clientPage := "/admin/grants/users/"+lind.ID, "/admin/grants/clients/"+h.public
	launch := codeLaunch{user: "lind", password: userPassword, scope: "openid offline_access launch/patient patient/Patient.rs",
		patient: h.patients["Lind"]}
	trA := h.code(launch)
	idsA := h.familyIDs(admin, userPage)
	trB := h.code(launch)
	ids := h.familyIDs(admin, userPage)
	if len(idsA) != 1 || len(ids) != 2 || !slices.Contains(ids, idsA[0]) {
		t.Fatalf("family ids after one flow %v, after two %v", idsA, ids)
	}
	famA := idsA[0]
	famB := ids[0]
	if famB == famA {
		famB = ids[1]
	}
	accessA, refreshA, accessB, refreshB := trA.str("access_token"), trA.str("refresh_token"), trB.str("access_token"), trB.str("refresh_token")
	if accessA == "" || refreshA == "" || accessB == "" || refreshB == "" {
		t.Fatalf("tokens: %v %v", trA, trB)
	}
	read := h.baseA + "/fhir/Patient/" + h.patients["Lind"]
	for _, tok := range []string{accessA, accessB} { // and the FHIR endpoint caches them
		if st := h.do("GET", read, tok, nil).status; st != http.StatusOK {
			t.Fatalf("FHIR before: %d", st)
		}
	}

	form := func(id string) url.Values {
		return url.Values{"family_id": {id}, "user_id": {lind.ID}, "client_id": {h.public}}
	}
	if r := h.page(admin, "POST", h.baseA+"/admin/grants/revoke-family", form(famA)); r.status != http.StatusForbidden {
		t.Errorf("revoke-family without the CSRF token: %d, want 403", r.status)
	}
	doc := h.pageSession("doc", userPassword)
	if r := h.adminPost(doc, "/account/apps", "/admin/grants/revoke-family", form(famA)); r.status != http.StatusForbidden {
		t.Errorf("revoke-family by a non-administrator: %d, want 403", r.status)
	}
	if r := h.page(admin, "GET", h.baseA+"/admin/grants/revoke-family", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET revoke-family: %d, want 405", r.status)
	}
	other := form(famA)
	other.Set("client_id", "another-app")
	for name, c := range map[string]struct {
		f    url.Values
		want int
	}{
		"unknown id":        {form("no-such-grant"), http.StatusNotFound},
		"no id":             {url.Values{"user_id": {lind.ID}, "client_id": {h.public}}, http.StatusBadRequest},
		"another pair's id": {other, http.StatusBadRequest},
	} {
		if r := h.adminPost(admin, userPage, "/admin/grants/revoke-family", c.f); r.status != c.want {
			t.Errorf("revoke-family, %s: %d, want %d: %.300s", name, r.status, c.want, r.body)
		}
	}
	if st := h.do("GET", read, accessA, nil).status; st != http.StatusOK {
		t.Fatalf("a refused revoke-family ended the grant: %d", st)
	}

	r := h.adminPost(admin, userPage, "/admin/grants/revoke-family", form(famA))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != userPage {
		t.Fatalf("revoke-family: %d %s %.300s", r.status, r.header.Get("Location"), r.body)
	}
	app := h.rightsClient()
	for what, tok := range map[string]string{"access": accessA, "refresh": refreshA} {
		if active, _, in := h.introspectAs(app, tok); active {
			t.Errorf("%s token of the ended family: introspection %v", what, in)
		}
	}
	for what, tok := range map[string]string{"access": accessB, "refresh": refreshB} {
		if active, _, in := h.introspectAs(app, tok); !active {
			t.Errorf("%s token of the other family: introspection %v", what, in)
		}
	}
	if st := h.do("GET", read, accessA, nil).status; st != http.StatusUnauthorized {
		t.Errorf("FHIR with the ended family's access token: %d, want 401", st)
	}
	if st := h.do("GET", read, accessB, nil).status; st != http.StatusOK {
		t.Errorf("FHIR with the other family's access token: %d, want 200", st)
	}
	refresh := func(tok string) (tokenResponse, int) {
		return h.tokenRequest(flowClient{id: h.public}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}})
	}
	if rt, st := refresh(refreshA); st != http.StatusBadRequest || rt["error"] != "invalid_grant" {
		t.Errorf("refresh of the ended family: %d %v", st, rt)
	}
	if got := h.familyIDs(admin, userPage); len(got) != 1 || got[0] != famB {
		t.Errorf("families listed after the revoke: %v, want [%s]", got, famB)
	}
	if _, err := h.db.Consent(ctx, lind.ID, h.public); err != nil {
		t.Errorf("the consent went with one family: %v", err)
	}
	if r := h.adminPost(admin, userPage, "/admin/grants/revoke-family", form(famA)); r.status != http.StatusNotFound {
		t.Errorf("revoke-family of an ended family: %d, want 404", r.status)
	}
	h.waitAuditEvent(t, func(ev audit.Event) bool {
		return ev.Kind == "admin" && ev.Action == "revoke-family" && ev.Actor == adminUser.ID && ev.ClientID == h.public &&
			ev.Resource == "User/"+lind.ID && strings.Contains(ev.Detail, famA) && ev.Outcome == audit.Success
	})

	// The other family, from the app's page; it still refreshes until then.
	rb, st := refresh(refreshB)
	if st != http.StatusOK || rb.str("refresh_token") == "" {
		t.Fatalf("refresh of the other family: %d %v", st, rb)
	}
	if st := h.do("GET", read, rb.str("access_token"), nil).status; st != http.StatusOK {
		t.Fatalf("FHIR with the refreshed access token: %d", st)
	}
	fb := form(famB)
	fb.Set("back", "client")
	if r := h.adminPost(admin, clientPage, "/admin/grants/revoke-family", fb); r.status != http.StatusSeeOther || r.header.Get("Location") != clientPage {
		t.Fatalf("revoke-family from the app's page: %d %s %.300s", r.status, r.header.Get("Location"), r.body)
	}
	for what, tok := range map[string]string{"access": rb.str("access_token"), "refresh": rb.str("refresh_token")} {
		if active, _, in := h.introspectAs(app, tok); active {
			t.Errorf("refreshed %s token of the second ended family: introspection %v", what, in)
		}
	}
	if st := h.do("GET", read, rb.str("access_token"), nil).status; st != http.StatusUnauthorized {
		t.Errorf("FHIR after the second revoke: %d, want 401", st)
	}
	if got := h.familyIDs(admin, clientPage); len(got) != 0 {
		t.Errorf("families listed after both revokes: %v", got)
	}
}
