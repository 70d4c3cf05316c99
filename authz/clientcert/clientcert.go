// Package clientcert carries what the HTTPS listener learned about a
// request's client certificate (RFC 8705) to the handlers that decide on
// it: the peer certificate, its x5t#S256 thumbprint and whether it is
// trusted (chains to --client-ca with the clientAuth usage, or is on the
// administrators' allow-list). It also holds the --client-cert-policy's
// vocabulary (four cases, three actions) and the one rule for
// certificate-bound tokens (BoundMatches), and reads the certificate a
// TLS-terminating proxy passes in a header (ParseHeader). It imports
// nothing of smartgate but the leaf package listener.
package clientcert

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Peer is a client certificate presented to the HTTPS listener, directly
// (TLS handshake) or through a trusted TLS-terminating proxy's header.
type Peer struct {
	// Cert is the leaf certificate.
	Cert *x509.Certificate
	// Chain is what the client sent after the leaf (intermediates).
	Chain []*x509.Certificate
	// Thumbprint is the leaf's x5t#S256: base64url (no padding) of the
	// SHA-256 of its DER.
	Thumbprint string
	// Trusted: the leaf chains to --client-ca (with the clientAuth usage,
	// within its validity) or its fingerprint is on the allow-list (and it
	// is within its validity).
	Trusted bool
	// ViaCA: trusted because it chains to --client-ca (RFC 8705
	// tls_client_auth needs this; self_signed_tls_client_auth does not).
	ViaCA bool
	// Via is "tls" or "header".
	Via string
	// Problem says why an untrusted certificate is not trusted (expired,
	// wrong usage, unknown issuer…), for logs and audit; "" when trusted.
	Problem string
}

type ctxKey struct{}

// With returns ctx carrying p (nil p: no certificate).
func With(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the request's client certificate, or nil when none was
// presented (or the request did not come through the HTTPS listener).
func From(ctx context.Context) *Peer {
	p, _ := ctx.Value(ctxKey{}).(*Peer)
	return p
}

// Thumbprint is cert's x5t#S256 (RFC 8705 §3.1).
func Thumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Fingerprint is cert's SHA-256 fingerprint as lower-case hex without
// separators: the allow-list's key.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// NewPeer describes cert (and the chain sent after it), untrusted until a
// Verifier decides; via is "tls" or "header".
func NewPeer(cert *x509.Certificate, chain []*x509.Certificate, via string) *Peer {
	return &Peer{Cert: cert, Chain: chain, Thumbprint: Thumbprint(cert), Via: via}
}

// BoundMatches is the one rule for certificate-bound access tokens
// (RFC 8705 §3): a token bound to thumb (its cnf x5t#S256) is accepted
// only on a request that presents that certificate. An unbound token
// (thumb == "") is accepted whatever the request presents.
func BoundMatches(ctx context.Context, thumb string) bool {
	if thumb == "" {
		return true
	}
	p := From(ctx)
	if p == nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(p.Thumbprint), []byte(thumb)) == 1
}

// AllowList is the administrators' list of trusted certificates, by
// Fingerprint. It is defined here, where the Verifier uses it; the store
// implements it.
type AllowList interface {
	CertificateAllowed(ctx context.Context, fingerprint string) (bool, error)
}

// TrustedCertificate is an entry of the allow-list, kept by the store and
// managed on /admin/certificates.
type TrustedCertificate struct {
	Fingerprint string // Fingerprint of the certificate (the key)
	Subject     string // the certificate's subject DN (RFC 4514), for people
	Issuer      string
	NotBefore   time.Time
	NotAfter    time.Time
	PEM         string // the certificate, PEM-encoded
	Note        string // the administrator's note
	AddedBy     string // the administrator's user id
	AddedAt     time.Time
}
