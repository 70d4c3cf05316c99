package rowmap

import "github.com/smartgate/smartgate/authz/clientcert"

// TrustedCertColumns are the columns of trusted_certificates, in the order
// of TrustedCertArgs and ScanTrustedCert.
const TrustedCertColumns = `fingerprint, subject, issuer, not_before, not_after, pem, note, added_by, added_at`

// TrustedCertArgs are the values of TrustedCertColumns for c.
func TrustedCertArgs(c *clientcert.TrustedCertificate) []any {
	return []any{c.Fingerprint, c.Subject, c.Issuer, encodeTime(c.NotBefore), encodeTime(c.NotAfter), c.PEM, c.Note, c.AddedBy, encodeTime(c.AddedAt)}
}

// ScanTrustedCert reads a row of TrustedCertColumns.
func ScanTrustedCert(s Scanner) (clientcert.TrustedCertificate, error) {
	var c clientcert.TrustedCertificate
	var nb, na, added int64
	if err := s.Scan(&c.Fingerprint, &c.Subject, &c.Issuer, &nb, &na, &c.PEM, &c.Note, &c.AddedBy, &added); err != nil {
		return clientcert.TrustedCertificate{}, err
	}
	c.NotBefore, c.NotAfter, c.AddedAt = decodeTime(nb), decodeTime(na), decodeTime(added)
	return c, nil
}
