package authz

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"net/netip"
	"strings"

	"github.com/smartgate/smartgate/authz/registration"
)

// certificateClients is what CertificateConflict reads: the enabled
// certificate-authenticated clients (ClientStore.ClientsByCertificateAuth).
type certificateClients interface {
	ClientsByCertificateAuth(ctx context.Context) ([]*Client, error)
}

// CertificateConflict refuses (ErrInvalidClientMetadata) a certificate
// client c that would claim the certificate of another enabled client: the
// same registered subject DN or SAN for tls_client_auth, or a key of its
// inline JWKS for self_signed_tls_client_auth. Such a certificate would
// match both and so authenticate neither (ClientOfCertificate), locking
// the first client out. A jwks_uri cannot be checked ahead (its keys
// change at the far end); ClientOfCertificate still refuses the ambiguity
// then. Every path that creates, changes or enables a client calls it;
// a disabled c is not checked (it matches nothing).
func CertificateConflict(ctx context.Context, st certificateClients, c *Client) error {
	if c.Disabled || (c.TokenEndpointAuthMethod != AuthTLSClientAuth && c.TokenEndpointAuthMethod != AuthSelfSignedTLSClientAuth) {
		return nil
	}
	others, err := st.ClientsByCertificateAuth(ctx)
	if err != nil {
		return fmt.Errorf("authz: certificate conflict: %w", err)
	}
	for _, o := range others {
		if o.ID == c.ID || o.Disabled || o.TokenEndpointAuthMethod != c.TokenEndpointAuthMethod {
			continue
		}
		switch {
		case c.TokenEndpointAuthMethod == AuthTLSClientAuth && sameTLSSubject(c.TLSClientAuth, o.TLSClientAuth):
			return fmt.Errorf("%w: client %s is already registered for this certificate subject; one certificate authenticates one client", ErrInvalidClientMetadata, o.ID)
		case c.TokenEndpointAuthMethod == AuthSelfSignedTLSClientAuth && sharedKey(c.JWKS, o.JWKS):
			return fmt.Errorf("%w: client %s already has a key of this JWKS; one certificate authenticates one client", ErrInvalidClientMetadata, o.ID)
		}
	}
	return nil
}

// UpdateConflict is CertificateConflict for c as m (the result of
// registration.Validate) would make it (UpdateClientMetadata on a copy):
// decided before the store's write, whose update function must not read
// the store.
func UpdateConflict(ctx context.Context, st certificateClients, c *Client, m registration.Metadata) error {
	cand := cloneClient(c)
	if _, err := UpdateClientMetadata(cand, m); err != nil {
		return err
	}
	return CertificateConflict(ctx, st, cand)
}

// sameTLSSubject reports whether a and b name the same subject in the same
// member, compared as tlsSubjectMatches compares a certificate's.
func sameTLSSubject(a, b TLSClientAuth) bool {
	switch {
	case a.SubjectDN != "" && b.SubjectDN != "":
		x, err1 := registration.ParseDN(a.SubjectDN)
		y, err2 := registration.ParseDN(b.SubjectDN)
		return err1 == nil && err2 == nil && x.Equal(y)
	case a.SANDNS != "" && b.SANDNS != "":
		return strings.EqualFold(a.SANDNS, b.SANDNS)
	case a.SANURI != "" && b.SANURI != "":
		return a.SANURI == b.SANURI
	case a.SANIP != "" && b.SANIP != "":
		x, err1 := netip.ParseAddr(a.SANIP)
		y, err2 := netip.ParseAddr(b.SANIP)
		return err1 == nil && err2 == nil && x.Unmap() == y.Unmap()
	case a.SANEmail != "" && b.SANEmail != "":
		return sameMailbox(a.SANEmail, b.SANEmail)
	}
	return false
}

// sharedKey reports whether two inline JWKS documents hold the same public
// key that both would match a certificate by (keyInSet: without x5c, or
// with the same first certificate).
func sharedKey(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	x, err1 := registration.ParseJWKS([]byte(a))
	y, err2 := registration.ParseJWKS([]byte(b))
	if err1 != nil || err2 != nil {
		return false
	}
	for _, k := range x.Keys {
		pub, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !k.IsPublic() {
			continue
		}
		for _, l := range y.Keys {
			if !l.IsPublic() || !pub.Equal(l.Key) {
				continue
			}
			if len(k.Certificates) == 0 || len(l.Certificates) == 0 || bytes.Equal(k.Certificates[0].Raw, l.Certificates[0].Raw) {
				return true
			}
		}
	}
	return false
}
