package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestRatioIsMedianOfPerRepetitionRatios(t *testing.T) {
	tests := []struct {
		name string
		a, b *series
		want float64
	}{
		{"pairwise", &series{rps: []float64{50, 100, 30}}, &series{rps: []float64{100, 100, 100}}, 0.5},
		{"not ratio of medians", &series{rps: []float64{10, 20, 30}}, &series{rps: []float64{10, 40, 20}}, 1},
		{"missing smartgate", nil, &series{rps: []float64{1}}, math.NaN()},
		{"unequal repetitions", &series{rps: []float64{1, 2}}, &series{rps: []float64{1}}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ratio(tt.a, tt.b)
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && got != tt.want) {
				t.Fatalf("ratio = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		r, want float64
		out     string
	}{
		{0.5, 0.5, "met"},
		{0.49, 0.5, "NOT met"},
		{math.NaN(), 0.5, "pending"},
	}
	for _, tt := range tests {
		if got := verdict(tt.r, tt.want); !strings.Contains(got, tt.out) || (tt.out == "met" && strings.Contains(got, "NOT")) {
			t.Errorf("verdict(%v, %v) = %q, want %q", tt.r, tt.want, got, tt.out)
		}
	}
}

func TestReportShowsPendingWithoutSmartgateAndRatiosWithIt(t *testing.T) {
	e := &env{s: settings{reps: 3, concs: []int{8}, duration: 10 * time.Second, warmup: time.Second}, nRes: 8489, argonMs: []float64{40}}
	f := e.cell(key{"issue", floor, 8})
	f.rps, f.p50, f.p99 = []float64{1000, 1200, 800}, []float64{1, 1, 1}, []float64{5, 5, 5}
	out := e.report()
	if !strings.Contains(out, "| issue | 8 | pending | pending | 1000 (800–1200) | 1.00 / 5.00 | – | pending |") {
		t.Fatalf("floors-only issue row missing:\n%s", out)
	}

	s := e.cell(key{"issue", sg, 8})
	s.rps, s.p50, s.p99 = []float64{400, 700, 500}, []float64{2, 2, 2}, []float64{9, 9, 9}
	s.errors, s.requests = 3, 16000
	out = e.report()
	// per-repetition ratios 0.4, 0.583, 0.625: median 0.58 ≥ 0.50.
	want := "| issue | 8 | 500 (400–700) ⚠ 3 errors of 16000 | 2.00 / 9.00 | 1000 (800–1200) | 1.00 / 5.00 | 0.58 | ≥ 0.50: **met** |"
	if !strings.Contains(out, want) {
		t.Fatalf("issue row: want %q in\n%s", want, out)
	}
	if !strings.Contains(out, "one derivation alone took 40.0 ms (median of 1 batches)") {
		t.Fatalf("argon2id reference line missing:\n%s", out)
	}

	// OWin: the ceiling is measured next to each smartgate run; the ratio
	// is the median of the per-repetition ratios (0.5, 0.9, 0.95 → 0.90).
	so, fo := e.cell(key{"owin", sg, 8}), e.cell(key{"owin", floor, 8})
	so.rps, so.p50, so.p99 = []float64{40, 72, 76}, []float64{100, 100, 100}, []float64{200, 200, 200}
	fo.rps = []float64{80, 80, 80}
	out = e.report()
	if want := "| 8 | 72.0 (40.0–76.0) | 100.00 / 200.00 | 80.0 (80.0–80.0) | 0.90 | ≥ 0.90: **met** |"; !strings.Contains(out, want) {
		t.Fatalf("owin row: want %q in\n%s", want, out)
	}
}
