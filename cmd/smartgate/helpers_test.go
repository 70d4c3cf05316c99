package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/store/sqlite"
)

// makeCert writes a self-signed certificate with common name cn.
func makeCert(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile = filepath.Join(dir, cn+"-cert.pem")
	keyFile = filepath.Join(dir, cn+"-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// withConnTrace records in *reused whether the request reused a connection.
func withConnTrace(ctx context.Context, reused *bool) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { *reused = info.Reused },
	})
}

func execBinary(args ...string) (string, error) {
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), err
}

// openSQLiteStore is openStore for tests that read the SQLite file's own
// methods (inspection): cfg must not name a --database.
func openSQLiteStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*sqlite.DB, error) {
	db, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	s, ok := db.(*sqlite.DB)
	if !ok {
		db.Close()
		return nil, fmt.Errorf("openSQLiteStore: the store is %T", db)
	}
	return s, nil
}
