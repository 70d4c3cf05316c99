package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
)

// auditFixture stores five records a second apart, starting at t0, and
// returns them in insertion order with their ids.
func auditFixture(t *testing.T, b AuditBackend, t0 time.Time) []audit.Event {
	t.Helper()
	ctx := context.Background()
	evs := []audit.Event{
		{At: t0, Kind: "login", Actor: "alice", Outcome: audit.Success},
		{At: t0.Add(1 * time.Second), Kind: "token", Actor: "alice", ClientID: "app", Patient: "p1", Outcome: audit.Success},
		{At: t0.Add(2 * time.Second), Kind: "fhir", Actor: "alice", ClientID: "app", Patient: "p1", Resource: "Observation/o1", Outcome: audit.Success},
		{At: t0.Add(3 * time.Second), Kind: "fhir", Actor: "bob", ClientID: "other", Resource: "Patient/p1/_history/2", Outcome: audit.Denied},
		{At: t0.Add(4 * time.Second), Kind: "fhir", Actor: "svc", ClientID: "svc", Resource: "Observation/o10", Outcome: audit.Failure},
	}
	if err := b.InsertAudit(ctx, evs); err != nil {
		t.Fatal(err)
	}
	all, err := b.AuditEvents(ctx, audit.Filter{})
	if err != nil || len(all) != len(evs) {
		t.Fatalf("AuditEvents = %d, %v", len(all), err)
	}
	for i := range evs {
		evs[i].ID = all[len(all)-1-i].ID
	}
	return evs
}

func ids(evs []audit.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func testAuditFilter(t *testing.T, b AuditBackend) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	evs := auditFixture(t, b, t0)
	id := func(i ...int) []int64 {
		out := make([]int64, len(i))
		for k, n := range i {
			out[k] = evs[n].ID
		}
		return out
	}
	cases := []struct {
		name string
		f    audit.Filter
		want []int64
	}{
		{"kind", audit.Filter{Kind: "fhir"}, id(4, 3, 2)},
		{"since inclusive", audit.Filter{Since: t0.Add(3 * time.Second)}, id(4, 3)},
		{"until exclusive", audit.Filter{Until: t0.Add(1 * time.Second)}, id(0)},
		{"range", audit.Filter{Since: t0.Add(time.Second), Until: t0.Add(3 * time.Second)}, id(2, 1)},
		{"agent is actor", audit.Filter{Agent: "bob"}, id(3)},
		{"agent is client", audit.Filter{Agent: "app"}, id(2, 1)},
		{"client", audit.Filter{ClientID: "svc"}, id(4)},
		{"patient by context or resource", audit.Filter{Patient: "p1"}, id(3, 2, 1)},
		{"resource exact, not a longer id", audit.Filter{Resource: "Observation/o1"}, id(2)},
		{"resource below", audit.Filter{Resource: "Patient/p1"}, id(3)},
		{"outcome", audit.Filter{Outcome: audit.Denied}, id(3)},
		{"before", audit.Filter{Before: evs[2].ID}, id(1, 0)},
		{"after", audit.Filter{After: evs[2].ID}, id(4, 3)},
		{"after with limit is the nearest newer page", audit.Filter{After: evs[0].ID, Limit: 2}, id(2, 1)},
		{"combined", audit.Filter{Kind: "fhir", Actor: "alice", Outcome: audit.Success}, id(2)},
		{"quote in a value is data", audit.Filter{Actor: "x' OR '1'='1"}, id()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.AuditEvents(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got); !equalIDs(g, tc.want) {
				t.Errorf("ids = %v, want %v", g, tc.want)
			}
		})
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testAuditPaging(t *testing.T, b AuditBackend) {
	ctx := context.Background()
	evs := auditFixture(t, b, time.Now().Add(-time.Hour))
	var seen []int64
	var cursor int64
	for range 10 {
		page, err := b.AuditEvents(ctx, audit.Filter{Before: cursor, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, ids(page)...)
		cursor = page[len(page)-1].ID
	}
	want := []int64{evs[4].ID, evs[3].ID, evs[2].ID, evs[1].ID, evs[0].ID}
	if !equalIDs(seen, want) {
		t.Errorf("paged ids = %v, want %v", seen, want)
	}
	if got, _ := b.AuditEvents(ctx, audit.Filter{Limit: 1 << 30}); len(got) != len(evs) {
		t.Errorf("a huge limit: %d records", len(got))
	}
}

func testAuditRetention(t *testing.T, b AuditBackend) {
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	evs := auditFixture(t, b, t0)
	n, err := b.DeleteAuditBefore(ctx, t0.Add(3*time.Second), 2)
	if err != nil || n != 3 {
		t.Fatalf("DeleteAuditBefore = %d, %v; want 3 deleted in batches of 2", n, err)
	}
	left, err := b.AuditEvents(ctx, audit.Filter{})
	if err != nil || !equalIDs(ids(left), []int64{evs[4].ID, evs[3].ID}) {
		t.Fatalf("left = %v, %v", ids(left), err)
	}
	if n, err := b.DeleteAuditBefore(ctx, t0, 2); err != nil || n != 0 {
		t.Errorf("nothing older: %d, %v", n, err)
	}
}
