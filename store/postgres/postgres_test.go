package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/postgres"
	"github.com/smartgate/smartgate/store/postgres/pgtest"
	"github.com/smartgate/smartgate/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// open is a fresh, migrated database on the test server.
func open(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The backend implements everything the suite asks of one.
var _ storetest.Backend = (*postgres.DB)(nil)

// TestConformance runs every entry point of store/storetest, as
// store/sqlite's test does.
func TestConformance(t *testing.T) {
	t.Run("Settings", func(t *testing.T) { storetest.RunSettings(t, open) })
	t.Run("Audit", func(t *testing.T) { storetest.RunAudit(t, open) })
	t.Run("Clients", func(t *testing.T) { storetest.RunClients(t, open) })
	t.Run("Tokens", func(t *testing.T) { storetest.RunTokens(t, open) })
	t.Run("Launch", func(t *testing.T) { storetest.RunLaunch(t, open) })
	t.Run("ProvisioningTokens", func(t *testing.T) { storetest.RunProvisioningTokens(t, open) })
	t.Run("FHIR", func(t *testing.T) { storetest.RunFHIR(t, open) })
	t.Run("FHIRTransactions", func(t *testing.T) { storetest.RunFHIRTransactions(t, open) })
	t.Run("SecondFactors", func(t *testing.T) { storetest.RunSecondFactors(t, open) })
	t.Run("Lockouts", func(t *testing.T) { storetest.RunLockouts(t, open) })
	t.Run("Links", func(t *testing.T) { storetest.RunLinks(t, open) })
	t.Run("SignInCodes", func(t *testing.T) { storetest.RunSignInCodes(t, open) })
	t.Run("Certificates", func(t *testing.T) { storetest.RunCertificates(t, open) })
	t.Run("Accounts", func(t *testing.T) { storetest.RunAccounts(t, open) })
	t.Run("Sessions", func(t *testing.T) { storetest.RunSessions(t, open) })
	t.Run("Directory", func(t *testing.T) { storetest.RunDirectory(t, open) })
	t.Run("Grants", func(t *testing.T) { storetest.RunGrants(t, open) })
	t.Run("Transactions", func(t *testing.T) {
		storetest.RunTransactions(t, func(t *testing.T) storetest.Backend { return open(t) })
	})
}

// TestFHIRConditionalWrites: FHIR write transactions are serialisable
// across pools on one database (as across replicas), not only within one.
func TestFHIRConditionalWrites(t *testing.T) {
	for _, handles := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d pools", handles), func(t *testing.T) {
			storetest.FHIRConditionalWrites(t, func(t *testing.T) []fhir.Store {
				url := pgtest.URL(t)
				var out []fhir.Store
				for range handles {
					db, err := postgres.Open(context.Background(), url, postgres.Options{})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { db.Close() })
					out = append(out, db)
				}
				return out
			})
		})
	}
}

// TestMigrationsMatchSQLite: the same numbers and names as store/sqlite's
// (one schema version, one data model, whatever the database).
func TestMigrationsMatchSQLite(t *testing.T) {
	names := func(dir string) []string {
		files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
		if err != nil || len(files) == 0 {
			t.Fatalf("migrations in %s: %v", dir, err)
		}
		for i, f := range files {
			files[i] = filepath.Base(f)
		}
		slices.Sort(files)
		return files
	}
	pg, lite := names("migrations"), names("../sqlite/migrations")
	if !slices.Equal(pg, lite) {
		t.Fatalf("postgres migrations %v, sqlite's %v", pg, lite)
	}
	db := open(t)
	v, err := db.SchemaVersion(context.Background())
	if err != nil || v != len(pg) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(pg))
	}
}

// TestRefusesNewerSchema: a database written by a newer smartgate is
// refused, and a second Open of a current one changes nothing.
func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = postgres.Open(ctx, url, postgres.Options{}); err != nil {
		t.Fatalf("second open: %v", err)
	}
	db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations(version, name, applied_at) VALUES(9999, 'future', '')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if _, err := postgres.Open(ctx, url, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestBadURLs: a --database URL with a bad scheme or missing parts is named
// for what is wrong, and the password never shows.
func TestBadURLs(t *testing.T) {
	for raw, want := range map[string]string{
		"mysql://u:secretpw@h/db":   "scheme",
		"postgres:///db":            "no host",
		"postgres://u:secretpw@h/":  "no database",
		"postgres://u:secretpw@h":   "no database",
		"::not a url":               "not a URL",
		"postgresql://u@h:5432/db":  "",
		"postgres://h/db?sslmode=x": "",
	} {
		err := postgres.CheckURL(raw)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckURL(%q) = %v, want nil", raw, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("CheckURL(%q) = %v, want %q", raw, err, want)
		case err != nil && strings.Contains(err.Error(), "secretpw"):
			t.Errorf("CheckURL(%q) shows the password: %v", raw, err)
		}
	}
	if r := postgres.Redact("postgres://u:secretpw@h/db"); strings.Contains(r, "secretpw") {
		t.Errorf("Redact = %s", r)
	}
}

// TestDown: a server that does not answer is store.ErrUnavailable, named
// without the password.
func TestDown(t *testing.T) {
	ctx := context.Background()
	_, err := postgres.Open(ctx, "postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", postgres.Options{})
	if !errors.Is(err, store.ErrUnavailable) || strings.Contains(err.Error(), "secretpw") {
		t.Fatalf("Open of a closed port: %v", err)
	}
}
