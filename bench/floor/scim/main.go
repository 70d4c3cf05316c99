// Command scim is the SCIM floor for smartgate's benchmarks, on the same
// SQLite driver (modernc.org/sqlite) and connection settings as smartgate's
// store:
//
//	scim seed -db FILE -n N          N people in one INSERT … SELECT (the
//	                                 benchmark's store), user names
//	                                 person-<i>@bench.example
//	scim serve -db FILE -addr ADDR   a bare net/http handler:
//	                                 POST /scim/v2/Users: parse the JSON, one
//	                                 INSERT in its own transaction on the one
//	                                 writer connection (synchronous FULL),
//	                                 201 with the stored JSON;
//	                                 GET /scim/v2/Users?filter=userName eq "…":
//	                                 one SELECT on the user_name index (NOCASE),
//	                                 the stored JSON in a ListResponse.
//
// It checks no token, no schema, no password policy: the least a server
// does for these two requests on this machine.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scim seed|serve [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seedCmd(os.Args[2:])
	case "serve":
		err = serveCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor/scim:", err)
		os.Exit(1)
	}
}

const schema = `CREATE TABLE IF NOT EXISTS users (
	id        TEXT PRIMARY KEY,
	user_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
	json      BLOB NOT NULL,
	created   INTEGER NOT NULL
)`

// dsn is the connection string smartgate's store uses for a file database
// (store/sqlite.Open): WAL, busy_timeout, synchronous FULL and immediate
// transactions for the writer, query_only readers.
func dsn(path string, readOnly bool) (string, error) {
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
		q.Add("_pragma", "synchronous(FULL)")
		q.Set("_txlock", "immediate")
	}
	return (&url.URL{Scheme: "file", Path: abs}).String() + "?" + q.Encode(), nil
}

func open(path string, readOnly bool, conns int) (*sql.DB, error) {
	d, err := dsn(path, readOnly)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

func seedCmd(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	dbPath := fs.String("db", "", "database file (created)")
	n := fs.Int("n", 100000, "people")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbPath == "" || *n < 1 || *n > 10_000_000 {
		return errors.New("-db and -n 1..10000000 are required")
	}
	db, err := open(*dbPath, false, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return err
	}
	start := time.Now()
	_, err = db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO users (id, user_name, json, created)
		SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'person-' || i || '@bench.example',
			json_object('schemas', json_array('urn:ietf:params:scim:schemas:core:2.0:User'),
				'id', printf('%08x-0000-4000-8000-%012x', i, i), 'userName', 'person-' || i || '@bench.example',
				'name', json_object('givenName', 'Person', 'familyName', 'No. ' || i), 'active', json('true'),
				'emails', json_array(json_object('value', 'person-' || i || '@bench.example', 'type', 'work', 'primary', json('true')))),
			? + i
		FROM n`, *n, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Printf(`{"people":%d,"seconds":%g}`+"\n", *n, time.Since(start).Seconds())
	return nil
}

func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dbPath := fs.String("db", "", "database file written by seed")
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
	w, err := open(*dbPath, false, 1)
	if err != nil {
		return err
	}
	defer w.Close()
	r, err := open(*dbPath, true, *conns)
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := newHandler(ctx, w, r)
	if err != nil {
		return err
	}
	defer h.close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: h.mux(), ReadHeaderTimeout: 10 * time.Second}
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

type handler struct {
	w        *sql.DB
	byName   *sql.Stmt
	maxBytes int64
}

func newHandler(ctx context.Context, w, r *sql.DB) (*handler, error) {
	sel, err := r.PrepareContext(ctx, `SELECT json FROM users WHERE user_name = ?`)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return &handler{w: w, byName: sel, maxBytes: 64 << 10}, nil
}

func (h *handler) close() { h.byName.Close() }

func (h *handler) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /scim/v2/Users", h.create)
	mux.HandleFunc("GET /scim/v2/Users", h.filter)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

// create stores the posted User: one INSERT in its own transaction.
func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBytes))
	if err != nil {
		scimError(w, http.StatusRequestEntityTooLarge, "")
		return
	}
	var u map[string]any
	if err := json.Unmarshal(raw, &u); err != nil {
		scimError(w, http.StatusBadRequest, "invalidSyntax")
		return
	}
	name, _ := u["userName"].(string)
	if name == "" {
		scimError(w, http.StatusBadRequest, "invalidValue")
		return
	}
	u["id"] = newID()
	delete(u, "password")
	b, _ := json.Marshal(u)
	tx, err := h.w.BeginTx(r.Context(), nil)
	if err != nil {
		scimError(w, http.StatusInternalServerError, "")
		return
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(r.Context(), `INSERT INTO users (id, user_name, json, created) VALUES (?, ?, ?, ?)`,
		u["id"], name, b, time.Now().UnixMicro()); err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			scimError(w, http.StatusConflict, "uniqueness")
			return
		}
		scimError(w, http.StatusInternalServerError, "")
		return
	}
	if err := tx.Commit(); err != nil {
		scimError(w, http.StatusInternalServerError, "")
		return
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.Header().Set("Location", "/scim/v2/Users/"+u["id"].(string))
	w.WriteHeader(http.StatusCreated)
	w.Write(b)
}

// filter answers filter=userName eq "…" (nothing else) from the index.
func (h *handler) filter(w http.ResponseWriter, r *http.Request) {
	f := r.URL.Query().Get("filter")
	rest, ok := strings.CutPrefix(f, `userName eq "`)
	name, ok2 := strings.CutSuffix(rest, `"`)
	if !ok || !ok2 {
		scimError(w, http.StatusBadRequest, "invalidFilter")
		return
	}
	var b []byte
	err := h.byName.QueryRowContext(r.Context(), name).Scan(&b)
	var res []json.RawMessage
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		scimError(w, http.StatusInternalServerError, "")
		return
	default:
		res = append(res, b)
	}
	w.Header().Set("Content-Type", "application/scim+json")
	json.NewEncoder(w).Encode(map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": len(res), "startIndex": 1, "itemsPerPage": len(res), "Resources": res,
	})
}

func scimError(w http.ResponseWriter, status int, scimType string) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": fmt.Sprint(status)}
	if scimType != "" {
		body["scimType"] = scimType
	}
	json.NewEncoder(w).Encode(body)
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
