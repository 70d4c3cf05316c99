package main

// `smartgate gateway` as a real child process (issue 14): tokens from a
// running smartgate (JWKS and introspection modes) whose aud is the
// gateway (--extra-fhir-bases), refused when issued for another audience
// or by a second issuer; the gateway's own documents; its bad flags and a
// dead upstream.

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// trustHarness writes h's test TLS certificate where a child process's Go
// TLS stack looks for roots (SSL_CERT_FILE).
func trustHarness(t *testing.T, h *harness) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	pemText := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.secure.Certificate().Raw})
	if err := os.WriteFile(f, pemText, 0o600); err != nil {
		t.Fatal(err)
	}
	return "SSL_CERT_FILE=" + f
}

func TestIssue14GatewayProcess(t *testing.T) {
	gwAddr := freeAddr(t)
	gwBase := "http://" + gwAddr + "/fhir"
	h := newProxyHarness(t, "--extra-fhir-bases", gwBase)
	ctx := context.Background()
	_, secret, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "Gateway", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic, IntrospectAll: true, Scopes: []string{"system/Patient.rs"},
		ID: "gateway-rs"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trust := trustHarness(t, h)
	dir := t.TempDir()
	start(t, dir, []string{trust}, "gateway", "--upstream", h.cfg.Upstream.URL, "--issuer", h.baseA, "--listen", gwAddr)
	introAddr := freeAddr(t)
	introBase := "http://" + introAddr + "/fhir"
	start(t, dir, []string{trust, "GW_SECRET=" + secret}, "gateway", "--upstream", h.cfg.Upstream.URL,
		"--issuer", h.baseA, "--listen", introAddr, "--audience", gwBase,
		"--introspection-url", h.baseA+"/oauth/introspect", "--client-id", "gateway-rs", "--client-secret-env", "GW_SECRET")

	me, other := h.patients["Lind"], h.patients["Yundt"]
	// A patient's standalone launch for the gateway: aud is the gateway.
	forGW := h.code(codeLaunch{user: "lind", password: userPassword, aud: gwBase,
		scope: "launch/patient openid fhirUser patient/*.rs"}).str("access_token")
	forOwn := h.code(codeLaunch{user: "lind", password: userPassword,
		scope: "launch/patient openid fhirUser patient/*.rs"}).str("access_token")
	// A second issuer that also names the gateway among its bases.
	h2 := newHarness(t, "--extra-fhir-bases", gwBase)
	fromOther := h2.code(codeLaunch{user: "lind", password: userPassword, aud: gwBase,
		scope: "launch/patient openid fhirUser patient/*.rs"}).str("access_token")

	for _, gw := range []struct{ name, base string }{{"jwks", gwBase}, {"introspection", introBase}} {
		t.Run(gw.name, func(t *testing.T) {
			for _, tc := range []struct {
				name, token, path string
				status            int
			}{
				{"own record", forGW, "Patient/" + me, http.StatusOK},
				{"another patient's record", forGW, "Patient/" + other, http.StatusNotFound},
				{"own observations", forGW, "Observation?_count=5", http.StatusOK},
				{"token for smartgate's own /fhir", forOwn, "Patient/" + me, http.StatusUnauthorized},
				{"token of a second issuer", fromOther, "Patient/" + me, http.StatusUnauthorized},
				{"no token", "", "Patient/" + me, http.StatusUnauthorized},
				{"garbage token", "not-a-token", "Patient/" + me, http.StatusUnauthorized},
				{"metadata needs no token", "", "metadata", http.StatusOK},
				{"path escape", forGW, "Patient/..%2F..%2Fmetadata", http.StatusBadRequest},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := h.fhirRequest(t, "GET", gw.base+"/"+tc.path, tc.token, nil, nil)
					if r.status != tc.status && !(tc.name == "path escape" && r.status == http.StatusNotFound) {
						t.Fatalf("GET %s: %d %.300s; want %d", tc.path, r.status, r.body, tc.status)
					}
					if r.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("Www-Authenticate"), "Bearer") {
						t.Errorf("401 without a Bearer challenge: %v", r.header)
					}
					if r.status >= 400 && r.json["resourceType"] != "OperationOutcome" {
						t.Errorf("refusal is not an OperationOutcome: %.200s", r.body)
					}
					if tc.name == "own observations" {
						ids, res := entries(r.json, "match")
						if len(ids) == 0 {
							t.Fatal("no observations of the patient")
						}
						for _, o := range res {
							if subjectOf(o) != "Patient/"+me {
								t.Errorf("an observation of %s through the gateway", subjectOf(o))
							}
						}
					}
					if tc.name == "metadata needs no token" {
						if !strings.Contains(string(r.body), h.baseA+"/oauth/token") {
							t.Errorf("CapabilityStatement does not name the issuer's token endpoint: %.500s", r.body)
						}
					}
				})
			}
		})
	}
	// The token for the gateway is no good at smartgate's own /fhir.
	if r := h.do("GET", "Patient/"+me, forGW, nil); r.status != http.StatusUnauthorized {
		t.Errorf("smartgate's /fhir took a token for the gateway: %d %.200s", r.status, r.body)
	}
	// The gateway serves the issuer's SMART configuration.
	r := h.fhirRequest(t, "GET", gwBase+"/.well-known/smart-configuration", "", nil, nil)
	if r.status != http.StatusOK || r.json["issuer"] != h.baseA {
		t.Errorf("smart-configuration: %d %.300s", r.status, r.body)
	}
}

func TestIssue14GatewayBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no upstream", []string{"--issuer", "https://as.example"}, "--upstream"},
		{"no issuer", []string{"--upstream", "http://127.0.0.1:1/fhir"}, "--issuer"},
		{"client-ca without TLS", []string{"--upstream", "http://127.0.0.1:1/fhir", "--issuer", "https://as.example", "--client-ca", "x.pem"}, "--client-ca"},
		{"introspection without a secret", []string{"--upstream", "http://127.0.0.1:1/fhir", "--issuer", "https://as.example", "--introspection-url", "https://as.example/introspect", "--client-id", "gw"}, "--introspection-url"},
		{"audience not a FHIR base", []string{"--upstream", "http://127.0.0.1:1/fhir", "--issuer", "https://as.example", "--audience", "http://gw.example/api"}, "/fhir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(binary, append([]string{"gateway"}, tc.args...)...).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
				t.Errorf("exit %v, output %q; want status 2 naming %s", err, out, tc.want)
			}
		})
	}
	// A dead upstream: 502 OperationOutcome; /readyz says so.
	h := newHarness(t)
	gwAddr := freeAddr(t)
	dead := "http://" + freeAddr(t) + "/fhir"
	start(t, t.TempDir(), []string{trustHarness(t, h)}, "gateway", "--upstream", dead, "--issuer", h.baseA, "--listen", gwAddr,
		"--audience", h.baseA+"/fhir")
	tok := h.code(codeLaunch{user: "lind", password: userPassword, scope: "launch/patient patient/*.rs"}).str("access_token")
	r := h.fhirRequest(t, "GET", "http://"+gwAddr+"/fhir/Patient/"+h.patients["Lind"], tok, nil, nil)
	if r.status != http.StatusBadGateway || r.json["resourceType"] != "OperationOutcome" || strings.Contains(string(r.body), "127.0.0.1") {
		t.Errorf("dead upstream: %d %.300s; want 502 OperationOutcome without the upstream's address", r.status, r.body)
	}
	if r := h.fhirRequest(t, "GET", "http://"+gwAddr+"/readyz", "", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a dead upstream: %d", r.status)
	}
}
