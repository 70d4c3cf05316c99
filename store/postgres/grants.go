package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ authz.FamilyStore = (*DB)(nil)

// familySelect reads a family by its active refresh token t: the record,
// the first issue and the latest rotation. Its parameters: $1
// authz.StateRotated, $2 authz.KindRefresh, $3 authz.StateActive, $4 now;
// rowmap.ScanFamily scans its columns.
const familySelect = `SELECT t.signature, t.request_id, t.client_id, t.subject, t.access_signature, t.session_id,
			t.state_at, t.requested_at, t.expires_at, t.data,
			(SELECT MIN(f.requested_at) FROM oauth_tokens f WHERE f.kind = t.kind AND f.request_id = t.request_id),
			(SELECT COALESCE(MAX(f.state_at), 0) FROM oauth_tokens f WHERE f.kind = t.kind AND f.request_id = t.request_id AND f.state = $1)
		FROM oauth_tokens t
		WHERE t.kind = $2 AND t.state = $3 AND (t.expires_at = 0 OR t.expires_at > $4)`

// RefreshFamilies returns the grants with an active, unexpired refresh
// token at now, of subject and clientID (either "" for any), newest
// first, at most limit (limit <= 0: 100).
func (db *DB) RefreshFamilies(ctx context.Context, subject, clientID string, now time.Time, limit int) ([]authz.RefreshFamily, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, familySelect+`
			AND ($5::text = '' OR t.subject = $5) AND ($6::text = '' OR t.client_id = $6)
		ORDER BY t.requested_at DESC, t.request_id COLLATE "C" LIMIT $7`,
		string(authz.StateRotated), string(authz.KindRefresh), string(authz.StateActive), encodeTime(now),
		subject, clientID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: refresh families: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (authz.RefreshFamily, error) { return rowmap.ScanFamily(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: refresh families: %w", mapErr(err))
	}
	return out, nil
}

// RefreshFamily returns the family of the grant requestID when it has an
// active, unexpired refresh token at now, store.ErrNotFound otherwise.
func (db *DB) RefreshFamily(ctx context.Context, requestID string, now time.Time) (authz.RefreshFamily, error) {
	if requestID == "" {
		return authz.RefreshFamily{}, fmt.Errorf("postgres: refresh family without an id: %w", store.ErrNotFound)
	}
	row := db.pool.QueryRow(ctx, familySelect+`
			AND t.request_id = $5
		ORDER BY t.requested_at DESC LIMIT 1`,
		string(authz.StateRotated), string(authz.KindRefresh), string(authz.StateActive), encodeTime(now), requestID)
	f, err := rowmap.ScanFamily(row)
	if err != nil {
		return authz.RefreshFamily{}, fmt.Errorf("postgres: refresh family %q: %w", requestID, mapErr(err))
	}
	return f, nil
}

// ConsentsOf lists the consents of userID and clientID (either "" for
// any), most recently updated first, at most limit (limit <= 0: 100).
func (db *DB) ConsentsOf(ctx context.Context, userID, clientID string, limit int) ([]account.Consent, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT user_id, client_id, scopes, created, updated FROM consents
		WHERE ($1::text = '' OR user_id = $1) AND ($2::text = '' OR client_id = $2)
		ORDER BY updated DESC, user_id COLLATE "C", client_id COLLATE "C" LIMIT $3`, userID, clientID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: consents: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.Consent, error) {
		var c account.Consent
		var scopes string
		var created, updated int64
		err := r.Scan(&c.UserID, &c.ClientID, &scopes, &created, &updated)
		c.Scopes = rowmap.SplitSpace(scopes)
		c.Created, c.Updated = decodeTime(created), decodeTime(updated)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: consents: %w", mapErr(err))
	}
	return out, nil
}
