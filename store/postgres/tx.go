package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/smartgate/smartgate/store"
)

// maxAttempts bounds how often write runs a transaction that keeps losing
// to concurrent writers (serialisation failures, deadlocks).
const maxAttempts = 20

// write runs fn in a SERIALIZABLE transaction and commits it when fn
// returns nil; it returns only once the commit is durable. A serialisation
// failure or deadlock (of fn's statements or of the commit) runs fn again
// in a new transaction, up to maxAttempts times with a short random pause;
// fn must therefore have no effect outside the transaction. Errors are
// mapped to the store sentinels.
func (db *DB) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.writeOnce(ctx, fn)
		if !retryable(err) || attempt == maxAttempts {
			break
		}
		pause := time.Duration(rand.Int64N(int64(attempt)*int64(2*time.Millisecond))) + time.Millisecond
		select {
		case <-ctx.Done():
			return mapErr(ctx.Err())
		case <-time.After(pause):
		}
	}
	return mapErr(err)
}

func (db *DB) writeOnce(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// read runs fn in a REPEATABLE READ, READ ONLY transaction, so that its
// queries see one snapshot.
func (db *DB) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return mapErr(err)
	}
	return mapErr(tx.Commit(ctx))
}

// SQLSTATE codes mapErr and write tell apart.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// retryable reports whether err is a serialisation failure or deadlock,
// which a new attempt of the whole transaction may not meet.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == codeSerializationFailure || pe.Code == codeDeadlockDetected)
}

// mapErr translates driver errors into the store sentinels, keeping the
// driver's error in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == codeUniqueViolation, retryable(err):
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code[:2] == "53" || pe.Code[:2] == "57" || pe.Code[:2] == "58"):
			// connection exception, insufficient resources, operator
			// intervention (shutdown, cannot connect now), system error
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if pgconn.Timeout(err) || errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
