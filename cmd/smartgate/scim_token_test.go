package main

import (
	"context"
	"time"

	"github.com/smartgate/smartgate/authz"
)

// provisioningToken returns the static "secret token" a provisioning
// client (Entra ID, Okta) is configured with: a client allowed SCIM is
// registered, and the administrator issues a token for it on the client's
// page, where it is shown once (issueProvisioningToken).
func (h *harness) provisioningToken(name string) string {
	h.t.Helper()
	c, _, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: name + " provisioning",
		GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: authz.AuthClientSecretBasic,
		AllowSCIM: true}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return h.issueProvisioningToken(h.pageSession("admin", adminPassword), c.ID, name)
}
