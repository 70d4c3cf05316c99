package main

// Transport checklist items against the real binary's HTTPS listener:
// TLS versions (C20, D17, S1) and the client-certificate request (A13, S13).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tlsRequest sends one request over a connection limited to TLS versions
// [minV, maxV] and returns the status (or the handshake error).
func tlsRequest(addr string, minV, maxV uint16, cert *tls.Certificate, method, path string) (int, error) {
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: minV, MaxVersion: maxV}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false}}
	defer c.CloseIdleConnections()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("grant_type=authorization_code&code=nope")
	}
	req, _ := http.NewRequest(method, "https://"+addr+path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestC20_D17_S1_TLSAtLeast12(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, nil, "--http-addr", "", "--https-addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	cases := []struct {
		name, method, path string
		want               int
	}{
		{"C20 authorization endpoint", http.MethodGet, "/oauth/authorize?response_type=code&client_id=unknown", 400},
		{"D17 token endpoint", http.MethodPost, "/oauth/token", 0},
		{"S1 FHIR endpoint", http.MethodGet, "/fhir/metadata", 200},
		{"S1 discovery", http.MethodGet, "/.well-known/smart-configuration", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []struct {
				name     string
				min, max uint16
			}{{"TLS1.0", tls.VersionTLS10, tls.VersionTLS10}, {"TLS1.1", tls.VersionTLS11, tls.VersionTLS11}} {
				if status, err := tlsRequest(p.HTTPSAddr, v.min, v.max, nil, tc.method, tc.path); err == nil {
					t.Errorf("%s handshake accepted (status %d)", v.name, status)
				}
			}
			for _, v := range []struct {
				name     string
				min, max uint16
			}{{"TLS1.2", tls.VersionTLS12, tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13, tls.VersionTLS13}} {
				status, err := tlsRequest(p.HTTPSAddr, v.min, v.max, nil, tc.method, tc.path)
				if err != nil {
					t.Fatalf("%s refused: %v", v.name, err)
				}
				if tc.want != 0 && status != tc.want || tc.want == 0 && (status < 400 || status >= 500) {
					t.Errorf("%s: status %d, want %d", v.name, status, tc.want)
				}
			}
		})
	}
}

// covMakeCA writes a CA certificate and returns it with its key, plus a
// client certificate it signed.
func covMakeCA(t *testing.T, dir string) (caFile string, client tls.Certificate, caSubject []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coverage client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	caFile = filepath.Join(dir, "client-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "known client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ca.RawSubject
}

func TestA13_S13_ClientCertificateRequestedDiscoveryStaysOpen(t *testing.T) {
	dir := t.TempDir()
	caFile, known, _ := covMakeCA(t, dir)
	uc, uk := makeCert(t, dir, "unknown")
	unknown, err := tls.LoadX509KeyPair(uc, uk)
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, nil, "--http-addr", "", "--https-addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--client-ca", caFile)

	// S13: the HTTPS listener asks for a client certificate and names no
	// CA: clients (Go's crypto/tls, browsers) offer only certificates from
	// named CAs, and an allow-listed self-signed certificate (RFC 8705
	// self_signed_tls_client_auth) or one for a bound token must reach the
	// server too. Trust is decided per request, not by the handshake.
	asked, named := false, -1
	cfg := &tls.Config{InsecureSkipVerify: true, GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked, named = true, len(cri.AcceptableCAs)
		return &tls.Certificate{}, nil
	}}
	conn, err := tls.Dial("tcp", p.HTTPSAddr, cfg)
	if err != nil {
		t.Fatalf("handshake without a certificate: %v", err)
	}
	conn.Close()
	if !asked || named != 0 {
		t.Fatalf("the listener did not request a client certificate naming no CA (asked %v, CAs named %d)", asked, named)
	}

	// A13: discovery answers with no, a known and an unknown certificate
	// (default policy allow: no difference).
	for name, cert := range map[string]*tls.Certificate{"none": nil, "known": &known, "unknown": &unknown} {
		for _, path := range []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration", "/.well-known/openid-configuration", "/fhir/metadata"} {
			status, err := tlsRequest(p.HTTPSAddr, tls.VersionTLS12, tls.VersionTLS13, cert, http.MethodGet, path)
			if err != nil || status != 200 {
				t.Errorf("%s with %s client certificate: %d %v", path, name, status, err)
			}
		}
	}

	// With reject for the certificate cases, an unknown certificate is
	// treated like none (401 from the policy, not a handshake failure) and
	// discovery stays public; a certificate from the CA gets past the
	// policy (no_jwt=allow; uniform reject would refuse it without an ID
	// token: TestS13_PolicyMatrix).
	p.cmd.Process.Kill()
	<-p.done
	p = start(t, dir, nil, "--http-addr", "", "--https-addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"),
		"--client-ca", caFile, "--client-cert-policy", "no_certificate=reject,unknown_certificate=reject")
	for name, cert := range map[string]*tls.Certificate{"none": nil, "unknown": &unknown} {
		if status, err := tlsRequest(p.HTTPSAddr, tls.VersionTLS12, tls.VersionTLS13, cert, http.MethodGet, "/.well-known/smart-configuration"); err != nil || status != 200 {
			t.Errorf("reject, %s certificate, discovery: %d %v", name, status, err)
		}
		if status, err := tlsRequest(p.HTTPSAddr, tls.VersionTLS12, tls.VersionTLS13, cert, http.MethodGet, "/fhir/Patient"); err != nil || status != 401 {
			t.Errorf("reject, %s certificate, /fhir/Patient: %d %v", name, status, err)
		}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &known, nil }}}}
	resp, err := c.Get("https://" + p.HTTPSAddr + "/fhir/Patient")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "client certificate") {
		t.Errorf("reject, known certificate: stopped by the certificate policy: %d %s", resp.StatusCode, body)
	}
}
