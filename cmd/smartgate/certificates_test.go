package main

// The allow-list of client certificates as the program wires it (S13):
// /admin/certificates on newApp's mux shows the configured policy and
// --client-ca, and `smartgate cert add|list|remove` change the same list,
// with the same refusals (clientcert.ParseTrusted) and audit records.

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/clientcert"
)

func certFingerprint(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return clientcert.Fingerprint(c)
}

func TestS13_CertificatesPageAsWired(t *testing.T) {
	dir := t.TempDir()
	caFile, _ := makeCert(t, dir, "Wired Clinic CA")
	clientFile, _ := makeCert(t, dir, "wired-client")
	h := newHarness(t, "--client-ca", caFile, "--client-cert-policy", "unknown_certificate=reject")

	if r := h.page(h.pageSession("doc", userPassword), "GET", h.baseA+"/admin/certificates", nil); r.status != http.StatusForbidden {
		t.Errorf("a practitioner on /admin/certificates: %d", r.status)
	}
	admin := h.pageSession("admin", adminPassword)
	page := h.page(admin, "GET", h.baseA+"/admin/certificates", nil)
	if page.status != http.StatusOK {
		t.Fatalf("GET /admin/certificates: %d %.300s", page.status, page.body)
	}
	for _, want := range []string{`data-policy-case="unknown_certificate" data-action="reject"`, `data-policy-case="no_certificate" data-action="allow"`,
		`data-client-ca="on"`, "CN=Wired Clinic CA", `data-cert-header="off"`, `href="/admin/certificates" aria-current="page"`} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The administrators' other pages link to it.
	if users := h.page(admin, "GET", h.baseA+"/admin/users", nil); !strings.Contains(string(users.body), `href="/admin/certificates"`) {
		t.Error("no link from /admin/users")
	}
	pemText, _ := os.ReadFile(clientFile)
	r := h.page(admin, "POST", h.baseA+"/admin/certificates", url.Values{"csrf_token": {field(reCSRF, page.body)}, "pem": {string(pemText)}, "note": {"wired"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add: %d %.300s", r.status, r.body)
	}
	fp := certFingerprint(t, clientFile)
	if ok, err := h.db.CertificateAllowed(context.Background(), fp); !ok || err != nil {
		t.Errorf("not on the allow-list: %v %v", ok, err)
	}
}

func TestS13_CertCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	dir := t.TempDir()
	certFile, keyFile := makeCert(t, dir, "cli-client")
	fp := certFingerprint(t, certFile)

	out, errOut, code := runInProcess(t, data, "", "cert", "add", "--file", certFile, "--note", "from the CLI")
	if code != 0 || !strings.Contains(out, "added: "+fp) || !strings.Contains(out, clientcert.GroupFingerprint(fp)) {
		t.Fatalf("add: %d %s %s", code, out, errOut)
	}
	// makeCert's certificate has no extended key usage: no warning.
	if strings.Contains(out, "warning") {
		t.Errorf("warnings: %s", out)
	}
	out, _, code = runInProcess(t, data, "", "cert", "list")
	if code != 0 || !strings.Contains(out, fp) || !strings.Contains(out, "CN=cli-client") || !strings.Contains(out, "from the CLI") {
		t.Errorf("list: %d %s", code, out)
	}
	if _, errOut, code = runInProcess(t, data, "", "cert", "add", "--file", certFile); code == 0 || !strings.Contains(errOut, "on the allow-list already") {
		t.Errorf("duplicate: %d %s", code, errOut)
	}
	key, _ := os.ReadFile(keyFile)
	keyLine := strings.Split(string(key), "\n")[1]
	out, errOut, code = runInProcess(t, data, "", "cert", "add", "--file", keyFile)
	if code != 2 || !strings.Contains(errOut, "private key") || strings.Contains(out+errOut, keyLine) {
		t.Errorf("a key file: %d %s %s", code, out, errOut)
	}
	// From standard input.
	other, _ := makeCert(t, dir, "stdin-client")
	otherPEM, _ := os.ReadFile(other)
	if out, errOut, code := runInProcess(t, data, string(otherPEM), "cert", "add", "--file", "-"); code != 0 {
		t.Fatalf("add from stdin: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := runInProcess(t, data, "", "cert", "add"); code != 2 || !strings.Contains(errOut, "--file") {
		t.Errorf("add without --file: %d %s", code, errOut)
	}
	if _, errOut, code := runInProcess(t, data, "", "cert", "remove", "--fingerprint", "nothex"); code != 2 {
		t.Errorf("remove garbage: %d %s", code, errOut)
	}
	if out, errOut, code := runInProcess(t, data, "", "cert", "remove", "--fingerprint", clientcert.GroupFingerprint(fp)); code != 0 || !strings.Contains(out, "removed: "+fp) {
		t.Fatalf("remove: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := runInProcess(t, data, "", "cert", "remove", "--fingerprint", fp); code == 0 || !strings.Contains(errOut, "not on the allow-list") {
		t.Errorf("remove again: %d %s", code, errOut)
	}
	db := openData(t, data)
	list, err := db.TrustedCertificates(context.Background())
	if err != nil || len(list) != 1 || list[0].Subject != "CN=stdin-client" {
		t.Errorf("left %+v %v", list, err)
	}
	evs, err := db.AuditEvents(context.Background(), audit.Filter{Kind: "certificate", Limit: 10})
	if err != nil || len(evs) != 3 {
		t.Fatalf("audit %+v %v", evs, err)
	}
	if _, errOut, code := runInProcess(t, data, "", "cert", "frobnicate"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("unknown subcommand: %d %s", code, errOut)
	}
}
