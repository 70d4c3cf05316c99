package main

// The SCIM scenarios (issue 11): create a person without a password, and
// filter=userName eq "…", on a store of 100,000 people, against a bare
// SQLite insert / indexed-select floor (bench/floor/scim) seeded the same
// way. Both stores are seeded with one INSERT … SELECT, not 100,000 HTTP
// calls; smartgate's through its database file before it starts (the
// tables of store/sqlite's migrations 0002, 0012 and 0014: the only other
// place compare knows smartgate's insides, beside smartgate.go).

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"

	"github.com/smartgate/smartgate/bench/loadgen"
)

// scimScenarios are the SCIM scenario names; BENCH_ONLY=scim selects both.
var scimScenarios = []string{"scimfilter", "scimcreate"}

// scimPeople is the size of both stores (BENCH_SCIM_PEOPLE overrides).
func scimPeople() (int, error) {
	v := os.Getenv("BENCH_SCIM_PEOPLE")
	if v == "" {
		return 100_000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1000 || n > 2_000_000 {
		return 0, fmt.Errorf("BENCH_SCIM_PEOPLE %q: want 1000..2000000", v)
	}
	return n, nil
}

// benchProvisioningToken is the provisioning token the bench client holds
// (smartgate recognises provisioning tokens by the sgp_ prefix).
func benchProvisioningToken(secret string) string { return "sgp_bench" + secret }

// seedSmartgatePeople writes n people (person-<i>@bench.example, active,
// no password, one work e-mail) into the database of dataDir, which
// `smartgate client add` has created and migrated, allows the bench client
// SCIM and gives it a provisioning token. smartgate must not be running.
func seedSmartgatePeople(ctx context.Context, dataDir string, n int, token string) (time.Duration, error) {
	path, err := filepath.Abs(filepath.Join(dataDir, "smartgate.db"))
	if err != nil {
		return 0, err
	}
	dsn := (&url.URL{Scheme: "file", Path: path}).String() + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	start := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	now := time.Now().UnixMicro()
	hash := sha256.Sum256([]byte(token))
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
			INSERT INTO users (id, user_name, given_name, family_name, formatted_name, display_name, active,
				password_hash, fhir_user, roles, created, last_modified, version, external_id)
			SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'person-' || i || '@bench.example', 'Person', 'No. ' || i,
				'Person No. ' || i, 'Person No. ' || i, 1, '', '', '', ? + i, ? + i, 1, 'ext-' || i FROM n`, []any{n, now, now}},
		{`INSERT INTO user_emails (user_id, position, value, type, is_primary)
			SELECT id, 0, user_name, 'work', 1 FROM users WHERE user_name LIKE 'person-%@bench.example'`, nil},
		{`UPDATE oauth_clients SET allow_scim = 1 WHERE id = ?`, []any{benchClientID}},
		{`INSERT INTO provisioning_tokens (id, client_id, label, token_hash, created_at) VALUES ('bench', ?, 'bench', ?, ?)`,
			[]any{benchClientID, hash[:], now}},
	} {
		if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
			return 0, fmt.Errorf("seeding smartgate's store (compare knows migrations 0002, 0012, 0014; fix bench/cmd/compare/scim.go if they changed): %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// scimFilterPaths are filter=userName eq "person-k@bench.example" for k
// spread over the whole store (a fixed stride, so no two neighbours).
func scimFilterPaths(n int) []string {
	paths := make([]string, 0, 1000)
	for j := range 1000 {
		k := 1 + (j*7919)%n
		f := `userName eq "person-` + strconv.Itoa(k) + `@bench.example"`
		paths = append(paths, "/Users?filter="+url.QueryEscape(f))
	}
	return paths
}

// scimFoundCheck wants 200 and exactly one match.
func scimFoundCheck(status int, body []byte) string {
	if status != http.StatusOK {
		return strconv.Itoa(status)
	}
	var lr struct {
		TotalResults int `json:"totalResults"`
	}
	if json.Unmarshal(body, &lr) != nil || lr.TotalResults != 1 {
		return "not-one-match"
	}
	return ""
}

// scimCreateRequest posts a new person (no password) with a fresh user
// name each time; prefix keeps the targets' and runs' names apart.
func scimCreateRequest(base, token, prefix string) loadgen.Request {
	var next atomic.Int64
	hdr := http.Header{"Content-Type": {"application/scim+json"}, "Accept": {"application/scim+json"}}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	return loadgen.Request{Method: http.MethodPost, BaseURL: base + "/Users", Header: hdr,
		NextBody: func() []byte {
			i := next.Add(1)
			name := fmt.Sprintf("%s-%d@bench.example", prefix, i)
			b, _ := json.Marshal(map[string]any{
				"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
				"userName": name, "externalId": fmt.Sprintf("%s-%d", prefix, i), "active": true,
				"name":   map[string]any{"givenName": "New", "familyName": "Person"},
				"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
			})
			return b
		}}
}

func scimGet(base string, paths []string, token string) loadgen.Request {
	r := loadgen.GetRequest(base, paths, token)
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Set("Accept", "application/scim+json")
	return r
}

// runSCIM seeds both stores, starts the SCIM floor and a smartgate of its
// own, and runs the two scenarios, interleaved like the others.
func (e *env) runSCIM(ctx context.Context) error {
	if !e.s.want("scimfilter") && !e.s.want("scimcreate") {
		return nil
	}
	n, err := scimPeople()
	if err != nil {
		return err
	}
	e.scimPeople = n
	floorDB := filepath.Join(e.work, "floor-scim.db")
	d, out, err := runTimed(ctx, e.floorSCIM, []string{"seed", "-db", floorDB, "-n", strconv.Itoa(n)}, nil, "")
	if err != nil {
		return err
	}
	logf("scim: floor store seeded with %d people in %.2fs %s", n, d.Seconds(), out)
	port, err := freePort()
	if err != nil {
		return err
	}
	fp, err := e.procs.start("floor-scim", e.s.out, e.floorSCIM, []string{"serve", "-db", floorDB, "-addr", "127.0.0.1:" + strconv.Itoa(port)}, nil)
	if err != nil {
		return err
	}
	fBase := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitHealthy(ctx, fp, fBase+"/healthz"); err != nil {
		return err
	}
	fBase += "/scim/v2"

	var sgp *proc
	var sgBase, token string
	if !e.s.floorsOnly {
		dir := sgDataDir(e.work, "scim")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := smartgateClientAdd(ctx, e.smartgate, dir, e.secret); err != nil {
			return err
		}
		token = benchProvisioningToken(e.secret)
		d, err := seedSmartgatePeople(ctx, dir, n, token)
		if err != nil {
			return err
		}
		logf("scim: smartgate store seeded with %d people in %.2fs", n, d.Seconds())
		if port, err = freePort(); err != nil {
			return err
		}
		if sgp, sgBase, err = smartgateServe(ctx, e.procs, "smartgate-scim", e.s.out, e.smartgate, dir, port, e.s.sgArgs); err != nil {
			return err
		}
		sgBase += "/scim/v2"
		if err := probeSCIM(ctx, sgBase, token, n); err != nil {
			return fmt.Errorf("smartgate SCIM probe: %w", err)
		}
	}
	paths := scimFilterPaths(n)
	logf("SCIM filter=userName eq")
	err = e.interleave(ctx, "scimfilter", scimFoundCheck, func(context.Context) ([]target, error) {
		var ts []target
		if sgp != nil {
			ts = append(ts, target{sg, sgp, scimGet(sgBase, paths, token)})
		}
		return append(ts, target{floor, fp, scimGet(fBase, paths, "")}), nil
	})
	if err != nil {
		return err
	}
	logf("SCIM create (no password)")
	var run atomic.Int64
	return e.interleave(ctx, "scimcreate", loadgen.StatusCheck(http.StatusCreated), func(context.Context) ([]target, error) {
		r := run.Add(1)
		var ts []target
		if sgp != nil {
			ts = append(ts, target{sg, sgp, scimCreateRequest(sgBase, token, fmt.Sprintf("sg-r%d", r))})
		}
		return append(ts, target{floor, fp, scimCreateRequest(fBase, "", fmt.Sprintf("floor-r%d", r))}), nil
	})
}

// probeSCIM wants one match for the first seeded person.
func probeSCIM(ctx context.Context, base, token string, n int) error {
	r := scimGet(base, scimFilterPaths(n)[:1], token)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+r.Paths[0], nil)
	if err != nil {
		return err
	}
	req.Header = r.Header
	resp, err := loadgen.NewClient(1, 10*time.Second).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if k := scimFoundCheck(resp.StatusCode, body); k != "" {
		return fmt.Errorf("GET %s: %s: %.500s", r.Paths[0], k, body)
	}
	return nil
}
