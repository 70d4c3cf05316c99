package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ clientcert.AllowList = (*DB)(nil)

// AddTrustedCertificate puts c on the allow-list (AddedAt is set to now
// when zero); a fingerprint on it already is store.ErrConflict.
func (db *DB) AddTrustedCertificate(ctx context.Context, c *clientcert.TrustedCertificate) error {
	if c.Fingerprint == "" || c.PEM == "" {
		return errors.New("postgres: add trusted certificate: fingerprint and PEM are required")
	}
	if c.AddedAt.IsZero() {
		c.AddedAt = storedTime(time.Now())
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO trusted_certificates (`+rowmap.TrustedCertColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, rowmap.TrustedCertArgs(c)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: add trusted certificate: %w", err)
	}
	return nil
}

// TrustedCertificates lists the allow-list, newest first.
func (db *DB) TrustedCertificates(ctx context.Context) ([]clientcert.TrustedCertificate, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+rowmap.TrustedCertColumns+` FROM trusted_certificates ORDER BY added_at DESC, fingerprint COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: trusted certificates: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (clientcert.TrustedCertificate, error) { return rowmap.ScanTrustedCert(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: trusted certificates: %w", mapErr(err))
	}
	return out, nil
}

// TrustedCertificate returns the allow-list's entry for fingerprint, or
// store.ErrNotFound.
func (db *DB) TrustedCertificate(ctx context.Context, fingerprint string) (*clientcert.TrustedCertificate, error) {
	c, err := rowmap.ScanTrustedCert(db.pool.QueryRow(ctx, `SELECT `+rowmap.TrustedCertColumns+` FROM trusted_certificates WHERE fingerprint = $1`, fingerprint))
	if err != nil {
		return nil, fmt.Errorf("postgres: trusted certificate: %w", mapErr(err))
	}
	return &c, nil
}

// RemoveTrustedCertificate takes fingerprint off the allow-list;
// store.ErrNotFound when it is not on it.
func (db *DB) RemoveTrustedCertificate(ctx context.Context, fingerprint string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM trusted_certificates WHERE fingerprint = $1`, fingerprint)
		return oneRow(tag, err)
	})
	if err != nil {
		return fmt.Errorf("postgres: remove trusted certificate: %w", err)
	}
	return nil
}

// CertificateAllowed reports whether fingerprint is on the allow-list
// (clientcert.AllowList; the Verifier checks the validity period).
func (db *DB) CertificateAllowed(ctx context.Context, fingerprint string) (bool, error) {
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM trusted_certificates WHERE fingerprint = $1`, fingerprint).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("postgres: certificate allowed: %w", mapErr(err))
	}
	return true, nil
}

// CountTrustedCertificates is the allow-list's length (the serve
// command's check that reject has something to trust).
func (db *DB) CountTrustedCertificates(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM trusted_certificates`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count trusted certificates: %w", mapErr(err))
	}
	return n, nil
}
