package main

// Proxy mode's harness (issue 14): the upstream is smartgate's own
// embedded FHIR endpoint in a separate process (the binary TestMain
// built), on loopback with --http-auth=none, never given a token; the
// harness's server runs with --fhir-upstream in front of it. The demo
// patients are imported into the upstream.

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/fhir"
)

// startUpstreamFHIR runs a bare smartgate whose plain-HTTP /fhir needs no
// token and returns its FHIR base URL.
func startUpstreamFHIR(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	dir := t.TempDir()
	start(t, dir, []string{"SMARTGATE_ADMIN_PASSWORD=" + adminPassword}, "serve", "--data", dir,
		"--http-addr", addr, "--http-url", "http://"+addr, "--https-addr", "", "--http-auth", "none",
		"--log-level", "warn")
	return "http://" + addr + "/fhir"
}

// newProxyHarness is newHarness in proxy mode over a fresh upstream.
func newProxyHarness(t *testing.T, args ...string) *harness {
	t.Helper()
	return newHarness(t, append([]string{"--fhir-upstream", startUpstreamFHIR(t)}, args...)...)
}

// gatewayPaths runs `smartgate gateway` (in process, on real loopback
// HTTP) in front of h's upstream, for tokens of h's HTTPS listener whose
// aud is its FHIR base: once verifying them by h's JWKS, once by
// introspection. A person is known to a gateway by the token alone
// (bearer.ForeignVerifier): an administrator's user/ token reaches
// nothing there.
func gatewayPaths(t *testing.T, h *harness) []enforcementPath {
	t.Helper()
	_, secret, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "Gateway", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic, IntrospectAll: true, Scopes: []string{"system/Patient.rs"},
		ID: "gateway-introspection"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reach := func(k *matrixToken) reach {
		if k.name == "administrator-user" {
			return reachNothing
		}
		return k.reach
	}
	var out []enforcementPath
	for _, mode := range []string{"jwks", "introspection"} {
		g := &gatewayConfig{upstream: h.cfg.Upstream.URL, issuer: h.baseA, listen: "127.0.0.1:0", audience: h.baseA + "/fhir",
			upstreamTimeout: 30 * time.Second, maxBodyBytes: fhir.DefaultMaxBodyBytes, metricsAllow: "127.0.0.1/32"}
		if mode == "introspection" {
			g.introspectionURL, g.clientID, g.clientSecretEnv = h.baseA+"/oauth/introspect", "gateway-introspection", "GW_SECRET"
		}
		e := &env{getenv: func(k string) string {
			if k == "GW_SECRET" {
				return secret
			}
			return ""
		}}
		if err := g.validate(e); err != nil {
			t.Fatal(err)
		}
		g.httpClient = h.httpc
		handler, err := newGateway(context.Background(), g, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(handler)
		t.Cleanup(srv.Close)
		out = append(out, enforcementPath{name: "gateway-" + mode, base: srv.URL + "/fhir", reach: reach})
	}
	return out
}
