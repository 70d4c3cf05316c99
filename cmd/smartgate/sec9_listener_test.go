package main

// Issue 9, defect 11: HSTS on the HTTPS listener with a configured
// certificate only; /metrics only for loopback, listed addresses or the
// metrics bearer token. Both through the real binary's listeners.

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func stop(t *testing.T, p *proc) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.Stderr())
	}
}

// header GETs url (with extra request headers) and returns the answer.
func fetch(t *testing.T, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := insecureClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp
}

// TestSec9D11_HSTSOnlyWithAConfiguredCertificate: with --tls-cert the HTTPS
// listener answers Strict-Transport-Security (one year, no subdomains); the
// HTTP listener never does; --hsts=false turns it off; the generated
// self-signed development certificate never gets it.
func TestSec9D11_HSTSOnlyWithAConfiguredCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key := makeCert(t, dir, "configured")
	base := []string{"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"configured certificate", []string{"--tls-cert", cert, "--tls-key", key, "--data", filepath.Join(dir, "d1")}, "max-age=31536000"},
		{"configured certificate, --hsts=false", []string{"--tls-cert", cert, "--tls-key", key, "--hsts=false", "--data", filepath.Join(dir, "d2")}, ""},
		{"generated self-signed certificate", []string{"--data", filepath.Join(dir, "d3")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, dir, nil, append(base, tc.args...)...)
			for _, path := range []string{"/healthz", "/.well-known/smart-configuration", "/no-such-page"} {
				if got := fetch(t, "https://"+p.HTTPSAddr+path, nil).Header.Get("Strict-Transport-Security"); got != tc.want {
					t.Errorf("HTTPS %s: Strict-Transport-Security %q, want %q; stderr:\n%s", path, got, tc.want, p.Stderr())
				}
				if got := fetch(t, "http://"+p.HTTPAddr+path, nil).Header.Get("Strict-Transport-Security"); got != "" {
					t.Errorf("HTTP %s: Strict-Transport-Security %q, want none", path, got)
				}
			}
			stop(t, p)
		})
	}
}

// TestSec9D11_MetricsOnlyForLoopbackListedAddressesOrToken: the peer is a
// trusted proxy (loopback), so X-Forwarded-For names the client. By
// default only loopback clients read /metrics on either listener, others
// get 403; --metrics-allow replaces that list; with --metrics-token-file a
// client outside the list gets 401 with a Bearer challenge unless it sends
// the token.
func TestSec9D11_MetricsOnlyForLoopbackListedAddressesOrToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "metrics-token")
	const token = "metrics-token-0123456789abcdef"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	remote := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	other := map[string]string{"X-Forwarded-For": "198.51.100.1"}
	withToken := map[string]string{"X-Forwarded-For": "198.51.100.1", "Authorization": "Bearer " + token}
	wrongToken := map[string]string{"X-Forwarded-For": "198.51.100.1", "Authorization": "Bearer " + token + "x"}
	type check struct {
		name   string
		hdr    map[string]string
		status int
	}
	for _, tc := range []struct {
		name   string
		args   []string
		checks []check
	}{
		{"default: loopback only", nil, []check{
			{"loopback", nil, 200}, {"remote", remote, 403}, {"remote with a token", withToken, 403}}},
		{"--metrics-allow", []string{"--metrics-allow", "203.0.113.0/24"}, []check{
			{"listed", remote, 200}, {"not listed", other, 403}, {"loopback, not listed", nil, 403}}},
		{"--metrics-token-file", []string{"--metrics-token-file", tokenFile}, []check{
			{"loopback", nil, 200}, {"remote without token", other, 401}, {"remote, wrong token", wrongToken, 401},
			{"remote with the token", withToken, 200}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0",
				"--trusted-proxies", "127.0.0.1", "--data", filepath.Join(dir, "data")}, tc.args...)
			p := start(t, dir, nil, args...)
			for _, base := range []string{"http://" + p.HTTPAddr, "https://" + p.HTTPSAddr} {
				for _, c := range tc.checks {
					resp := fetch(t, base+"/metrics", c.hdr)
					if resp.StatusCode != c.status {
						t.Errorf("%s/metrics, %s: %d, want %d; stderr:\n%s", base, c.name, resp.StatusCode, c.status, p.Stderr())
					}
					if c.status == 200 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
						t.Errorf("%s/metrics, %s: Content-Type %q", base, c.name, resp.Header.Get("Content-Type"))
					}
					if c.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s/metrics, %s: 401 without a Bearer challenge", base, c.name)
					}
				}
			}
			stop(t, p)
		})
	}
}
