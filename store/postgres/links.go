package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var (
	_ account.Links           = (*DB)(nil)
	_ account.SignInCodeStore = (*DB)(nil)
)

// CreateLink stores l (Created is set to now when zero); an (issuer,
// subject) linked already, to any account, is store.ErrConflict, an
// account that does not exist store.ErrNotFound.
func (db *DB) CreateLink(ctx context.Context, l *account.Link) error {
	if l.Created.IsZero() {
		l.Created = storedTime(time.Now())
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, l.UserID); err != nil {
			return err // pgx.ErrNoRows: mapped to ErrNotFound
		}
		_, err := tx.Exec(ctx, `INSERT INTO identity_links (`+rowmap.LinkColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`, rowmap.LinkArgs(l)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create link of %q: %w", l.UserID, err)
	}
	return nil
}

// LinkOf returns the link of (issuer, subject), or store.ErrNotFound.
func (db *DB) LinkOf(ctx context.Context, issuer, subject string) (*account.Link, error) {
	l, err := rowmap.ScanLink(db.pool.QueryRow(ctx, `SELECT `+rowmap.LinkColumns+` FROM identity_links WHERE issuer = $1 AND subject = $2`, issuer, subject))
	if err != nil {
		return nil, fmt.Errorf("postgres: link of an identity: %w", mapErr(err))
	}
	return &l, nil
}

// LinksOf returns userID's links, oldest first.
func (db *DB) LinksOf(ctx context.Context, userID string) ([]account.Link, error) {
	out, err := db.queryLinks(ctx, `SELECT `+rowmap.LinkColumns+` FROM identity_links
		WHERE user_id = $1 ORDER BY created, issuer COLLATE "C", subject COLLATE "C"`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: links of %q: %w", userID, err)
	}
	return out, nil
}

// LinksOfUsers returns the links of each of userIDs, oldest first, keyed
// by user id (one query whatever their number); a user with no link has no
// entry.
func (db *DB) LinksOfUsers(ctx context.Context, userIDs []string) (map[string][]account.Link, error) {
	out := map[string][]account.Link{}
	if len(userIDs) == 0 {
		return out, nil
	}
	links, err := db.queryLinks(ctx, `SELECT `+rowmap.LinkColumns+` FROM identity_links
		WHERE user_id = ANY($1::text[]) ORDER BY user_id COLLATE "C", created, issuer COLLATE "C", subject COLLATE "C"`, userIDs)
	if err != nil {
		return nil, fmt.Errorf("postgres: links of users: %w", err)
	}
	for _, l := range links {
		out[l.UserID] = append(out[l.UserID], l)
	}
	return out, nil
}

func (db *DB) queryLinks(ctx context.Context, query string, args ...any) ([]account.Link, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.Link, error) { return rowmap.ScanLink(r) })
	return out, mapErr(err)
}

// TouchLink records a log-in through the link of (issuer, subject) at at
// (never moving the time back); store.ErrNotFound when there is no link.
func (db *DB) TouchLink(ctx context.Context, issuer, subject string, at time.Time) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE identity_links SET last_login = GREATEST(last_login, $1)
			WHERE issuer = $2 AND subject = $3`, encodeTime(at), issuer, subject)
		return oneRow(tag, err)
	})
	if err != nil {
		return fmt.Errorf("postgres: touch link: %w", err)
	}
	return nil
}

// DeleteLink removes userID's link of (issuer, subject); store.ErrNotFound
// when userID has no such link (another account's is left alone).
func (db *DB) DeleteLink(ctx context.Context, userID, issuer, subject string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM identity_links WHERE user_id = $1 AND issuer = $2 AND subject = $3`,
			userID, issuer, subject)
		return oneRow(tag, err)
	})
	if err != nil {
		return fmt.Errorf("postgres: delete link of %q: %w", userID, err)
	}
	return nil
}

// oneRow is err, or store.ErrNotFound when tag changed no row.
func oneRow(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// PutSignInCode stores c and drops the codes that expired by the store's
// clock; a code of an account that does not exist is store.ErrNotFound, a
// hash stored already store.ErrConflict.
func (db *DB) PutSignInCode(ctx context.Context, c *account.SignInCode) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM signin_codes WHERE expires <= $1`, encodeTime(time.Now())); err != nil {
			return err
		}
		if err := userExists(ctx, tx, c.UserID); err != nil {
			return err // pgx.ErrNoRows: mapped to ErrNotFound
		}
		_, err := tx.Exec(ctx, `INSERT INTO signin_codes (hash, user_id, issued_by, created, expires) VALUES ($1,$2,$3,$4,$5)`,
			c.Hash, c.UserID, c.IssuedBy, encodeTime(c.Created), encodeTime(c.Expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put sign-in code of %q: %w", c.UserID, err)
	}
	return nil
}

// TakeSignInCode returns and deletes, in one statement, the code with hash
// that is live at now (single use: of concurrent takes one deletes the
// row, the others' deletes lose the serialisation and, run again, find
// none: store.ErrNotFound); an expired one is deleted and is
// store.ErrNotFound.
func (db *DB) TakeSignInCode(ctx context.Context, hash []byte, now time.Time) (*account.SignInCode, error) {
	var c account.SignInCode
	var created, expires int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `DELETE FROM signin_codes WHERE hash = $1 RETURNING hash, user_id, issued_by, created, expires`, hash).
			Scan(&c.Hash, &c.UserID, &c.IssuedBy, &created, &expires)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: take sign-in code: %w", err)
	}
	c.Created, c.Expires = decodeTime(created), decodeTime(expires)
	if !now.Before(c.Expires) {
		return nil, fmt.Errorf("postgres: take sign-in code: expired: %w", store.ErrNotFound)
	}
	return &c, nil
}

// DeleteSignInCodes drops every code of userID (none is not an error).
func (db *DB) DeleteSignInCodes(ctx context.Context, userID string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM signin_codes WHERE user_id = $1`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete sign-in codes of %q: %w", userID, err)
	}
	return nil
}
