package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

var _ account.SecondFactorStore = (*DB)(nil)

// SecondFactor returns the user's enrolment, or store.ErrNotFound.
func (db *DB) SecondFactor(ctx context.Context, userID string) (*account.SecondFactor, error) {
	f := account.SecondFactor{UserID: userID}
	var created, confirmed, last int64
	err := db.r.QueryRowContext(ctx, `SELECT secret, created, confirmed, last_step FROM second_factors WHERE user_id = ?`, userID).
		Scan(&f.Secret, &created, &confirmed, &last)
	if err != nil {
		return nil, fmt.Errorf("sqlite: second factor of %q: %w", userID, mapErr(err))
	}
	f.Created, f.Confirmed, f.LastStep = decodeTime(created), decodeTime(confirmed), uint64(last)
	return &f, nil
}

// BeginSecondFactor stores f unconfirmed, replacing an unconfirmed
// enrolment; store.ErrConflict when a confirmed one exists, store.ErrNotFound
// when the user does not.
func (db *DB) BeginSecondFactor(ctx context.Context, f *account.SecondFactor) error {
	if len(f.Secret) == 0 {
		return fmt.Errorf("sqlite: begin second factor of %q: empty secret", f.UserID)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		var confirmed int64
		err := tx.QueryRowContext(ctx, `SELECT confirmed FROM second_factors WHERE user_id = ?`, f.UserID).Scan(&confirmed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case confirmed != 0:
			return store.ErrConflict
		}
		if err := userExists(ctx, tx, f.UserID); err != nil {
			return err
		}
		// An unconfirmed enrolment has no recovery codes; replace it whole.
		if _, err := tx.ExecContext(ctx, `DELETE FROM second_factors WHERE user_id = ?`, f.UserID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO second_factors (user_id, secret, created) VALUES (?,?,?)`,
			f.UserID, f.Secret, encodeTime(f.Created))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: begin second factor of %q: %w", f.UserID, err)
	}
	return nil
}

func userExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, id).Scan(&one); err != nil {
		return mapErr(err)
	}
	return nil
}

// ConfirmSecondFactor confirms the user's unconfirmed enrolment with
// secret, marks step used and stores the recovery code hashes;
// store.ErrNotFound when there is no such enrolment.
func (db *DB) ConfirmSecondFactor(ctx context.Context, userID string, secret []byte, step uint64, at time.Time, recovery [][]byte) error {
	if at.IsZero() {
		at = time.Now()
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE second_factors SET confirmed = ?, last_step = ?
			WHERE user_id = ? AND confirmed = 0 AND secret = ?`, encodeTime(at), int64(step), userID, secret)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return putRecovery(ctx, tx, userID, recovery)
	})
	if err != nil {
		return fmt.Errorf("sqlite: confirm second factor of %q: %w", userID, err)
	}
	return nil
}

func putRecovery(ctx context.Context, tx *sql.Tx, userID string, hashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM second_factor_recovery WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO second_factor_recovery (user_id, hash) VALUES (?,?)`, userID, h); err != nil {
			return err
		}
	}
	return nil
}

// execAffected runs one writing statement and returns how many rows it
// changed.
func (db *DB) execAffected(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// UseSecondFactorStep records step as used when it is after the last one
// of the user's confirmed enrolment, and reports whether it did.
func (db *DB) UseSecondFactorStep(ctx context.Context, userID string, step uint64) (bool, error) {
	n, err := db.execAffected(ctx, `UPDATE second_factors SET last_step = ?
		WHERE user_id = ? AND confirmed != 0 AND last_step < ?`, int64(step), userID, int64(step))
	if err != nil {
		return false, fmt.Errorf("sqlite: use second-factor step of %q: %w", userID, err)
	}
	return n == 1, nil
}

// RecoveryCodes returns the hashes of the user's unused recovery codes.
func (db *DB) RecoveryCodes(ctx context.Context, userID string) ([][]byte, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT hash FROM second_factor_recovery WHERE user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recovery codes of %q: %w", userID, mapErr(err))
	}
	defer rows.Close()
	var hashes [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("sqlite: recovery codes of %q: %w", userID, mapErr(err))
		}
		hashes = append(hashes, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: recovery codes of %q: %w", userID, mapErr(err))
	}
	return hashes, nil
}

// UseRecoveryCode deletes the user's recovery code with hash and reports
// whether there was one.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	n, err := db.execAffected(ctx, `DELETE FROM second_factor_recovery WHERE user_id = ? AND hash = ?`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("sqlite: use recovery code of %q: %w", userID, err)
	}
	return n == 1, nil
}

// ReplaceRecoveryCodes replaces the user's recovery codes; store.ErrNotFound
// when the user has no confirmed enrolment.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM second_factors WHERE user_id = ? AND confirmed != 0`, userID).Scan(&one)
		if err != nil {
			return mapErr(err)
		}
		return putRecovery(ctx, tx, userID, hashes)
	})
	if err != nil {
		return fmt.Errorf("sqlite: replace recovery codes of %q: %w", userID, err)
	}
	return nil
}

// DeleteSecondFactor deletes the user's enrolment and recovery codes;
// store.ErrNotFound when there was none.
func (db *DB) DeleteSecondFactor(ctx context.Context, userID string) error {
	n, err := db.execAffected(ctx, `DELETE FROM second_factors WHERE user_id = ?`, userID)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete second factor of %q: %w", userID, err)
	}
	return nil
}
