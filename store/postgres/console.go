package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/authz"
)

// Counts for the administrators' dashboard (web/console).

// CountClients returns the number of registered clients.
func (db *DB) CountClients(ctx context.Context) (int, error) {
	return db.count(ctx, "count clients", "SELECT COUNT(*) FROM oauth_clients")
}

// CountConsents returns the number of consents people have given apps.
func (db *DB) CountConsents(ctx context.Context) (int, error) {
	return db.count(ctx, "count consents", "SELECT COUNT(*) FROM consents")
}

// CountRefreshFamilies returns the number of grants that hold an active
// refresh token not expired at now (one family per authorization).
func (db *DB) CountRefreshFamilies(ctx context.Context, now time.Time) (int, error) {
	return db.count(ctx, "count refresh families", `SELECT COUNT(DISTINCT request_id) FROM oauth_tokens
		WHERE kind = $1 AND state = $2 AND (expires_at = 0 OR expires_at > $3)`,
		string(authz.KindRefresh), string(authz.StateActive), encodeTime(now))
}

// CountAudit returns the number of audit records of kind with outcome
// recorded at or after since.
func (db *DB) CountAudit(ctx context.Context, kind, outcome string, since time.Time) (int, error) {
	return db.count(ctx, "count audit records", `SELECT COUNT(*) FROM audit_events WHERE at >= $1 AND kind = $2 AND outcome = $3`,
		encodeTime(since), kind, outcome)
}

// DatabaseSize returns the size in bytes of the database smartgate is
// connected to (pg_database_size: every table, index and TOAST relation,
// not the server's other databases nor its write-ahead log).
func (db *DB) DatabaseSize(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: database size: %w", mapErr(err))
	}
	return n, nil
}

func (db *DB) count(ctx context.Context, op, query string, args ...any) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: %s: %w", op, mapErr(err))
	}
	return n, nil
}
