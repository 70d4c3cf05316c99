package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ clientcert.AllowList = (*DB)(nil)

// AddTrustedCertificate puts c on the allow-list (AddedAt is set to now
// when zero); a fingerprint on it already is store.ErrConflict.
func (db *DB) AddTrustedCertificate(ctx context.Context, c *clientcert.TrustedCertificate) error {
	if c.Fingerprint == "" || c.PEM == "" {
		return errors.New("sqlite: add trusted certificate: fingerprint and PEM are required")
	}
	if c.AddedAt.IsZero() {
		c.AddedAt = storedTime(time.Now())
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO trusted_certificates (`+rowmap.TrustedCertColumns+`) VALUES (?,?,?,?,?,?,?,?,?)`, rowmap.TrustedCertArgs(c)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: add trusted certificate: %w", mapErr(err))
	}
	return nil
}

// TrustedCertificates lists the allow-list, newest first.
func (db *DB) TrustedCertificates(ctx context.Context) ([]clientcert.TrustedCertificate, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+rowmap.TrustedCertColumns+` FROM trusted_certificates ORDER BY added_at DESC, fingerprint`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: trusted certificates: %w", mapErr(err))
	}
	defer rows.Close()
	var out []clientcert.TrustedCertificate
	for rows.Next() {
		c, err := rowmap.ScanTrustedCert(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: trusted certificates: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: trusted certificates: %w", err)
	}
	return out, nil
}

// TrustedCertificate returns the allow-list's entry for fingerprint, or
// store.ErrNotFound.
func (db *DB) TrustedCertificate(ctx context.Context, fingerprint string) (*clientcert.TrustedCertificate, error) {
	c, err := rowmap.ScanTrustedCert(db.r.QueryRowContext(ctx, `SELECT `+rowmap.TrustedCertColumns+` FROM trusted_certificates WHERE fingerprint = ?`, fingerprint))
	if err != nil {
		return nil, fmt.Errorf("sqlite: trusted certificate: %w", mapErr(err))
	}
	return &c, nil
}

// RemoveTrustedCertificate takes fingerprint off the allow-list;
// store.ErrNotFound when it is not on it.
func (db *DB) RemoveTrustedCertificate(ctx context.Context, fingerprint string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM trusted_certificates WHERE fingerprint = ?`, fingerprint)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: remove trusted certificate: %w", mapErr(err))
	}
	return nil
}

// CertificateAllowed reports whether fingerprint is on the allow-list
// (clientcert.AllowList; the Verifier checks the validity period).
func (db *DB) CertificateAllowed(ctx context.Context, fingerprint string) (bool, error) {
	var one int
	err := db.r.QueryRowContext(ctx, `SELECT 1 FROM trusted_certificates WHERE fingerprint = ?`, fingerprint).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: certificate allowed: %w", mapErr(err))
	}
	return true, nil
}

// CountTrustedCertificates is the allow-list's length (the serve
// command's check that reject has something to trust).
func (db *DB) CountTrustedCertificates(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM trusted_certificates`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count trusted certificates: %w", mapErr(err))
	}
	return n, nil
}
