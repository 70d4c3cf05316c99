package clientcert_test

import (
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// The floors of this package's benchmarks: the standard library (and a
// bare database/sql file) doing the one thing each smartgate path cannot
// avoid, without its checks, limits, problem messages or audit.

// BenchmarkFloorParseNginxLeaf: the floor of ParseHeader's nginx-leaf
// case: unescape, one PEM block, x509.ParseCertificate.
func BenchmarkFloorParseNginxLeaf(b *testing.B) {
	p := newPKI(b)
	value := nginxEscaped(p.client)
	b.ReportAllocs()
	for b.Loop() {
		s, err := url.QueryUnescape(value)
		if err != nil {
			b.Fatal(err)
		}
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			b.Fatal("no PEM block")
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorX509Verify: the floor of BenchmarkVerifierCA: one
// x509.Certificate.Verify of the leaf through its intermediate to the CA,
// with the clientAuth usage.
func BenchmarkFloorX509Verify(b *testing.B) {
	p := newPKI(b)
	roots := p.pool()
	b.ReportAllocs()
	for b.Loop() {
		inter := x509.NewCertPool()
		inter.AddCert(p.inter)
		if _, err := p.client.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			CurrentTime: time.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorAllowListLookup: the floor of BenchmarkVerifierAllowList:
// the SHA-256 of the certificate and one primary-key SELECT on a bare
// database/sql SQLite file in WAL mode (a query_only reader, as the
// store's).
func BenchmarkFloorAllowListLookup(b *testing.B) {
	p := newPKI(b)
	path := filepath.Join(b.TempDir(), "floor.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	sum := sha256.Sum256(p.selfSigned.Raw)
	if _, err := w.Exec(`CREATE TABLE trusted_certificates (fingerprint TEXT PRIMARY KEY, pem TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO trusted_certificates VALUES (?, '')`, hex.EncodeToString(sum[:])); err != nil {
		b.Fatal(err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(p.selfSigned.Raw)
		var one int
		if err := r.QueryRow(`SELECT 1 FROM trusted_certificates WHERE fingerprint = ?`, hex.EncodeToString(sum[:])).Scan(&one); err != nil {
			b.Fatal(err)
		}
	}
}
