package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

var _ account.SecondFactorStore = (*DB)(nil)

// SecondFactor returns the user's enrolment, or store.ErrNotFound.
func (db *DB) SecondFactor(ctx context.Context, userID string) (*account.SecondFactor, error) {
	f := account.SecondFactor{UserID: userID}
	var created, confirmed, last int64
	err := db.pool.QueryRow(ctx, `SELECT secret, created, confirmed, last_step FROM second_factors WHERE user_id = $1`, userID).
		Scan(&f.Secret, &created, &confirmed, &last)
	if err != nil {
		return nil, fmt.Errorf("postgres: second factor of %q: %w", userID, mapErr(err))
	}
	f.Created, f.Confirmed, f.LastStep = decodeTime(created), decodeTime(confirmed), uint64(last)
	return &f, nil
}

// BeginSecondFactor stores f unconfirmed, replacing an unconfirmed
// enrolment; store.ErrConflict when a confirmed one exists, store.ErrNotFound
// when the user does not. The read and the replacement are one
// serialisable transaction, so a concurrent confirmation is not lost.
func (db *DB) BeginSecondFactor(ctx context.Context, f *account.SecondFactor) error {
	if len(f.Secret) == 0 {
		return fmt.Errorf("postgres: begin second factor of %q: empty secret", f.UserID)
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		var confirmed int64
		err := tx.QueryRow(ctx, `SELECT confirmed FROM second_factors WHERE user_id = $1`, f.UserID).Scan(&confirmed)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case confirmed != 0:
			return store.ErrConflict
		}
		if err := userExists(ctx, tx, f.UserID); err != nil {
			return err
		}
		// An unconfirmed enrolment has no recovery codes; replace it whole.
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM second_factors WHERE user_id = $1`, f.UserID)
		b.Queue(`INSERT INTO second_factors (user_id, secret, created) VALUES ($1,$2,$3)`, f.UserID, f.Secret, encodeTime(f.Created))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: begin second factor of %q: %w", f.UserID, err)
	}
	return nil
}

// userExists is store.ErrNotFound (through pgx.ErrNoRows) when there is no
// user id.
func userExists(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	return tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, id).Scan(&one)
}

// ConfirmSecondFactor confirms the user's unconfirmed enrolment with
// secret, marks step used and stores the recovery code hashes;
// store.ErrNotFound when there is no such enrolment.
func (db *DB) ConfirmSecondFactor(ctx context.Context, userID string, secret []byte, step uint64, at time.Time, recovery [][]byte) error {
	if at.IsZero() {
		at = time.Now()
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE second_factors SET confirmed = $1, last_step = $2
			WHERE user_id = $3 AND confirmed = 0 AND secret = $4`, encodeTime(at), int64(step), userID, secret)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return putRecovery(ctx, tx, userID, recovery)
	})
	if err != nil {
		return fmt.Errorf("postgres: confirm second factor of %q: %w", userID, err)
	}
	return nil
}

// putRecovery replaces the user's recovery codes with hashes, in one round
// trip.
func putRecovery(ctx context.Context, tx pgx.Tx, userID string, hashes [][]byte) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM second_factor_recovery WHERE user_id = $1`, userID)
	for _, h := range hashes {
		b.Queue(`INSERT INTO second_factor_recovery (user_id, hash) VALUES ($1,$2)`, userID, h)
	}
	return tx.SendBatch(ctx, b).Close()
}

// execAffected runs one writing statement and returns how many rows it
// changed.
func (db *DB) execAffected(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// UseSecondFactorStep records step as used when it is after the last one
// of the user's confirmed enrolment, and reports whether it did. Of
// concurrent callers with one step, one sees true: the others' updates
// lose the serialisation and, run again, find the step used.
func (db *DB) UseSecondFactorStep(ctx context.Context, userID string, step uint64) (bool, error) {
	n, err := db.execAffected(ctx, `UPDATE second_factors SET last_step = $1
		WHERE user_id = $2 AND confirmed != 0 AND last_step < $1`, int64(step), userID)
	if err != nil {
		return false, fmt.Errorf("postgres: use second-factor step of %q: %w", userID, err)
	}
	return n == 1, nil
}

// RecoveryCodes returns the hashes of the user's unused recovery codes.
func (db *DB) RecoveryCodes(ctx context.Context, userID string) ([][]byte, error) {
	rows, err := db.pool.Query(ctx, `SELECT hash FROM second_factor_recovery WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: recovery codes of %q: %w", userID, mapErr(err))
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("postgres: recovery codes of %q: %w", userID, mapErr(err))
	}
	if len(hashes) == 0 {
		return nil, nil
	}
	return hashes, nil
}

// UseRecoveryCode deletes the user's recovery code with hash and reports
// whether there was one (of concurrent callers, one at most sees true).
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	n, err := db.execAffected(ctx, `DELETE FROM second_factor_recovery WHERE user_id = $1 AND hash = $2`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("postgres: use recovery code of %q: %w", userID, err)
	}
	return n == 1, nil
}

// ReplaceRecoveryCodes replaces the user's recovery codes; store.ErrNotFound
// when the user has no confirmed enrolment.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM second_factors WHERE user_id = $1 AND confirmed != 0`, userID).Scan(&one); err != nil {
			return err
		}
		return putRecovery(ctx, tx, userID, hashes)
	})
	if err != nil {
		return fmt.Errorf("postgres: replace recovery codes of %q: %w", userID, err)
	}
	return nil
}

// DeleteSecondFactor deletes the user's enrolment and recovery codes (the
// schema's ON DELETE CASCADE); store.ErrNotFound when there was none.
func (db *DB) DeleteSecondFactor(ctx context.Context, userID string) error {
	n, err := db.execAffected(ctx, `DELETE FROM second_factors WHERE user_id = $1`, userID)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: delete second factor of %q: %w", userID, err)
	}
	return nil
}
