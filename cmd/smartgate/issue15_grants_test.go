package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
)

// The grants page as newApp mounts it (issue 15 item 5): lind approves an
// app; the administrator's /admin/grants lists lind and the app, and the
// detail pages show the scopes and the patient; the administrator ends the
// grant, and at once lind's access and refresh tokens are inactive at
// introspection, the refresh grant fails and FHIR answers 401. Markup in
// the app's name is shown inert; only administrators reach the pages, and
// the POST needs its CSRF token.
func TestIssue15GrantsPage(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const markup = `<script>alert("x")</script><b>App</b>`
	if err := h.db.UpdateClient(ctx, h.public, func(old authz.Client) (authz.Client, error) {
		old.Name = markup
		return old, nil
	}); err != nil {
		t.Fatal(err)
	}
	lind, err := h.db.UserByName(ctx, "lind")
	if err != nil {
		t.Fatal(err)
	}
	tr := h.code(codeLaunch{user: "lind", password: userPassword, scope: "openid offline_access launch/patient patient/Patient.rs",
		patient: h.patients["Lind"]})
	access, refresh := tr.str("access_token"), tr.str("refresh_token")
	if access == "" || refresh == "" {
		t.Fatalf("tokens: %v", tr)
	}
	read := "Patient/" + h.patients["Lind"]
	if st := h.do("GET", h.baseA+"/fhir/"+read, access, nil).status; st != http.StatusOK {
		t.Fatalf("lind's token before: %d", st)
	}

	for _, who := range []string{"lind", "doc"} {
		b := h.pageSession(who, userPassword)
		for _, p := range []string{"/admin/grants", "/admin/grants/users/" + lind.ID, "/admin/grants/clients/" + h.public} {
			if r := h.page(b, "GET", h.baseA+p, nil); r.status != http.StatusForbidden {
				t.Errorf("%s on %s: %d, want 403", who, p, r.status)
			}
		}
	}

	admin := h.pageSession("admin", adminPassword)
	list := h.page(admin, "GET", h.baseA+"/admin/grants", nil)
	body := string(list.body)
	if list.status != http.StatusOK || !strings.Contains(body, `href="/admin/grants/users/`+lind.ID+`"`) ||
		!strings.Contains(body, `href="/admin/grants/clients/`+h.public+`"`) || !strings.Contains(body, `aria-current="page">Grants`) {
		t.Fatalf("/admin/grants: %d %s", list.status, body)
	}
	for _, p := range []string{"/admin/grants/users/" + lind.ID, "/admin/grants/clients/" + h.public} {
		r := h.page(admin, "GET", h.baseA+p, nil)
		b := string(r.body)
		if r.status != http.StatusOK || !strings.Contains(b, "<code>patient/Patient.rs</code>") ||
			!strings.Contains(b, "<code>"+h.patients["Lind"]+"</code>") || !strings.Contains(b, "<code>offline_access</code>") {
			t.Errorf("%s: %d %s", p, r.status, b)
		}
		if strings.Contains(b, "<script>alert") || strings.Contains(b, "<b>App</b>") {
			t.Errorf("%s: the client's name is not inert: %s", p, b)
		}
		if p == "/admin/grants/users/"+lind.ID && !strings.Contains(b, "&lt;b&gt;App&lt;/b&gt;") {
			t.Errorf("%s: the client's name is missing: %s", p, b)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Errorf("/admin/grants: the client's name is not inert")
	}

	form := url.Values{"user_id": {lind.ID}, "client_id": {h.public}}
	if r := h.page(admin, "POST", h.baseA+"/admin/grants/revoke", form); r.status != http.StatusForbidden {
		t.Errorf("revoke without the CSRF token: %d, want 403", r.status)
	}
	if st := h.do("GET", h.baseA+"/fhir/"+read, access, nil).status; st != http.StatusOK {
		t.Fatalf("a refused revoke ended the grant: %d", st)
	}
	r := h.adminPost(admin, "/admin/grants/users/"+lind.ID, "/admin/grants/revoke", form)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/admin/grants/users/"+lind.ID {
		t.Fatalf("revoke: %d %s %.300s", r.status, r.header.Get("Location"), r.body)
	}

	app := h.rightsClient()
	for what, tok := range map[string]string{"access": access, "refresh": refresh} {
		if active, _, in := h.introspectAs(app, tok); active {
			t.Errorf("%s token after the revoke: introspection %v", what, in)
		}
	}
	rt, st := h.tokenRequest(flowClient{id: h.public}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if st != http.StatusBadRequest || rt["error"] != "invalid_grant" {
		t.Errorf("refresh after the revoke: %d %v", st, rt)
	}
	if st := h.do("GET", h.baseA+"/fhir/"+read, access, nil).status; st != http.StatusUnauthorized {
		t.Errorf("FHIR with the access token after the revoke: %d, want 401", st)
	}
	after := h.page(admin, "GET", h.baseA+"/admin/grants/users/"+lind.ID, nil)
	if strings.Contains(string(after.body), "patient/Patient.rs") {
		t.Errorf("the ended grant is still listed: %s", after.body)
	}
	if _, err := h.db.Consent(ctx, lind.ID, h.public); err == nil {
		t.Error("the consent survived the revoke")
	}
	h.waitAuditEvent(t, func(ev audit.Event) bool {
		return ev.Kind == "admin" && ev.Action == "revoke grants" && ev.ClientID == h.public && ev.Resource == "User/"+lind.ID
	})
}

// waitAuditEvent waits (the audit batcher writes in the background) for an
// audit record that match accepts.
func (h *harness) waitAuditEvent(t *testing.T, match func(audit.Event) bool) audit.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := h.db.AuditEvents(context.Background(), audit.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no such audit record")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
