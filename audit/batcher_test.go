package audit_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store/sqlite"
)

func TestBatcherWritesEveryEventToTheStore(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := audit.NewBatcher(db.InsertAudit, 16, nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				b.Record(ctx, audit.Event{Kind: "fhir", Actor: "u", Outcome: audit.Success})
			}
		}()
	}
	wg.Wait()
	b.Close()
	evs, err := db.AuditEvents(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 400 {
		t.Fatalf("stored %d events, want 400", len(evs))
	}
	if evs[0].At.IsZero() {
		t.Fatal("event time not set")
	}
}
