package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
)

// TestS13_ClientAddTLSClientAuth: `smartgate client add` registers RFC 8705
// certificate clients (tls_client_auth by a subject DN or SAN, bound
// tokens) and refuses bad certificate metadata as a usage error.
func TestS13_ClientAddTLSClientAuth(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, errOut, code := runInProcess(t, data, "", "client", "add", "--name", "Lab", "--grant-types", "client_credentials",
		"--scope", "system/*.rs", "--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=lab-app,O=Example Hospital", "--cert-bound-tokens")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	m := clientIDLine.FindStringSubmatch(out)
	if m == nil || secretLine.MatchString(out) || !strings.Contains(out, "tls_client_auth_subject_dn: CN=lab-app,O=Example Hospital") {
		t.Fatalf("output %q", out)
	}
	c, err := openData(t, data).GetClient(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenEndpointAuthMethod != authz.AuthTLSClientAuth || c.TLSClientAuth.SubjectDN != "CN=lab-app,O=Example Hospital" ||
		!c.CertBoundAccessTokens || c.SecretHash != nil {
		t.Fatalf("stored %+v", c)
	}
	// The method follows from --tls-san-ip; the address is stored canonical.
	out, errOut, code = runInProcess(t, data, "", "client", "add", "--grant-types", "client_credentials", "--scope", "system/*.rs",
		"--tls-san-ip", "2001:DB8::0:1")
	if code != 0 || !strings.Contains(out, "token_endpoint_auth_method: tls_client_auth") || !strings.Contains(out, "tls_client_auth_san_ip: 2001:db8::1") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"--auth-method", "tls_client_auth"},
		{"--auth-method", "tls_client_auth", "--tls-san-ip", "not-an-ip"},
		{"--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=a;O=b"},
		{"--auth-method", "tls_client_auth", "--tls-san-uri", "relative"},
		{"--auth-method", "tls_client_auth", "--tls-san-dns", "a.example", "--tls-san-email", "a@a.example"},
		{"--auth-method", "self_signed_tls_client_auth"},
	} {
		out, errOut, code := runInProcess(t, data, "", append([]string{"client", "add", "--grant-types", "client_credentials", "--scope", "system/*.rs"}, args...)...)
		if code != 2 || !strings.Contains(errOut, "invalid_client_metadata") {
			t.Errorf("%v: exit %d, %q %q; want a usage error (2) naming invalid_client_metadata", args, code, out, errOut)
		}
	}
}

// TestS13_TLSClientAuthOnTheHTTPSListener: the real binary with
// --client-ca: a client registered with `client add --tls-subject-dn`
// gets a client_credentials token over the HTTPS listener with its
// certificate (RFC 8705 §2.1) and 401 invalid_client without it; the
// listener's discovery lists the certificate methods.
func TestS13_TLSClientAuthOnTheHTTPSListener(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	caFile, known, _ := covMakeCA(t, dir)
	out, errOut, code := runInProcess(t, data, "", "client", "add", "--name", "Known", "--grant-types", "client_credentials",
		"--scope", "system/*.rs", "--tls-subject-dn", "CN=known client")
	m := clientIDLine.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("client add: exit %d: %s %s", code, out, errOut)
	}
	p := start(t, dir, nil, "--http-addr", "", "--https-addr", "127.0.0.1:0", "--data", data, "--client-ca", caFile)
	post := func(cert *tls.Certificate, path string, form url.Values) (int, map[string]any) {
		cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		var resp *http.Response
		var err error
		if form == nil {
			resp, err = c.Get("https://" + p.HTTPSAddr + path)
		} else {
			resp, err = c.PostForm("https://"+p.HTTPSAddr+path, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}, "client_id": {m[1]}}
	if status, body := post(&known, "/oauth/token", form); status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("token with the certificate: %d %v", status, body)
	}
	if status, body := post(nil, "/oauth/token", form); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("token without a certificate: %d %v", status, body)
	}
	status, body := post(nil, "/.well-known/smart-configuration", nil)
	methods, _ := body["token_endpoint_auth_methods_supported"].([]any)
	if status != http.StatusOK || !slices.Contains(methods, any("tls_client_auth")) || !slices.Contains(methods, any("self_signed_tls_client_auth")) {
		t.Fatalf("smart-configuration: %d %v", status, methods)
	}
}
