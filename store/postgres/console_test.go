package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store/postgres"
	"github.com/smartgate/smartgate/web/console"
)

// The dashboard's view of the audit trail and the database; its Counts
// need CountUsers, of the accounts domain.
var _ console.Activity = (*postgres.DB)(nil)

// TestConsoleCounts: the dashboard's counts run on this schema (on an empty
// database for the domains ported separately: store/sqlite's
// TestIssue15ConsoleCounts checks them against rows), the audit count
// filters by kind, outcome and time, and the size is the database's.
func TestConsoleCounts(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	now := time.Now().UTC()
	if err := db.InsertAudit(ctx, []audit.Event{
		{At: now, Kind: "token", Outcome: audit.Success},
		{At: now, Kind: "token", Outcome: audit.Failure},
		{At: now.Add(-48 * time.Hour), Kind: "token", Outcome: audit.Success},
		{At: now, Kind: "login", Outcome: audit.Failure},
	}); err != nil {
		t.Fatal(err)
	}
	since := now.Add(-24 * time.Hour)
	for _, c := range []struct {
		name string
		got  func() (int, error)
		want int
	}{
		{"clients", func() (int, error) { return db.CountClients(ctx) }, 0},
		{"consents", func() (int, error) { return db.CountConsents(ctx) }, 0},
		{"families", func() (int, error) { return db.CountRefreshFamilies(ctx, now) }, 0},
		{"tokens", func() (int, error) { return db.CountAudit(ctx, "token", audit.Success, since) }, 1},
		{"failed log-ins", func() (int, error) { return db.CountAudit(ctx, "login", audit.Failure, since) }, 1},
		{"all token records", func() (int, error) { return db.CountAudit(ctx, "token", audit.Success, time.Time{}) }, 2},
	} {
		n, err := c.got()
		if err != nil || n != c.want {
			t.Errorf("%s = %d, %v; want %d", c.name, n, err, c.want)
		}
	}
	n, err := db.DatabaseSize(ctx)
	if err != nil || n < 1<<20 {
		t.Errorf("DatabaseSize = %d, %v; want the database's size (a migrated one is several MB)", n, err)
	}
}
