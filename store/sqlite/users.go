package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var (
	_ account.Users    = (*DB)(nil)
	_ account.Consents = (*DB)(nil)
	_ account.Sessions = (*DB)(nil)
	_ account.Pendings = (*DB)(nil)
)

// CreateUser stores u, assigning u.ID (when empty) and u.Meta.
func (db *DB) CreateUser(ctx context.Context, u *account.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	attrs, err := rowmap.EncodeUserAttrs(u)
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	if u.ID == "" {
		u.ID = account.NewID()
	}
	now := storedTime(time.Now())
	meta := account.Meta{Created: now, LastModified: now, Version: 1}
	err = db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, given_name, family_name, formatted_name,
			display_name, active, password_hash, fhir_user, roles, external_id, attrs, created, last_modified, version)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			u.ID, u.UserName, u.Name.GivenName, u.Name.FamilyName, u.Name.Formatted, u.DisplayName, u.Active,
			u.PasswordHash, u.FHIRUser, strings.Join(u.Roles, " "), u.ExternalID, attrs,
			encodeTime(meta.Created), encodeTime(meta.LastModified), meta.Version)
		if err != nil {
			return err
		}
		return putValues(ctx, tx, u.ID, u.Emails, u.Profile.PhoneNumbers, false)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.UserName, err)
	}
	u.Meta = meta
	return nil
}

// putValues stores the e-mails and phone numbers of user id, replacing the
// stored ones when replace is set.
func putValues(ctx context.Context, tx *sql.Tx, id string, emails []account.Email, phones []account.PhoneNumber, replace bool) error {
	if replace {
		for _, q := range []string{"DELETE FROM user_emails WHERE user_id = ?", "DELETE FROM user_phone_numbers WHERE user_id = ?"} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
	}
	for i, e := range emails {
		if _, err := tx.ExecContext(ctx, "INSERT INTO user_emails (user_id, position, value, type, is_primary) VALUES (?,?,?,?,?)",
			id, i, e.Value, e.Type, e.Primary); err != nil {
			return err
		}
	}
	for i, p := range phones {
		if _, err := tx.ExecContext(ctx, "INSERT INTO user_phone_numbers (user_id, position, value, type, is_primary) VALUES (?,?,?,?,?)",
			id, i, p.Value, p.Type, p.Primary); err != nil {
			return err
		}
	}
	return nil
}

const userColumns = `id, user_name, given_name, family_name, formatted_name, display_name, active, password_hash,
	fhir_user, roles, external_id, attrs, created, last_modified, version`

func scanUser(s scanner) (*account.User, error) {
	var u account.User
	var roles, attrs string
	var created, modified int64
	if err := s.Scan(&u.ID, &u.UserName, &u.Name.GivenName, &u.Name.FamilyName, &u.Name.Formatted, &u.DisplayName,
		&u.Active, &u.PasswordHash, &u.FHIRUser, &roles, &u.ExternalID, &attrs, &created, &modified, &u.Meta.Version); err != nil {
		return nil, err
	}
	if err := rowmap.DecodeUserAttrs(attrs, &u); err != nil {
		return nil, err
	}
	u.Roles = rowmap.SplitSpace(roles)
	u.Meta.Created, u.Meta.LastModified = decodeTime(created), decodeTime(modified)
	return &u, nil
}

// queryer is a *sql.Tx or *sql.DB.
type queryer interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// loadValues fills in the e-mails and phone numbers of users, with one
// prepared query whatever their number.
func (db *DB) loadValues(ctx context.Context, tx *sql.Tx, users ...*account.User) error {
	if len(users) == 0 {
		return nil
	}
	byID := make(map[string]*account.User, len(users))
	ids := make([]string, 0, len(users))
	for _, u := range users {
		byID[u.ID] = u
		ids = append(ids, u.ID)
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := tx.StmtContext(ctx, db.stmts.userValues).QueryContext(ctx, string(idsJSON))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var table, position int
		var id, value, typ string
		var primary bool
		if err := rows.Scan(&table, &id, &position, &value, &typ, &primary); err != nil {
			return err
		}
		u := byID[id]
		if table == 0 {
			u.Emails = append(u.Emails, account.Email{Value: value, Type: typ, Primary: primary})
		} else {
			u.Profile.PhoneNumbers = append(u.Profile.PhoneNumbers, account.PhoneNumber{Value: value, Type: typ, Primary: primary})
		}
	}
	return rows.Err()
}

// scanUsers reads the users of rows and then their e-mails and phone
// numbers.
func (db *DB) scanUsers(ctx context.Context, tx *sql.Tx, rows *sql.Rows) ([]account.User, error) {
	var ptrs []*account.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ptrs = append(ptrs, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := db.loadValues(ctx, tx, ptrs...); err != nil {
		return nil, err
	}
	out := make([]account.User, 0, len(ptrs))
	for _, u := range ptrs {
		out = append(out, *u)
	}
	return out, nil
}

// userWhere reads the one user that the prepared query (userByID or
// userByName) finds for arg, and its e-mails and phone numbers, in one
// read transaction.
func (db *DB) userWhere(ctx context.Context, what string, query *sql.Stmt, arg any) (*account.User, error) {
	var u *account.User
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = scanUser(tx.StmtContext(ctx, query).QueryRowContext(ctx, arg))
		if err != nil {
			return err
		}
		return db.loadValues(ctx, tx, u)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: user %s: %w", what, err)
	}
	return u, nil
}

// User returns the user with id, or store.ErrNotFound.
func (db *DB) User(ctx context.Context, id string) (*account.User, error) {
	return db.userWhere(ctx, fmt.Sprintf("%q", id), db.stmts.userByID, id)
}

// UserByName returns the user with the given user name (normalised here),
// or store.ErrNotFound.
func (db *DB) UserByName(ctx context.Context, userName string) (*account.User, error) {
	n, err := account.NormalizeUserName(userName)
	if err != nil {
		return nil, fmt.Errorf("sqlite: user named %q: %w", userName, store.ErrNotFound)
	}
	return db.userWhere(ctx, fmt.Sprintf("named %q", n), db.stmts.userByName, n)
}

// Users lists users ordered by user name.
func (db *DB) Users(ctx context.Context, q account.ListQuery) ([]account.User, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	if q.Offset < 0 {
		q.Offset = 0
	}
	name := ""
	if q.UserName != "" {
		n, err := account.NormalizeUserName(q.UserName)
		if err != nil {
			return nil, nil
		}
		name = n
	}
	var out []account.User
	err := db.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+userColumns+` FROM users WHERE (? = '' OR user_name = ?)
			ORDER BY user_name LIMIT ? OFFSET ?`, name, name, q.Limit, q.Offset)
		if err != nil {
			return err
		}
		out, err = db.scanUsers(ctx, tx, rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return out, nil
}

// UpdateUser replaces the user when u.Meta.Version is the stored version;
// an inactive user loses their sessions and sign-in codes (endAccess).
func (db *DB) UpdateUser(ctx context.Context, u *account.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	attrs, err := rowmap.EncodeUserAttrs(u)
	if err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	now := storedTime(time.Now())
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET user_name=?, given_name=?, family_name=?, formatted_name=?,
			display_name=?, active=?, password_hash=?, fhir_user=?, roles=?, external_id=?, attrs=?, last_modified=?,
			version=version+1 WHERE id=? AND version=?`,
			u.UserName, u.Name.GivenName, u.Name.FamilyName, u.Name.Formatted, u.DisplayName, u.Active,
			u.PasswordHash, u.FHIRUser, strings.Join(u.Roles, " "), u.ExternalID, attrs, encodeTime(now), u.ID, u.Meta.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var v int64
			if err := tx.QueryRowContext(ctx, "SELECT version FROM users WHERE id = ?", u.ID).Scan(&v); err != nil {
				return err // ErrNotFound
			}
			return fmt.Errorf("%w: version %d, stored %d", store.ErrConflict, u.Meta.Version, v)
		}
		if !u.Active {
			if err := endAccess(ctx, tx, u.ID, encodeTime(now)); err != nil {
				return err
			}
		}
		return putValues(ctx, tx, u.ID, u.Emails, u.Profile.PhoneNumbers, true)
	})
	if err != nil {
		return fmt.Errorf("sqlite: update user %q: %w", u.ID, err)
	}
	u.Meta.Version++
	u.Meta.LastModified = now
	return nil
}

// DeactivateUser sets active=false, ends the user's sessions and drops
// their sign-in codes.
func (db *DB) DeactivateUser(ctx context.Context, id string) error {
	now := encodeTime(time.Now())
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET active=0, last_modified=?, version=version+1 WHERE id=?", now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return endAccess(ctx, tx, id, now)
	})
	if err != nil {
		return fmt.Errorf("sqlite: deactivate user %q: %w", id, err)
	}
	return nil
}

// endAccess is what an account turned inactive loses in the same
// transaction: its log-in sessions end at now (Unix microseconds) and its
// sign-in codes go.
func endAccess(ctx context.Context, tx *sql.Tx, userID string, now int64) error {
	if _, err := tx.ExecContext(ctx, "UPDATE web_sessions SET ended_at=? WHERE user_id=? AND ended_at=0", now, userID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM signin_codes WHERE user_id=?", userID)
	return err
}

// CountUsers returns the number of accounts.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count users: %w", mapErr(err))
	}
	return n, nil
}

// Consent returns the consent of userID for clientID.
func (db *DB) Consent(ctx context.Context, userID, clientID string) (*account.Consent, error) {
	c := account.Consent{UserID: userID, ClientID: clientID}
	var scopes string
	var created, updated int64
	err := db.r.QueryRowContext(ctx, "SELECT scopes, created, updated FROM consents WHERE user_id=? AND client_id=?",
		userID, clientID).Scan(&scopes, &created, &updated)
	if err != nil {
		return nil, fmt.Errorf("sqlite: consent of %q for %q: %w", userID, clientID, mapErr(err))
	}
	c.Scopes, c.Created, c.Updated = rowmap.SplitSpace(scopes), decodeTime(created), decodeTime(updated)
	return &c, nil
}

// PutConsent creates or replaces a consent.
func (db *DB) PutConsent(ctx context.Context, c *account.Consent) error {
	now := storedTime(time.Now())
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO consents (user_id, client_id, scopes, created, updated) VALUES (?,?,?,?,?)
			ON CONFLICT(user_id, client_id) DO UPDATE SET scopes=excluded.scopes, updated=excluded.updated`,
			c.UserID, c.ClientID, strings.Join(c.Scopes, " "), encodeTime(now), encodeTime(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put consent of %q for %q: %w", c.UserID, c.ClientID, err)
	}
	if c.Created.IsZero() {
		c.Created = now
	}
	c.Updated = now
	return nil
}

// Consents lists a user's consents, most recently updated first.
func (db *DB) Consents(ctx context.Context, userID string) ([]account.Consent, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT client_id, scopes, created, updated FROM consents WHERE user_id=?
		ORDER BY updated DESC, client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: consents of %q: %w", userID, mapErr(err))
	}
	defer rows.Close()
	var out []account.Consent
	for rows.Next() {
		c := account.Consent{UserID: userID}
		var scopes string
		var created, updated int64
		if err := rows.Scan(&c.ClientID, &scopes, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: consents of %q: %w", userID, err)
		}
		c.Scopes, c.Created, c.Updated = rowmap.SplitSpace(scopes), decodeTime(created), decodeTime(updated)
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// DeleteConsent removes a consent; store.ErrNotFound when there was none.
func (db *DB) DeleteConsent(ctx context.Context, userID, clientID string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM consents WHERE user_id=? AND client_id=?", userID, clientID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete consent of %q for %q: %w", userID, clientID, err)
	}
	return nil
}

// CreateSession stores a new log-in session.
func (db *DB) CreateSession(ctx context.Context, s *account.Session) error {
	if s.Created.IsZero() {
		s.Created = storedTime(time.Now())
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		// Sessions that expired over a day ago are of no further use
		// (SessionLive is false for missing ones too): drop them.
		if _, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE expires_at < ?",
			encodeTime(time.Now().Add(-24*time.Hour))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO web_sessions (id, user_id, auth_time, amr, created, expires_at, ended_at)
			VALUES (?,?,?,?,?,?,?)`, s.ID, s.UserID, encodeTime(s.AuthTime), strings.Join(s.AMR, " "), encodeTime(s.Created),
			encodeTime(s.ExpiresAt), encodeTime(s.EndedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	return nil
}

// Session returns a session, ended or not.
func (db *DB) Session(ctx context.Context, id string) (*account.Session, error) {
	s := account.Session{ID: id}
	var amr string
	var auth, created, expires, ended int64
	err := db.r.QueryRowContext(ctx, "SELECT user_id, auth_time, amr, created, expires_at, ended_at FROM web_sessions WHERE id=?", id).
		Scan(&s.UserID, &auth, &amr, &created, &expires, &ended)
	if err != nil {
		return nil, fmt.Errorf("sqlite: session: %w", mapErr(err))
	}
	s.AuthTime, s.AMR, s.Created = decodeTime(auth), rowmap.SplitSpace(amr), decodeTime(created)
	s.ExpiresAt, s.EndedAt = decodeTime(expires), decodeTime(ended)
	return &s, nil
}

// EndUserSessions ends every live session of userID but except at at.
func (db *DB) EndUserSessions(ctx context.Context, userID, except string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE web_sessions SET ended_at=? WHERE user_id=? AND id<>? AND ended_at=0",
			encodeTime(at), userID, except)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: end sessions of %q: %w", userID, err)
	}
	return nil
}

// EndSession marks a session ended at at (the first end wins).
func (db *DB) EndSession(ctx context.Context, id string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE web_sessions SET ended_at=? WHERE id=? AND ended_at=0", encodeTime(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var x int
			return tx.QueryRowContext(ctx, "SELECT 1 FROM web_sessions WHERE id=?", id).Scan(&x)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: end session: %w", err)
	}
	return nil
}

// ExtendSession sets the expiry of a session that has not ended.
func (db *DB) ExtendSession(ctx context.Context, id string, expiresAt time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE web_sessions SET expires_at=? WHERE id=? AND ended_at=0", encodeTime(expiresAt), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: extend session: %w", err)
	}
	return nil
}

// PutPending creates or replaces a pending authorization request and drops
// expired ones.
func (db *DB) PutPending(ctx context.Context, p *account.Pending) error {
	now := storedTime(time.Now())
	if p.Created.IsZero() {
		p.Created = now
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM pending_authorizations WHERE expires_at < ?", encodeTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pending_authorizations (browser_id, request_id, request, decision, created, expires_at)
			VALUES (?,?,?,?,?,?) ON CONFLICT(browser_id, request_id) DO UPDATE SET request=excluded.request,
			decision=excluded.decision, created=excluded.created, expires_at=excluded.expires_at`,
			p.BrowserID, p.RequestID, p.Request, p.Decision, encodeTime(p.Created), encodeTime(p.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put pending request: %w", err)
	}
	return nil
}

func scanPending(s scanner, p *account.Pending) error {
	var created, expires int64
	if err := s.Scan(&p.Request, &p.Decision, &created, &expires); err != nil {
		return err
	}
	p.Created, p.ExpiresAt = decodeTime(created), decodeTime(expires)
	return nil
}

// Pending returns a live pending authorization request.
func (db *DB) Pending(ctx context.Context, browserID, requestID string) (*account.Pending, error) {
	p := account.Pending{BrowserID: browserID, RequestID: requestID}
	err := scanPending(db.r.QueryRowContext(ctx, `SELECT request, decision, created, expires_at FROM pending_authorizations
		WHERE browser_id=? AND request_id=? AND expires_at >= ?`, browserID, requestID, encodeTime(time.Now())), &p)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pending request: %w", mapErr(err))
	}
	return &p, nil
}

// TakePending returns and deletes a live pending authorization request.
func (db *DB) TakePending(ctx context.Context, browserID, requestID string) (*account.Pending, error) {
	p := account.Pending{BrowserID: browserID, RequestID: requestID}
	err := db.write(ctx, func(tx *sql.Tx) error {
		return scanPending(tx.QueryRowContext(ctx, `DELETE FROM pending_authorizations
			WHERE browser_id=? AND request_id=? AND expires_at >= ?
			RETURNING request, decision, created, expires_at`, browserID, requestID, encodeTime(time.Now())), &p)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: take pending request: %w", err)
	}
	return &p, nil
}
