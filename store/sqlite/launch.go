package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/store"
)

var _ launch.Store = (*DB)(nil)

// CreateLaunch stores a new EHR launch.
func (db *DB) CreateLaunch(ctx context.Context, r *launch.Record) error {
	raw, err := json.Marshal(r.Context)
	if err != nil {
		return fmt.Errorf("sqlite: create launch: %w", err)
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO smart_launches
			(hash, client_id, issuer, context, created_by, created_at, expires_at, used_at) VALUES (?,?,?,?,?,?,?,?)`,
			r.Hash, r.ClientID, r.Issuer, string(raw), r.CreatedBy, encodeTime(r.CreatedAt), encodeTime(r.ExpiresAt), encodeTime(r.UsedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create launch: %w", err)
	}
	return nil
}

// Launch returns one EHR launch by the hash of its value.
func (db *DB) Launch(ctx context.Context, hash []byte) (*launch.Record, error) {
	var r launch.Record
	var raw string
	var created, expires, used int64
	err := db.r.QueryRowContext(ctx, `SELECT hash, client_id, issuer, context, created_by, created_at, expires_at, used_at
		FROM smart_launches WHERE hash = ?`, hash).
		Scan(&r.Hash, &r.ClientID, &r.Issuer, &raw, &r.CreatedBy, &created, &expires, &used)
	if err != nil {
		return nil, fmt.Errorf("sqlite: launch: %w", mapErr(err))
	}
	if err := json.Unmarshal([]byte(raw), &r.Context); err != nil {
		return nil, fmt.Errorf("sqlite: launch context: %w", err)
	}
	r.CreatedAt, r.ExpiresAt, r.UsedAt = decodeTime(created), decodeTime(expires), decodeTime(used)
	return &r, nil
}

// UseLaunch marks an unused, unexpired launch of clientID used, in one
// statement, so that two concurrent uses cannot both succeed.
func (db *DB) UseLaunch(ctx context.Context, hash []byte, clientID string, now time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE smart_launches SET used_at = ?
			WHERE hash = ? AND client_id = ? AND used_at = 0 AND expires_at > ?`, encodeTime(now), hash, clientID, encodeTime(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: use launch: %w", err)
	}
	return nil
}

// DeleteExpiredLaunches deletes launches that expired before before.
func (db *DB) DeleteExpiredLaunches(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM smart_launches WHERE expires_at < ?`, encodeTime(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired launches: %w", err)
	}
	return n, nil
}
