package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/store"
)

// CertificatesBackend is what RunCertificates needs: the allow-list of
// trusted client certificates as web/certificates.Store manages it, as
// clientcert.AllowList consults it per request, and its length (the serve
// command's check that --client-cert reject has something to trust).
type CertificatesBackend interface {
	clientcert.AllowList
	TrustedCertificates(ctx context.Context) ([]clientcert.TrustedCertificate, error)
	TrustedCertificate(ctx context.Context, fingerprint string) (*clientcert.TrustedCertificate, error)
	AddTrustedCertificate(ctx context.Context, c *clientcert.TrustedCertificate) error
	RemoveTrustedCertificate(ctx context.Context, fingerprint string) error
	CountTrustedCertificates(ctx context.Context) (int, error)
}

// RunCertificates tests the allow-list of trusted client certificates:
// it keeps what it is given, refuses a fingerprint twice (also to
// concurrent adders: one wins), answers by the exact fingerprint only,
// lists newest first, and forgets a removed entry.
func RunCertificates[B CertificatesBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"AddLookUpRemove", func(t *testing.T, b B) { testCertificatesAddRemove(t, b) }},
		{"ListNewestFirst", func(t *testing.T, b B) { testCertificatesList(t, b) }},
		{"AddRequiresFingerprintAndPEM", func(t *testing.T, b B) { testCertificatesRequired(t, b) }},
		{"ConcurrentAdd", func(t *testing.T, b B) { testCertificatesConcurrentAdd(t, b) }},
	})
}

const testPEM = "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"

func newTrustedCert(fp string, addedAt time.Time) *clientcert.TrustedCertificate {
	nb := time.Date(2026, 1, 2, 3, 4, 5, 678, time.UTC)
	return &clientcert.TrustedCertificate{Fingerprint: fp, Subject: "CN=" + fp, Issuer: "CN=lab CA", NotBefore: nb,
		NotAfter: nb.AddDate(1, 0, 0), PEM: testPEM, Note: "lab analyser " + fp, AddedBy: "u1", AddedAt: addedAt}
}

func sameTrustedCert(t *testing.T, what string, got, want *clientcert.TrustedCertificate) {
	t.Helper()
	if got.Fingerprint != want.Fingerprint || got.Subject != want.Subject || got.Issuer != want.Issuer ||
		!SameInstant(got.NotBefore, want.NotBefore) || !SameInstant(got.NotAfter, want.NotAfter) || got.PEM != want.PEM ||
		got.Note != want.Note || got.AddedBy != want.AddedBy || !SameInstant(got.AddedAt, want.AddedAt) {
		t.Fatalf("%s = %+v, want %+v", what, *got, *want)
	}
}

func testCertificatesAddRemove(t *testing.T, b CertificatesBackend) {
	ctx := context.Background()
	if n, err := b.CountTrustedCertificates(ctx); err != nil || n != 0 {
		t.Fatalf("CountTrustedCertificates(empty) = %d, %v", n, err)
	}
	if list, err := b.TrustedCertificates(ctx); err != nil || len(list) != 0 {
		t.Fatalf("TrustedCertificates(empty) = %+v, %v", list, err)
	}
	if _, err := b.TrustedCertificate(ctx, "ab01"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TrustedCertificate(none) = %v, want ErrNotFound", err)
	}
	before := time.Now().Add(-time.Second)
	c := newTrustedCert("ab01", time.Time{})
	if err := b.AddTrustedCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.AddedAt.Before(before) {
		t.Fatalf("AddedAt left zero was set to %v, want now", c.AddedAt)
	}
	again := newTrustedCert("ab01", time.Now())
	again.Note = "another"
	if err := b.AddTrustedCertificate(ctx, again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second add of a fingerprint = %v, want ErrConflict", err)
	}
	for fp, want := range map[string]bool{"ab01": true, "AB01": false, "ab0": false, "ab01 ": false, "": false} {
		if got, err := b.CertificateAllowed(ctx, fp); err != nil || got != want {
			t.Errorf("CertificateAllowed(%q) = %v, %v; want %v", fp, got, err, want)
		}
	}
	got, err := b.TrustedCertificate(ctx, "ab01")
	if err != nil {
		t.Fatal(err)
	}
	sameTrustedCert(t, "TrustedCertificate", got, c)
	list, err := b.TrustedCertificates(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("TrustedCertificates = %+v, %v; want one", list, err)
	}
	sameTrustedCert(t, "TrustedCertificates[0]", &list[0], c)
	if n, err := b.CountTrustedCertificates(ctx); err != nil || n != 1 {
		t.Errorf("CountTrustedCertificates = %d, %v; want 1", n, err)
	}
	if err := b.RemoveTrustedCertificate(ctx, "AB01"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RemoveTrustedCertificate(another case) = %v, want ErrNotFound", err)
	}
	if err := b.RemoveTrustedCertificate(ctx, "ab01"); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveTrustedCertificate(ctx, "ab01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second remove = %v, want ErrNotFound", err)
	}
	if ok, err := b.CertificateAllowed(ctx, "ab01"); ok || err != nil {
		t.Errorf("CertificateAllowed(removed) = %v, %v; want false", ok, err)
	}
	if _, err := b.TrustedCertificate(ctx, "ab01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TrustedCertificate(removed) = %v, want ErrNotFound", err)
	}
	if n, err := b.CountTrustedCertificates(ctx); err != nil || n != 0 {
		t.Errorf("CountTrustedCertificates after remove = %d, %v; want 0", n, err)
	}
	// Removed, the fingerprint may be added again.
	if err := b.AddTrustedCertificate(ctx, newTrustedCert("ab01", time.Now())); err != nil {
		t.Fatalf("add after remove: %v", err)
	}
}

func testCertificatesList(t *testing.T, b CertificatesBackend) {
	ctx := context.Background()
	for i, fp := range []string{"c3", "a1", "b2", "d4"} {
		at := t0.Add(time.Duration(i) * time.Minute)
		if fp == "d4" {
			at = t0.Add(time.Minute) // a tie with a1: ordered by fingerprint
		}
		if err := b.AddTrustedCertificate(ctx, newTrustedCert(fp, at)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := b.TrustedCertificates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		got = append(got, c.Fingerprint)
	}
	if want := "[b2 a1 d4 c3]"; fmt.Sprint(got) != want {
		t.Fatalf("TrustedCertificates order %v, want %s (newest first, then by fingerprint)", got, want)
	}
	if n, err := b.CountTrustedCertificates(ctx); err != nil || n != 4 {
		t.Errorf("CountTrustedCertificates = %d, %v; want 4", n, err)
	}
}

func testCertificatesRequired(t *testing.T, b CertificatesBackend) {
	ctx := context.Background()
	noFP := newTrustedCert("", time.Now())
	if err := b.AddTrustedCertificate(ctx, noFP); err == nil {
		t.Error("AddTrustedCertificate without a fingerprint succeeded")
	}
	noPEM := newTrustedCert("ab01", time.Now())
	noPEM.PEM = ""
	if err := b.AddTrustedCertificate(ctx, noPEM); err == nil {
		t.Error("AddTrustedCertificate without a PEM succeeded")
	}
	if n, err := b.CountTrustedCertificates(ctx); err != nil || n != 0 {
		t.Errorf("CountTrustedCertificates after refused adds = %d, %v; want 0", n, err)
	}
}

func testCertificatesConcurrentAdd(t *testing.T, b CertificatesBackend) {
	ctx := context.Background()
	wins := race(t, 8, store.ErrConflict, func(i int) error {
		c := newTrustedCert("ab01", time.Now())
		c.Note = fmt.Sprint("adder ", i)
		return b.AddTrustedCertificate(ctx, c)
	})
	if wins != 1 {
		t.Fatalf("%d concurrent adds of one fingerprint succeeded, want 1", wins)
	}
	if n, err := b.CountTrustedCertificates(ctx); err != nil || n != 1 {
		t.Errorf("CountTrustedCertificates = %d, %v; want 1", n, err)
	}
}
