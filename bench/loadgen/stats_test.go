package loadgen

import (
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func durs(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond // 1..100 ms
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", durs(7), 50, 7 * time.Millisecond},
		{"single p99", durs(7), 99, 7 * time.Millisecond},
		{"two p50 is lower", durs(1, 2), 50, 1 * time.Millisecond},
		{"two p51 is upper", durs(1, 2), 51, 2 * time.Millisecond},
		{"odd p50 is middle", durs(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"1..100 p50", hundred, 50, 50 * time.Millisecond},
		{"1..100 p90", hundred, 90, 90 * time.Millisecond},
		{"1..100 p99", hundred, 99, 99 * time.Millisecond},
		{"1..100 p99.5", hundred, 99.5, 100 * time.Millisecond},
		{"1..100 p100", hundred, 100, 100 * time.Millisecond},
		{"p0 is min", durs(3, 4, 5), 0, 3 * time.Millisecond},
		{"p above 100 clamps", durs(3, 4, 5), 150, 5 * time.Millisecond},
		{"ten p99 is max", durs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"one", []float64{4}, 4},
		{"three unsorted", []float64{9, 1, 5}, 5},
		{"three with repeat", []float64{2, 2, 7}, 2},
		{"four averages middle two", []float64{4, 1, 3, 2}, 2.5},
		{"negative", []float64{-1, -3, -2}, -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.xs...)
			if got := Median(tt.xs); got != tt.want {
				t.Fatalf("Median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatalf("Median modified its input: %v, was %v", tt.xs, in)
				}
			}
		})
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Fatalf("Median(nil) = %v, want NaN", got)
	}
}

func TestRatios(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want []float64
	}{
		{"pairwise", []float64{50, 30, 90}, []float64{100, 60, 90}, []float64{0.5, 0.5, 1}},
		{"length mismatch", []float64{1}, []float64{1, 2}, nil},
		{"empty", []float64{}, []float64{}, []float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Ratios(tt.a, tt.b)
			if (got == nil) != (tt.want == nil) || len(got) != len(tt.want) {
				t.Fatalf("Ratios = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("Ratios = %v, want %v", got, tt.want)
				}
			}
		})
	}
	if r := Ratios([]float64{1}, []float64{0}); !math.IsNaN(r[0]) {
		t.Fatalf("ratio over zero = %v, want NaN", r[0])
	}
	// The median of per-repetition ratios is not the ratio of medians.
	a, b := []float64{10, 20, 30}, []float64{10, 40, 20}
	if got := Median(Ratios(a, b)); got != 1 {
		t.Fatalf("median of ratios = %v, want 1", got)
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		hwm, rss int64
		wantErr  bool
	}{
		{"normal", "Name:\tx\nVmPeak:\t 999 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n", 51200, 40960, false},
		{"no hwm", "Name:\tx\nVmRSS:\t 1 kB\n", 0, 0, true},
		{"garbage number", "VmHWM:\tabc kB\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hwm, rss, err := parseStatus([]byte(tt.in))
			if (err != nil) != tt.wantErr || hwm != tt.hwm || rss != tt.rss {
				t.Fatalf("parseStatus = %d, %d, %v; want %d, %d, err=%v", hwm, rss, err, tt.hwm, tt.rss, tt.wantErr)
			}
		})
	}
}

func TestRunIsBoundedByRequestCount(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/b" {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	res, err := Run(t.Context(), Config{
		Label:       "t",
		Request:     Request{BaseURL: srv.URL, Paths: []string{"/a", "/b"}},
		Concurrency: 1,
		Duration:    MaxDuration,
		MaxRequests: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 || hits.Load() != 10 || !res.Truncated {
		t.Fatalf("requests=%d hits=%d truncated=%v, want 10, 10, true", res.Requests, hits.Load(), res.Truncated)
	}
	if res.OK != 5 || res.Errors["418"] != 5 {
		t.Fatalf("ok=%d errors=%v, want 5 ok and 5 x 418", res.OK, res.Errors)
	}
}

func TestConfigLimits(t *testing.T) {
	base := Request{BaseURL: "http://127.0.0.1:1/"}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"zero concurrency", Config{Request: base, Concurrency: 0, Duration: time.Second}},
		{"too much concurrency", Config{Request: base, Concurrency: MaxConcurrency + 1, Duration: time.Second}},
		{"no duration", Config{Request: base, Concurrency: 1}},
		{"duration over the cap", Config{Request: base, Concurrency: 1, Duration: MaxDuration + time.Second}},
		{"warm-up over the cap", Config{Request: base, Concurrency: 1, Duration: time.Second, Warmup: MaxWarmup + 1}},
		{"request count over the cap", Config{Request: base, Concurrency: 1, Duration: time.Second, MaxRequests: MaxRequests + 1}},
		{"negative request count", Config{Request: base, Concurrency: 1, Duration: time.Second, MaxRequests: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(t.Context(), tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
