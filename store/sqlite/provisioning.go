package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ scimauth.TokenStore = (*DB)(nil)

// CreateProvisioningToken stores a provisioning token (its hash) for an
// existing client, checked in the same transaction.
func (db *DB) CreateProvisioningToken(ctx context.Context, t scimauth.Token) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM oauth_clients WHERE id = ?`, t.ClientID).Scan(&one); err != nil {
			return err // sql.ErrNoRows: mapped to ErrNotFound
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO provisioning_tokens (`+rowmap.ProvisioningColumns+`) VALUES (?,?,?,?,?,?,?,?)`, rowmap.ProvisioningArgs(t)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create provisioning token of %q: %w", t.ClientID, mapErr(err))
	}
	return nil
}

// ProvisioningTokenByHash returns the token whose SHA-256 is hash.
func (db *DB) ProvisioningTokenByHash(ctx context.Context, hash []byte) (scimauth.Token, error) {
	t, err := rowmap.ScanProvisioningToken(db.stmts.provisioningToken.QueryRowContext(ctx, hash))
	if err != nil {
		return scimauth.Token{}, fmt.Errorf("sqlite: provisioning token: %w", mapErr(err))
	}
	return t, nil
}

// ProvisioningTokens lists a client's provisioning tokens, newest first.
func (db *DB) ProvisioningTokens(ctx context.Context, clientID string) ([]scimauth.Token, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+rowmap.ProvisioningColumns+` FROM provisioning_tokens
		WHERE client_id = ? ORDER BY created_at DESC, id`, clientID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: provisioning tokens of %q: %w", clientID, mapErr(err))
	}
	defer rows.Close()
	var out []scimauth.Token
	for rows.Next() {
		t, err := rowmap.ScanProvisioningToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: provisioning tokens of %q: %w", clientID, mapErr(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: provisioning tokens of %q: %w", clientID, mapErr(err))
	}
	return out, nil
}

// RevokeProvisioningToken marks a client's token revoked (the first
// revocation's time stays).
func (db *DB) RevokeProvisioningToken(ctx context.Context, clientID, id string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE provisioning_tokens
			SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END
			WHERE id = ? AND client_id = ?`, encodeTime(at), id, clientID)
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
		return fmt.Errorf("sqlite: revoke provisioning token of %q: %w", clientID, mapErr(err))
	}
	return nil
}

// TouchProvisioningToken records a use (never moving the time back).
func (db *DB) TouchProvisioningToken(ctx context.Context, id string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE provisioning_tokens SET last_used_at = ? WHERE id = ? AND last_used_at < ?`,
			encodeTime(at), id, encodeTime(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: touch provisioning token: %w", mapErr(err))
	}
	return nil
}
