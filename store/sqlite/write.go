package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/smartgate/smartgate/store"
)

// Group commit. With synchronous=FULL every COMMIT waits for an fsync of the
// WAL, so one transaction per write caps the server at about one write per
// fsync whatever the concurrency. Concurrent Write calls therefore share
// one IMMEDIATE transaction: each caller's fn runs inside its own SAVEPOINT
// (released when fn succeeds, rolled back when it fails, so that one
// failing write never undoes another), and one COMMIT — one fsync — makes
// the whole batch durable. Every caller returns only after that COMMIT, with
// its result; a write is never acknowledged before it is durable.
//
// A lone write (the common case at low load) runs without savepoints,
// exactly as a plain transaction.

// maxBatch bounds how many writes share one transaction, so that one batch
// cannot hold the write lock for long.
const maxBatch = 64

// errClosed is returned by Write after Close.
var errClosed = errors.New("sqlite: database is closed")

// writeReq is one queued Write call.
type writeReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan struct{} // closed when err (or pv) is final

	taken    bool // the writer has dequeued it (guarded by writer.mu)
	err      error
	panicked bool
	pv       any
}

// writer owns the writer connection's transactions: one goroutine takes
// queued writes in batches and runs each batch in one transaction.
type writer struct {
	db *sql.DB

	mu     sync.Mutex
	queue  []*writeReq
	closed bool

	wake   chan struct{} // capacity 1: "the queue may be non-empty"
	exited chan struct{}
}

func newWriter(db *sql.DB) *writer {
	w := &writer{db: db, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go w.loop()
	return w
}

// submit queues fn and waits for its result. A caller whose ctx ends while
// its write is still queued leaves the queue and gets ctx.Err(); once the
// writer has taken it, the caller waits for the outcome, so that the result
// it reports is the true one.
func (w *writer) submit(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}

	select {
	case <-r.done:
	case <-ctx.Done():
		w.mu.Lock()
		if !r.taken {
			for i, q := range w.queue {
				if q == r {
					w.queue = append(w.queue[:i], w.queue[i+1:]...)
					break
				}
			}
			w.mu.Unlock()
			return ctx.Err()
		}
		w.mu.Unlock()
		<-r.done
	}
	if r.panicked {
		panic(r.pv)
	}
	return r.err
}

// close stops taking new writes, lets the queued ones finish and waits for
// the writer goroutine to end.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.exited
}

func (w *writer) loop() {
	defer close(w.exited)
	for range w.wake {
		for {
			w.mu.Lock()
			n := min(len(w.queue), maxBatch)
			if n == 0 {
				closed := w.closed
				w.mu.Unlock()
				if closed {
					return
				}
				break
			}
			batch := make([]*writeReq, n)
			copy(batch, w.queue)
			for _, r := range batch {
				r.taken = true
			}
			rest := copy(w.queue, w.queue[n:])
			clear(w.queue[rest:])
			w.queue = w.queue[:rest]
			w.mu.Unlock()
			w.run(batch)
		}
	}
}

// call runs fn, turning a panic into a value so that the writer goroutine
// survives it; the caller's goroutine panics again with the same value.
func call(fn func(tx *sql.Tx) error, tx *sql.Tx) (panicked bool, pv any, err error) {
	panicked = true
	defer func() {
		if panicked {
			pv = recover()
		}
	}()
	err = fn(tx)
	panicked = false
	return false, nil, err
}

func finish(r *writeReq, err error) {
	r.err = err
	close(r.done)
}

// run executes one batch in one transaction.
func (w *writer) run(batch []*writeReq) {
	// The transaction belongs to the batch, not to any one caller: a
	// caller's cancelled context must not roll back the others' writes.
	tx, err := w.db.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			finish(r, mapErr(err))
		}
		return
	}
	if len(batch) == 1 {
		w.runOne(tx, batch[0])
		return
	}
	ok := make([]*writeReq, 0, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			finish(r, err)
			continue
		}
		if _, err := tx.Exec("SAVEPOINT smartgate_write"); err != nil {
			abort(tx, ok, batch[i:], err)
			return
		}
		panicked, pv, err := call(r.fn, tx)
		if err == nil && !panicked {
			if _, err := tx.Exec("RELEASE smartgate_write"); err != nil {
				// fn succeeded, but SQLite rolled the transaction back
				// under it (an error fn did not return): nothing can be kept.
				abort(tx, append(ok, r), batch[i+1:], err)
				return
			}
			ok = append(ok, r)
			continue
		}
		r.panicked, r.pv = panicked, pv
		_, rerr := tx.Exec("ROLLBACK TO smartgate_write")
		if rerr == nil {
			_, rerr = tx.Exec("RELEASE smartgate_write")
		}
		finish(r, mapErr(err))
		if rerr != nil {
			// Some errors (SQLITE_FULL, IOERR, NOMEM, an interrupt) may
			// roll back the whole transaction, and with it the writes
			// that succeeded before this one.
			cause := err
			if panicked {
				cause = fmt.Errorf("panic: %v", pv)
			}
			abort(tx, ok, batch[i+1:], cause)
			return
		}
	}
	if len(ok) == 0 {
		tx.Rollback()
		return
	}
	err = mapErr(tx.Commit())
	for _, r := range ok {
		finish(r, err)
	}
}

// runOne runs a lone write as a plain transaction, without savepoints.
func (w *writer) runOne(tx *sql.Tx, r *writeReq) {
	if err := r.ctx.Err(); err != nil {
		tx.Rollback()
		finish(r, err)
		return
	}
	panicked, pv, err := call(r.fn, tx)
	if err != nil || panicked {
		tx.Rollback()
		r.panicked, r.pv = panicked, pv
		finish(r, mapErr(err))
		return
	}
	finish(r, mapErr(tx.Commit()))
}

// abort rolls the batch's transaction back after an error that ended it:
// the writes that had succeeded (ok) are lost and the ones not yet run
// (rest) do not run. Neither was acknowledged, so both fail as unavailable
// (503, retry) rather than with the other write's error.
func abort(tx *sql.Tx, ok, rest []*writeReq, cause error) {
	tx.Rollback()
	err := fmt.Errorf("%w: sqlite: transaction rolled back: another write in the same commit failed (%s)",
		store.ErrUnavailable, cause.Error())
	for _, r := range ok {
		finish(r, err)
	}
	for _, r := range rest {
		finish(r, err)
	}
}
