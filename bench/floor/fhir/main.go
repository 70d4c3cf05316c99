// Command fhir is the FHIR floor for smartgate's benchmarks, on the same
// SQLite driver (modernc.org/sqlite) as smartgate:
//
//	fhir import -db FILE [-data DIR]   the bare import loop: parse each bundle
//	                                   entry's resource, insert it as one row
//	                                   of resource(type, id, json); no search
//	                                   indexes; one transaction per bundle.
//	                                   Prints one JSON line with resources/s.
//	fhir serve -db FILE -addr ADDR     a bare net/http handler for
//	                                   GET /fhir/{type}/{id}: one primary-key
//	                                   SELECT, the stored bytes written as is.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/smartgate/smartgate/bench/fhirdata"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fhir import|serve [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "import":
		err = importCmd(os.Args[2:])
	case "serve":
		err = serveCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor/fhir:", err)
		os.Exit(1)
	}
}

const schema = `CREATE TABLE IF NOT EXISTS resource (
	type TEXT NOT NULL,
	id   TEXT NOT NULL,
	json BLOB NOT NULL,
	PRIMARY KEY (type, id)
)`

// dsn is the connection string smartgate's store uses for a file database
// (store/sqlite.Open), with the synchronous level given.
func dsn(path, synchronous string, readOnly bool) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+synchronous+")")
		q.Set("_txlock", "immediate")
	}
	return (&url.URL{Scheme: "file", Path: abs}).String() + "?" + q.Encode(), nil
}

func importCmd(args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	dbPath := fs.String("db", "", "database file (created)")
	dir := fs.String("data", "../shared/fhir/synthea", "folder of FHIR Bundle files")
	sync := fs.String("synchronous", "FULL", "SQLite synchronous level (smartgate's store default is FULL)")
	perResource := fs.Bool("tx-per-resource", false, "commit each row on its own instead of one transaction per bundle")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbPath == "" {
		return errors.New("-db is required")
	}
	start := time.Now()
	d, err := dsn(*dbPath, *sync, false)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	files, err := fhirdata.Files(*dir)
	if err != nil {
		return err
	}
	loopStart := time.Now()
	n, err := importFiles(ctx, db, files, *perResource)
	if err != nil {
		return err
	}
	loop := time.Since(loopStart)
	total := time.Since(start)
	out := map[string]any{
		"label":        "floor-import",
		"resources":    n,
		"files":        len(files),
		"seconds":      total.Seconds(),
		"loop_seconds": loop.Seconds(),
		"rps":          float64(n) / loop.Seconds(),
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	fmt.Fprintf(os.Stderr, "imported %d resources from %d files in %.3fs (%.0f resources/s)\n", n, len(files), loop.Seconds(), float64(n)/loop.Seconds())
	return nil
}

// importFiles is the bare import loop over files; it returns the number of
// resources processed.
func importFiles(ctx context.Context, db *sql.DB, files []string, perResource bool) (int, error) {
	n := 0
	for _, f := range files {
		k, err := importFile(ctx, db, f, perResource)
		if err != nil {
			return n, fmt.Errorf("%s: %w", f, err)
		}
		n += k
	}
	return n, nil
}

func importFile(ctx context.Context, db *sql.DB, path string, perResource bool) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	bu, err := fhirdata.ParseBundle(b)
	if err != nil {
		return 0, err
	}
	type row struct {
		typ, id string
		json    []byte
	}
	rows := make([]row, 0, len(bu.Entry))
	for i, e := range bu.Entry {
		// Parse the whole resource, as any real import must.
		var res map[string]any
		if err := json.Unmarshal(e.Resource, &res); err != nil {
			return 0, fmt.Errorf("entry %d: %w", i, err)
		}
		typ, _ := res["resourceType"].(string)
		id, _ := res["id"].(string)
		if typ == "" || id == "" {
			return 0, fmt.Errorf("entry %d: resource without resourceType or id", i)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Resource); err != nil {
			return 0, fmt.Errorf("entry %d: %w", i, err)
		}
		rows = append(rows, row{typ, id, buf.Bytes()})
	}
	// The Synthea bundles share some Organization and Practitioner resources
	// (same id in several files): the later copy replaces the earlier one.
	const ins = `INSERT INTO resource (type, id, json) VALUES (?, ?, ?)
		ON CONFLICT (type, id) DO UPDATE SET json = excluded.json`
	if perResource {
		for _, r := range rows {
			if _, err := db.ExecContext(ctx, ins, r.typ, r.id, r.json); err != nil {
				return 0, err
			}
		}
		return len(rows), nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, ins)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r.typ, r.id, r.json); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return len(rows), nil
}

func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dbPath := fs.String("db", "", "database file written by import")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	conns := fs.Int("read-conns", 4, "reader connections (smartgate's store default is 4)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbPath == "" {
		return errors.New("-db is required")
	}
	if _, err := os.Stat(*dbPath); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: loopback only", *addr)
	}
	d, err := dsn(*dbPath, "", true)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(*conns)
	db.SetMaxIdleConns(*conns)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sel, err := db.PrepareContext(ctx, selectByID)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer sel.Close()

	mux := newHandler(sel)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

const selectByID = `SELECT json FROM resource WHERE type = ? AND id = ?`

// newHandler serves GET /fhir/{type}/{id} with one primary-key SELECT
// (sel is selectByID prepared on the reader pool), writing the stored bytes.
func newHandler(sel *sql.Stmt) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		err := sel.QueryRowContext(r.Context(), r.PathValue("type"), r.PathValue("id")).Scan(&b)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			outcome(w, http.StatusNotFound, "not-found", "no such resource")
			return
		case err != nil:
			outcome(w, http.StatusInternalServerError, "exception", "database error")
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write(b)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

func outcome(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []any{map[string]any{"severity": "error", "code": code, "diagnostics": msg}},
	})
}
