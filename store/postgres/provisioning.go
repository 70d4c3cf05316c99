package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ scimauth.TokenStore = (*DB)(nil)

// CreateProvisioningToken stores a provisioning token (its hash) for an
// existing client, checked in the same transaction: store.ErrNotFound
// without the client, store.ErrConflict when the id or hash exists.
func (db *DB) CreateProvisioningToken(ctx context.Context, t scimauth.Token) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM oauth_clients WHERE id = $1`, t.ClientID).Scan(&one); err != nil {
			return err // pgx.ErrNoRows: mapped to ErrNotFound
		}
		_, err := tx.Exec(ctx, `INSERT INTO provisioning_tokens (`+rowmap.ProvisioningColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, rowmap.ProvisioningArgs(t)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create provisioning token of %q: %w", t.ClientID, err)
	}
	return nil
}

// ProvisioningTokenByHash returns the token whose SHA-256 is hash.
func (db *DB) ProvisioningTokenByHash(ctx context.Context, hash []byte) (scimauth.Token, error) {
	t, err := rowmap.ScanProvisioningToken(db.pool.QueryRow(ctx, `SELECT `+rowmap.ProvisioningColumns+` FROM provisioning_tokens WHERE token_hash = $1`, hash))
	if err != nil {
		return scimauth.Token{}, fmt.Errorf("postgres: provisioning token: %w", mapErr(err))
	}
	return t, nil
}

// ProvisioningTokens lists a client's provisioning tokens, newest first.
func (db *DB) ProvisioningTokens(ctx context.Context, clientID string) ([]scimauth.Token, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+rowmap.ProvisioningColumns+` FROM provisioning_tokens
		WHERE client_id = $1 ORDER BY created_at DESC, id COLLATE "C"`, clientID)
	if err != nil {
		return nil, fmt.Errorf("postgres: provisioning tokens of %q: %w", clientID, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimauth.Token, error) { return rowmap.ScanProvisioningToken(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: provisioning tokens of %q: %w", clientID, mapErr(err))
	}
	return out, nil
}

// RevokeProvisioningToken marks a client's token revoked (the first
// revocation's time stays); store.ErrNotFound when the client has no such
// token.
func (db *DB) RevokeProvisioningToken(ctx context.Context, clientID, id string, at time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE provisioning_tokens
			SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END
			WHERE id = $2 AND client_id = $3`, encodeTime(at), id, clientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke provisioning token of %q: %w", clientID, err)
	}
	return nil
}

// TouchProvisioningToken records a use (never moving the time back).
func (db *DB) TouchProvisioningToken(ctx context.Context, id string, at time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE provisioning_tokens SET last_used_at = $1 WHERE id = $2 AND last_used_at < $1`,
			encodeTime(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: touch provisioning token: %w", err)
	}
	return nil
}
