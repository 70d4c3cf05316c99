package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/rs"
)

// TestRSVerifiesSmartgateTokens: package rs, the resource-server
// middleware of issue 14, checks tokens of a running smartgate both ways
// the second source document describes: locally as JWTs against the
// discovered JWKS, and by RFC 7662 introspection as a resource server that
// an administrator marked introspect-all. A token for another audience is
// refused either way, and a revoked token is refused by introspection
// once the cache's bound has passed (JWKS mode cannot see it before exp).
func TestRSVerifiesSmartgateTokens(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	fhirBase := h.baseA + "/fhir"
	tok := h.backendToken("system/Patient.rs")

	jwks, err := rs.NewJWKS(rs.JWKSOptions{Issuer: h.baseA, Audience: fhirBase, HTTPClient: h.httpc})
	if err != nil {
		t.Fatal(err)
	}
	c, err := jwks.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("JWKS: smartgate's token: %v", err)
	}
	if c.ClientID != h.backend || !c.HasScope("system/Patient.read") || c.HasScope("system/Observation.rs") {
		t.Errorf("JWKS claims %+v (scopes %s)", c, c.Scopes)
	}
	other, _ := rs.NewJWKS(rs.JWKSOptions{Issuer: h.baseA, Audience: "https://other.example/fhir", HTTPClient: h.httpc})
	if _, err := other.Verify(ctx, tok); !errors.Is(err, rs.ErrInvalidToken) {
		t.Errorf("JWKS: token for another audience: %v", err)
	}
	// A patient's standalone launch: the patient context comes with the
	// token; its ID token is no access token (RFC 9068 typ).
	tr := h.code(codeLaunch{user: "lind", password: userPassword, scope: "openid fhirUser launch/patient patient/Observation.rs"})
	pc, err := jwks.Verify(ctx, tr.str("access_token"))
	if err != nil || pc.Patient != h.patients["Lind"] || pc.ClientID != h.public || !pc.HasScope("patient/Observation.read") {
		t.Fatalf("JWKS: the patient's token: %+v %v", pc, err)
	}
	if idt := tr.str("id_token"); idt == "" {
		t.Fatal("no ID token")
	} else if _, err := jwks.Verify(ctx, idt); !errors.Is(err, rs.ErrInvalidToken) {
		t.Errorf("JWKS: an ID token passed for an access token: %v", err)
	}

	_, secret, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "Resource server", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic, IntrospectAll: true, Scopes: []string{"system/Patient.rs"},
		ID: "resource-server"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	in, err := rs.NewIntrospection(rs.IntrospectionOptions{URL: h.baseA + "/oauth/introspect", ClientID: "resource-server",
		ClientSecret: secret, Issuer: h.baseA, Audience: fhirBase, HTTPClient: h.httpc, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := in.Verify(ctx, tok); err != nil || c.ClientID != h.backend || !c.HasScope("system/Patient.rs") {
		t.Fatalf("introspection: %+v %v", c, err)
	}
	r := h.postForm(h.baseA+"/oauth/revoke", url.Values{"token": {tok},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {h.backendAssertion()}}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if _, err := in.Verify(ctx, tok); err != nil {
		t.Fatalf("introspection within the cache bound: %v", err)
	}
	now = now.Add(6 * time.Second)
	if _, err := in.Verify(ctx, tok); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("introspection of the revoked token after the cache bound: %v", err)
	}
	if _, err := jwks.Verify(ctx, tok); err != nil {
		t.Errorf("JWKS mode sees no revocation before exp (as documented): %v", err)
	}
}
