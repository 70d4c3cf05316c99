package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ authz.FamilyStore = (*DB)(nil)

// familySelect reads a family by its active refresh token t: the
// record, the first issue and the latest rotation (its one parameter is
// authz.StateRotated); rowmap.ScanFamily scans its columns.
const familySelect = `SELECT t.signature, t.request_id, t.client_id, t.subject, t.access_signature, t.session_id,
			t.state_at, t.requested_at, t.expires_at, t.data,
			(SELECT MIN(f.requested_at) FROM oauth_tokens f WHERE f.kind = t.kind AND f.request_id = t.request_id),
			(SELECT COALESCE(MAX(f.state_at), 0) FROM oauth_tokens f WHERE f.kind = t.kind AND f.request_id = t.request_id AND f.state = ?)
		FROM oauth_tokens t
		WHERE t.kind = ? AND t.state = ? AND (t.expires_at = 0 OR t.expires_at > ?)`

// RefreshFamilies returns the grants with an active, unexpired refresh
// token at now, of subject and clientID (either "" for any), newest
// first, at most limit (limit <= 0: 100).
func (db *DB) RefreshFamilies(ctx context.Context, subject, clientID string, now time.Time, limit int) ([]authz.RefreshFamily, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, familySelect+`
			AND (? = '' OR t.subject = ?) AND (? = '' OR t.client_id = ?)
		ORDER BY t.requested_at DESC, t.request_id LIMIT ?`,
		string(authz.StateRotated), string(authz.KindRefresh), string(authz.StateActive), encodeTime(now),
		subject, subject, clientID, clientID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: refresh families: %w", mapErr(err))
	}
	defer rows.Close()
	var out []authz.RefreshFamily
	for rows.Next() {
		f, err := rowmap.ScanFamily(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: refresh families: %w", err)
		}
		out = append(out, f)
	}
	return out, mapErr(rows.Err())
}

// RefreshFamily returns the family of the grant requestID when it has an
// active, unexpired refresh token at now, store.ErrNotFound otherwise.
func (db *DB) RefreshFamily(ctx context.Context, requestID string, now time.Time) (authz.RefreshFamily, error) {
	if requestID == "" {
		return authz.RefreshFamily{}, fmt.Errorf("sqlite: refresh family without an id: %w", store.ErrNotFound)
	}
	row := db.r.QueryRowContext(ctx, familySelect+`
			AND t.request_id = ?
		ORDER BY t.requested_at DESC LIMIT 1`,
		string(authz.StateRotated), string(authz.KindRefresh), string(authz.StateActive), encodeTime(now), requestID)
	f, err := rowmap.ScanFamily(row)
	if err != nil {
		return authz.RefreshFamily{}, fmt.Errorf("sqlite: refresh family %q: %w", requestID, mapErr(err))
	}
	return f, nil
}

// ConsentsOf lists the consents of userID and clientID (either "" for
// any), most recently updated first, at most limit (limit <= 0: 100).
func (db *DB) ConsentsOf(ctx context.Context, userID, clientID string, limit int) ([]account.Consent, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT user_id, client_id, scopes, created, updated FROM consents
		WHERE (? = '' OR user_id = ?) AND (? = '' OR client_id = ?)
		ORDER BY updated DESC, user_id, client_id LIMIT ?`, userID, userID, clientID, clientID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: consents: %w", mapErr(err))
	}
	defer rows.Close()
	var out []account.Consent
	for rows.Next() {
		var c account.Consent
		var scopes string
		var created, updated int64
		if err := rows.Scan(&c.UserID, &c.ClientID, &scopes, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: consents: %w", err)
		}
		c.Scopes, c.Created, c.Updated = rowmap.SplitSpace(scopes), decodeTime(created), decodeTime(updated)
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}
