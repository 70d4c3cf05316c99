// Command upstream measures smartgate's enforcement in front of another
// FHIR server (issue 14): FHIR read by id and a patient's lab search,
// through proxy mode (serve --fhir-upstream), through the gateway with
// JWKS and with introspection, and against the upstream read directly, in
// the same run, interleaved per repetition. The upstream is smartgate's
// own embedded endpoint with --http-auth=none (no token, no enforcement):
// the floor. It also reports each server's CPU time per request (from
// /proc/PID/stat). Loopback only; prints markdown for docs/benchmarks.md.
//
//	go run ./bench/cmd/upstream                 # 3 reps x 10 s, c=8
//	BENCH_DURATION=3s BENCH_REPS=1 go run ./bench/cmd/upstream
//
// Settings: BENCH_DURATION (10s), BENCH_REPS (3), BENCH_CONCS (8),
// BENCH_SYNTHEA (../shared/fhir/synthea), BENCH_FILES (bundles imported,
// 10), BENCH_SMARTGATE_BIN (default: built here).
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smartgate/smartgate/bench/fhirdata"
	"github.com/smartgate/smartgate/bench/loadgen"
)

const (
	clientID = "bench"
	scope    = "system/*.rs"
)

type settings struct {
	duration time.Duration
	reps     int
	concs    []int
	synthea  string
	files    int
	bin      string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream bench:", err)
		os.Exit(1)
	}
}

func load() (settings, error) {
	s := settings{duration: 10 * time.Second, reps: 3, concs: []int{8}, synthea: filepath.Join("..", "shared", "fhir", "synthea"), files: 10,
		bin: os.Getenv("BENCH_SMARTGATE_BIN")}
	var err error
	if v := os.Getenv("BENCH_DURATION"); v != "" {
		if s.duration, err = time.ParseDuration(v); err != nil {
			return s, err
		}
	}
	if v := os.Getenv("BENCH_REPS"); v != "" {
		if s.reps, err = strconv.Atoi(v); err != nil {
			return s, err
		}
	}
	if v := os.Getenv("BENCH_CONCS"); v != "" {
		s.concs = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return s, err
			}
			s.concs = append(s.concs, n)
		}
	}
	if v := os.Getenv("BENCH_SYNTHEA"); v != "" {
		s.synthea = v
	}
	if v := os.Getenv("BENCH_FILES"); v != "" {
		if s.files, err = strconv.Atoi(v); err != nil {
			return s, err
		}
	}
	return s, nil
}

// server is one child process.
type server struct {
	name string
	cmd  *exec.Cmd
	base string
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func start(ctx context.Context, name, bin, logDir string, env []string, args ...string) (*server, error) {
	log, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &server{name: name, cmd: cmd}, nil
}

func waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not healthy in 60 s", url)
}

// cpu is a process's user+system CPU time.
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / 100 // USER_HZ
}

func runCmd(ctx context.Context, bin string, env []string, stdin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, out)
	}
	return nil
}

func run() error {
	s, err := load()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "smartgate-bench-upstream-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if s.bin == "" {
		s.bin = filepath.Join(work, "smartgate")
		if err := runCmd(ctx, "go", nil, "", "build", "-o", s.bin, "./cmd/smartgate"); err != nil {
			return err
		}
	}
	files, err := fhirdata.Files(s.synthea)
	if err != nil {
		return err
	}
	if len(files) > s.files {
		files = files[:s.files]
	}
	// The bundles imported, in a folder of their own for fhirdata.Refs.
	sel := filepath.Join(work, "bundles")
	if err := os.MkdirAll(sel, 0o755); err != nil {
		return err
	}
	for i, f := range files {
		abs, _ := filepath.Abs(f)
		files[i] = filepath.Join(sel, filepath.Base(f))
		if err := os.Symlink(abs, files[i]); err != nil {
			return err
		}
	}
	mine, err := fhirdata.Refs(sel)
	if err != nil {
		return err
	}
	admin := []string{"SMARTGATE_ADMIN_PASSWORD=bench-admin-password-1"}

	// The upstream: the Synthea bundles in a bare smartgate.
	upDir, pxDir := filepath.Join(work, "up"), filepath.Join(work, "px")
	fmt.Fprintf(os.Stderr, "importing %d bundles into the upstream\n", len(files))
	if err := runCmd(ctx, s.bin, append(admin, "SMARTGATE_DATA="+upDir), "", append([]string{"fhir", "import"}, files...)...); err != nil {
		return err
	}
	upAddr, _ := freeAddr()
	up, err := start(ctx, "upstream", s.bin, work, admin, "serve", "--data", upDir, "--http-addr", upAddr, "--http-url", "http://"+upAddr,
		"--https-addr", "", "--http-auth", "none", "--log-level", "warn")
	if err != nil {
		return err
	}
	up.base = "http://" + upAddr
	// The proxy, also the issuer of the gateways' tokens.
	secret := "bench-secret-for-the-upstream-benchmark-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := runCmd(ctx, s.bin, append(admin, "SMARTGATE_DATA="+pxDir), secret+"\n", "client", "add", "--id", clientID, "--secret-stdin",
		"--grant-types", "client_credentials", "--scope", scope, "--introspect-all"); err != nil {
		return err
	}
	pxAddr, _ := freeAddr()
	px, err := start(ctx, "proxy", s.bin, work, admin, "serve", "--data", pxDir, "--http-addr", pxAddr, "--http-url", "http://"+pxAddr,
		"--https-addr", "", "--fhir-upstream", up.base+"/fhir", "--log-level", "warn")
	if err != nil {
		return err
	}
	px.base = "http://" + pxAddr
	for _, sv := range []*server{up, px} {
		if err := waitHealthy(ctx, sv.base+"/healthz"); err != nil {
			return err
		}
	}
	gwJ, gwI := &server{}, &server{}
	for _, g := range []struct {
		sv    **server
		name  string
		extra []string
	}{
		{&gwJ, "gateway-jwks", nil},
		{&gwI, "gateway-introspection", []string{"--introspection-url", px.base + "/oauth/introspect", "--client-id", clientID, "--client-secret-env", "BENCH_SECRET"}},
	} {
		addr, _ := freeAddr()
		args := append([]string{"gateway", "--upstream", up.base + "/fhir", "--issuer", px.base, "--listen", addr,
			"--audience", px.base + "/fhir", "--log-level", "warn"}, g.extra...)
		sv, err := start(ctx, g.name, s.bin, work, []string{"BENCH_SECRET=" + secret}, args...)
		if err != nil {
			return err
		}
		sv.base = "http://" + addr
		if err := waitHealthy(ctx, sv.base+"/healthz"); err != nil {
			return err
		}
		*g.sv = sv
	}
	defer func() {
		for _, sv := range []*server{gwJ, gwI, px, up} {
			if sv.cmd != nil && sv.cmd.Process != nil {
				sv.cmd.Process.Signal(syscall.SIGTERM)
				sv.cmd.Wait()
			}
		}
	}()

	paths := map[string][]string{"read": fhirdata.ReadPaths(mine), "search": fhirdata.LabSearchPaths(mine)}
	client := loadgen.Client{ID: clientID, Secret: secret}
	res := results{}
	for _, scenario := range []string{"read", "search"} {
		for _, c := range s.concs {
			for rep := 1; rep <= s.reps; rep++ {
				tok, err := loadgen.FetchToken(ctx, loadgen.IssueRequest(px.base+"/oauth/token", client, scope))
				if err != nil {
					return err
				}
				for _, t := range []struct {
					name  string
					sv    *server
					token string
				}{{"direct", up, ""}, {"proxy", px, tok}, {"gateway-jwks", gwJ, tok}, {"gateway-introspection", gwI, tok}} {
					upCPU, ownCPU := cpu(up.cmd.Process.Pid), cpu(t.sv.cmd.Process.Pid)
					r, err := loadgen.Run(ctx, loadgen.Config{Label: fmt.Sprintf("%s/%s/c%d/r%d", scenario, t.name, c, rep),
						Request: loadgen.GetRequest(t.sv.base+"/fhir", paths[scenario], t.token), Concurrency: c,
						Duration: s.duration, Warmup: time.Second})
					if err != nil {
						return err
					}
					fmt.Fprintln(os.Stderr, r.String())
					if len(r.Errors) > 0 {
						return fmt.Errorf("%s: errors %v", r.Label, r.Errors)
					}
					cell := res.cell(scenario, t.name, c)
					cell.rps = append(cell.rps, r.RPS)
					cell.p50 = append(cell.p50, r.P50Ms)
					n := float64(r.Requests)
					own := float64(cpu(t.sv.cmd.Process.Pid)-ownCPU) / float64(time.Microsecond) / n
					cell.cpuOwn = append(cell.cpuOwn, own)
					if t.sv != up {
						cell.cpuUp = append(cell.cpuUp, float64(cpu(up.cmd.Process.Pid)-upCPU)/float64(time.Microsecond)/n)
					}
				}
			}
		}
	}
	fmt.Print(res.report(s, len(files), len(mine)))
	return nil
}

type cell struct{ rps, p50, cpuOwn, cpuUp []float64 }

type results map[string]*cell

func (r results) cell(scenario, target string, c int) *cell {
	k := fmt.Sprintf("%s/%s/%d", scenario, target, c)
	if r[k] == nil {
		r[k] = &cell{}
	}
	return r[k]
}

func (r results) get(scenario, target string, c int) *cell {
	return r[fmt.Sprintf("%s/%s/%d", scenario, target, c)]
}

func (r results) report(s settings, nFiles, nRes int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Upstream: smartgate's embedded endpoint with --http-auth=none, %d Synthea bundles (%d resources); "+
		"%d interleaved repetitions of %s after 1 s of warm-up, on %d cores shared by the upstream, the proxy or gateway and the load driver. "+
		"CPU is microseconds of process CPU time per request (the serving process; for proxy and gateways also the upstream's).\n\n",
		nFiles, nRes, s.reps, s.duration, cpus())
	b.WriteString("| scenario | conc | path | req/s (median) | p50 ms | / direct | goal | CPU µs/req (own + upstream) | CPU / direct |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, scenario := range []string{"read", "search"} {
		for _, c := range s.concs {
			d := r.get(scenario, "direct", c)
			for _, t := range []string{"direct", "proxy", "gateway-jwks", "gateway-introspection"} {
				x := r.get(scenario, t, c)
				ratio := loadgen.Median(loadgen.Ratios(x.rps, d.rps))
				goal := map[string]float64{"proxy": 0.5, "gateway-jwks": 0.5, "gateway-introspection": 0.4}[t]
				g := "floor"
				if goal > 0 {
					g = fmt.Sprintf("≥ %.2f: %s", goal, met(ratio >= goal))
				}
				own := loadgen.Median(x.cpuOwn)
				total := own
				cpuCell := fmt.Sprintf("%.0f", own)
				if len(x.cpuUp) > 0 {
					total = own + loadgen.Median(x.cpuUp)
					cpuCell = fmt.Sprintf("%.0f + %.0f", own, loadgen.Median(x.cpuUp))
				}
				fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.2f | %.2f | %s | %s | %.2f |\n", scenario, c, t,
					loadgen.Median(x.rps), loadgen.Median(x.p50), ratio, g, cpuCell, total/loadgen.Median(d.cpuOwn))
			}
		}
	}
	return b.String()
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**NOT met**"
}

func cpus() int { return runtime.NumCPU() }
