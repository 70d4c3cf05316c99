package upstream_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/smartgate/smartgate/fhir"
)

// TestHistoryExcludeTypes: versions of HistoryQuery.ExcludeTypes (the
// endpoint's local types) that the upstream holds are left out of a
// history listing, and a listing that could include them has no total
// (the upstream counted them); one confined to another type keeps it.
func TestHistoryExcludeTypes(t *testing.T) {
	e := newEnv(t)
	ae := map[string]any{"resourceType": "AuditEvent", "id": "ae1", "recorded": "2024-01-02T03:04:05Z",
		"type": map[string]any{"code": "110110"}, "agent": []any{map[string]any{"requestor": true}}, "source": map[string]any{}}
	if r := e.up.direct(t, "PUT", "/AuditEvent/ae1", ae); r.status != http.StatusCreated && r.status != http.StatusOK {
		t.Fatalf("upstream PUT AuditEvent: %d %s", r.status, r.raw)
	}
	ctx := context.Background()
	all, err := e.st.ResourceHistory(ctx, fhir.HistoryQuery{Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !hasType(all, "AuditEvent") || all.Total < 1 {
		t.Fatalf("the upstream's history has no AuditEvent to leave out: total %d", all.Total)
	}
	without, err := e.st.ResourceHistory(ctx, fhir.HistoryQuery{Count: 1000, ExcludeTypes: []string{"AuditEvent"}})
	if err != nil {
		t.Fatal(err)
	}
	if hasType(without, "AuditEvent") || without.Total != -1 || len(without.Entries) != len(all.Entries)-1 {
		t.Fatalf("without AuditEvent: total %d, %d entries of %d", without.Total, len(without.Entries), len(all.Entries))
	}
	obs, err := e.st.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Observation", Count: 1, ExcludeTypes: []string{"AuditEvent"}})
	if err != nil || obs.Total < 1 {
		t.Fatalf("type history of another type: total %d, %v", obs.Total, err)
	}
}

func hasType(p *fhir.HistoryPage, typ string) bool {
	for _, e := range p.Entries {
		if e.Type == typ {
			return true
		}
	}
	return false
}
