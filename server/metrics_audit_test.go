package server

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/smartgate/smartgate/audit"
)

type discard struct{ n int }

func (d *discard) Record(context.Context, audit.Event) { d.n++ }

// Each kind of record lands in its counter with bounded labels, and is
// passed on.
func TestIssue15CountAudit(t *testing.T) {
	m := NewMetrics()
	next := &discard{}
	rec := m.CountAudit(next)
	for _, ev := range []audit.Event{
		{Kind: "login", Action: "password", Outcome: audit.Failure, Detail: "bad credentials", Actor: "alice"},
		{Kind: "login", Action: "password", Outcome: audit.Denied, Detail: "throttled"},
		{Kind: "login", Action: "<script>", Outcome: audit.Success},
		{Kind: "token", Action: "authorization_code", Outcome: audit.Success},
		{Kind: "refresh", Action: "refresh_token", Outcome: audit.Failure, Detail: "invalid_grant"},
		{Kind: "fhir", Outcome: audit.Denied, Detail: "404"},
		{Kind: "fhir", Outcome: audit.Failure, Detail: "500"},
		{Kind: "login", Action: "password", Outcome: audit.Denied, Detail: "csrf token mismatch"},
	} {
		rec.Record(context.Background(), ev)
	}
	if next.n != 8 {
		t.Fatalf("passed on %d records, want 8", next.n)
	}
	c := m.security
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"password failure", value(c.logins.WithLabelValues("failure", "password")), 2},
		{"password locked", value(c.logins.WithLabelValues("locked", "password")), 1},
		{"unknown method", value(c.logins.WithLabelValues("success", "other")), 1},
		{"code token", value(c.tokens.WithLabelValues("authorization_code")), 1},
		{"invalid_grant", value(c.refusals.WithLabelValues("invalid_grant")), 1},
		{"compartment", value(c.refusals.WithLabelValues("compartment")), 1},
		{"csrf", value(c.refusals.WithLabelValues("csrf")), 1},
		{"throttled", value(c.refusals.WithLabelValues("throttled")), 1},
		{"bad credentials", value(c.refusals.WithLabelValues("bad_credentials")), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if n := series(c.refusals); n != 5 {
		t.Errorf("%d refusal series, want 5 (a FHIR server error is no refusal)", n)
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
