package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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

// flag01 is a Go flag in its stored form (the schema's flags are 0/1
// integers, which pgx neither encodes from nor scans into a bool).
func flag01(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// CreateUser stores u, assigning u.ID (when empty) and u.Meta.
func (db *DB) CreateUser(ctx context.Context, u *account.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	attrs, err := rowmap.EncodeUserAttrs(u)
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	if u.ID == "" {
		u.ID = account.NewID()
	}
	now := storedTime(time.Now())
	meta := account.Meta{Created: now, LastModified: now, Version: 1}
	err = db.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO users (id, user_name, given_name, family_name, formatted_name,
			display_name, active, password_hash, fhir_user, roles, external_id, attrs, created, last_modified, version)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
			u.ID, u.UserName, u.Name.GivenName, u.Name.FamilyName, u.Name.Formatted, u.DisplayName, flag01(u.Active),
			u.PasswordHash, u.FHIRUser, strings.Join(u.Roles, " "), u.ExternalID, attrs,
			encodeTime(meta.Created), encodeTime(meta.LastModified), meta.Version)
		queueValues(b, u.ID, u.Emails, u.Profile.PhoneNumbers, false)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.UserName, err)
	}
	u.Meta = meta
	return nil
}

// queueValues queues the statements that store the e-mails and phone
// numbers of user id, replacing the stored ones when replace is set.
func queueValues(b *pgx.Batch, id string, emails []account.Email, phones []account.PhoneNumber, replace bool) {
	if replace {
		b.Queue("DELETE FROM user_emails WHERE user_id = $1", id)
		b.Queue("DELETE FROM user_phone_numbers WHERE user_id = $1", id)
	}
	for i, e := range emails {
		b.Queue("INSERT INTO user_emails (user_id, position, value, type, is_primary) VALUES ($1,$2,$3,$4,$5)",
			id, i, e.Value, e.Type, flag01(e.Primary))
	}
	for i, p := range phones {
		b.Queue("INSERT INTO user_phone_numbers (user_id, position, value, type, is_primary) VALUES ($1,$2,$3,$4,$5)",
			id, i, p.Value, p.Type, flag01(p.Primary))
	}
}

// userColumns are the columns of a user (alias u) and, last, their
// e-mails and phone numbers as JSON arrays in position order, read by
// correlated subqueries: a user and their values are one statement, so
// one snapshot, with no transaction (store/sqlite reads the values with a
// second query, sqlUserValues, in a read transaction).
const userColumns = `u.id, u.user_name, u.given_name, u.family_name, u.formatted_name, u.display_name, u.active,
	u.password_hash, u.fhir_user, u.roles, u.external_id, u.attrs, u.created, u.last_modified, u.version,
	(SELECT COALESCE(json_agg(json_build_object('v', e.value, 't', e.type, 'p', e.is_primary <> 0) ORDER BY e.position), '[]')
		FROM user_emails e WHERE e.user_id = u.id)::text,
	(SELECT COALESCE(json_agg(json_build_object('v', e.value, 't', e.type, 'p', e.is_primary <> 0) ORDER BY e.position), '[]')
		FROM user_phone_numbers e WHERE e.user_id = u.id)::text`

// userValue is one element of the e-mail and phone number arrays of
// userColumns.
type userValue struct {
	Value   string `json:"v"`
	Type    string `json:"t"`
	Primary bool   `json:"p"`
}

func scanUser(s scanner) (*account.User, error) {
	var u account.User
	var roles, attrs, emails, phones string
	var created, modified, active int64
	if err := s.Scan(&u.ID, &u.UserName, &u.Name.GivenName, &u.Name.FamilyName, &u.Name.Formatted, &u.DisplayName,
		&active, &u.PasswordHash, &u.FHIRUser, &roles, &u.ExternalID, &attrs, &created, &modified, &u.Meta.Version,
		&emails, &phones); err != nil {
		return nil, err
	}
	if err := rowmap.DecodeUserAttrs(attrs, &u); err != nil {
		return nil, err
	}
	var es, ps []userValue
	if err := json.Unmarshal([]byte(emails), &es); err != nil {
		return nil, fmt.Errorf("decode e-mails of user %q: %w", u.ID, err)
	}
	if err := json.Unmarshal([]byte(phones), &ps); err != nil {
		return nil, fmt.Errorf("decode phone numbers of user %q: %w", u.ID, err)
	}
	for _, e := range es {
		u.Emails = append(u.Emails, account.Email{Value: e.Value, Type: e.Type, Primary: e.Primary})
	}
	for _, p := range ps {
		u.Profile.PhoneNumbers = append(u.Profile.PhoneNumbers, account.PhoneNumber{Value: p.Value, Type: p.Type, Primary: p.Primary})
	}
	u.Active = active != 0
	u.Roles = rowmap.SplitSpace(roles)
	u.Meta.Created, u.Meta.LastModified = decodeTime(created), decodeTime(modified)
	return &u, nil
}

// scanUsers reads the users of rows (userColumns), and closes rows.
func scanUsers(rows pgx.Rows) ([]account.User, error) {
	defer rows.Close()
	var out []account.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// User returns the user with id, or store.ErrNotFound.
func (db *DB) User(ctx context.Context, id string) (*account.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: user %q: %w", id, mapErr(err))
	}
	return u, nil
}

// UserByName returns the user with the given user name (normalised here),
// or store.ErrNotFound.
func (db *DB) UserByName(ctx context.Context, userName string) (*account.User, error) {
	n, err := account.NormalizeUserName(userName)
	if err != nil {
		return nil, fmt.Errorf("postgres: user named %q: %w", userName, store.ErrNotFound)
	}
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.user_name = $1`, n))
	if err != nil {
		return nil, fmt.Errorf("postgres: user named %q: %w", n, mapErr(err))
	}
	return u, nil
}

// Users lists users ordered by user name (bytewise, as store/sqlite's
// BINARY).
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
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users u WHERE ($1::text = '' OR u.user_name = $1)
		ORDER BY u.user_name COLLATE "C" LIMIT $2 OFFSET $3`, name, q.Limit, q.Offset)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", mapErr(err))
	}
	out, err := scanUsers(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", mapErr(err))
	}
	return out, nil
}

// UpdateUser replaces the user when u.Meta.Version is the stored version;
// an inactive user loses their sessions and sign-in codes (endAccess).
func (db *DB) UpdateUser(ctx context.Context, u *account.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	attrs, err := rowmap.EncodeUserAttrs(u)
	if err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	now := storedTime(time.Now())
	err = db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET user_name=$1, given_name=$2, family_name=$3, formatted_name=$4,
			display_name=$5, active=$6, password_hash=$7, fhir_user=$8, roles=$9, external_id=$10, attrs=$11, last_modified=$12,
			version=version+1 WHERE id=$13 AND version=$14`,
			u.UserName, u.Name.GivenName, u.Name.FamilyName, u.Name.Formatted, u.DisplayName, flag01(u.Active),
			u.PasswordHash, u.FHIRUser, strings.Join(u.Roles, " "), u.ExternalID, attrs, encodeTime(now), u.ID, u.Meta.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var v int64
			if err := tx.QueryRow(ctx, "SELECT version FROM users WHERE id = $1", u.ID).Scan(&v); err != nil {
				return err // ErrNotFound
			}
			return fmt.Errorf("%w: version %d, stored %d", store.ErrConflict, u.Meta.Version, v)
		}
		b := &pgx.Batch{}
		if !u.Active {
			queueEndAccess(b, u.ID, encodeTime(now))
		}
		queueValues(b, u.ID, u.Emails, u.Profile.PhoneNumbers, true)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: update user %q: %w", u.ID, err)
	}
	u.Meta.Version++
	u.Meta.LastModified = now
	return nil
}

// DeactivateUser sets active=false, ends the user's sessions and drops
// their sign-in codes.
func (db *DB) DeactivateUser(ctx context.Context, id string) error {
	now := encodeTime(time.Now())
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE users SET active=0, last_modified=$1, version=version+1 WHERE id=$2", now, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		b := &pgx.Batch{}
		queueEndAccess(b, id, now)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: deactivate user %q: %w", id, err)
	}
	return nil
}

// queueEndAccess queues what an account turned inactive loses in the same
// transaction: its log-in sessions end at now (Unix microseconds) and its
// sign-in codes go.
func queueEndAccess(b *pgx.Batch, userID string, now int64) {
	b.Queue("UPDATE web_sessions SET ended_at=$1 WHERE user_id=$2 AND ended_at=0", now, userID)
	b.Queue("DELETE FROM signin_codes WHERE user_id=$1", userID)
}

// CountUsers returns the number of accounts.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", mapErr(err))
	}
	return n, nil
}

// Consent returns the consent of userID for clientID.
func (db *DB) Consent(ctx context.Context, userID, clientID string) (*account.Consent, error) {
	c := account.Consent{UserID: userID, ClientID: clientID}
	var scopes string
	var created, updated int64
	err := db.pool.QueryRow(ctx, "SELECT scopes, created, updated FROM consents WHERE user_id=$1 AND client_id=$2",
		userID, clientID).Scan(&scopes, &created, &updated)
	if err != nil {
		return nil, fmt.Errorf("postgres: consent of %q for %q: %w", userID, clientID, mapErr(err))
	}
	c.Scopes, c.Created, c.Updated = rowmap.SplitSpace(scopes), decodeTime(created), decodeTime(updated)
	return &c, nil
}

// PutConsent creates or replaces a consent.
func (db *DB) PutConsent(ctx context.Context, c *account.Consent) error {
	now := storedTime(time.Now())
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, created, updated) VALUES ($1,$2,$3,$4,$4)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes=excluded.scopes, updated=excluded.updated`,
			c.UserID, c.ClientID, strings.Join(c.Scopes, " "), encodeTime(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put consent of %q for %q: %w", c.UserID, c.ClientID, err)
	}
	if c.Created.IsZero() {
		c.Created = now
	}
	c.Updated = now
	return nil
}

// scanConsents reads rows of user_id, client_id, scopes, created, updated,
// and closes rows.
func scanConsents(rows pgx.Rows) ([]account.Consent, error) {
	defer rows.Close()
	var out []account.Consent
	for rows.Next() {
		var c account.Consent
		var scopes string
		var created, updated int64
		if err := rows.Scan(&c.UserID, &c.ClientID, &scopes, &created, &updated); err != nil {
			return nil, err
		}
		c.Scopes, c.Created, c.Updated = rowmap.SplitSpace(scopes), decodeTime(created), decodeTime(updated)
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// Consents lists a user's consents, most recently updated first.
func (db *DB) Consents(ctx context.Context, userID string) ([]account.Consent, error) {
	rows, err := db.pool.Query(ctx, `SELECT user_id, client_id, scopes, created, updated FROM consents WHERE user_id=$1
		ORDER BY updated DESC, client_id COLLATE "C"`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: consents of %q: %w", userID, mapErr(err))
	}
	out, err := scanConsents(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: consents of %q: %w", userID, err)
	}
	return out, nil
}

// DeleteConsent removes a consent; store.ErrNotFound when there was none.
func (db *DB) DeleteConsent(ctx context.Context, userID, clientID string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM consents WHERE user_id=$1 AND client_id=$2", userID, clientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: delete consent of %q for %q: %w", userID, clientID, err)
	}
	return nil
}

// CreateSession stores a new log-in session.
func (db *DB) CreateSession(ctx context.Context, s *account.Session) error {
	if s.Created.IsZero() {
		s.Created = storedTime(time.Now())
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// Sessions that expired over a day ago are of no further use
		// (SessionLive is false for missing ones too): drop them.
		b.Queue("DELETE FROM web_sessions WHERE expires_at < $1", encodeTime(time.Now().Add(-24*time.Hour)))
		b.Queue(`INSERT INTO web_sessions (id, user_id, auth_time, amr, created, expires_at, ended_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7)`, s.ID, s.UserID, encodeTime(s.AuthTime), strings.Join(s.AMR, " "), encodeTime(s.Created),
			encodeTime(s.ExpiresAt), encodeTime(s.EndedAt))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	return nil
}

// Session returns a session, ended or not.
func (db *DB) Session(ctx context.Context, id string) (*account.Session, error) {
	s := account.Session{ID: id}
	var amr string
	var auth, created, expires, ended int64
	err := db.pool.QueryRow(ctx, "SELECT user_id, auth_time, amr, created, expires_at, ended_at FROM web_sessions WHERE id=$1", id).
		Scan(&s.UserID, &auth, &amr, &created, &expires, &ended)
	if err != nil {
		return nil, fmt.Errorf("postgres: session: %w", mapErr(err))
	}
	s.AuthTime, s.AMR, s.Created = decodeTime(auth), rowmap.SplitSpace(amr), decodeTime(created)
	s.ExpiresAt, s.EndedAt = decodeTime(expires), decodeTime(ended)
	return &s, nil
}

// EndUserSessions ends every live session of userID but except at at.
func (db *DB) EndUserSessions(ctx context.Context, userID, except string, at time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE web_sessions SET ended_at=$1 WHERE user_id=$2 AND id<>$3 AND ended_at=0",
			encodeTime(at), userID, except)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: end sessions of %q: %w", userID, err)
	}
	return nil
}

// EndSession marks a session ended at at (the first end wins).
func (db *DB) EndSession(ctx context.Context, id string, at time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE web_sessions SET ended_at=$1 WHERE id=$2 AND ended_at=0", encodeTime(at), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var x int
			return tx.QueryRow(ctx, "SELECT 1 FROM web_sessions WHERE id=$1", id).Scan(&x)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: end session: %w", err)
	}
	return nil
}

// ExtendSession sets the expiry of a session that has not ended.
func (db *DB) ExtendSession(ctx context.Context, id string, expiresAt time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE web_sessions SET expires_at=$1 WHERE id=$2 AND ended_at=0", encodeTime(expiresAt), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: extend session: %w", err)
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
	err := db.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue("DELETE FROM pending_authorizations WHERE expires_at < $1", encodeTime(now))
		b.Queue(`INSERT INTO pending_authorizations (browser_id, request_id, request, decision, created, expires_at)
			VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (browser_id, request_id) DO UPDATE SET request=excluded.request,
			decision=excluded.decision, created=excluded.created, expires_at=excluded.expires_at`,
			p.BrowserID, p.RequestID, p.Request, p.Decision, encodeTime(p.Created), encodeTime(p.ExpiresAt))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: put pending request: %w", err)
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
	err := scanPending(db.pool.QueryRow(ctx, `SELECT request, decision, created, expires_at FROM pending_authorizations
		WHERE browser_id=$1 AND request_id=$2 AND expires_at >= $3`, browserID, requestID, encodeTime(time.Now())), &p)
	if err != nil {
		return nil, fmt.Errorf("postgres: pending request: %w", mapErr(err))
	}
	return &p, nil
}

// TakePending returns and deletes a live pending authorization request: one
// DELETE … RETURNING, so that of concurrent callers exactly one gets it
// (the others lose the serialisable transaction, and their retry finds
// nothing: store.ErrNotFound).
func (db *DB) TakePending(ctx context.Context, browserID, requestID string) (*account.Pending, error) {
	p := account.Pending{BrowserID: browserID, RequestID: requestID}
	err := db.write(ctx, func(tx pgx.Tx) error {
		return scanPending(tx.QueryRow(ctx, `DELETE FROM pending_authorizations
			WHERE browser_id=$1 AND request_id=$2 AND expires_at >= $3
			RETURNING request, decision, created, expires_at`, browserID, requestID, encodeTime(time.Now())), &p)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: take pending request: %w", err)
	}
	return &p, nil
}
