// Command compare runs smartgate's performance comparison end to end: it
// builds the floor servers and smartgate, starts each on a free loopback port
// with a temporary data folder, registers the benchmark client, runs every
// scenario as interleaved repetitions (smartgate, then its floor, at the same
// concurrency), and prints markdown tables of medians and ratios on stdout
// (for docs/benchmarks.md). Progress goes to stderr; every run's JSON line is
// appended to results.jsonl in the output folder.
//
// Settings (environment):
//
//	BENCH_DURATION     measured seconds per run (Go duration; default 10s)
//	BENCH_WARMUP       warm-up per run (default 1s)
//	BENCH_REPS         repetitions (default 3)
//	BENCH_CONC         concurrencies (default 1,8,32)
//	BENCH_FLOORS_ONLY  1: measure only the floors (smartgate columns "pending")
//	BENCH_SYNTHEA      bundle folder (default ../shared/fhir/synthea from the repo root,
//	                   or the nearest shared/fhir/synthea above it, for worktrees)
//	BENCH_OUT          folder for results.jsonl and server logs (default a temp folder)
//	BENCH_ONLY         a list of scenarios (import, issue, introspect, introspect-person,
//	                   owin, read, search,
//	                   refused, scimfilter, scimcreate; "scim" is both SCIM ones)
//	BENCH_SCIM_PEOPLE  people in the SCIM stores (default 100000)
//	BENCH_MAX_TOTAL    hard limit for the whole comparison (default 60m)
//	BENCH_SMARTGATE_BIN  a prebuilt smartgate binary instead of go build ./cmd/smartgate
//	BENCH_SMARTGATE_ARGS extra arguments for smartgate serve (default "--log-level warn")
//
// Run it from the repository root (bench/run.sh does).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type settings struct {
	duration   time.Duration
	warmup     time.Duration
	reps       int
	concs      []int
	floorsOnly bool
	synthea    string
	out        string
	maxTotal   time.Duration
	sgArgs     []string
	only       map[string]bool // BENCH_ONLY; nil means every scenario
}

// scenarios are the names BENCH_ONLY accepts.
var scenarios = []string{"import", "issue", "introspect", "introspect-person", "owin", "read", "search", "refused", "scimfilter", "scimcreate"}

// onlySCIM reports whether BENCH_ONLY names SCIM scenarios and nothing else
// (then the FHIR data, the OAuth floor and the shared smartgate are skipped).
func (s settings) onlySCIM() bool {
	if s.only == nil {
		return false
	}
	for name := range s.only {
		if !slices.Contains(scimScenarios, name) {
			return false
		}
	}
	return true
}

// want reports whether scenario is to be measured in this run.
func (s settings) want(scenario string) bool { return s.only == nil || s.only[scenario] }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func loadSettings() (settings, error) {
	s := settings{
		duration: 10 * time.Second,
		warmup:   time.Second,
		reps:     3,
		concs:    []int{1, 8, 32},
		synthea:  defaultSynthea(),
		maxTotal: 60 * time.Minute,
	}
	var err error
	dur := func(key string, dst *time.Duration) {
		if v := os.Getenv(key); v != "" && err == nil {
			if *dst, err = time.ParseDuration(v); err != nil {
				err = fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	dur("BENCH_DURATION", &s.duration)
	dur("BENCH_WARMUP", &s.warmup)
	dur("BENCH_MAX_TOTAL", &s.maxTotal)
	if err != nil {
		return s, err
	}
	if v := os.Getenv("BENCH_REPS"); v != "" {
		if s.reps, err = strconv.Atoi(v); err != nil || s.reps < 1 || s.reps > 9 {
			return s, fmt.Errorf("BENCH_REPS %q: want 1..9", v)
		}
	}
	if v := os.Getenv("BENCH_CONC"); v != "" {
		s.concs = nil
		for f := range strings.SplitSeq(v, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || c < 1 || c > 256 {
				return s, fmt.Errorf("BENCH_CONC %q: want a list of 1..256", v)
			}
			s.concs = append(s.concs, c)
		}
	}
	s.floorsOnly = os.Getenv("BENCH_FLOORS_ONLY") == "1"
	if v := os.Getenv("BENCH_SYNTHEA"); v != "" {
		s.synthea = v
	}
	s.out = os.Getenv("BENCH_OUT")
	if v := os.Getenv("BENCH_ONLY"); v != "" {
		s.only = map[string]bool{}
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "scim" {
				for _, sc := range scimScenarios {
					s.only[sc] = true
				}
				continue
			}
			if !slices.Contains(scenarios, f) {
				return s, fmt.Errorf("BENCH_ONLY %q: want a list of %s", v, strings.Join(scenarios, ","))
			}
			s.only[f] = true
		}
	}
	s.sgArgs = []string{"--log-level", "warn"}
	if v, ok := os.LookupEnv("BENCH_SMARTGATE_ARGS"); ok {
		s.sgArgs = strings.Fields(v)
	}
	return s, nil
}

// defaultSynthea is ../shared/fhir/synthea from the repository root (the
// working folder), or else the nearest shared/fhir/synthea further up.
func defaultSynthea() string {
	def := filepath.Join("..", "shared", "fhir", "synthea")
	wd, err := os.Getwd()
	if err != nil {
		return def
	}
	for dir := filepath.Dir(wd); ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "shared", "fhir", "synthea")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		if dir == filepath.Dir(dir) {
			return def
		}
	}
}

func run() error {
	s, err := loadSettings()
	if err != nil {
		return err
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the repository root (bench/run.sh does)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, s.maxTotal)
	defer cancel()

	work, err := os.MkdirTemp("", "smartgate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if s.out == "" {
		s.out = filepath.Join(work, "out")
		if err := os.MkdirAll(s.out, 0o755); err != nil {
			return err
		}
	} else if err := os.MkdirAll(s.out, 0o755); err != nil {
		return err
	}

	procs := &procSet{}
	defer procs.stopAll()

	e := &env{s: s, work: work, procs: procs, secret: randomSecret(), password: randomSecret()}
	e.results, err = os.OpenFile(filepath.Join(s.out, "results.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer e.results.Close()

	logf("building floors")
	if e.floorOAuth, err = build(ctx, work, "floor-oauth", "./bench/floor/oauth"); err != nil {
		return err
	}
	if e.floorFHIR, err = build(ctx, work, "floor-fhir", "./bench/floor/fhir"); err != nil {
		return err
	}
	if e.floorSCIM, err = build(ctx, work, "floor-scim", "./bench/floor/scim"); err != nil {
		return err
	}
	if bin := os.Getenv("BENCH_SMARTGATE_BIN"); bin != "" && !s.floorsOnly {
		e.smartgate = bin
	} else if !s.floorsOnly {
		logf("building smartgate")
		if e.smartgate, err = build(ctx, work, "smartgate", "./cmd/smartgate"); err != nil {
			return fmt.Errorf("smartgate does not build yet (go build ./cmd/smartgate failed), so there is nothing to compare.\n"+
				"Set BENCH_FLOORS_ONLY=1 to measure only the floors.\n%w", err)
		}
	}
	rep, err := e.runAll(ctx)
	if err != nil {
		return err
	}
	fmt.Print(rep)
	logf("results: %s", filepath.Join(s.out, "results.jsonl"))
	return nil
}

// randomSecret returns a 256-bit random secret, base64url.
func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func cores() int { return runtime.NumCPU() }
