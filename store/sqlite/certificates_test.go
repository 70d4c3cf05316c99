package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/store"
)

// TestTrustedCertificates: the allow-list keeps what it is given, refuses a
// fingerprint twice, answers CertificateAllowed by fingerprint only, and
// forgets a removed entry.
func TestTrustedCertificates(t *testing.T) {
	ctx := context.Background()
	db := openFile(t)
	nb := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clientcert.TrustedCertificate{Fingerprint: "ab01", Subject: "CN=lab", Issuer: "CN=lab", NotBefore: nb, NotAfter: nb.AddDate(1, 0, 0),
		PEM: "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n", Note: "lab analyser", AddedBy: "u1"}
	if err := db.AddTrustedCertificate(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if err := db.AddTrustedCertificate(ctx, &c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second add: %v, want ErrConflict", err)
	}
	for fp, want := range map[string]bool{"ab01": true, "AB01": false, "ab0": false, "": false} {
		if got, err := db.CertificateAllowed(ctx, fp); err != nil || got != want {
			t.Errorf("CertificateAllowed(%q) = %v, %v; want %v", fp, got, err, want)
		}
	}
	list, err := db.TrustedCertificates(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v, %v", list, err)
	}
	got := list[0]
	if got.Subject != c.Subject || !got.NotBefore.Equal(nb) || !got.NotAfter.Equal(c.NotAfter) || got.PEM != c.PEM || got.Note != c.Note || got.AddedBy != "u1" || got.AddedAt.IsZero() {
		t.Errorf("stored %+v, want %+v", got, c)
	}
	if n, err := db.CountTrustedCertificates(ctx); err != nil || n != 1 {
		t.Errorf("count %d, %v", n, err)
	}
	if err := db.RemoveTrustedCertificate(ctx, "ab01"); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveTrustedCertificate(ctx, "ab01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second remove: %v, want ErrNotFound", err)
	}
	if ok, _ := db.CertificateAllowed(ctx, "ab01"); ok {
		t.Error("removed certificate still allowed")
	}
	if _, err := db.TrustedCertificate(ctx, "ab01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removed entry: %v", err)
	}
}
