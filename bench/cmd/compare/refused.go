package main

// The "refused" scenario (issue 9, defect 8): peak memory of smartgate while
// it refuses large request bodies from a token that may not write them.
// Four clients at a time POST 15 MiB bodies with the read-only bench token
// (system/*.rs), each refused: Observation creates (403), and transaction
// (403) and batch (200, the entry 403) Bundles whose one entry is such a
// create. Peak RSS (VmHWM) is read
// before and after, on a server of its own (VmHWM only grows, so the other
// scenarios would hide it).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smartgate/smartgate/bench/loadgen"
)

const (
	refusedBodyBytes = 15 << 20
	refusedParallel  = 4
	refusedRounds    = 3
)

// refusedResult is the scenario's outcome, for the report.
type refusedResult struct {
	baseKiB, peakKiB int64
	requests, wrong  int
	statuses         map[int]int // answer status (0: transport error or timeout) -> count
}

// refusedBody is a JSON body of about refusedBodyBytes: an Observation
// with many small components (the shape that costs most to decode), or a
// Bundle of kind ("transaction", "batch") with it as the one entry.
func refusedBody(kind string) []byte {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Observation","status":"final","code":{"text":"refused"},"component":[`)
	const comp = `{"code":{"text":"c"},"valueString":"v"}`
	for i := 0; b.Len() < refusedBodyBytes-len(comp)-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(comp)
	}
	b.WriteString(`]}`)
	obs := b.String()
	if kind == "" {
		return []byte(obs)
	}
	return []byte(`{"resourceType":"Bundle","type":"` + kind + `","entry":[{"request":{"method":"POST","url":"Observation"},"resource":` + obs + `}]}`)
}

func (e *env) refusedBodies(ctx context.Context) error {
	if !e.s.want("refused") || e.s.floorsOnly {
		return nil
	}
	logf("refused large bodies (own smartgate)")
	dir := sgDataDir(e.work, "refused")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := smartgateClientAdd(ctx, e.smartgate, dir, e.secret); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	p, base, err := smartgateServe(ctx, e.procs, "smartgate", e.s.out, e.smartgate, dir, port, e.s.sgArgs)
	if err != nil {
		return err
	}
	defer e.procs.stop(p)
	client := loadgen.Client{ID: benchClientID, Secret: e.secret}
	tok, err := loadgen.FetchToken(ctx, loadgen.IssueRequest(base+"/oauth/token", client, benchScope))
	if err != nil {
		return fmt.Errorf("refused: token: %w", err)
	}
	r := &refusedResult{statuses: map[int]int{}}
	if r.baseKiB, _, err = loadgen.ReadRSS(p.pid()); err != nil {
		return err
	}
	bodies := []struct {
		path, kind string
		body       []byte
	}{
		{"/fhir/Observation", "", refusedBody("")},
		{"/fhir", "transaction", refusedBody("transaction")},
		{"/fhir", "batch", refusedBody("batch")},
	}
	hc := loadgen.NewClient(refusedParallel, 60*time.Second)
	for round := 0; round < refusedRounds; round++ {
		for _, b := range bodies {
			var wg sync.WaitGroup
			var mu sync.Mutex
			for i := 0; i < refusedParallel; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, answer := postRefused(ctx, hc, base+b.path, tok, b.body)
					if b.kind == "batch" && st == http.StatusOK && strings.Contains(string(answer), `"status":"403`) {
						st = http.StatusForbidden // a batch answers 200, its entry 403
					}
					mu.Lock()
					r.requests++
					r.statuses[st]++
					if st != http.StatusForbidden {
						r.wrong++
					}
					mu.Unlock()
				}()
			}
			wg.Wait()
		}
	}
	if r.peakKiB, _, err = loadgen.ReadRSS(p.pid()); err != nil {
		return err
	}
	logf("refused/smartgate  %d requests (%d not 403; statuses %v), peak RSS %.1f MiB (%.1f MiB before)", r.requests, r.wrong,
		r.statuses, float64(r.peakKiB)/1024, float64(r.baseKiB)/1024)
	fmt.Fprintf(e.results, `{"label":"refused/smartgate","requests":%d,"not_403":%d,"base_kib":%d,"peak_kib":%d,"body_bytes":%d,"parallel":%d}`+"\n",
		r.requests, r.wrong, r.baseKiB, r.peakKiB, len(bodies[0].body), refusedParallel)
	e.refused = r
	return nil
}

// postRefused POSTs body and returns the status (0 on a transport error
// or timeout) and the answer.
func postRefused(ctx context.Context, hc *http.Client, url, tok string, body []byte) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, answer
}

// refusedReport is the report's section for the scenario.
func (e *env) refusedReport() string {
	r := e.refused
	if r == nil {
		return "\n### Refused large bodies\n\npending\n"
	}
	return fmt.Sprintf("\n### Refused large bodies (%d × %d parallel POSTs of 15 MiB, read-only token)\n\n"+
		"| server | requests | not 403 | peak RSS before | peak RSS after |\n|---|---|---|---|---|\n"+
		"| smartgate | %d | %d | %.1f MiB | %.1f MiB |\n",
		refusedRounds*3, refusedParallel, r.requests, r.wrong, float64(r.baseKiB)/1024, float64(r.peakKiB)/1024)
}
