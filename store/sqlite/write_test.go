package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

func openFile(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func putRow(ctx context.Context, key string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO settings(key, value, updated_at) VALUES(?, x'01', '')", key)
		return err
	}
}

func hasRow(t *testing.T, db *sqlite.DB, key string) bool {
	t.Helper()
	_, err := db.Setting(context.Background(), key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// holdWriter occupies the writer with a write that waits until the
// returned function is called, so that the writes queued meanwhile form one
// batch. The returned function waits for the held write to end.
func holdWriter(t *testing.T, db *sqlite.DB) (release func()) {
	t.Helper()
	started, proceed, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), func(tx *sql.Tx) error {
			close(started)
			<-proceed
			return nil
		})
	}()
	<-started
	return func() {
		close(proceed)
		if err := <-done; err != nil {
			t.Errorf("held write: %v", err)
		}
	}
}

// waitQueued waits (without sleeping) until n writes are queued.
func waitQueued(db *sqlite.DB, n int) {
	for db.QueuedWrites() < n {
		runtime.Gosched()
	}
}

type result struct {
	name     string
	err      error
	panicked any
}

// startWrites queues one Write per fn, in order, and returns a channel of
// their results.
func startWrites(db *sqlite.DB, fns map[string]func(tx *sql.Tx) error, order []string) <-chan result {
	out := make(chan result, len(order))
	for i, name := range order {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					out <- result{name: name, panicked: p}
				}
			}()
			err := db.Write(context.Background(), fns[name])
			out <- result{name: name, err: err}
		}()
		waitQueued(db, i+1)
	}
	return out
}

func collect(ch <-chan result, n int) map[string]result {
	m := map[string]result{}
	for range n {
		r := <-ch
		m[r.name] = r
	}
	return m
}

func TestConcurrentWritesAllCommitted(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				errs <- db.Write(ctx, putRow(ctx, fmt.Sprintf("k-%d-%d", g, i)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM settings WHERE key LIKE 'k-%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 200 {
		t.Fatalf("%d rows stored, want 200", n)
	}
}

func TestFailingWriteInBatchUndoesOnlyItself(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	errMine := errors.New("my failure")
	release := holdWriter(t, db)
	res := startWrites(db, map[string]func(tx *sql.Tx) error{
		"a": putRow(ctx, "a"),
		"b": func(tx *sql.Tx) error {
			if err := putRow(ctx, "b")(tx); err != nil {
				return err
			}
			return errMine // after a successful statement: it must be undone
		},
		"dup": putRow(ctx, "a"), // conflicts with a, in the same transaction
		"c":   putRow(ctx, "c"),
	}, []string{"a", "b", "dup", "c"})
	release()
	got := collect(res, 4)
	if got["a"].err != nil || got["c"].err != nil {
		t.Fatalf("a: %v, c: %v; want both committed", got["a"].err, got["c"].err)
	}
	if !errors.Is(got["b"].err, errMine) {
		t.Fatalf("b: %v, want its own error", got["b"].err)
	}
	if !errors.Is(got["dup"].err, store.ErrConflict) {
		t.Fatalf("dup: %v, want store.ErrConflict", got["dup"].err)
	}
	if !hasRow(t, db, "a") || !hasRow(t, db, "c") || hasRow(t, db, "b") {
		t.Fatalf("rows a, b, c = %v, %v, %v; want a and c only", hasRow(t, db, "a"), hasRow(t, db, "b"), hasRow(t, db, "c"))
	}
}

func TestPanicInWriteReachesItsCallerOnly(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	release := holdWriter(t, db)
	res := startWrites(db, map[string]func(tx *sql.Tx) error{
		"a": putRow(ctx, "a"),
		"p": func(tx *sql.Tx) error {
			if err := putRow(ctx, "p")(tx); err != nil {
				return err
			}
			panic("boom")
		},
		"c": putRow(ctx, "c"),
	}, []string{"a", "p", "c"})
	release()
	got := collect(res, 3)
	if got["p"].panicked != "boom" {
		t.Fatalf("p: panic %v, err %v; want the panic re-raised", got["p"].panicked, got["p"].err)
	}
	if got["a"].err != nil || got["c"].err != nil || got["a"].panicked != nil || got["c"].panicked != nil {
		t.Fatalf("a: %+v, c: %+v; want both committed", got["a"], got["c"])
	}
	if !hasRow(t, db, "a") || !hasRow(t, db, "c") || hasRow(t, db, "p") {
		t.Fatal("want rows a and c, not p")
	}
	// A lone panicking write leaves the writer usable too.
	func() {
		defer func() { _ = recover() }()
		_ = db.Write(ctx, func(tx *sql.Tx) error { panic("alone") })
	}()
	if err := db.Write(ctx, putRow(ctx, "after")); err != nil || !hasRow(t, db, "after") {
		t.Fatalf("write after panics: %v", err)
	}
}

func TestCommitFailureReachesEveryWriteOfTheBatch(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	// A deferred foreign key is checked at COMMIT: a write that breaks it
	// succeeds, and the commit of its batch fails.
	if err := db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE t_parent(id TEXT PRIMARY KEY);
			CREATE TABLE t_child(pid TEXT REFERENCES t_parent(id) DEFERRABLE INITIALLY DEFERRED)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	orphan := func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t_child(pid) VALUES('missing')")
		return err
	}
	// Alone: the caller sees the commit's error.
	if err := db.Write(ctx, orphan); err == nil {
		t.Fatal("lone write with a broken deferred key: want the commit error")
	}
	release := holdWriter(t, db)
	res := startWrites(db, map[string]func(tx *sql.Tx) error{
		"a": putRow(ctx, "a"), "orphan": orphan, "c": putRow(ctx, "c"),
	}, []string{"a", "orphan", "c"})
	release()
	got := collect(res, 3)
	for _, name := range []string{"a", "orphan", "c"} {
		if got[name].err == nil {
			t.Errorf("%s: nil error, want the commit's failure", name)
		}
	}
	if hasRow(t, db, "a") || hasRow(t, db, "c") {
		t.Fatal("rows of a failed commit are visible")
	}
	if err := db.Write(ctx, putRow(ctx, "after")); err != nil || !hasRow(t, db, "after") {
		t.Fatalf("write after a failed commit: %v", err)
	}
}

func TestWriteThatEndsTheTransactionFailsItsBatchAsUnavailable(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	errMine := errors.New("rolled back")
	release := holdWriter(t, db)
	res := startWrites(db, map[string]func(tx *sql.Tx) error{
		"a": putRow(ctx, "a"),
		"rb": func(tx *sql.Tx) error {
			// What SQLite does itself on some errors (SQLITE_FULL, IOERR):
			// the whole transaction is gone.
			if _, err := tx.ExecContext(ctx, "ROLLBACK"); err != nil {
				return err
			}
			return errMine
		},
		"c": putRow(ctx, "c"),
	}, []string{"a", "rb", "c"})
	release()
	got := collect(res, 3)
	if !errors.Is(got["rb"].err, errMine) {
		t.Fatalf("rb: %v, want its own error", got["rb"].err)
	}
	for _, name := range []string{"a", "c"} {
		if !errors.Is(got[name].err, store.ErrUnavailable) {
			t.Errorf("%s: %v, want store.ErrUnavailable", name, got[name].err)
		}
	}
	if hasRow(t, db, "a") || hasRow(t, db, "c") {
		t.Fatal("a write reported as failed is stored")
	}
	if err := db.Write(ctx, putRow(ctx, "after")); err != nil || !hasRow(t, db, "after") {
		t.Fatalf("write after an aborted batch: %v", err)
	}
}

func TestWriteCancelledWhileQueuedDoesNotRun(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	release := holdWriter(t, db)
	cctx, cancel := context.WithCancel(ctx)
	ran := false
	errc := make(chan error, 1)
	go func() {
		errc <- db.Write(cctx, func(tx *sql.Tx) error {
			ran = true
			return putRow(ctx, "cancelled")(tx)
		})
	}()
	waitQueued(db, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v, want context.Canceled", err)
	}
	release()
	if err := db.Write(ctx, putRow(ctx, "next")); err != nil {
		t.Fatal(err)
	}
	if ran || hasRow(t, db, "cancelled") {
		t.Fatal("a write cancelled while queued ran")
	}
	if err := db.Write(cctx, putRow(ctx, "late")); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with a done context: %v, want context.Canceled", err)
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.Write(context.Background(), func(tx *sql.Tx) error { return nil }); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

func TestWriteCancelledWhileRunningFailsAlone(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	release := holdWriter(t, db)
	res := make(chan result, 3)
	for i, name := range []string{"a", "cancelled", "c"} {
		go func() {
			var err error
			if name == "cancelled" {
				err = db.Write(cctx, func(tx *sql.Tx) error {
					if err := putRow(ctx, "cancelled")(tx); err != nil {
						return err
					}
					cancel() // the caller gives up while its write runs
					_, err := tx.ExecContext(cctx, "INSERT INTO settings(key, value, updated_at) VALUES('cancelled2', x'01', '')")
					return err
				})
			} else {
				err = db.Write(ctx, putRow(ctx, name))
			}
			res <- result{name: name, err: err}
		}()
		waitQueued(db, i+1)
	}
	release()
	got := collect(res, 3)
	if got["cancelled"].err == nil {
		t.Fatal("cancelled write: nil error")
	}
	if got["a"].err != nil || got["c"].err != nil {
		t.Fatalf("a: %v, c: %v; want both committed", got["a"].err, got["c"].err)
	}
	if !hasRow(t, db, "a") || !hasRow(t, db, "c") || hasRow(t, db, "cancelled") || hasRow(t, db, "cancelled2") {
		t.Fatal("want rows a and c only")
	}
}
