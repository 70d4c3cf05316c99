package main

// Proxy mode beyond the confinement matrix (issue 14): every decision is
// audited as on the embedded endpoint, the upstream has its metrics, a
// request that smuggles a second one is refused, and the configuration
// refuses what does not go together.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/config"
)

func TestIssue14ProxyAuditMetricsSmuggling(t *testing.T) {
	h := newProxyHarness(t)
	me, other := h.patients["Lind"], h.patients["Yundt"]
	tok := h.code(codeLaunch{user: "lind", password: userPassword, scope: "launch/patient openid fhirUser patient/*.rs"}).str("access_token")
	if r := h.do("GET", "Patient/"+me, tok, nil); r.status != http.StatusOK {
		t.Fatalf("own record through the proxy: %d %.200s", r.status, r.body)
	}
	if r := h.do("GET", "Patient/"+other, tok, nil); r.status != http.StatusNotFound {
		t.Fatalf("another's record through the proxy: %d %.200s", r.status, r.body)
	}
	// Audited by the same code as the embedded endpoint (fhir.Server's
	// audit), into smartgate's own audit trail.
	want := map[string]string{"Patient/" + me: audit.Success, "Patient/" + other: audit.Denied}
	deadline := time.Now().Add(5 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		evs, err := h.db.AuditEvents(context.Background(), audit.Filter{Kind: "fhir", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if o, ok := want[ev.Resource]; ok && ev.Outcome == o && ev.Patient == me && ev.Action == "read" {
				delete(want, ev.Resource)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(want) > 0 {
		t.Errorf("no fhir audit record (resource → outcome) for %v", want)
	}
	// The upstream's CapabilityStatement, narrowed, with smartgate's
	// security (its oauth-uris).
	md := h.do("GET", "metadata", "", nil)
	impl, _ := md.json["implementation"].(map[string]any)
	if md.status != http.StatusOK || !strings.Contains(fmt.Sprint(impl["description"]), "in front of smartgate") ||
		!strings.Contains(string(md.body), h.baseA+"/oauth/token") {
		t.Errorf("/metadata through the proxy: %d %v %.300s", md.status, impl, md.body)
	}
	// Metrics per upstream.
	r := h.fhirRequest(t, "GET", h.baseB+"/metrics", "", nil, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `smartgate_fhir_upstream_request_duration_seconds_count{code="200",op="read",upstream="`) {
		t.Errorf("/metrics: %d, no upstream read series:\n%.2000s", r.status, r.body)
	}
	// Transfer-Encoding and Content-Length together: the chunked body (an
	// empty search form) is answered and the connection closed, so that
	// the request hidden after it is never read.
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.baseB, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	smuggled := "GET /fhir/Patient/" + other + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
	io.WriteString(conn, "POST /fhir/Observation/_search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+smuggled)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Errorf("Transfer-Encoding with Content-Length: %d without Connection: close", resp.StatusCode)
	}
	if second, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("a second response came back on the connection: %d", second.StatusCode)
	}
}

func TestIssue14ProxyConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"demo with an upstream", []string{"--demo", "--fhir-upstream", "http://127.0.0.1:1/fhir"}, "demo and fhir-upstream"},
		{"not a URL", []string{"--fhir-upstream", "ftp://x/fhir"}, "fhir-upstream"},
		{"query in the URL", []string{"--fhir-upstream", "http://x/fhir?a=b"}, "query"},
		{"header and token URL", []string{"--fhir-upstream", "http://x/fhir", "--fhir-upstream-header", "X-Key: 1",
			"--fhir-upstream-token-url", "https://x/token"}, "set one"},
		{"token URL without client", []string{"--fhir-upstream", "http://x/fhir", "--fhir-upstream-token-url", "https://x/token"}, "client-id"},
		{"plain-http token URL off loopback", []string{"--fhir-upstream", "http://x/fhir", "--fhir-upstream-token-url", "http://x/token"}, "https"},
		{"cert without key", []string{"--fhir-upstream", "http://x/fhir", "--fhir-upstream-cert", "c.pem"}, "go together"},
		{"a hop-by-hop header", []string{"--fhir-upstream", "http://x/fhir", "--fhir-upstream-header", "Connection: close"}, "Name: value"},
		{"upstream settings without an upstream", []string{"--fhir-upstream-header", "X-Key: 1"}, "fhir-upstream is not"},
		{"an extra base that is no URL", []string{"--extra-fhir-bases", "gw.example/fhir"}, "extra-fhir-bases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := config.Load("serve", append([]string{"--data", t.TempDir()}, tc.args...), func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("config.Load: %v; want an error naming %q", err, tc.want)
			}
		})
	}
}
