package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/smartgate/smartgate/internal/testclock"
)

// TestV6_RevokedBackendTokenRefusedWithinBound: a backend-services
// (client_credentials, private_key_jwt) token is stateless — no stored
// record — yet RFC 7009 revocation is honoured by the FHIR endpoint within
// the bearer cache bound, as for a stored token (TestV6_…).
func TestV6_RevokedBackendTokenRefusedWithinBound(t *testing.T) {
	h := newHarness(t)
	const bound = 5 * time.Second
	clock := testclock.New(time.Now())
	fhirSrv := h.fhirWithClock(clock, bound)

	tok := h.backendToken("system/Patient.rs")
	if n, err := h.db.CountTokens(t.Context(), h.backend); err != nil || n != 0 {
		t.Fatalf("oauth_tokens rows of the backend client: %d, %v; want none", n, err)
	}
	own := h.patients["Lind"]
	get := func() *response { return h.do("GET", fhirSrv.URL+"/fhir/Patient/"+own, tok, nil) }
	status(200)(t, get())

	r := h.postForm(h.baseA+"/oauth/revoke", url.Values{"token": {tok},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {h.backendAssertion()}}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	r = h.postForm(h.baseA+"/oauth/introspect", url.Values{"token": {tok},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {h.backendAssertion()}}, nil)
	if r.status != http.StatusOK || r.json["active"] != false {
		t.Fatalf("introspection of the revoked token: %d %s", r.status, r.body)
	}
	// The app's own FHIR endpoint has no cached entry for it: refused now.
	unauthorized("invalid_token")(t, h.do("GET", "Patient/"+own, tok, nil))
	// Within the bound the cached verification may still be used ...
	clock.Advance(bound - time.Millisecond)
	status(200)(t, get())
	// ... and not after it.
	clock.Advance(time.Millisecond)
	unauthorized("invalid_token")(t, get())
}
