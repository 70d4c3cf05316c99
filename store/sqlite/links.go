package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

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
	err := db.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, l.UserID).Scan(&one); err != nil {
			return err // sql.ErrNoRows: mapped to ErrNotFound
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_links (`+rowmap.LinkColumns+`) VALUES (?,?,?,?,?,?,?)`, rowmap.LinkArgs(l)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create link of %q: %w", l.UserID, mapErr(err))
	}
	return nil
}

// LinkOf returns the link of (issuer, subject), or store.ErrNotFound.
func (db *DB) LinkOf(ctx context.Context, issuer, subject string) (*account.Link, error) {
	l, err := rowmap.ScanLink(db.stmts.linkOf.QueryRowContext(ctx, issuer, subject))
	if err != nil {
		return nil, fmt.Errorf("sqlite: link of an identity: %w", mapErr(err))
	}
	return &l, nil
}

// LinksOf returns userID's links, oldest first.
func (db *DB) LinksOf(ctx context.Context, userID string) ([]account.Link, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+rowmap.LinkColumns+` FROM identity_links
		WHERE user_id = ? ORDER BY created, issuer, subject`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: links of %q: %w", userID, mapErr(err))
	}
	out, err := scanLinks(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: links of %q: %w", userID, mapErr(err))
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
	ids, err := json.Marshal(userIDs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: links of users: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+rowmap.LinkColumns+` FROM identity_links
		WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY user_id, created, issuer, subject`, string(ids))
	if err != nil {
		return nil, fmt.Errorf("sqlite: links of users: %w", mapErr(err))
	}
	links, err := scanLinks(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: links of users: %w", mapErr(err))
	}
	for _, l := range links {
		out[l.UserID] = append(out[l.UserID], l)
	}
	return out, nil
}

func scanLinks(rows *sql.Rows) ([]account.Link, error) {
	defer rows.Close()
	var out []account.Link
	for rows.Next() {
		l, err := rowmap.ScanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// TouchLink records a log-in through the link of (issuer, subject) at at
// (never moving the time back); store.ErrNotFound when there is no link.
func (db *DB) TouchLink(ctx context.Context, issuer, subject string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, db.stmts.touchLink).ExecContext(ctx, encodeTime(at), issuer, subject)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
	if err != nil {
		return fmt.Errorf("sqlite: touch link: %w", mapErr(err))
	}
	return nil
}

// DeleteLink removes userID's link of (issuer, subject); store.ErrNotFound
// when userID has no such link (another account's is left alone).
func (db *DB) DeleteLink(ctx context.Context, userID, issuer, subject string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM identity_links WHERE user_id = ? AND issuer = ? AND subject = ?`,
			userID, issuer, subject)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete link of %q: %w", userID, mapErr(err))
	}
	return nil
}

// oneRow is store.ErrNotFound when res changed no row.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// PutSignInCode stores c and drops the codes that expired by the store's
// clock; a code of an account that does not exist is store.ErrNotFound, a
// hash stored already store.ErrConflict.
func (db *DB) PutSignInCode(ctx context.Context, c *account.SignInCode) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_codes WHERE expires <= ?`, encodeTime(time.Now())); err != nil {
			return err
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, c.UserID).Scan(&one); err != nil {
			return err // sql.ErrNoRows: mapped to ErrNotFound
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO signin_codes (hash, user_id, issued_by, created, expires) VALUES (?,?,?,?,?)`,
			c.Hash, c.UserID, c.IssuedBy, encodeTime(c.Created), encodeTime(c.Expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put sign-in code of %q: %w", c.UserID, mapErr(err))
	}
	return nil
}

// TakeSignInCode returns and deletes, in one statement, the code with hash
// that is live at now (single use: of concurrent takes one gets it, the
// others store.ErrNotFound); an expired one is deleted and is
// store.ErrNotFound.
func (db *DB) TakeSignInCode(ctx context.Context, hash []byte, now time.Time) (*account.SignInCode, error) {
	var c account.SignInCode
	var created, expires int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		return tx.StmtContext(ctx, db.stmts.takeSignInCode).QueryRowContext(ctx, hash).Scan(&c.Hash, &c.UserID, &c.IssuedBy, &created, &expires)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: take sign-in code: %w", mapErr(err))
	}
	c.Created, c.Expires = decodeTime(created), decodeTime(expires)
	if !now.Before(c.Expires) {
		return nil, fmt.Errorf("sqlite: take sign-in code: expired: %w", store.ErrNotFound)
	}
	return &c, nil
}

// DeleteSignInCodes drops every code of userID (none is not an error).
func (db *DB) DeleteSignInCodes(ctx context.Context, userID string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM signin_codes WHERE user_id = ?`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete sign-in codes of %q: %w", userID, mapErr(err))
	}
	return nil
}
