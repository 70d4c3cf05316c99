package sqlite

import (
	"context"
	"database/sql"
)

// This file gives the black-box tests of this package (package sqlite_test)
// what they need of its internals; none of it is part of the API.

// QueuedWrites reports how many Write calls wait for the writer (tests
// use it to build a batch deterministically).
func (db *DB) QueuedWrites() int {
	db.wr.mu.Lock()
	defer db.wr.mu.Unlock()
	return len(db.wr.queue)
}

// Write is write, for the tests of the group-commit writer (write_test.go)
// and of what Open does with a database it did not write.
func (db *DB) Write(ctx context.Context, fn func(tx *sql.Tx) error) error { return db.write(ctx, fn) }

// Reader is the reader pool, for tests that look at rows directly.
func (db *DB) Reader() *sql.DB { return db.r }
