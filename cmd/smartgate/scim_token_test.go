package main

// provisioningToken returns the static bearer token a provisioning client
// (Entra ID, Okta) is configured with, issued for a client named name.
func (h *harness) provisioningToken(name string) string {
	h.t.Helper()
	_ = name
	return h.owin("admin", adminPassword)
}
