package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/store/sqlite"
)

// selfSignedClient is a self-signed client certificate (no CA), as an
// allow-list entry would hold it.
func selfSignedClient(t *testing.T) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "self-signed lab app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, c
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// TestS13_RejectNeedsCAOrAllowList: the start-up rule of issue 13 (Build
// 1): a --client-cert-policy that rejects in any case is refused at start
// (configuration error, exit 2, naming both ways) unless --client-ca is
// given or the allow-list has an entry; with an allow-list entry the HTTPS
// listener starts, and limit alone is no longer refused.
func TestS13_RejectNeedsCAOrAllowList(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for _, policy := range []string{"reject", "no_certificate=limit,unknown_certificate=reject"} {
		out, err := execBinary("--client-cert-policy", policy, "--http-addr", "", "--https-addr", "127.0.0.1:0", "--data", data)
		if code := exitCode(err); code != 2 || !strings.Contains(out, "--client-ca") || !strings.Contains(out, "allow-list") {
			t.Fatalf("policy %s with nothing trusted: exit %d, %s", policy, code, out)
		}
	}

	p := start(t, dir, nil, "--client-cert-policy", "limit", "--http-addr", "", "--https-addr", "127.0.0.1:0", "--data", data)
	p.cmd.Process.Kill()
	<-p.done

	cert, leaf := selfSignedClient(t)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dbPath(data), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.AddTrustedCertificate(ctx, &clientcert.TrustedCertificate{Fingerprint: clientcert.Fingerprint(leaf),
		Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})), AddedBy: "test"})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	p = start(t, dir, nil, "--client-cert-policy", "reject", "--http-addr", "", "--https-addr", "127.0.0.1:0", "--data", data)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
		Certificates: []tls.Certificate{cert}}}}
	if code, body := get(t, c, "https://"+p.HTTPSAddr+"/.well-known/smart-configuration"); code != 200 {
		t.Fatalf("discovery with the allow-listed certificate: %d %s", code, body)
	}
}

// TestS13_ForgedCertificateHeaderAudited: with --client-cert-header, a
// request carrying the header from an address that is not one of
// --trusted-proxies is served as if it had none, and the server logs a
// warning and stores an audit record (kind client-certificate, denied)
// naming the address (Bad input: a forged certificate header).
func TestS13_ForgedCertificateHeaderAudited(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ca, caKey, caFile := makeCA(t, dir)
	p := start(t, dir, nil, "--http-addr", "", "--https-addr", "127.0.0.1:0", "--data", data, "--client-ca", caFile,
		"--client-cert-header", "X-Client-Cert", "--trusted-proxies", "192.0.2.1")
	leaf, _ := x509.ParseCertificate(clientCert(t, ca, caKey).Certificate[0])
	forged := strings.ReplaceAll(url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))), "+", "%20")
	req, _ := http.NewRequest("GET", "https://"+p.HTTPSAddr+"/fhir/metadata", nil)
	req.Header.Set("X-Client-Cert", forged)
	resp, err := insecureClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metadata: %d", resp.StatusCode)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.Stderr())
	}
	if !strings.Contains(p.Stderr(), "dropped a forged client-certificate header") {
		t.Errorf("no warning; stderr:\n%s", p.Stderr())
	}
	db, err := sqlite.Open(context.Background(), dbPath(data), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.AuditEvents(context.Background(), audit.Filter{Kind: "client-certificate", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Outcome != audit.Denied || evs[0].Address != "127.0.0.1" || evs[0].Action != clientcert.ActionForgedHeader ||
		!strings.Contains(evs[0].Detail, "not a trusted proxy") || evs[0].Resource != "/fhir/metadata" {
		t.Fatalf("audit: %+v", evs)
	}
}
