package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/smartgate/smartgate/bench/fhirdata"
	"github.com/smartgate/smartgate/bench/loadgen"
)

const (
	sg    = "smartgate"
	floor = "floor"
)

// key names one cell of the comparison.
type key struct {
	scenario, target string
	conc             int
}

// series collects one cell's repetitions.
type series struct {
	rps, p50, p99 []float64
	errors        int
	requests      int
}

type env struct {
	s        settings
	work     string
	procs    *procSet
	secret   string
	password string
	results  *os.File

	floorOAuth, floorFHIR, floorSCIM, smartgate string
	scimPeople                                  int

	cells    map[key]*series
	peakKiB  map[string]int64 // server name -> max VmHWM seen
	refused  *refusedResult   // the "refused" scenario, when run
	argonMs  []float64        // argon2id verify, per batch median
	nRes     int
	startEnv string
}

func (e *env) cell(k key) *series {
	if e.cells == nil {
		e.cells = map[key]*series{}
	}
	if e.cells[k] == nil {
		e.cells[k] = &series{}
	}
	return e.cells[k]
}

// measure runs one load run and records it.
func (e *env) measure(ctx context.Context, scenario, target string, conc, rep int, req loadgen.Request, check loadgen.Check, p *proc) error {
	label := fmt.Sprintf("%s/%s/c%d/r%d", scenario, target, conc, rep)
	res, err := loadgen.Run(ctx, loadgen.Config{
		Label: label, Request: req, Check: check, Concurrency: conc,
		Duration: e.s.duration, Warmup: e.s.warmup, PID: p.pid(),
	})
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	logf("%s  (load average %s)", res.String(), loadAvg())
	fmt.Fprintln(e.results, res.JSON())
	c := e.cell(key{scenario, target, conc})
	c.rps = append(c.rps, res.RPS)
	c.p50 = append(c.p50, res.P50Ms)
	c.p99 = append(c.p99, res.P99Ms)
	c.requests += res.Requests
	for _, n := range res.Errors {
		c.errors += n
	}
	if e.peakKiB == nil {
		e.peakKiB = map[string]int64{}
	}
	e.peakKiB[p.name] = max(e.peakKiB[p.name], res.PeakRSSKiB)
	return nil
}

type target struct {
	name string
	proc *proc
	req  loadgen.Request
}

// interleave runs scenario for every concurrency and repetition, each
// repetition visiting the targets in order (smartgate first, then floor).
func (e *env) interleave(ctx context.Context, scenario string, check loadgen.Check, targets func(ctx context.Context) ([]target, error)) error {
	if !e.s.want(scenario) {
		return nil
	}
	for _, c := range e.s.concs {
		for rep := 1; rep <= e.s.reps; rep++ {
			ts, err := targets(ctx)
			if err != nil {
				return err
			}
			for _, t := range ts {
				if err := e.measure(ctx, scenario, t.name, c, rep, t.req, check, t.proc); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (e *env) runAll(ctx context.Context) (string, error) {
	e.startEnv = describeEnv()
	if e.s.onlySCIM() {
		if err := e.runSCIM(ctx); err != nil {
			return "", err
		}
		return e.report(), nil
	}
	refs, err := fhirdata.Refs(e.s.synthea)
	if err != nil {
		return "", fmt.Errorf("FHIR bundles (BENCH_SYNTHEA): %w", err)
	}
	e.nRes = len(refs)
	files, _ := fhirdata.Files(e.s.synthea)
	withSG := !e.s.floorsOnly

	// argon2id ceiling (for OWin), measured before any server runs.
	logf("argon2id verify time (m=19MiB t=2 p=1)")
	if e.s.want("owin") {
		e.argonMs = argon2Batches(3, 8)
	}

	// Refused large bodies, on a server of its own (before the others:
	// nothing else runs meanwhile).
	if withSG {
		if err := e.refusedBodies(ctx); err != nil {
			return "", err
		}
	}

	// (a) FHIR import, interleaved. Without "import" in BENCH_ONLY, one
	// unrecorded import still fills the databases the servers use.
	var sgDir, floorDB string
	importReps := e.s.reps
	if !e.s.want("import") {
		importReps = 1
	}
	for rep := 1; rep <= importReps; rep++ {
		if withSG {
			sgDir = sgDataDir(e.work, "rep"+strconv.Itoa(rep))
			if err := os.MkdirAll(sgDir, 0o700); err != nil {
				return "", err
			}
			if err := smartgateClientAdd(ctx, e.smartgate, sgDir, e.secret); err != nil {
				return "", err
			}
			d, err := smartgateImport(ctx, e.smartgate, sgDir, files)
			if err != nil {
				return "", err
			}
			if e.s.want("import") {
				e.recordImport(sg, rep, d)
			}
		}
		floorDB = filepath.Join(e.work, "floor-rep"+strconv.Itoa(rep)+".db")
		d, _, err := runTimed(ctx, e.floorFHIR, []string{"import", "-db", floorDB, "-data", e.s.synthea}, nil, "")
		if err != nil {
			return "", err
		}
		if e.s.want("import") {
			e.recordImport(floor, rep, d)
		}
	}

	// Servers.
	port, err := freePort()
	if err != nil {
		return "", err
	}
	fo, err := e.procs.start("floor-oauth", e.s.out, e.floorOAuth,
		[]string{"-addr", "127.0.0.1:" + strconv.Itoa(port), "-client-id", benchClientID, "-scopes", benchScope},
		[]string{"BENCH_CLIENT_SECRET=" + e.secret})
	if err != nil {
		return "", err
	}
	foBase := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitHealthy(ctx, fo, foBase+"/healthz"); err != nil {
		return "", err
	}
	if port, err = freePort(); err != nil {
		return "", err
	}
	ff, err := e.procs.start("floor-fhir", e.s.out, e.floorFHIR,
		[]string{"serve", "-db", floorDB, "-addr", "127.0.0.1:" + strconv.Itoa(port)}, nil)
	if err != nil {
		return "", err
	}
	ffBase := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitHealthy(ctx, ff, ffBase+"/healthz"); err != nil {
		return "", err
	}
	var sgp *proc
	var sgBase string
	if withSG {
		if err := smartgateUserAdd(ctx, e.smartgate, sgDir, e.password); err != nil {
			return "", err
		}
		if port, err = freePort(); err != nil {
			return "", err
		}
		if sgp, sgBase, err = smartgateServe(ctx, e.procs, "smartgate", e.s.out, e.smartgate, sgDir, port, e.s.sgArgs); err != nil {
			return "", err
		}
	}
	client := loadgen.Client{ID: benchClientID, Secret: e.secret}

	// OAuth: client_credentials issuance.
	logf("OAuth issuance")
	err = e.interleave(ctx, "issue", loadgen.TokenCheck, func(context.Context) ([]target, error) {
		var ts []target
		if withSG {
			ts = append(ts, target{sg, sgp, loadgen.IssueRequest(sgBase+"/oauth/token", client, benchScope)})
		}
		return append(ts, target{floor, fo, loadgen.IssueRequest(foBase+"/oauth/token", client, benchScope)}), nil
	})
	if err != nil {
		return "", err
	}

	// OAuth: JWT introspection, a fresh token per repetition.
	logf("OAuth introspection")
	err = e.interleave(ctx, "introspect", loadgen.ActiveCheck, func(ctx context.Context) ([]target, error) {
		var ts []target
		if withSG {
			tok, err := loadgen.FetchToken(ctx, loadgen.IssueRequest(sgBase+"/oauth/token", client, benchScope))
			if err != nil {
				return nil, fmt.Errorf("smartgate token: %w", err)
			}
			ts = append(ts, target{sg, sgp, loadgen.IntrospectRequest(sgBase+"/oauth/introspect", client, tok)})
		}
		tok, err := loadgen.FetchToken(ctx, loadgen.IssueRequest(foBase+"/oauth/token", client, benchScope))
		if err != nil {
			return nil, fmt.Errorf("floor token: %w", err)
		}
		return append(ts, target{floor, fo, loadgen.IntrospectRequest(foBase+"/oauth/introspect", client, tok)}), nil
	})
	if err != nil {
		return "", err
	}

	// OAuth: introspection of a person's token: an OWin (password grant)
	// token of the bench account, fetched per repetition, so that
	// introspection re-reads the account and its groups
	// (authz.CurrentAccount). The floor has no accounts: its target is the
	// same client_credentials introspection as above, so the ratio next to
	// the one above is the price of that read.
	logf("OAuth introspection of a person's token")
	err = e.interleave(ctx, "introspect-person", loadgen.ActiveCheck, func(ctx context.Context) ([]target, error) {
		var ts []target
		if withSG {
			tok, err := loadgen.FetchToken(ctx, loadgen.PasswordRequest(sgBase+"/oauth/token", benchUser, e.password))
			if err != nil {
				return nil, fmt.Errorf("smartgate person token (password grant): %w", err)
			}
			ts = append(ts, target{sg, sgp, loadgen.IntrospectRequest(sgBase+"/oauth/introspect", client, tok)})
		}
		tok, err := loadgen.FetchToken(ctx, loadgen.IssueRequest(foBase+"/oauth/token", client, benchScope))
		if err != nil {
			return nil, fmt.Errorf("floor token: %w", err)
		}
		return append(ts, target{floor, fo, loadgen.IntrospectRequest(foBase+"/oauth/introspect", client, tok)}), nil
	})
	if err != nil {
		return "", err
	}

	// OWin password grant (smartgate only). Its floor is the argon2id
	// ceiling, measured right after each smartgate run for as long.
	if withSG && e.s.want("owin") {
		logf("OWin password grant")
		for _, c := range e.s.concs {
			for rep := 1; rep <= e.s.reps; rep++ {
				if err := e.measure(ctx, "owin", sg, c, rep, loadgen.PasswordRequest(sgBase+"/oauth/token", benchUser, e.password), loadgen.TokenCheck, sgp); err != nil {
					return "", err
				}
				rps := argon2Throughput(ctx, e.s.duration)
				label := fmt.Sprintf("owin/ceiling/c%d/r%d", c, rep)
				logf("%s  %.1f argon2id derivations/s on %d cores  (load average %s)", label, rps, cores(), loadAvg())
				fmt.Fprintf(e.results, `{"label":%q,"rps":%g,"cores":%d}`+"\n", label, rps, cores())
				cl := e.cell(key{"owin", floor, c})
				cl.rps = append(cl.rps, rps)
			}
		}
	}

	// (b) FHIR read by id.
	logf("FHIR read by id")
	paths := fhirdata.ReadPaths(refs)
	var sgTok string
	if withSG {
		if sgTok, err = loadgen.FetchToken(ctx, loadgen.IssueRequest(sgBase+"/oauth/token", client, benchScope)); err != nil {
			return "", fmt.Errorf("smartgate token for FHIR: %w", err)
		}
		if err := probe(ctx, sgBase+"/fhir"+paths[0], sgTok); err != nil {
			return "", fmt.Errorf("smartgate read of an imported resource by its bundle id: %w "+
				"(compare expects the import to keep each resource's id)", err)
		}
	}
	err = e.interleave(ctx, "read", nil, func(context.Context) ([]target, error) {
		var ts []target
		if withSG {
			ts = append(ts, target{sg, sgp, loadgen.GetRequest(sgBase+"/fhir", paths, sgTok)})
		}
		return append(ts, target{floor, ff, loadgen.GetRequest(ffBase+"/fhir", paths, "")}), nil
	})
	if err != nil {
		return "", err
	}

	// (c) Observation lab search per patient (smartgate only).
	if withSG {
		logf("FHIR search")
		sp := fhirdata.LabSearchPaths(refs)
		err = e.interleave(ctx, "search", nil, func(context.Context) ([]target, error) {
			return []target{{sg, sgp, loadgen.GetRequest(sgBase+"/fhir", sp, sgTok)}}, nil
		})
		if err != nil {
			return "", err
		}
	}
	if err := e.runSCIM(ctx); err != nil {
		return "", err
	}
	return e.report(), nil
}

func (e *env) recordImport(target string, rep int, d time.Duration) {
	rps := float64(e.nRes) / d.Seconds()
	logf("import/%s/r%d  %d resources in %.2fs  %.0f resources/s", target, rep, e.nRes, d.Seconds(), rps)
	fmt.Fprintf(e.results, `{"label":"import/%s/r%d","resources":%d,"seconds":%g,"rps":%g}`+"\n", target, rep, e.nRes, d.Seconds(), rps)
	c := e.cell(key{"import", target, 0})
	c.rps = append(c.rps, rps)
}

// probe GETs url with a bearer token and wants 200.
func probe(ctx context.Context, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	hc := loadgen.NewClient(1, 10*time.Second)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %d", url, resp.StatusCode)
	}
	return nil
}
