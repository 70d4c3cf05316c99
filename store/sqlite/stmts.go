package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stmts are the statements of the hot paths (token issue and
// introspection, FHIR read by id, audit records), prepared once: parsing them on every call cost as much as
// running them. database/sql prepares each on every reader connection it is
// used on, once.
type stmts struct {
	getClient   *sql.Stmt // reader
	getToken    *sql.Stmt // reader
	createToken *sql.Stmt // writer; use through tx.StmtContext
	jtiRevoked  *sql.Stmt // reader
	readRes     *sql.Stmt // reader
	insertAudit *sql.Stmt // writer; use through tx.StmtContext
}

const (
	sqlGetClient = `SELECT ` + clientCols + ` FROM oauth_clients WHERE id = ?`
	sqlGetToken  = `SELECT request_id, client_id, subject, access_signature, session_id, state, state_at,
		requested_at, expires_at, data FROM oauth_tokens WHERE kind = ? AND signature = ?`
	sqlCreateToken = `INSERT INTO oauth_tokens
		(kind, signature, request_id, client_id, subject, access_signature, session_id, state, state_at, requested_at, expires_at, data)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`
	sqlJTIRevoked = `SELECT 1 FROM oauth_revoked_access WHERE jti = ?`
	sqlReadRes    = "SELECT " + resourceCols + " FROM fhir_resources WHERE type = ? AND id = ?"
	sqlAudit      = `INSERT INTO audit_events
		(at, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`
)

func (db *DB) prepare(ctx context.Context) error {
	var err error
	p := func(on *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = on.PrepareContext(ctx, q)
		return s
	}
	db.stmts = stmts{
		getClient:   p(db.r, sqlGetClient),
		getToken:    p(db.r, sqlGetToken),
		createToken: p(db.w, sqlCreateToken),
		jtiRevoked:  p(db.r, sqlJTIRevoked),
		readRes:     p(db.r, sqlReadRes),
		insertAudit: p(db.w, sqlAudit),
	}
	if err != nil {
		db.stmts.close()
		return fmt.Errorf("sqlite: prepare statements: %w", err)
	}
	return nil
}

func (s *stmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.getClient, s.getToken, s.createToken, s.jtiRevoked, s.readRes, s.insertAudit} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
