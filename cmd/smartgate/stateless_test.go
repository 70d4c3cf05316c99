package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/listener"
)

// backendAssertion is a private_key_jwt client assertion of the backend client.
func (h *harness) backendAssertion() string {
	h.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: h.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		h.t.Fatal(err)
	}
	claims := josejwt.Claims{Issuer: h.backend, Subject: h.backend, Audience: josejwt.Audience{h.baseA + "/oauth/token"},
		ID: fmt.Sprintf("stateless-%d", h.jti.Add(1)), Expiry: josejwt.NewNumericDate(time.Now().Add(4 * time.Minute))}
	a, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// TestV6_RevokedBackendTokenRefusedWithinBound: a backend-services
// (client_credentials, private_key_jwt) token is stateless — no stored
// record — yet RFC 7009 revocation is honoured by the FHIR endpoint within
// the bearer cache bound, as for a stored token (TestV6_…).
func TestV6_RevokedBackendTokenRefusedWithinBound(t *testing.T) {
	h := newHarness(t)
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New(time.Now())
	const bound = 5 * time.Second
	auth := bearer.New(tokenVerifier{as: h.app.authz, users: userDirectory{db: h.db}}, reg,
		bearer.Options{Now: clock.Now, Revalidate: bound, Audiences: []string{h.baseA + "/fhir", h.baseB + "/fhir"}})
	srv := fhir.New(fhir.Config{Auth: auth, Registry: reg}, h.db, nil)
	mux := http.NewServeMux()
	srv.Register(mux)
	fhirSrv := httptest.NewServer(listener.Middleware(listener.Info{Name: "https", BaseURL: h.baseA}, mux))
	t.Cleanup(fhirSrv.Close)

	tok := h.backendToken("system/Patient.rs")
	var n int
	if err := h.db.Reader().QueryRow(`SELECT COUNT(*) FROM oauth_tokens WHERE client_id = ?`, h.backend).Scan(&n); err != nil || n != 0 {
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
