// Package loadgen is a small, bounded HTTP load driver for measuring
// smartgate and its floor servers on this machine. It only ever talks to
// loopback addresses, and every run is bounded both in time and in request
// count.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Hard limits that no configuration can exceed.
const (
	MaxDuration    = 2 * time.Minute
	MaxWarmup      = 10 * time.Second
	MaxConcurrency = 256
	MaxRequests    = 2_000_000
	maxBody        = 4 << 20
)

// Request is the template of one request. When Paths is not empty, request
// i goes to BaseURL + Paths[i%len(Paths)]; otherwise to BaseURL.
type Request struct {
	Method  string
	BaseURL string
	Paths   []string
	Header  http.Header
	Body    []byte
	// NextBody, when not nil, gives each request its own body instead of
	// Body (a create that must not repeat a name); it is called from every
	// worker at once.
	NextBody func() []byte
}

// Check classifies a response: it returns "" for a success, otherwise a
// short key under which the failure is counted (for example "401").
type Check func(status int, body []byte) string

// StatusCheck counts every status other than want as an error keyed by the
// status code.
func StatusCheck(want int) Check {
	return func(status int, _ []byte) string {
		if status == want {
			return ""
		}
		return strconv.Itoa(status)
	}
}

// Config is one measured run.
type Config struct {
	Label       string
	Request     Request
	Check       Check // nil: StatusCheck(200)
	Concurrency int
	Duration    time.Duration
	MaxRequests int           // also bounds the run; 0 means MaxRequests
	Warmup      time.Duration // requests sent before measuring, not counted
	Timeout     time.Duration // per request; 0 means 20s
	PID         int           // server process whose peak RSS is reported; 0: none
	ResetHWM    bool          // reset the server's peak RSS before the run (own processes only)
}

// Result is what a run reports. Field names are the JSON keys of the
// machine-readable line.
type Result struct {
	Label       string         `json:"label"`
	Concurrency int            `json:"concurrency"`
	Requests    int            `json:"requests"`
	OK          int            `json:"ok"`
	Errors      map[string]int `json:"errors,omitempty"`
	Seconds     float64        `json:"seconds"`
	RPS         float64        `json:"rps"` // successful requests per second
	P50Ms       float64        `json:"p50_ms"`
	P90Ms       float64        `json:"p90_ms"`
	P99Ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	PeakRSSKiB  int64          `json:"peak_rss_kib,omitempty"`
	RSSKiB      int64          `json:"rss_kib,omitempty"`
	Truncated   bool           `json:"truncated,omitempty"` // stopped by the request cap, not the clock
}

// JSON returns the result as one line of JSON.
func (r Result) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// String is the human-readable summary.
func (r Result) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s  c=%d  %d requests in %.2fs  %.1f req/s  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms",
		r.Label, r.Concurrency, r.Requests, r.Seconds, r.RPS, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs)
	if len(r.Errors) > 0 {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		sb.WriteString("  errors:")
		for _, k := range keys {
			fmt.Fprintf(&sb, " %s=%d", k, r.Errors[k])
		}
	}
	if r.PeakRSSKiB > 0 {
		fmt.Fprintf(&sb, "  peak RSS %.1f MiB", float64(r.PeakRSSKiB)/1024)
	}
	if r.Truncated {
		sb.WriteString("  (stopped at the request cap)")
	}
	return sb.String()
}

// NewClient returns an HTTP client for up to conc parallel keep-alive
// connections that dials only loopback addresses.
func NewClient(conc int, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	tr := &http.Transport{
		DialContext:         dialLoopback,
		MaxIdleConns:        conc + 4,
		MaxIdleConnsPerHost: conc + 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (c *Config) validate() error {
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		return fmt.Errorf("loadgen: concurrency %d outside 1..%d", c.Concurrency, MaxConcurrency)
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		return fmt.Errorf("loadgen: duration %s outside (0, %s]", c.Duration, MaxDuration)
	}
	if c.Warmup < 0 || c.Warmup > MaxWarmup {
		return fmt.Errorf("loadgen: warm-up %s outside [0, %s]", c.Warmup, MaxWarmup)
	}
	if c.MaxRequests == 0 {
		c.MaxRequests = MaxRequests
	}
	if c.MaxRequests < 0 || c.MaxRequests > MaxRequests {
		return fmt.Errorf("loadgen: max requests %d outside 1..%d", c.MaxRequests, MaxRequests)
	}
	if c.Request.Method == "" {
		c.Request.Method = http.MethodGet
	}
	if err := CheckLoopback(c.Request.BaseURL); err != nil {
		return err
	}
	if c.Check == nil {
		c.Check = StatusCheck(http.StatusOK)
	}
	return nil
}

// Run performs the warm-up (if any) and then the measured run. It returns an
// error only when the configuration is invalid or no request could be sent.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	client := NewClient(cfg.Concurrency, cfg.Timeout)
	defer client.CloseIdleConnections()

	if cfg.PID > 0 && cfg.ResetHWM {
		if err := ResetPeakRSS(cfg.PID); err != nil {
			return Result{}, err
		}
	}
	if cfg.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, cfg.Warmup)
		wmax := min(cfg.MaxRequests, 200_000)
		run(wctx, client, cfg, wmax)
		cancel()
	}
	mctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	lat, errs, n := run(mctx, client, cfg, cfg.MaxRequests)
	elapsed := time.Since(start)

	res := Result{
		Label:       cfg.Label,
		Concurrency: cfg.Concurrency,
		Requests:    n,
		OK:          len(lat),
		Seconds:     elapsed.Seconds(),
		Truncated:   n >= cfg.MaxRequests,
	}
	if len(errs) > 0 {
		res.Errors = errs
	}
	if elapsed > 0 {
		res.RPS = float64(len(lat)) / elapsed.Seconds()
	}
	slices.Sort(lat)
	res.P50Ms = ms(Percentile(lat, 50))
	res.P90Ms = ms(Percentile(lat, 90))
	res.P99Ms = ms(Percentile(lat, 99))
	if len(lat) > 0 {
		res.MaxMs = ms(lat[len(lat)-1])
	}
	if cfg.PID > 0 {
		hwm, rss, err := ReadRSS(cfg.PID)
		if err != nil {
			return res, err
		}
		res.PeakRSSKiB, res.RSSKiB = hwm, rss
	}
	if n == 0 {
		return res, errors.New("loadgen: no request was sent")
	}
	return res, nil
}

// run drives cfg.Concurrency workers until ctx ends or limit requests have
// been started. It returns the latencies of successful requests, the error
// counts and the number of requests completed.
func run(ctx context.Context, client *http.Client, cfg Config, limit int) ([]time.Duration, map[string]int, int) {
	var started atomic.Int64
	type acc struct {
		lat  []time.Duration
		errs map[string]int
		n    int
	}
	accs := make([]acc, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &accs[w]
			a.errs = map[string]int{}
			a.lat = make([]time.Duration, 0, 1024)
			buf := bytes.NewBuffer(make([]byte, 0, 8192))
			for ctx.Err() == nil {
				i := started.Add(1) - 1
				if i >= int64(limit) {
					return
				}
				d, key := do(ctx, client, &cfg, int(i), buf)
				if key == "canceled" {
					return // the clock ran out mid-request: neither success nor failure
				}
				a.n++
				if key == "" {
					a.lat = append(a.lat, d)
				} else {
					a.errs[key]++
				}
			}
		}()
	}
	wg.Wait()
	var lat []time.Duration
	errs := map[string]int{}
	n := 0
	for _, a := range accs {
		lat = append(lat, a.lat...)
		for k, v := range a.errs {
			errs[k] += v
		}
		n += a.n
	}
	if len(errs) == 0 {
		errs = nil
	}
	return lat, errs, n
}

func do(ctx context.Context, client *http.Client, cfg *Config, i int, buf *bytes.Buffer) (time.Duration, string) {
	rq := &cfg.Request
	u := rq.BaseURL
	if len(rq.Paths) > 0 {
		u += rq.Paths[i%len(rq.Paths)]
	}
	var body io.Reader
	if rq.NextBody != nil {
		body = bytes.NewReader(rq.NextBody())
	} else if rq.Body != nil {
		body = bytes.NewReader(rq.Body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.Method, u, body)
	if err != nil {
		return 0, "request"
	}
	req.Header = rq.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "canceled"
		}
		return 0, "transport"
	}
	buf.Reset()
	_, err = io.Copy(buf, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "canceled"
		}
		return d, "read"
	}
	return d, cfg.Check(resp.StatusCode, buf.Bytes())
}

// ReadRSS returns VmHWM (peak resident set size) and VmRSS of process pid in
// KiB, from /proc/PID/status.
func ReadRSS(pid int) (hwm, rss int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("loadgen: read RSS of %d: %w", pid, err)
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (hwm, rss int64, err error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("loadgen: %s: %w", k, perr)
		}
		if k == "VmHWM" {
			hwm = n
		} else {
			rss = n
		}
	}
	if hwm == 0 {
		return 0, 0, errors.New("loadgen: no VmHWM in status")
	}
	return hwm, rss, nil
}

// ResetPeakRSS resets the peak RSS (VmHWM) of a process we own, by writing 5
// to /proc/PID/clear_refs (Linux 4.0+).
func ResetPeakRSS(pid int) error {
	if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("loadgen: reset peak RSS of %d: %w", pid, err)
	}
	return nil
}
