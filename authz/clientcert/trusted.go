package clientcert

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The reasons ParseTrusted refuses a text. Their messages are written for
// the administrator and never quote the text.
var (
	// ErrPrivateKey: the text holds a private key (pasted by mistake). It
	// is neither stored nor shown back.
	ErrPrivateKey = errors.New("this is a private key, not a certificate: nothing was stored; paste only the certificate (-----BEGIN CERTIFICATE-----), and since the key has been copied around, consider replacing it")
	// ErrNoCertificate: no PEM certificate in the text.
	ErrNoCertificate = errors.New("no PEM certificate found: paste one certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----")
	// ErrNotCertificate: a PEM block that is not a certificate.
	ErrNotCertificate = errors.New("the PEM block is not a certificate (only -----BEGIN CERTIFICATE----- blocks are accepted)")
	// ErrSeveralCertificates: more than one certificate (a chain).
	ErrSeveralCertificates = errors.New("the text holds more than one certificate: paste only the client's own (leaf) certificate")
	// ErrBadCertificate: the certificate does not parse.
	ErrBadCertificate = errors.New("the certificate could not be read (not a valid X.509 certificate)")
	// ErrExpired: the certificate's validity has ended; the listener
	// would never accept it.
	ErrExpired = errors.New("the certificate has expired: the HTTPS listener would never accept it")
	// ErrNoteTooLong: the note is longer than MaxNoteLength.
	ErrNoteTooLong = fmt.Errorf("the note may have at most %d characters", MaxNoteLength)
)

// MaxNoteLength bounds an allow-list entry's note (characters).
const MaxNoteLength = 500

// MaxPEMLength bounds the text ParseTrusted reads (a client certificate is
// a few KiB).
const MaxPEMLength = 32 << 10

// ParseTrusted reads one PEM certificate into an allow-list entry with the
// administrator's note and user id (by); AddedAt is left for the store.
// It is the one reading of a certificate to trust, shared by the
// /admin/certificates page and `smartgate cert add`. It refuses a text
// holding a private key (anywhere, even beside a certificate), no
// certificate, another kind of PEM block, more than one certificate, a
// certificate that does not parse or has expired at now, and a note
// longer than MaxNoteLength or not UTF-8. The entry's PEM is the
// certificate re-encoded, never the pasted text. Any leaf is accepted: a
// CA certificate too (only that certificate itself is trusted; Warnings
// says so), and one not yet valid (a planned replacement).
func ParseTrusted(pemText, note, by string, now time.Time) (*TrustedCertificate, error) {
	note = strings.TrimSpace(note)
	if !utf8.ValidString(note) || strings.ContainsFunc(note, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
		return nil, errors.New("the note must be plain text on one line")
	}
	if utf8.RuneCountInString(note) > MaxNoteLength {
		return nil, ErrNoteTooLong
	}
	if len(pemText) > MaxPEMLength {
		return nil, fmt.Errorf("the text is longer than %d KiB: paste one certificate", MaxPEMLength>>10)
	}
	// A key whose PEM armour is damaged still counts as a key.
	if strings.Contains(pemText, "PRIVATE KEY-----") {
		return nil, ErrPrivateKey
	}
	var der []byte
	rest := []byte(pemText)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return nil, ErrPrivateKey
		case b.Type != "CERTIFICATE":
			return nil, ErrNotCertificate
		case der != nil:
			return nil, ErrSeveralCertificates
		}
		der = b.Bytes
	}
	if der == nil {
		return nil, ErrNoCertificate
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, ErrBadCertificate
	}
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w (on %s)", ErrExpired, cert.NotAfter.UTC().Format(time.DateOnly))
	}
	return &TrustedCertificate{
		Fingerprint: Fingerprint(cert),
		Subject:     cert.Subject.String(),
		Issuer:      cert.Issuer.String(),
		NotBefore:   cert.NotBefore.UTC(),
		NotAfter:    cert.NotAfter.UTC(),
		PEM:         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		Note:        note,
		AddedBy:     by,
	}, nil
}

// Certificate parses the entry's PEM.
func (t *TrustedCertificate) Certificate() (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(t.PEM))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, ErrNoCertificate
	}
	return x509.ParseCertificate(b.Bytes)
}

// Warnings are what an administrator should know about an entry, which do
// not keep it off the list: expired or not yet valid at now, a CA
// certificate (only the certificate itself is trusted, not what it
// issues), an extended key usage without clientAuth.
func (t *TrustedCertificate) Warnings(now time.Time) []string {
	var out []string
	switch {
	case now.After(t.NotAfter):
		out = append(out, "It has expired: the HTTPS listener no longer accepts it.")
	case now.Before(t.NotBefore):
		out = append(out, "It is not valid yet: the HTTPS listener accepts it from "+t.NotBefore.UTC().Format(time.DateTime)+" UTC.")
	}
	cert, err := t.Certificate()
	if err != nil {
		return append(out, "Its PEM could not be read.")
	}
	if cert.IsCA {
		out = append(out, "It is a CA certificate: the allow-list trusts only this certificate itself, not the certificates it issues (for those, put it in --client-ca).")
	}
	if len(cert.ExtKeyUsage) > 0 && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		out = append(out, "Its extended key usage does not include clientAuth: TLS clients may refuse to present it.")
	}
	return out
}

// GroupFingerprint shows a hex fingerprint as upper-case byte pairs
// separated by colons (AB:CD:…), as certificate tools print it.
func GroupFingerprint(fp string) string {
	fp = strings.ToUpper(fp)
	var b strings.Builder
	for i := 0; i < len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(fp[i:min(i+2, len(fp))])
	}
	return b.String()
}

// ParseFingerprint reads a SHA-256 fingerprint as typed by a person: hex,
// upper or lower case, bytes optionally separated by colons or spaces. It
// returns the allow-list's key (Fingerprint's form).
func ParseFingerprint(s string) (string, error) {
	s = strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return "", errors.New("a SHA-256 fingerprint is 64 hexadecimal digits (colons allowed)")
	}
	return hex.EncodeToString(b), nil
}
