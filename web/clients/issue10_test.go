package clients_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/smartgate/smartgate/internal/testhook"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web/clients"
)

// TestIssue10D5_DisableDuringAdminEditStays: an administrator saves an edit
// of a client; between the edit's read of the client and its write, another
// administrator disables it on the same pages. The edit is stored and the
// client stays disabled.
func TestIssue10D5_DisableDuringAdminEditStays(t *testing.T) {
	var st *testhook.AfterGetClient
	e := newEnvWith(t, func(db *sqlite.DB) clients.Store { st = &testhook.AfterGetClient{DB: db}; return st })
	editor, other := e.login("root"), e.login("root")
	_, id, _ := editor.register(url.Values{"client_name": {"Before"}, "redirect_uris": {"https://app.example/cb"}})
	if id == "" {
		t.Fatal("registration failed")
	}
	page := editor.get("/admin/clients/" + id)
	disable := func() {
		if r := other.submit("/admin/clients", "/admin/clients/"+id+"/disable", url.Values{}); r.status != http.StatusSeeOther {
			t.Errorf("the competing disable: %d", r.status)
		}
	}
	st.Arm(disable)
	r := editor.post("/admin/clients/"+id, url.Values{"csrf_token": {csrfOf(t, page.body)}, "client_name": {"After"},
		"redirect_uris": {"https://app.example/cb"}, "token_endpoint_auth_method": {"client_secret_basic"},
		"grant_types": {"authorization_code"}, "scope": {"openid"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	if !st.Fired() {
		t.Fatal("the edit never read the client: the competing disable did not run")
	}
	c, err := e.db.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "After" || !c.Disabled {
		t.Fatalf("after the edit: name %q, disabled %v; want After, still disabled", c.Name, c.Disabled)
	}
}
