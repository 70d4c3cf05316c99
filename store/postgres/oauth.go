package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ authz.Store = (*DB)(nil)

const clientPlaceholders = `$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,
	$31,$32,$33,$34,$35,$36,$37,$38,$39,$40,$41`

// sqlUpdateClient sets every column but the id ($41) to rowmap.ClientArgs[1:].
const sqlUpdateClient = `UPDATE oauth_clients SET name=$1, secret_hash=$2, redirect_uris=$3, grant_types=$4,
	response_types=$5, scopes=$6, token_endpoint_auth_method=$7, jwks=$8, jwks_uri=$9, launch_uri=$10, logo_uri=$11,
	client_uri=$12, require_pkce=$13, public=$14, disabled=$15, created_at=$16,
	contacts=$17, tos_uri=$18, policy_uri=$19, post_logout_redirect_uris=$20, software_id=$21, software_version=$22,
	registration_token_hash=$23, policy=$24, owner=$25, pending=$26,
	ceiling_scopes=$27, ceiling_grant_types=$28, ceiling_auth_method=$29, registration_token_expires_at=$30, introspect_all=$31,
	allow_system_scopes=$32, allow_scim=$33,
	tls_subject_dn=$34, tls_san_dns=$35, tls_san_uri=$36, tls_san_ip=$37, tls_san_email=$38, cert_bound_tokens=$39,
	allow_launch_create=$40
	WHERE id=$41`

// CreateClient stores a new OAuth client; store.ErrConflict when the id
// exists.
func (db *DB) CreateClient(ctx context.Context, c *authz.Client) error {
	args := rowmap.ClientArgs(c)
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO oauth_clients (`+rowmap.ClientColumns+`) VALUES (`+clientPlaceholders+`)`, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create client %q: %w", c.ID, err)
	}
	return nil
}

// GetClient returns one OAuth client. (authz.ClientCache caches it in
// front of any backend.)
func (db *DB) GetClient(ctx context.Context, id string) (*authz.Client, error) {
	c, err := rowmap.ScanClient(db.pool.QueryRow(ctx, `SELECT `+rowmap.ClientColumns+` FROM oauth_clients WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: get client %q: %w", id, mapErr(err))
	}
	return c, nil
}

// UpdateClient reads client id, applies update and writes the result, in
// one SERIALIZABLE transaction, so no concurrent change is lost. The read
// locks the row (FOR UPDATE): a concurrent updater waits for the lock, its
// transaction then fails to serialise and runs again on the newer record,
// before calling update. update is thus called once in practice, but may
// be called again should the transaction still fail to serialise.
func (db *DB) UpdateClient(ctx context.Context, id string, update func(old authz.Client) (authz.Client, error)) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		old, err := rowmap.ScanClient(tx.QueryRow(ctx, `SELECT `+rowmap.ClientColumns+` FROM oauth_clients WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err // pgx.ErrNoRows: mapped to ErrNotFound
		}
		c, err := update(*old)
		if err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("the update changed the client id to %q", c.ID)
		}
		_, err = tx.Exec(ctx, sqlUpdateClient, append(rowmap.ClientArgs(&c)[1:], id)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: update client %q: %w", id, err)
	}
	return nil
}

// DeleteClient removes a client and, in the same transaction, revokes its
// access and refresh tokens, drops its other token records (codes, PKCE
// and OpenID Connect sessions), the consents people gave it and (by the
// foreign key's cascade) its provisioning tokens, so that an id reused
// later inherits nothing.
func (db *DB) DeleteClient(ctx context.Context, id string, at time.Time) error {
	access, refresh, revoked := string(authz.KindAccess), string(authz.KindRefresh), string(authz.StateRevoked)
	err := db.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM oauth_clients WHERE id = $1`, id)
		b.Queue(`UPDATE oauth_tokens SET state = $1, state_at = $2
			WHERE client_id = $3 AND kind IN ($4, $5) AND state <> $1`, revoked, encodeTime(at), id, access, refresh)
		b.Queue(`DELETE FROM oauth_tokens WHERE client_id = $1 AND kind NOT IN ($2, $3)`, id, access, refresh)
		b.Queue(`DELETE FROM consents WHERE client_id = $1`, id)
		br := tx.SendBatch(ctx, b)
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		if tag.RowsAffected() == 0 {
			br.Close()
			return store.ErrNotFound // the transaction is rolled back
		}
		return br.Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: delete client %q: %w", id, err)
	}
	return nil
}

// ListClients returns all OAuth clients ordered by id.
func (db *DB) ListClients(ctx context.Context) ([]*authz.Client, error) {
	out, err := db.clients(ctx, `SELECT `+rowmap.ClientColumns+` FROM oauth_clients ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	return out, nil
}

// ClientsByCertificateAuth returns the enabled clients that authenticate
// with a certificate (tls_client_auth, self_signed_tls_client_auth):
// the candidates authz.ClientOfCertificate matches a certificate against.
func (db *DB) ClientsByCertificateAuth(ctx context.Context) ([]*authz.Client, error) {
	out, err := db.clients(ctx, `SELECT `+rowmap.ClientColumns+` FROM oauth_clients
		WHERE token_endpoint_auth_method IN ($1, $2) AND disabled = 0 ORDER BY id COLLATE "C"`,
		authz.AuthTLSClientAuth, authz.AuthSelfSignedTLSClientAuth)
	if err != nil {
		return nil, fmt.Errorf("postgres: clients by certificate: %w", err)
	}
	return out, nil
}

func (db *DB) clients(ctx context.Context, query string, args ...any) ([]*authz.Client, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*authz.Client, error) { return rowmap.ScanClient(r) })
	return out, mapErr(err)
}

// CreateToken stores a token record; store.ErrConflict when one of its
// kind and signature exists.
func (db *DB) CreateToken(ctx context.Context, r authz.TokenRecord) error {
	if r.State == "" {
		r.State = authz.StateActive
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO oauth_tokens
			(kind, signature, request_id, client_id, subject, access_signature, session_id, state, state_at, requested_at, expires_at, data)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
			string(r.Kind), r.Signature, r.RequestID, r.ClientID, r.Subject, r.AccessSignature, r.SessionID, string(r.State),
			encodeTime(r.StateAt), encodeTime(r.RequestedAt), encodeTime(r.ExpiresAt), r.Data)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create %s token: %w", r.Kind, err)
	}
	return nil
}

// GetToken returns a token record in any state.
func (db *DB) GetToken(ctx context.Context, kind authz.TokenKind, sig string) (authz.TokenRecord, error) {
	r := authz.TokenRecord{Kind: kind, Signature: sig}
	var state string
	var stateAt, req, exp int64
	err := db.pool.QueryRow(ctx, `SELECT request_id, client_id, subject, access_signature, session_id, state, state_at,
		requested_at, expires_at, data FROM oauth_tokens WHERE kind = $1 AND signature = $2`, string(kind), sig).
		Scan(&r.RequestID, &r.ClientID, &r.Subject, &r.AccessSignature, &r.SessionID, &state, &stateAt, &req, &exp, &r.Data)
	if err != nil {
		return r, fmt.Errorf("postgres: get %s token: %w", kind, mapErr(err))
	}
	r.State, r.StateAt, r.RequestedAt, r.ExpiresAt = authz.TokenState(state), decodeTime(stateAt), decodeTime(req), decodeTime(exp)
	return r, nil
}

// DeleteToken removes a token record (no error when absent).
func (db *DB) DeleteToken(ctx context.Context, kind authz.TokenKind, sig string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM oauth_tokens WHERE kind = $1 AND signature = $2`, string(kind), sig)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete %s token: %w", kind, err)
	}
	return nil
}

// SetTokenState changes the state of one token record, only from state
// from when it is not "" (a compare-and-set in one UPDATE: of concurrent
// callers the first to commit wins, the others' transactions fail to
// serialise, run again and find the record in another state).
func (db *DB) SetTokenState(ctx context.Context, kind authz.TokenKind, sig string, from, state authz.TokenState, at time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE oauth_tokens SET state = $1, state_at = $2
			WHERE kind = $3 AND signature = $4 AND ($5::text = '' OR state = $5)`,
			string(state), encodeTime(at), string(kind), sig, string(from))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var x int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM oauth_tokens WHERE kind = $1 AND signature = $2`, string(kind), sig).Scan(&x); err != nil {
				return err // pgx.ErrNoRows → ErrNotFound
			}
			return store.ErrConflict
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: set %s token state: %w", kind, err)
	}
	return nil
}

// RotateRefreshToken marks the presented refresh token rotated (when
// active) and revokes the grant's other active refresh tokens, in one
// transaction.
func (db *DB) RotateRefreshToken(ctx context.Context, requestID, sig string, at time.Time) error {
	refresh, active := string(authz.KindRefresh), string(authz.StateActive)
	err := db.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE oauth_tokens SET state = $1, state_at = $2
			WHERE kind = $3 AND signature = $4 AND state = $5`,
			string(authz.StateRotated), encodeTime(at), refresh, sig, active)
		b.Queue(`UPDATE oauth_tokens SET state = $1, state_at = $2
			WHERE kind = $3 AND request_id = $4 AND state = $5 AND signature <> $6`,
			string(authz.StateRevoked), encodeTime(at), refresh, requestID, active, sig)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: rotate refresh token: %w", err)
	}
	return nil
}

// RevokeTokens revokes every token of kind belonging to a grant.
func (db *DB) RevokeTokens(ctx context.Context, kind authz.TokenKind, requestID string, at time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE oauth_tokens SET state = $1, state_at = $2
			WHERE kind = $3 AND request_id = $4 AND state <> $1`,
			string(authz.StateRevoked), encodeTime(at), string(kind), requestID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke %s tokens: %w", kind, err)
	}
	return nil
}

// RevokeSessionTokens revokes the access and refresh tokens of a log-in session.
func (db *DB) RevokeSessionTokens(ctx context.Context, sessionID string, at time.Time) error {
	if sessionID == "" {
		return nil
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE oauth_tokens SET state = $1, state_at = $2
			WHERE session_id = $3 AND kind IN ($4, $5) AND state <> $1`,
			string(authz.StateRevoked), encodeTime(at), sessionID, string(authz.KindAccess), string(authz.KindRefresh))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke session tokens: %w", err)
	}
	return nil
}

// RevokeSubjectTokens revokes a subject's access and refresh tokens (only
// those of clientID when it is not "").
func (db *DB) RevokeSubjectTokens(ctx context.Context, subject, clientID string, at time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE oauth_tokens SET state = $1, state_at = $2
			WHERE subject = $3 AND ($4::text = '' OR client_id = $4) AND kind IN ($5, $6) AND state <> $1`,
			string(authz.StateRevoked), encodeTime(at), subject, clientID, string(authz.KindAccess), string(authz.KindRefresh))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke subject tokens: %w", err)
	}
	return nil
}

// DeleteExpiredTokens removes token records, client-assertion jtis and
// revoked access-token jtis that expired before before; it counts the
// token records and revoked jtis.
func (db *DB) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM oauth_tokens WHERE expires_at <> 0 AND expires_at < $1`, encodeTime(before))
		b.Queue(`DELETE FROM oauth_jti WHERE expires_at < $1`, encodeTime(before))
		b.Queue(`DELETE FROM oauth_revoked_access WHERE expires_at < $1`, encodeTime(before))
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		n = 0
		for i := range 3 {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if i != 1 {
				n += tag.RowsAffected()
			}
		}
		return br.Close()
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired tokens: %w", err)
	}
	return n, nil
}

// RevokeAccessJTI records the jti of a revoked stateless access token
// (client_credentials) until exp; revoking it again is not an error.
func (db *DB) RevokeAccessJTI(ctx context.Context, jti, clientID string, exp time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO oauth_revoked_access (jti, client_id, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (jti) DO NOTHING`, jti, clientID, encodeTime(exp))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke access jti: %w", err)
	}
	return nil
}

// AccessJTIRevoked reports whether RevokeAccessJTI recorded jti.
func (db *DB) AccessJTIRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM oauth_revoked_access WHERE jti = $1`, jti).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: access jti revoked: %w", mapErr(err))
	}
	return true, nil
}

// UseJTI records a client-assertion id until exp; store.ErrConflict on a
// replay (the jti is recorded and unexpired at now). It is one statement:
// an insert, or the takeover of an expired record of the same jti. Of
// concurrent callers on any replica exactly one inserts; the others meet
// its row (a unique violation, or a serialisation failure whose retry
// finds the row unexpired). Expired jtis of other assertions are left to
// DeleteExpiredTokens: deleting them here, as store/sqlite does, would
// make every pair of concurrent uses conflict on the whole table.
func (db *DB) UseJTI(ctx context.Context, jti string, exp, now time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO oauth_jti (jti, expires_at) VALUES ($1, $2)
			ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at WHERE oauth_jti.expires_at < $3`,
			jti, encodeTime(exp), encodeTime(now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrConflict
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: use jti: %w", err)
	}
	return nil
}

// SigningKeys returns all signing keys, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]authz.SigningKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT kid, alg, private_key, created_at, retired_at FROM oauth_keys
		ORDER BY created_at DESC, kid COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (authz.SigningKey, error) {
		var k authz.SigningKey
		var c, rt int64
		err := r.Scan(&k.ID, &k.Alg, &k.PrivateDER, &c, &rt)
		k.CreatedAt, k.RetiredAt = decodeTime(c), decodeTime(rt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", mapErr(err))
	}
	return out, nil
}

// AddSigningKey stores a new key and retires the active ones of its
// algorithm; with onlyIfNone, store.ErrConflict when an active one exists
// (the SERIALIZABLE transaction keeps the check true until the commit:
// of processes starting together one stores its key).
func (db *DB) AddSigningKey(ctx context.Context, k authz.SigningKey, onlyIfNone bool) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		if onlyIfNone {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM oauth_keys WHERE alg = $1 AND retired_at = 0`, k.Alg).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return store.ErrConflict
			}
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE oauth_keys SET retired_at = $1 WHERE alg = $2 AND retired_at = 0`, encodeTime(k.CreatedAt), k.Alg)
		b.Queue(`INSERT INTO oauth_keys (kid, alg, private_key, created_at, retired_at) VALUES ($1,$2,$3,$4,0)`,
			k.ID, k.Alg, k.PrivateDER, encodeTime(k.CreatedAt))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: add signing key: %w", err)
	}
	return nil
}

// DeleteSigningKeys removes keys retired before retiredBefore.
func (db *DB) DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM oauth_keys WHERE retired_at <> 0 AND retired_at < $1`, encodeTime(retiredBefore))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete signing keys: %w", err)
	}
	return nil
}
