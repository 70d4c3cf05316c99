// Package sqlite is smartgate's embedded storage backend on modernc.org/sqlite
// (pure Go, no cgo). One database file holds everything; writers are
// serialised through a single connection that opens IMMEDIATE transactions,
// readers use a separate pool and see committed snapshots (WAL).
//
// Each domain's methods live in their own file (users.go, oauth.go, fhir.go,
// …) and implement the interfaces that the consuming packages declare, under
// the rules of package store; store/storetest checks them. Timestamps are
// INTEGER Unix microseconds (timestamp.go). Schema changes are numbered SQL
// files under migrations/ (this backend's dialect), applied in order at
// Open; a database written by a newer binary is refused. inspect.go answers
// tests' questions about what is stored.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options tune Open. The zero value is valid.
type Options struct {
	// Logger receives migration and maintenance messages; nil discards them.
	Logger *slog.Logger
	// ReadConns is the size of the reader pool (default 4).
	ReadConns int
	// Synchronous is the PRAGMA synchronous level: "FULL" (default; an
	// acknowledged write survives power loss) or "NORMAL" (survives a process
	// crash, may lose the last commits on power loss).
	Synchronous string
	// BusyTimeout bounds how long a statement waits for a lock (default 5s).
	BusyTimeout time.Duration
	// MaxSizeBytes, when positive, caps the database size; a write that
	// would grow it further fails with store.ErrUnavailable, as on a full
	// disk, and changes nothing.
	MaxSizeBytes int64
}

// readerCacheKiB is the page cache of each reader connection.
const readerCacheKiB = 512

// DB is an open smartgate database.
type DB struct {
	path   string
	w      *sql.DB // exactly one connection: the writer
	wr     *writer // group commit of Write calls on w
	stmts  stmts
	r      *sql.DB // reader pool (same as w for in-memory databases)
	logger *slog.Logger
	closed atomic.Bool
}

var memSeq atomic.Int64

// Memory is the path that opens a private in-memory database.
const Memory = ":memory:"

// Open opens (creating if needed) the database at path and applies pending
// migrations. path may be Memory for a private in-memory database.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	syncLevel := strings.ToUpper(opts.Synchronous)
	switch syncLevel {
	case "":
		syncLevel = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("sqlite: synchronous must be FULL or NORMAL, not %q", opts.Synchronous)
	}
	db := &DB{path: path, logger: opts.Logger}
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)

	if path == Memory {
		// A named shared-cache memory database, private to this DB value,
		// reached through one connection (shared cache has table locks that
		// would otherwise make readers fail with SQLITE_LOCKED).
		name := fmt.Sprintf("file:smartgate-mem-%d-%d?mode=memory&cache=shared", os.Getpid(), memSeq.Add(1))
		dsn := name + "&_pragma=foreign_keys(1)&_pragma=busy_timeout(" + busy + ")&_txlock=immediate"
		w, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open in-memory database: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		db.w, db.r = w, w
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("sqlite: database path %s: %w", path, err)
		}
		db.path = abs
		if err := checkFile(abs); err != nil {
			return nil, err
		}
		u := url.URL{Scheme: "file", Path: abs}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout("+busy+")")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+syncLevel+")")
		q.Set("_txlock", "immediate")
		w, err := sql.Open("sqlite", u.String()+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)

		rq := url.Values{}
		rq.Add("_pragma", "busy_timeout("+busy+")")
		rq.Add("_pragma", "foreign_keys(1)")
		rq.Add("_pragma", "query_only(1)")
		// A small page cache per reader: every commit makes each reader
		// drop its whole cache at its next read (WAL changed), and freeing
		// and refilling 2 MiB caches costs more than reading the pages
		// again from the OS cache. 4 × 512 KiB also stays within what the
		// driver's allocator keeps committed for reuse (profiled: FHIR
		// search at c=8 went from about 200 to 500 requests/s).
		rq.Add("_pragma", "cache_size(-"+strconv.Itoa(readerCacheKiB)+")")
		r, err := sql.Open("sqlite", u.String()+"?"+rq.Encode())
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
		}
		r.SetMaxOpenConns(opts.ReadConns)
		r.SetMaxIdleConns(opts.ReadConns)
		db.w, db.r = w, r
	}
	db.wr = newWriter(db.w)
	if err := db.w.PingContext(ctx); err != nil {
		db.closeConns()
		return nil, fmt.Errorf("sqlite: open %s: %w", db.path, describe(err))
	}
	if err := db.migrate(ctx); err != nil {
		db.closeConns()
		return nil, err
	}
	if err := db.prepare(ctx); err != nil {
		db.closeConns()
		return nil, err
	}
	if opts.MaxSizeBytes > 0 {
		// The writer is the only connection that grows the file.
		var pageSize int64
		if err := db.w.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
			db.closeConns()
			return nil, fmt.Errorf("sqlite: page size: %w", err)
		}
		if _, err := db.w.ExecContext(ctx, "PRAGMA max_page_count = "+strconv.FormatInt(opts.MaxSizeBytes/pageSize, 10)); err != nil {
			db.closeConns()
			return nil, fmt.Errorf("sqlite: max size: %w", err)
		}
	}
	return db, nil
}

// checkFile refuses, before SQLite touches it, a path that exists but is not
// an SQLite database, and a folder that cannot be written.
func checkFile(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sqlite: data folder %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("sqlite: data folder %s is not a folder", dir)
	}
	probe, err := os.CreateTemp(dir, ".smartgate-write-check-*")
	if err != nil {
		return fmt.Errorf("sqlite: data folder %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())

	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Create it private to the owner: it holds health data and secrets.
		// SQLite gives the -wal and -shm files the same permissions.
		nf, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("sqlite: create database file %s: %w", path, err)
		}
		if nf != nil {
			nf.Close()
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: database file %s: %w", path, err)
	}
	defer f.Close()
	header := make([]byte, 16)
	n, _ := f.Read(header)
	if n == 0 {
		return nil // empty file: SQLite initialises it
	}
	if n < 16 || string(header) != "SQLite format 3\x00" {
		return fmt.Errorf("sqlite: database file %s is not an SQLite database (left untouched)", path)
	}
	return nil
}

func (db *DB) closeConns() {
	db.wr.close()
	db.stmts.close()
	if db.r != db.w {
		db.r.Close()
	}
	db.w.Close()
}

// Path returns the absolute path of the database file, or Memory.
func (db *DB) Path() string { return db.path }

// Close closes the database. It is safe to call more than once.
func (db *DB) Close() error {
	if !db.closed.CompareAndSwap(false, true) {
		return nil
	}
	db.wr.close() // waits for queued writes
	errs := []error{db.stmts.close()}
	if db.r != db.w {
		errs = append(errs, db.r.Close())
	}
	if db.path != Memory {
		// Fold the WAL back into the main file so that a copied file is whole.
		if _, err := db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			db.logger.Warn("wal checkpoint at close failed", "err", err)
		}
	}
	errs = append(errs, db.w.Close())
	return errors.Join(errs...)
}

// write runs fn in an IMMEDIATE transaction on the writer connection and
// commits it when fn returns nil; write returns only once that commit is
// durable. Concurrent calls share one transaction and one commit (group
// commit, see write.go), each fn inside its own savepoint: an error from fn
// undoes fn's statements only and is returned to its caller only. fn runs
// on the writer goroutine; a panic in it is re-raised in the caller. fn must
// not call write itself (it would wait for itself), nor end the transaction.
// Driver errors are translated into the store sentinels.
//
// write, read and mapErr are this package's own: callers see only the
// domain methods, whose contract package storetest states for every
// backend.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.wr.submit(ctx, fn)
}

// read runs fn in a read transaction, so that several queries see one
// consistent snapshot of the last committed state.
func (db *DB) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: db.r != db.w})
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	return mapErr(fn(tx))
}

// Ping reports whether the database answers and its schema is current.
func (db *DB) Ping(ctx context.Context) error {
	var v int
	if err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version),0) FROM schema_migrations").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: ping: %w", mapErr(err))
	}
	if want := latestVersion(); v != want {
		return fmt.Errorf("sqlite: schema version %d, want %d", v, want)
	}
	return nil
}

// Backend names this backend (readiness reports it).
func (db *DB) Backend() string { return "sqlite" }

// SchemaVersion is the number of the last migration applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version),0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", mapErr(err))
	}
	return v, nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns an error describing
// the first problems found.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("sqlite: integrity check: %w", err)
		}
		msgs = append(msgs, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return fmt.Errorf("sqlite: integrity check failed: %s", strings.Join(msgs, "; "))
}

// Backup writes a consistent copy of the live database to dest (which must
// not exist yet) with VACUUM INTO; the copy is a complete database file that
// can replace the original while smartgate is stopped.
func (db *DB) Backup(ctx context.Context, dest string) error {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("sqlite: backup destination %s: %w", dest, err)
	}
	if _, err := os.Stat(abs); err == nil {
		return fmt.Errorf("sqlite: backup destination %s already exists", abs)
	}
	// VACUUM INTO takes the file name as a bound parameter: no quoting issues.
	if _, err := db.r.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		// query_only forbids VACUUM INTO on the reader pool in some versions;
		// fall back to the writer, which briefly queues other writes.
		if _, err2 := db.w.ExecContext(ctx, "VACUUM INTO ?", abs); err2 != nil {
			return fmt.Errorf("sqlite: backup to %s: %w", abs, errors.Join(err, err2))
		}
	}
	return nil
}

// mapErr translates driver errors into the store sentinels, keeping the
// original in the chain for logs.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
			sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM:
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
	}
	return err
}

func describe(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("not a valid SQLite database (corrupt?): %w", err)
		}
	}
	return err
}

// scanner is a *sql.Row or *sql.Rows.
type scanner = rowmap.Scanner

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() []migration {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err) // embedded at build time
	}
	var ms []migration
	for _, e := range entries {
		num, rest, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			panic("sqlite: bad migration file name " + e.Name())
		}
		b, err := fs.ReadFile(migrationFS, "migrations/"+e.Name())
		if err != nil {
			panic(err)
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(rest, ".sql"), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			panic(fmt.Sprintf("sqlite: migrations must be numbered 1..n without gaps; got %d at position %d", m.version, i+1))
		}
	}
	return ms
}

func latestVersion() int { return len(loadMigrations()) }

// migrate applies the pending migrations in one IMMEDIATE transaction on
// the writer connection, with foreign keys off while they run, as SQLite's
// procedure for changing a table's definition requires (a rebuilt parent
// table must not cascade its DROP into the tables that reference it); the
// foreign keys are checked before the commit and switched back on after it.
func (db *DB) migrate(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("sqlite: migrate %s: %w", db.path, describe(err))
		}
	}()
	conn, err := db.w.Conn(ctx) // the one writer connection; nothing else runs yet
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer func() {
		if _, ferr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON"); ferr != nil && err == nil {
			err = ferr
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	if err := db.applyMigrations(ctx, tx); err != nil {
		return err
	}
	return mapErr(tx.Commit())
}

func (db *DB) applyMigrations(ctx context.Context, tx *sql.Tx) error {
	ms := loadMigrations()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	var cur int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version),0) FROM schema_migrations").Scan(&cur); err != nil {
		return err
	}
	if cur > len(ms) {
		return fmt.Errorf("sqlite: database %s has schema version %d, newer than this binary knows (%d); refusing to open it", db.path, cur, len(ms))
	}
	for _, m := range ms[cur:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("sqlite: migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations(version, name, applied_at) VALUES(?,?,?)",
			m.version, m.name, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return err
		}
		db.logger.Info("applied migration", "version", m.version, "name", m.name)
	}
	return checkForeignKeys(ctx, tx)
}

// checkForeignKeys fails when a row references a missing parent (what the
// foreign keys, off while migrations run, would have refused).
func checkForeignKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return fmt.Errorf("sqlite: after migrating, a row of %s references a missing %s", table, parent)
	}
	return rows.Err()
}
