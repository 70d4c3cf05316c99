package main

// Proxy mode's harness (issue 14): the upstream is smartgate's own
// embedded FHIR endpoint in a separate process (the binary TestMain
// built), on loopback with --http-auth=none, never given a token; the
// harness's server runs with --fhir-upstream in front of it. The demo
// patients are imported into the upstream.

import (
	"net"
	"testing"
)

// startUpstreamFHIR runs a bare smartgate whose plain-HTTP /fhir needs no
// token and returns its FHIR base URL.
func startUpstreamFHIR(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
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
