package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/store"
)

var _ launch.Store = (*DB)(nil)

// CreateLaunch stores a new EHR launch; store.ErrConflict when its hash
// exists.
func (db *DB) CreateLaunch(ctx context.Context, r *launch.Record) error {
	raw, err := json.Marshal(r.Context)
	if err != nil {
		return fmt.Errorf("postgres: create launch: %w", err)
	}
	err = db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO smart_launches
			(hash, client_id, issuer, context, created_by, created_at, expires_at, used_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
			r.Hash, r.ClientID, r.Issuer, string(raw), r.CreatedBy, encodeTime(r.CreatedAt), encodeTime(r.ExpiresAt), encodeTime(r.UsedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create launch: %w", err)
	}
	return nil
}

// Launch returns one EHR launch by the hash of its value.
func (db *DB) Launch(ctx context.Context, hash []byte) (*launch.Record, error) {
	var r launch.Record
	var raw string
	var created, expires, used int64
	err := db.pool.QueryRow(ctx, `SELECT hash, client_id, issuer, context, created_by, created_at, expires_at, used_at
		FROM smart_launches WHERE hash = $1`, hash).
		Scan(&r.Hash, &r.ClientID, &r.Issuer, &raw, &r.CreatedBy, &created, &expires, &used)
	if err != nil {
		return nil, fmt.Errorf("postgres: launch: %w", mapErr(err))
	}
	if err := json.Unmarshal([]byte(raw), &r.Context); err != nil {
		return nil, fmt.Errorf("postgres: launch context: %w", err)
	}
	r.CreatedAt, r.ExpiresAt, r.UsedAt = decodeTime(created), decodeTime(expires), decodeTime(used)
	return &r, nil
}

// UseLaunch marks an unused, unexpired launch of clientID used, in one
// statement: of concurrent uses on any replica the first to commit wins;
// the others' transactions fail to serialise, run again and find the
// launch used (store.ErrNotFound).
func (db *DB) UseLaunch(ctx context.Context, hash []byte, clientID string, now time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE smart_launches SET used_at = $1
			WHERE hash = $2 AND client_id = $3 AND used_at = 0 AND expires_at > $1`, encodeTime(now), hash, clientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: use launch: %w", err)
	}
	return nil
}

// DeleteExpiredLaunches deletes launches that expired before before.
func (db *DB) DeleteExpiredLaunches(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM smart_launches WHERE expires_at < $1`, encodeTime(before))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired launches: %w", err)
	}
	return n, nil
}
