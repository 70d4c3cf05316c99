package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/store/storetest"
)

// openFHIR opens handles handles on one fresh database file: each has
// its own writer connection, so serialisation must come from the
// database's lock, not from one process's single writer.
func openFHIR(handles int) func(t *testing.T) []fhir.Store {
	return func(t *testing.T) []fhir.Store {
		path := filepath.Join(t.TempDir(), "smartgate.db")
		var out []fhir.Store
		for range handles {
			db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			out = append(out, db)
		}
		return out
	}
}

func TestFHIRConditionalWrites(t *testing.T) {
	t.Run("one handle", func(t *testing.T) { storetest.FHIRConditionalWrites(t, openFHIR(1)) })
	t.Run("two handles on one file", func(t *testing.T) { storetest.FHIRConditionalWrites(t, openFHIR(2)) })
	t.Run("memory", func(t *testing.T) {
		storetest.FHIRConditionalWrites(t, func(t *testing.T) []fhir.Store {
			db, err := sqlite.Open(context.Background(), sqlite.Memory, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return []fhir.Store{db}
		})
	})
}
