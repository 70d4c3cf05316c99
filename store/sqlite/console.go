package sqlite

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
		WHERE kind = ? AND state = ? AND (expires_at = 0 OR expires_at > ?)`,
		string(authz.KindRefresh), string(authz.StateActive), encodeTime(now))
}

// CountAudit returns the number of audit records of kind with outcome
// recorded at or after since.
func (db *DB) CountAudit(ctx context.Context, kind, outcome string, since time.Time) (int, error) {
	return db.count(ctx, "count audit records", `SELECT COUNT(*) FROM audit_events WHERE at >= ? AND kind = ? AND outcome = ?`,
		encodeTime(since), kind, outcome)
}

// DatabaseSize returns the database's size in bytes (page_count ×
// page_size; 0 for an in-memory database is not special-cased).
func (db *DB) DatabaseSize(ctx context.Context) (int64, error) {
	var pages, size int64
	if err := db.r.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, fmt.Errorf("sqlite: page count: %w", mapErr(err))
	}
	if err := db.r.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return 0, fmt.Errorf("sqlite: page size: %w", mapErr(err))
	}
	return pages * size, nil
}

func (db *DB) count(ctx context.Context, op, query string, args ...any) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", op, mapErr(err))
	}
	return n, nil
}
