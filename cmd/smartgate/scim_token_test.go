package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/smartgate/smartgate/authz"
)

var reProvisioningToken = regexp.MustCompile(`data-provisioning-token="([^"]+)"`)

// provisioningToken returns the static "secret token" a provisioning
// client (Entra ID, Okta) is configured with: a client allowed SCIM is
// registered, and the administrator issues a token for it on the client's
// page, where it is shown once.
func (h *harness) provisioningToken(name string) string {
	h.t.Helper()
	c, _, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: name + " provisioning",
		GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: authz.AuthClientSecretBasic,
		AllowSCIM: true}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	admin := h.pageSession("admin", adminPassword)
	page := h.baseA + "/admin/clients/" + url.PathEscape(c.ID)
	edit := h.page(admin, "GET", page, nil)
	if edit.status != http.StatusOK {
		h.t.Fatalf("GET %s: %d %.300s", page, edit.status, edit.body)
	}
	r := h.page(admin, "POST", page+"/provisioning-tokens", url.Values{"csrf_token": {field(reCSRF, edit.body)}, "label": {name}})
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || loc == "" {
		h.t.Fatalf("issue a provisioning token: %d %.300s", r.status, r.body)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = h.baseA + loc
	}
	shown := h.page(admin, "GET", loc, nil)
	tok := field(reProvisioningToken, shown.body)
	if shown.status != http.StatusOK || tok == "" {
		h.t.Fatalf("the issued token is not shown: %d %.300s", shown.status, shown.body)
	}
	return tok
}
