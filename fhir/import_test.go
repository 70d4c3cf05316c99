package fhir_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/internal/testdata"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store/sqlite"
)

func openStore(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fhir.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestImportSyntheaBundles(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	total := 0
	for _, f := range testdata.SyntheaBundles(t) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Import(ctx, db, fh, fhir.ImportOptions{Registry: reg})
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		total += res.Resources
	}
	t.Logf("imported %d resources in %v", total, time.Since(start))
	if total != 8489 {
		t.Fatalf("imported %d resources, want 8489", total)
	}
}

// smallestBundle returns the smallest Synthea bundle file.
func smallestBundle(t testing.TB) string {
	t.Helper()
	var best string
	var size int64
	for _, f := range testdata.SyntheaBundles(t) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if best == "" || st.Size() < size {
			best, size = f, st.Size()
		}
	}
	return best
}
