package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/smartgate/smartgate/store/internal/fhirsql"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

// stmts are the statements of the hot paths (token issue and
// introspection, FHIR read by id, audit records, the SCIM provisioning
// token, the groups of a list page, the account of a token or log-in, and
// a federated or sign-in code log-in), prepared once: parsing them on
// every call cost as much as running them. database/sql prepares each on every reader connection it is
// used on, once.
type stmts struct {
	getClient   *sql.Stmt // reader
	getToken    *sql.Stmt // reader
	createToken *sql.Stmt // writer; use through tx.StmtContext
	jtiRevoked  *sql.Stmt // reader
	readRes     *sql.Stmt // reader
	insertAudit *sql.Stmt // writer; use through tx.StmtContext
	userValues  *sql.Stmt // reader; use through tx.StmtContext
	groupsOf    *sql.Stmt // reader
	// provisioningToken is the SCIM provisioning token lookup, once a request.
	provisioningToken *sql.Stmt // reader
	// userByID and userByName are the two WHERE shapes of userWhere: the
	// account of every person's token (introspection, FHIR, refresh) and
	// of every log-in.
	userByID   *sql.Stmt // reader; use through tx.StmtContext
	userByName *sql.Stmt // reader; use through tx.StmtContext
	// linkOf, touchLink and takeSignInCode are a federated log-in through a
	// link and a sign-in code's redemption.
	linkOf         *sql.Stmt // reader
	touchLink      *sql.Stmt // writer; use through tx.StmtContext
	takeSignInCode *sql.Stmt // writer; use through tx.StmtContext

	// searches are the directory's search statements (search.go), prepared
	// on first use and kept until Close: a filter's SQL depends only on its
	// shape, and provisioning clients send a few shapes over and over.
	// Beyond maxSearchStmts shapes new ones are prepared for each use, so
	// that odd filters cannot grow the cache without bound.
	searchMu sync.Mutex
	searches map[string]*sql.Stmt
}

const maxSearchStmts = 64

const (
	sqlGetClient = `SELECT ` + rowmap.ClientColumns + ` FROM oauth_clients WHERE id = ?`
	sqlGetToken  = `SELECT request_id, client_id, subject, access_signature, session_id, state, state_at,
		requested_at, expires_at, data FROM oauth_tokens WHERE kind = ? AND signature = ?`
	sqlCreateToken = `INSERT INTO oauth_tokens
		(kind, signature, request_id, client_id, subject, access_signature, session_id, state, state_at, requested_at, expires_at, data)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`
	sqlJTIRevoked = `SELECT 1 FROM oauth_revoked_access WHERE jti = ?`
	sqlReadRes    = "SELECT " + fhirsql.ResourceCols + " FROM fhir_resources WHERE type = ? AND id = ?"
	// sqlUserValues reads the e-mails (0) and phone numbers (1) of the
	// users whose ids are the JSON array ?1.
	sqlUserValues = `SELECT 0, user_id, position, value, type, is_primary FROM user_emails
		WHERE user_id IN (SELECT value FROM json_each(?1))
		UNION ALL SELECT 1, user_id, position, value, type, is_primary FROM user_phone_numbers
		WHERE user_id IN (SELECT value FROM json_each(?1)) ORDER BY 2, 1, 3`
	// sqlGroupsOf reads the groups of the users whose ids are the JSON
	// array ?1: each group row after its member's id, by display name.
	sqlGroupsOf = `SELECT m.user_id, ` + groupColumns + ` FROM group_members m JOIN groups g ON g.id = m.group_id
		WHERE m.user_id IN (SELECT value FROM json_each(?1)) ORDER BY m.user_id, g.display_name COLLATE NOCASE, g.id`
	sqlProvisioningToken = `SELECT ` + rowmap.ProvisioningColumns + ` FROM provisioning_tokens WHERE token_hash = ?`
	sqlUserByID          = `SELECT ` + userColumns + ` FROM users WHERE id = ?`
	sqlUserByName        = `SELECT ` + userColumns + ` FROM users WHERE user_name = ?`
	sqlLinkOf            = `SELECT ` + rowmap.LinkColumns + ` FROM identity_links WHERE issuer = ? AND subject = ?`
	// sqlTouchLink never moves last_login back.
	sqlTouchLink = `UPDATE identity_links SET last_login = MAX(last_login, ?) WHERE issuer = ? AND subject = ?`
	// sqlTakeSignInCode returns and deletes a code in one statement (single
	// use).
	sqlTakeSignInCode = `DELETE FROM signin_codes WHERE hash = ? RETURNING hash, user_id, issued_by, created, expires`
	sqlAudit          = `INSERT INTO audit_events
		(at, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id, trace)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`
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
		getClient:         p(db.r, sqlGetClient),
		getToken:          p(db.r, sqlGetToken),
		createToken:       p(db.w, sqlCreateToken),
		jtiRevoked:        p(db.r, sqlJTIRevoked),
		readRes:           p(db.r, sqlReadRes),
		insertAudit:       p(db.w, sqlAudit),
		userValues:        p(db.r, sqlUserValues),
		groupsOf:          p(db.r, sqlGroupsOf),
		provisioningToken: p(db.r, sqlProvisioningToken),
		userByID:          p(db.r, sqlUserByID),
		userByName:        p(db.r, sqlUserByName),
		linkOf:            p(db.r, sqlLinkOf),
		touchLink:         p(db.w, sqlTouchLink),
		takeSignInCode:    p(db.w, sqlTakeSignInCode),
		searches:          map[string]*sql.Stmt{},
	}
	if err != nil {
		db.stmts.close()
		return fmt.Errorf("sqlite: prepare statements: %w", err)
	}
	return nil
}

func (s *stmts) close() error {
	var errs []error
	all := []*sql.Stmt{s.getClient, s.getToken, s.createToken, s.jtiRevoked, s.readRes, s.insertAudit, s.userValues, s.groupsOf, s.provisioningToken,
		s.userByID, s.userByName, s.linkOf, s.touchLink, s.takeSignInCode}
	s.searchMu.Lock()
	for _, st := range s.searches {
		all = append(all, st)
	}
	s.searches = nil
	s.searchMu.Unlock()
	for _, st := range all {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// searchStmt returns the kept statement of query, preparing it on the
// reader pool on first use, or nil when maxSearchStmts are kept already
// (the caller then prepares query in its transaction). It must be called
// outside a transaction: an in-memory database has a single connection.
func (db *DB) searchStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s := &db.stmts
	s.searchMu.Lock()
	st, ok := s.searches[query]
	full := s.searches == nil || len(s.searches) >= maxSearchStmts
	s.searchMu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := db.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	if prev, ok := s.searches[query]; ok { // prepared meanwhile
		st.Close()
		return prev, nil
	}
	if s.searches == nil || len(s.searches) >= maxSearchStmts {
		st.Close()
		return nil, nil
	}
	s.searches[query] = st
	return st, nil
}
