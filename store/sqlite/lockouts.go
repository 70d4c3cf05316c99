package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/account"
)

var _ account.Lockouts = (*DB)(nil)

// PutLockout records that the account key is locked until until (replacing
// an earlier record of key), and prunes the records that have ended by the
// store's clock.
func (db *DB) PutLockout(ctx context.Context, key string, until time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_lockouts WHERE until <= ?`, encodeTime(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO login_lockouts (key, until) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET until = excluded.until`, key, encodeTime(until))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put lockout: %w", mapErr(err))
	}
	return nil
}

// Lockout returns the recorded end of key's lockout, or the zero time.
func (db *DB) Lockout(ctx context.Context, key string) (time.Time, error) {
	var until int64
	err := db.r.QueryRowContext(ctx, `SELECT until FROM login_lockouts WHERE key = ?`, key).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: lockout: %w", mapErr(err))
	}
	return decodeTime(until), nil
}

// DeleteLockout lifts key's lockout (no error when there is none).
func (db *DB) DeleteLockout(ctx context.Context, key string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM login_lockouts WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete lockout: %w", mapErr(err))
	}
	return nil
}

// ActiveLockouts returns the lockouts that end after now, by key.
func (db *DB) ActiveLockouts(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT key, until FROM login_lockouts WHERE until > ?`, encodeTime(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: active lockouts: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var key string
		var until int64
		if err := rows.Scan(&key, &until); err != nil {
			return nil, fmt.Errorf("sqlite: active lockouts: %w", err)
		}
		out[key] = decodeTime(until)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: active lockouts: %w", err)
	}
	return out, nil
}
