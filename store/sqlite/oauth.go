package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ authz.Store = (*DB)(nil)

const clientPlaceholders = `?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?`

// CreateClient stores a new OAuth client.
func (db *DB) CreateClient(ctx context.Context, c *authz.Client) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_clients (`+rowmap.ClientColumns+`)
			VALUES (`+clientPlaceholders+`)`, rowmap.ClientArgs(c)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create client %q: %w", c.ID, err)
	}
	return nil
}

// GetClient returns one OAuth client. (authz.ClientCache caches it in
// front of any backend.)
func (db *DB) GetClient(ctx context.Context, id string) (*authz.Client, error) {
	c, err := rowmap.ScanClient(db.stmts.getClient.QueryRowContext(ctx, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: get client %q: %w", id, mapErr(err))
	}
	return c, nil
}

// UpdateClient reads client id, applies update and writes the result, in
// one write transaction: the single writer connection holds SQLite's write
// lock (BEGIN IMMEDIATE) from the read to the write, so no other change to
// the row can land in between.
func (db *DB) UpdateClient(ctx context.Context, id string, update func(old authz.Client) (authz.Client, error)) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		old, err := rowmap.ScanClient(tx.QueryRowContext(ctx, `SELECT `+rowmap.ClientColumns+` FROM oauth_clients WHERE id = ?`, id))
		if err != nil {
			return err // sql.ErrNoRows: mapped to ErrNotFound
		}
		c, err := update(*old)
		if err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("the update changed the client id to %q", c.ID)
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth_clients SET name=?, secret_hash=?, redirect_uris=?, grant_types=?,
			response_types=?, scopes=?, token_endpoint_auth_method=?, jwks=?, jwks_uri=?, launch_uri=?, logo_uri=?,
			client_uri=?, require_pkce=?, public=?, disabled=?, created_at=?,
			contacts=?, tos_uri=?, policy_uri=?, post_logout_redirect_uris=?, software_id=?, software_version=?,
			registration_token_hash=?, policy=?, owner=?, pending=?,
			ceiling_scopes=?, ceiling_grant_types=?, ceiling_auth_method=?, registration_token_expires_at=?, introspect_all=?,
			allow_system_scopes=?, allow_scim=?,
			tls_subject_dn=?, tls_san_dns=?, tls_san_uri=?, tls_san_ip=?, tls_san_email=?, cert_bound_tokens=?,
			allow_launch_create=?
			WHERE id=?`, append(rowmap.ClientArgs(&c)[1:], id)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: update client %q: %w", id, mapErr(err))
	}
	return nil
}

// DeleteClient removes a client and, in the same transaction, revokes its
// access and refresh tokens, drops its other token records (codes, PKCE
// and OpenID Connect sessions), the consents people gave it and (by the
// foreign key's cascade) its provisioning tokens, so that an id reused
// later inherits nothing.
func (db *DB) DeleteClient(ctx context.Context, id string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET state = ?, state_at = ?
			WHERE client_id = ? AND kind IN (?, ?) AND state <> ?`,
			string(authz.StateRevoked), encodeTime(at), id, string(authz.KindAccess), string(authz.KindRefresh), string(authz.StateRevoked)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_tokens WHERE client_id = ? AND kind NOT IN (?, ?)`,
			id, string(authz.KindAccess), string(authz.KindRefresh)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM consents WHERE client_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete client %q: %w", id, err)
	}
	return nil
}

// ListClients returns all OAuth clients ordered by id.
func (db *DB) ListClients(ctx context.Context) ([]*authz.Client, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+rowmap.ClientColumns+` FROM oauth_clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*authz.Client
	for rows.Next() {
		c, err := rowmap.ScanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list clients: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ClientsByCertificateAuth returns the enabled clients that authenticate
// with a certificate (tls_client_auth, self_signed_tls_client_auth):
// the candidates authz.ClientOfCertificate matches a certificate against.
func (db *DB) ClientsByCertificateAuth(ctx context.Context) ([]*authz.Client, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+rowmap.ClientColumns+` FROM oauth_clients
		WHERE token_endpoint_auth_method IN (?, ?) AND disabled = 0 ORDER BY id`,
		authz.AuthTLSClientAuth, authz.AuthSelfSignedTLSClientAuth)
	if err != nil {
		return nil, fmt.Errorf("sqlite: clients by certificate: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*authz.Client
	for rows.Next() {
		c, err := rowmap.ScanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: clients by certificate: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CreateToken stores a token record.
func (db *DB) CreateToken(ctx context.Context, r authz.TokenRecord) error {
	if r.State == "" {
		r.State = authz.StateActive
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, db.stmts.createToken).ExecContext(ctx,
			string(r.Kind), r.Signature, r.RequestID, r.ClientID, r.Subject, r.AccessSignature, r.SessionID, string(r.State),
			encodeTime(r.StateAt), encodeTime(r.RequestedAt), encodeTime(r.ExpiresAt), r.Data)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create %s token: %w", r.Kind, err)
	}
	return nil
}

// GetToken returns a token record in any state.
func (db *DB) GetToken(ctx context.Context, kind authz.TokenKind, sig string) (authz.TokenRecord, error) {
	r := authz.TokenRecord{Kind: kind, Signature: sig}
	var state string
	var stateAt, req, exp int64
	err := db.stmts.getToken.QueryRowContext(ctx, string(kind), sig).
		Scan(&r.RequestID, &r.ClientID, &r.Subject, &r.AccessSignature, &r.SessionID, &state, &stateAt, &req, &exp, &r.Data)
	if err != nil {
		return r, fmt.Errorf("sqlite: get %s token: %w", kind, mapErr(err))
	}
	r.State, r.StateAt, r.RequestedAt, r.ExpiresAt = authz.TokenState(state), decodeTime(stateAt), decodeTime(req), decodeTime(exp)
	return r, nil
}

// DeleteToken removes a token record (no error when absent).
func (db *DB) DeleteToken(ctx context.Context, kind authz.TokenKind, sig string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_tokens WHERE kind = ? AND signature = ?`, string(kind), sig)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete %s token: %w", kind, err)
	}
	return nil
}

// SetTokenState changes the state of one token record.
func (db *DB) SetTokenState(ctx context.Context, kind authz.TokenKind, sig string, from, state authz.TokenState, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET state = ?, state_at = ?
			WHERE kind = ? AND signature = ? AND (? = '' OR state = ?)`,
			string(state), encodeTime(at), string(kind), sig, string(from), string(from))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var x int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM oauth_tokens WHERE kind = ? AND signature = ?`, string(kind), sig).Scan(&x); err != nil {
				return err // sql.ErrNoRows → ErrNotFound
			}
			return store.ErrConflict
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: set %s token state: %w", kind, err)
	}
	return nil
}

// RotateRefreshToken marks the presented refresh token rotated and revokes
// the grant's other active refresh tokens.
func (db *DB) RotateRefreshToken(ctx context.Context, requestID, sig string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET state = ?, state_at = ?
			WHERE kind = ? AND signature = ? AND state = ?`,
			string(authz.StateRotated), encodeTime(at), string(authz.KindRefresh), sig, string(authz.StateActive)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET state = ?, state_at = ?
			WHERE kind = ? AND request_id = ? AND state = ? AND signature <> ?`,
			string(authz.StateRevoked), encodeTime(at), string(authz.KindRefresh), requestID, string(authz.StateActive), sig)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: rotate refresh token: %w", err)
	}
	return nil
}

// RevokeTokens revokes every token of kind belonging to a grant.
func (db *DB) RevokeTokens(ctx context.Context, kind authz.TokenKind, requestID string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET state = ?, state_at = ?
			WHERE kind = ? AND request_id = ? AND state <> ?`,
			string(authz.StateRevoked), encodeTime(at), string(kind), requestID, string(authz.StateRevoked))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke %s tokens: %w", kind, err)
	}
	return nil
}

// RevokeSessionTokens revokes the access and refresh tokens of a log-in session.
func (db *DB) RevokeSessionTokens(ctx context.Context, sessionID string, at time.Time) error {
	if sessionID == "" {
		return nil
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET state = ?, state_at = ?
			WHERE session_id = ? AND kind IN (?, ?) AND state <> ?`,
			string(authz.StateRevoked), encodeTime(at), sessionID, string(authz.KindAccess), string(authz.KindRefresh), string(authz.StateRevoked))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke session tokens: %w", err)
	}
	return nil
}

// RevokeSubjectTokens revokes a subject's access and refresh tokens.
func (db *DB) RevokeSubjectTokens(ctx context.Context, subject, clientID string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET state = ?, state_at = ?
			WHERE subject = ? AND (? = '' OR client_id = ?) AND kind IN (?, ?) AND state <> ?`,
			string(authz.StateRevoked), encodeTime(at), subject, clientID, clientID,
			string(authz.KindAccess), string(authz.KindRefresh), string(authz.StateRevoked))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke subject tokens: %w", err)
	}
	return nil
}

// DeleteExpiredTokens removes token records that expired before before.
func (db *DB) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_tokens WHERE expires_at <> 0 AND expires_at < ?`, encodeTime(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if _, err = tx.ExecContext(ctx, `DELETE FROM oauth_jti WHERE expires_at < ?`, encodeTime(before)); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM oauth_revoked_access WHERE expires_at < ?`, encodeTime(before))
		if err != nil {
			return err
		}
		m, _ := res.RowsAffected()
		n += m
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired tokens: %w", err)
	}
	return n, nil
}

// RevokeAccessJTI records the jti of a revoked stateless access token
// (client_credentials) until exp; revoking it again is not an error.
func (db *DB) RevokeAccessJTI(ctx context.Context, jti, clientID string, exp time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_revoked_access (jti, client_id, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (jti) DO NOTHING`, jti, clientID, encodeTime(exp))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke access jti: %w", err)
	}
	return nil
}

// AccessJTIRevoked reports whether RevokeAccessJTI recorded jti.
func (db *DB) AccessJTIRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := db.stmts.jtiRevoked.QueryRowContext(ctx, jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: access jti revoked: %w", mapErr(err))
	}
	return true, nil
}

// UseJTI records a client-assertion id; store.ErrConflict on replay.
func (db *DB) UseJTI(ctx context.Context, jti string, exp, now time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_jti WHERE expires_at < ?`, encodeTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_jti (jti, expires_at) VALUES (?, ?)`, jti, encodeTime(exp))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: use jti: %w", err)
	}
	return nil
}

// SigningKeys returns all signing keys, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]authz.SigningKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kid, alg, private_key, created_at, retired_at FROM oauth_keys
		ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", mapErr(err))
	}
	defer rows.Close()
	var out []authz.SigningKey
	for rows.Next() {
		var k authz.SigningKey
		var c, r int64
		if err := rows.Scan(&k.ID, &k.Alg, &k.PrivateDER, &c, &r); err != nil {
			return nil, fmt.Errorf("sqlite: signing keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt = decodeTime(c), decodeTime(r)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddSigningKey stores a new key and retires the active ones of its algorithm.
func (db *DB) AddSigningKey(ctx context.Context, k authz.SigningKey, onlyIfNone bool) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		if onlyIfNone {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM oauth_keys WHERE alg = ? AND retired_at = 0`, k.Alg).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return store.ErrConflict
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_keys SET retired_at = ? WHERE alg = ? AND retired_at = 0`,
			encodeTime(k.CreatedAt), k.Alg); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_keys (kid, alg, private_key, created_at, retired_at) VALUES (?,?,?,?,0)`,
			k.ID, k.Alg, k.PrivateDER, encodeTime(k.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: add signing key: %w", err)
	}
	return nil
}

// DeleteSigningKeys removes keys retired before retiredBefore.
func (db *DB) DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_keys WHERE retired_at <> 0 AND retired_at < ?`, encodeTime(retiredBefore))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete signing keys: %w", err)
	}
	return nil
}
