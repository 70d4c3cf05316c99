package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The history of one resource is read through an index on (type, id,
// seq): without one it scans every version of the type.
func TestFHIRHistoryQueriesUseAnIndex(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name, sql string
		args      []any
		index     string
	}{
		{"instance page", `SELECT seq, type, id, version, last_updated, deleted, json, method FROM fhir_history h WHERE h.type = ? AND h.id = ? AND h.seq < ? ORDER BY seq DESC LIMIT ?`,
			[]any{"Patient", "p", 10, 3}, "fhir_history_instance (type=? AND id=? AND seq<?)"},
		{"instance first page", `SELECT seq, type, id, version, last_updated, deleted, json, method FROM fhir_history h WHERE h.type = ? AND h.id = ? ORDER BY seq DESC LIMIT ?`,
			[]any{"Patient", "p", 3}, "fhir_history_instance (type=? AND id=?)"},
		{"instance count", `SELECT COUNT(*) FROM fhir_history h WHERE h.type = ? AND h.id = ?`,
			[]any{"Patient", "p"}, "(type=? AND id=?)"},
	} {
		rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.sql, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		t.Logf("%s: %s", tc.name, got)
		if !strings.HasPrefix(got, "SEARCH h USING ") || !strings.Contains(got, tc.index) || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want a search on %s without a sort", tc.name, got, tc.index)
		}
	}
}
