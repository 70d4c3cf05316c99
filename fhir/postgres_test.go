package fhir_test

import (
	"context"
	"os"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store/postgres"
	"github.com/smartgate/smartgate/store/postgres/pgtest"
)

// TestMain stops the PostgreSQL server that TestSyntheaPostgres starts
// (none starts when it does not run).
func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// openPostgres is a fresh database on pgtest's server, skipped where no
// PostgreSQL is installed (failed in CI).
func openPostgres(t testing.TB) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSyntheaPostgres runs TestSynthea's tests, every listed search
// parameter among them, on store/postgres: the same answers as from
// store/sqlite, on the same 30 Synthea bundles.
func TestSyntheaPostgres(t *testing.T) {
	t.Parallel()
	syntheaTests(t, loadSyntheaOn(t, fhir.Config{}, openPostgres(t)))
}
