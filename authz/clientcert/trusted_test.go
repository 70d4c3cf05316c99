package clientcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testCert makes a self-signed certificate; edit changes the template.
func testCert(t *testing.T, edit func(*x509.Certificate)) (*x509.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "client one", Organization: []string{"Clinic"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

func TestParseTrusted(t *testing.T) {
	now := time.Now()
	cert, certPEM, keyPEM := testCert(t, nil)
	_, otherPEM, _ := testCert(t, nil)

	tc, err := ParseTrusted("openssl x509 -text output here\n"+certPEM+"\ntrailing words", "  the lab's client  ", "u1", now)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Fingerprint != Fingerprint(cert) || tc.Subject != "CN=client one,O=Clinic" || tc.Issuer != tc.Subject ||
		tc.Note != "the lab's client" || tc.AddedBy != "u1" || tc.PEM != certPEM || !tc.NotAfter.Equal(cert.NotAfter) {
		t.Fatalf("entry %+v", tc)
	}
	if w := tc.Warnings(now); len(w) != 0 {
		t.Errorf("warnings of a plain client certificate: %q", w)
	}

	for _, tt := range []struct {
		name, text, note string
		want             error
	}{
		{"private key", keyPEM, "", ErrPrivateKey},
		{"key beside the certificate", certPEM + keyPEM, "", ErrPrivateKey},
		{"damaged key", strings.Replace(keyPEM, "M", "!", 3), "", ErrPrivateKey},
		{"EC key", strings.ReplaceAll(keyPEM, "PRIVATE KEY", "EC PRIVATE KEY"), "", ErrPrivateKey},
		{"garbage", "hello, world", "", ErrNoCertificate},
		{"empty", "", "", ErrNoCertificate},
		{"public key", strings.ReplaceAll(certPEM, "CERTIFICATE", "PUBLIC KEY"), "", ErrNotCertificate},
		{"chain", certPEM + otherPEM, "", ErrSeveralCertificates},
		{"bad DER", "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n", "", ErrBadCertificate},
		{"long note", certPEM, strings.Repeat("n", MaxNoteLength+1), ErrNoteTooLong},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrusted(tt.text, tt.note, "u1", now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "MII") {
				t.Errorf("the error quotes the text: %v", err)
			}
		})
	}
	if _, err := ParseTrusted(certPEM, "two\nlines", "u1", now); err == nil {
		t.Error("a note with a newline was accepted")
	}

	_, expired, _ := testCert(t, func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Hour) })
	if _, err := ParseTrusted(expired, "", "u1", now); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	_, ca, _ := testCert(t, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign
		c.NotBefore = now.Add(time.Hour)
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	tc, err = ParseTrusted(ca, "", "u1", now)
	if err != nil {
		t.Fatalf("a CA certificate, not yet valid: %v", err)
	}
	w := strings.Join(tc.Warnings(now), " ")
	for _, want := range []string{"not valid yet", "CA certificate", "clientAuth"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %q", w, want)
		}
	}
}

func TestFingerprintForms(t *testing.T) {
	cert, _, _ := testCert(t, nil)
	fp := Fingerprint(cert)
	g := GroupFingerprint(fp)
	if len(g) != 64+31 || strings.ToLower(strings.ReplaceAll(g, ":", "")) != fp {
		t.Fatalf("grouped %q", g)
	}
	for _, in := range []string{fp, strings.ToUpper(fp), g, " " + strings.ReplaceAll(g, ":", " ") + " "} {
		if got, err := ParseFingerprint(in); err != nil || got != fp {
			t.Errorf("ParseFingerprint(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "abc", fp[:62], fp + "00", "zz" + fp[2:]} {
		if _, err := ParseFingerprint(in); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", in)
		}
	}
}
