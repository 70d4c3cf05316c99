package main

import (
	"net/http"
	"net/url"
	"testing"
)

// Withdrawing an app at /account/apps and logging out end the app's
// tokens at /fhir on the very next request, also those the FHIR endpoint
// verified (and cached) just before (personRevoker: the pages' revocations
// forget the cached verifications too).
func TestFixauthzPagesRevocationsEndCachedTokens(t *testing.T) {
	h := newHarness(t)
	own := "Patient/" + h.patients["Lind"]
	app := h.confidentialClient("app")
	token := func(b *flowBrowser, scope string) string {
		t.Helper()
		r := b.request(app, scope, "")
		back, err := b.authorize(r, "lind", userPassword)
		if err != nil {
			t.Fatal(err)
		}
		tok := b.exchange(r, back).str("access_token")
		if r := h.do("GET", own, tok, nil); r.status != http.StatusOK {
			t.Fatalf("FHIR before: %d", r.status)
		}
		return tok
	}

	b := h.browser()
	tok := token(b, "openid offline_access launch/patient patient/*.rs")
	page := b.send("GET", "/account/apps", nil)
	if r := b.send("POST", "/account/apps/revoke", url.Values{"csrf_token": {field(reCSRF, page.body)}, "client_id": {app.id}}); r.status >= 400 {
		t.Fatalf("withdraw the app: %d %.300s", r.status, r.body)
	}
	if r := h.do("GET", own, tok, nil); r.status != http.StatusUnauthorized {
		t.Errorf("FHIR with the (cached) token of a withdrawn app: %d, want 401", r.status)
	}

	b2 := h.browser()
	tok = token(b2, "openid online_access launch/patient patient/*.rs")
	b2.logout()
	if r := h.do("GET", own, tok, nil); r.status != http.StatusUnauthorized {
		t.Errorf("FHIR with the (cached) online_access token after log-out: %d, want 401", r.status)
	}
}
