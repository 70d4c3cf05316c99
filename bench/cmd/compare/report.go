package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/smartgate/smartgate/bench/loadgen"
)

// describeEnv names the machine and its load at the start.
func describeEnv() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := loadAvg()
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d × %s, Linux %s, %s; load average at start %s; %s",
		runtime.NumCPU(), model, kernel, runtime.Version(), load, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			return strings.Join(f[:3], " ")
		}
	}
	return "?"
}

func f0(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

func f2(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.2f", x)
}

// rpsCell is "median (min–max)", with the error count when there were any.
func (c *series) rpsCell() string {
	if c == nil || len(c.rps) == 0 {
		return "pending"
	}
	lo, hi := loadgen.MinMax(c.rps)
	s := fmt.Sprintf("%s (%s–%s)", f0(loadgen.Median(c.rps)), f0(lo), f0(hi))
	if c.errors > 0 {
		s += fmt.Sprintf(" ⚠ %d errors of %d", c.errors, c.requests)
	}
	return s
}

func (c *series) latCell() string {
	if c == nil || len(c.p50) == 0 {
		return "pending"
	}
	return f2(loadgen.Median(c.p50)) + " / " + f2(loadgen.Median(c.p99))
}

// ratio is the median of the per-repetition ratios a/b.
func ratio(a, b *series) float64 {
	if a == nil || b == nil || len(a.rps) == 0 || len(a.rps) != len(b.rps) {
		return math.NaN()
	}
	return loadgen.Median(loadgen.Ratios(a.rps, b.rps))
}

func verdict(r, want float64) string {
	switch {
	case math.IsNaN(r):
		return "pending"
	case r >= want:
		return fmt.Sprintf("≥ %.2f: **met**", want)
	default:
		return fmt.Sprintf("≥ %.2f: **NOT met**", want)
	}
}

func (e *env) get(scenario, target string, conc int) *series {
	return e.cells[key{scenario, target, conc}]
}

func (e *env) report() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Results\n\n")
	w("Environment: %s.\n", e.startEnv)
	w("Method: %d interleaved repetitions (smartgate, then its floor) of %s per run after %s of warm-up; "+
		"req/s is the median (min–max) over repetitions, p50/p99 the medians of the per-run percentiles, "+
		"ratios the median of the per-repetition ratios. The load driver runs on the same cores.\n\n",
		e.s.reps, e.s.duration, e.s.warmup)
	if e.s.onlySCIM() {
		w("%s", e.scimReport())
		return b.String()
	}

	w("### OAuth: client_credentials issuance and JWT introspection (client_secret_basic, ES256)\n\n")
	w("| scenario | conc | smartgate req/s | smartgate p50 / p99 ms | floor req/s | floor p50 / p99 ms | smartgate / floor | target (c=8) |\n")
	w("|---|---|---|---|---|---|---|---|\n")
	for _, sc := range []string{"issue", "introspect", "introspect-person"} {
		for _, c := range e.s.concs {
			s, f := e.get(sc, sg, c), e.get(sc, floor, c)
			r := ratio(s, f)
			tgt := ""
			if c == 8 {
				tgt = verdict(r, 0.50)
			}
			w("| %s | %d | %s | %s | %s | %s | %s | %s |\n", sc, c, s.rpsCell(), s.latCell(), f.rpsCell(), f.latCell(), f2(r), tgt)
		}
	}

	argon := loadgen.Median(e.argonMs)
	w("\n### OWin password grant vs the argon2id-bound ceiling\n\n")
	w("Ceiling: argon2id (m=19 MiB, t=2, p=1) derived on all %d cores at once, for as long as each smartgate run and "+
		"right after it; the ratio is the median of the per-repetition ratios.", cores())
	if len(e.argonMs) > 0 {
		w(" For reference, one derivation alone took %.1f ms (median of %d batches), which would give %d cores / verify time = %.1f logins/s.",
			argon, len(e.argonMs), cores(), float64(cores())/(argon/1000))
	}
	w("\n\n| conc | smartgate req/s | p50 / p99 ms | ceiling req/s | smartgate / ceiling | target |\n|---|---|---|---|---|---|\n")
	for _, c := range e.s.concs {
		s, f := e.get("owin", sg, c), e.get("owin", floor, c)
		r := ratio(s, f)
		tgt := ""
		if c >= 8 {
			tgt = verdict(r, 0.90)
		}
		w("| %d | %s | %s | %s | %s | %s |\n", c, s.rpsCell(), s.latCell(), f.rpsCell(), f2(r), tgt)
	}

	w("\n### FHIR (30 Synthea patients, %d resources)\n\n", e.nRes)
	si, fi := e.get("import", sg, 0), e.get("import", floor, 0)
	ri := ratio(si, fi)
	w("(a) Import (wall clock of the whole command, resources/s):\n\n")
	w("| smartgate resources/s | floor resources/s | smartgate / floor | target |\n|---|---|---|---|\n")
	w("| %s | %s | %s | %s |\n\n", si.rpsCell(), fi.rpsCell(), f2(ri), verdict(ri, 0.25))
	w("(b) Read by id (smartgate with a valid system/*.rs token; floor: bare PK SELECT):\n\n")
	w("| conc | smartgate req/s | smartgate p50 / p99 ms | floor req/s | floor p50 / p99 ms | smartgate / floor | target (c=8) |\n")
	w("|---|---|---|---|---|---|---|\n")
	for _, c := range e.s.concs {
		s, f := e.get("read", sg, c), e.get("read", floor, c)
		r := ratio(s, f)
		tgt := ""
		if c == 8 {
			tgt = verdict(r, 0.50)
		}
		w("| %d | %s | %s | %s | %s | %s | %s |\n", c, s.rpsCell(), s.latCell(), f.rpsCell(), f.latCell(), f2(r), tgt)
	}
	w("\n(c) `Observation?patient=X&category=laboratory` (one path per patient, in turn):\n\n")
	w("| conc | smartgate req/s | p50 ms | p99 ms | target p99 < 50 ms |\n|---|---|---|---|---|\n")
	for _, c := range e.s.concs {
		s := e.get("search", sg, c)
		if s == nil {
			w("| %d | pending | pending | pending | pending |\n", c)
			continue
		}
		p99 := loadgen.Median(s.p99)
		v := "**met**"
		if p99 >= 50 {
			v = "**NOT met**"
		}
		w("| %d | %s | %s | %s | %s |\n", c, s.rpsCell(), f2(loadgen.Median(s.p50)), f2(p99), v)
	}

	w("\n### Peak RSS (VmHWM after all runs)\n\n| server | peak RSS | target |\n|---|---|---|\n")
	for _, name := range []string{"smartgate", "floor-oauth", "floor-fhir"} {
		kib, ok := e.peakKiB[name]
		cell, tgt := "pending", ""
		if ok {
			cell = fmt.Sprintf("%.1f MiB", float64(kib)/1024)
		}
		if name == "smartgate" {
			tgt = "≤ 150 MiB"
			if ok {
				if kib <= 150*1024 {
					tgt += ": **met**"
				} else {
					tgt += ": **NOT met**"
				}
			}
		}
		w("| %s | %s | %s |\n", name, cell, tgt)
	}
	w("%s", e.refusedReport())
	w("%s", e.scimReport())
	return b.String()
}

// scimReport is the SCIM section: filter and create against their floor,
// with the goals (filter p99 < 10 ms at c=8; create ≥ 0.25 of the
// insert floor).
func (e *env) scimReport() string {
	if !e.s.want("scimfilter") && !e.s.want("scimcreate") {
		return ""
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n### SCIM (a store of %d people; floor: bare SQLite insert / indexed select, `bench/floor/scim`)\n\n", e.scimPeople)
	w("| scenario | conc | smartgate req/s | smartgate p50 / p99 ms | floor req/s | floor p50 / p99 ms | smartgate / floor | goal |\n")
	w("|---|---|---|---|---|---|---|---|\n")
	for _, sc := range scimScenarios {
		if !e.s.want(sc) {
			continue
		}
		for _, c := range e.s.concs {
			s, f := e.get(sc, sg, c), e.get(sc, floor, c)
			r := ratio(s, f)
			goal := ""
			switch {
			case sc == "scimfilter" && c == 8 && s != nil && len(s.p99) > 0:
				p99 := loadgen.Median(s.p99)
				goal = fmt.Sprintf("p99 < 10 ms: **met** (%.2f)", p99)
				if p99 >= 10 {
					goal = fmt.Sprintf("p99 < 10 ms: **NOT met** (%.2f)", p99)
				}
			case sc == "scimcreate":
				goal = verdict(r, 0.25)
			}
			w("| %s | %d | %s | %s | %s | %s | %s | %s |\n", sc, c, s.rpsCell(), s.latCell(), f.rpsCell(), f.latCell(), f2(r), goal)
		}
	}
	w("\nPeak RSS (VmHWM after all runs): smartgate-scim %s, floor-scim %s.\n", mib(e.peakKiB, "smartgate-scim"), mib(e.peakKiB, "floor-scim"))
	return b.String()
}

// mib is peak[name] in MiB, or "pending".
func mib(peak map[string]int64, name string) string {
	kib, ok := peak[name]
	if !ok {
		return "pending"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}
