package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/account"
)

var _ account.Lockouts = (*DB)(nil)

// PutLockout records that the account key is locked until until (replacing
// an earlier record of key: one upsert, so concurrent callers on any
// replica leave one row, the last writer's), and prunes the records that
// have ended by the store's clock.
func (db *DB) PutLockout(ctx context.Context, key string, until time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM login_lockouts WHERE until <= $1`, encodeTime(time.Now()))
		b.Queue(`INSERT INTO login_lockouts (key, until) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET until = excluded.until`, key, encodeTime(until))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: put lockout: %w", err)
	}
	return nil
}

// Lockout returns the recorded end of key's lockout, or the zero time.
func (db *DB) Lockout(ctx context.Context, key string) (time.Time, error) {
	var until int64
	err := db.pool.QueryRow(ctx, `SELECT until FROM login_lockouts WHERE key = $1`, key).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: lockout: %w", mapErr(err))
	}
	return decodeTime(until), nil
}

// DeleteLockout lifts key's lockout (no error when there is none).
func (db *DB) DeleteLockout(ctx context.Context, key string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM login_lockouts WHERE key = $1`, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete lockout: %w", err)
	}
	return nil
}

// ActiveLockouts returns the lockouts that end after now, by key.
func (db *DB) ActiveLockouts(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	rows, err := db.pool.Query(ctx, `SELECT key, until FROM login_lockouts WHERE until > $1`, encodeTime(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: active lockouts: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var key string
		var until int64
		if err := rows.Scan(&key, &until); err != nil {
			return nil, fmt.Errorf("postgres: active lockouts: %w", mapErr(err))
		}
		out[key] = decodeTime(until)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: active lockouts: %w", mapErr(err))
	}
	return out, nil
}
