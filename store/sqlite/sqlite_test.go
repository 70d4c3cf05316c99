package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/store/storetest"
)

func TestConformanceFile(t *testing.T) {
	conformance(t, func(t *testing.T) string { return filepath.Join(t.TempDir(), "smartgate.db") })
}

func TestConformanceMemory(t *testing.T) {
	conformance(t, func(*testing.T) string { return sqlite.Memory })
}

// conformance runs every entry point of the suite on databases at path(t).
func conformance(t *testing.T, path func(t *testing.T) string) {
	open := func(t *testing.T) storetest.Backend {
		db, err := sqlite.Open(context.Background(), path(t), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	for _, domain := range []struct {
		name string
		run  func(*testing.T, func(*testing.T) storetest.Backend)
	}{
		{"Settings", storetest.RunSettings[storetest.Backend]}, {"Audit", storetest.RunAudit[storetest.Backend]},
		{"Accounts", storetest.RunAccounts[storetest.Backend]}, {"Sessions", storetest.RunSessions[storetest.Backend]},
		{"Clients", storetest.RunClients[storetest.Backend]}, {"Tokens", storetest.RunTokens[storetest.Backend]},
		{"Launch", storetest.RunLaunch[storetest.Backend]}, {"FHIR", storetest.RunFHIR[storetest.Backend]},
		{"SecondFactors", storetest.RunSecondFactors[storetest.Backend]}, {"Lockouts", storetest.RunLockouts[storetest.Backend]},
		{"Directory", storetest.RunDirectory[storetest.Backend]}, {"ProvisioningTokens", storetest.RunProvisioningTokens[storetest.Backend]},
		{"Links", storetest.RunLinks[storetest.Backend]}, {"SignInCodes", storetest.RunSignInCodes[storetest.Backend]},
		{"Grants", storetest.RunGrants[storetest.Backend]}, {"Certificates", storetest.RunCertificates[storetest.Backend]},
		{"Transactions", storetest.RunTransactions},
	} {
		t.Run(domain.name, func(t *testing.T) { domain.run(t, open) })
	}
}

func TestOpenRefusesGarbageFileAndLeavesItUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "smartgate.db")
	garbage := bytes.Repeat([]byte("not a database "), 500)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(garbage) error = %v, want one naming %s", err, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, garbage) {
		t.Fatal("garbage file was modified")
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("a WAL file was created next to the garbage file")
	}
}

func TestOpenRefusesCorruptDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "smartgate.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, _ := os.ReadFile(path)
	// Keep the header, wreck page 1's b-tree and everything after it.
	for i := 100; i < len(b); i++ {
		b[i] = 0xA5
	}
	os.WriteFile(path, b, 0o600)
	_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(corrupt) error = %v, want one naming %s", err, path)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "smartgate.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO schema_migrations(version, name, applied_at) VALUES(9999, 'future', 'x')")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open(newer schema) error = %v, want refusal", err)
	}
}

func TestOpenUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores permission bits; use a path under a regular file instead.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		_, err := sqlite.Open(context.Background(), filepath.Join(f, "smartgate.db"), sqlite.Options{})
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Fatalf("Open under a file: error = %v", err)
		}
		return
	}
	dir := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(dir, 0o500)
	_, err := sqlite.Open(context.Background(), filepath.Join(dir, "smartgate.db"), sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Open(read-only folder) error = %v", err)
	}
}

func TestBackupIsACompleteDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PutSetting(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "backup.db")
	if err := db.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, dest); err == nil {
		t.Fatal("second backup over an existing file succeeded")
	}
	cp, err := sqlite.Open(ctx, dest, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	v, err := cp.Setting(ctx, "k")
	if err != nil || string(v) != "v" {
		t.Fatalf("backup Setting(k) = %q, %v", v, err)
	}
	if err := cp.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Setting(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing setting: %v, want ErrNotFound", err)
	}
}

// TestFullDatabaseFailsWithUnavailableAndStaysConsistent fills a database
// capped at 256 KiB (SQLite answers SQLITE_FULL, as on a full disk): the
// failing write reports store.ErrUnavailable, changes nothing, and
// everything acknowledged before it is intact.
func TestFullDatabaseFailsWithUnavailableAndStaysConsistent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "smartgate.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{MaxSizeBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blob := bytes.Repeat([]byte("x"), 8<<10)
	var stored int
	var failure error
	for i := 0; i < 1000; i++ {
		if err := db.PutSetting(ctx, "k"+strconv.Itoa(i), blob); err != nil {
			failure = err
			break
		}
		stored++
	}
	if !errors.Is(failure, store.ErrUnavailable) {
		t.Fatalf("write into a full database: %v, want ErrUnavailable", failure)
	}
	if _, err := db.Setting(ctx, "k"+strconv.Itoa(stored)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed write left something behind: %v", err)
	}
	for i := 0; i < stored; i++ {
		if v, err := db.Setting(ctx, "k"+strconv.Itoa(i)); err != nil || len(v) != len(blob) {
			t.Fatalf("acknowledged write %d lost: %v", i, err)
		}
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}
