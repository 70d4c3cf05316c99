package main

// The providers page as newApp mounts it (issue 12): an administrator sees
// each provider with its callback on both listeners and the result of its
// last discovery fetch, and "check now" fetches it; a provider that cannot
// be reached does not stop the server and shows its error; only
// administrators see the page.

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
)

// providerSection is the page's section of provider id.
func providerSection(t *testing.T, body []byte, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<section id="provider-` + regexp.QuoteMeta(id) + `".*?</section>`).Find(body)
	if m == nil {
		t.Fatalf("no section of provider %s: %s", id, body)
	}
	return string(m)
}

func TestProvidersPageAsWired(t *testing.T) {
	op := newFakeOP(t, "smartgate-corp", "corp-secret-1234")
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(op.secret), 0o600); err != nil {
		t.Fatal(err)
	}
	down := &fakeOP{issuer: "http://127.0.0.1:1", clientID: "smartgate-down"} // nothing listens on port 1
	h := newFedHarness(t, "providers:\n"+fedProviderYAML("corp", op, secret, "invite", false)+
		fedProviderYAML("down", down, secret, "invite", false), nil)

	admin := h.pageSession("admin", adminPassword)
	page := h.page(admin, "GET", h.baseA+"/admin/providers", nil)
	if page.status != http.StatusOK {
		t.Fatalf("GET /admin/providers: %d %.300s", page.status, page.body)
	}
	for _, id := range []string{"corp", "down"} {
		sec := providerSection(t, page.body, id)
		for _, want := range []string{h.baseA + "/login/" + id + "/callback", h.baseB + "/login/" + id + "/callback"} {
			if !strings.Contains(sec, "<code data-callback>"+want+"</code>") {
				t.Errorf("provider %s: no callback %s: %s", id, want, sec)
			}
		}
	}
	check := func(id string) string {
		t.Helper()
		page := h.page(admin, "GET", h.baseA+"/admin/providers", nil)
		r := h.page(admin, "POST", h.baseA+"/admin/providers/"+id+"/check", url.Values{"csrf_token": {field(reCSRF, page.body)}, "action": {"check"}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("check %s: %d %.300s", id, r.status, r.body)
		}
		return providerSection(t, h.page(admin, "GET", h.baseA+"/admin/providers", nil).body, id)
	}
	if sec := check("corp"); !strings.Contains(sec, "data-status-ok") {
		t.Errorf("corp after a check: %s", sec)
	}
	if sec := check("down"); !strings.Contains(sec, "data-status-error") {
		t.Errorf("down after a check: %s", sec)
	}
	// The server still serves the log-in page with both buttons.
	login := h.page(h.fedBrowser(), "GET", h.baseA+"/login", nil)
	if login.status != http.StatusOK || !strings.Contains(string(login.body), `href="/login/corp?`) {
		t.Errorf("the log-in page with a provider down: %d %.500s", login.status, login.body)
	}

	gus := &account.User{UserName: "gus", Active: true, Roles: []string{"patient"}}
	if err := h.app.people.Create(context.Background(), gus, userPassword); err != nil {
		t.Fatal(err)
	}
	if r := h.page(h.pageSession("gus", userPassword), "GET", h.baseA+"/admin/providers", nil); r.status != http.StatusForbidden {
		t.Errorf("a patient on /admin/providers: %d, want 403", r.status)
	}
}
