package authz

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/store"
)

// ErrAmbiguousCertificate is returned by ClientOfCertificate when a
// certificate matches more than one registered client: it then
// authenticates none of them.
var ErrAmbiguousCertificate = errors.New("authz: the certificate matches more than one client")

// ClientOfCertificate returns the enabled registered client that cert
// authenticates under RFC 8705: tls_client_auth by the registered subject
// DN or SAN (the certificate must chain to --client-ca: viaCA), or
// self_signed_tls_client_auth by a key of the client's JWKS. It returns an
// error wrapping store.ErrNotFound when no client matches, and an error
// when more than one does (an ambiguous certificate authenticates nobody).
//
// A jwks_uri is read from the key cache, fetched at most every 10 s
// here (any TLS peer can present a certificate: jwksFetcher.getRateLimited);
// a client whose keys cannot be had does not match. The client returned is
// the caller's to change.
func (s *Server) ClientOfCertificate(ctx context.Context, cert *x509.Certificate, viaCA bool) (*Client, error) {
	if cert == nil {
		return nil, fmt.Errorf("authz: client of certificate: no certificate: %w", store.ErrNotFound)
	}
	clients, err := s.st.ClientsByCertificateAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: client of certificate: %w", err)
	}
	var found *Client
	for _, c := range clients {
		if c.Disabled || !s.certificateMatches(ctx, c, cert, viaCA, false) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("authz: client of certificate: %w (%s and %s)", ErrAmbiguousCertificate, found.ID, c.ID)
		}
		found = c
	}
	if found == nil {
		return nil, fmt.Errorf("authz: client of certificate: %w", store.ErrNotFound)
	}
	return cloneClient(found), nil
}

// certificateAuthenticates is RFC 8705 §2 at the token, introspection and
// revocation endpoints, for client c (named by the request's client_id):
// the request's certificate (clientcert.From) must chain to --client-ca
// and carry c's subject DN or SAN (tls_client_auth), or hold a key of c's
// JWKS (self_signed_tls_client_auth, where that match is the trust; an
// unknown key refetches a jwks_uri, at most every 10 s). One certificate
// is one client: a certificate that also matches another client (an
// administrator registered the same DN twice) authenticates neither, as in
// ClientOfCertificate.
func (s *Server) certificateAuthenticates(ctx context.Context, r *http.Request, c *Client) bool {
	p := clientcert.From(r.Context())
	if p == nil || p.Cert == nil {
		return false
	}
	if c.TokenEndpointAuthMethod == AuthTLSClientAuth && !(p.Trusted && p.ViaCA) {
		return false
	}
	if !s.certificateMatches(ctx, c, p.Cert, p.ViaCA, true) {
		return false
	}
	only, err := s.ClientOfCertificate(ctx, p.Cert, p.ViaCA)
	if err != nil {
		s.log.WarnContext(ctx, "client certificate refused", "client_id", c.ID, "err", err)
		return false
	}
	return only.ID == c.ID
}

// certificateMatches reports whether cert is c's certificate under c's
// method; refetch allows a forced jwks_uri refetch on a miss.
func (s *Server) certificateMatches(ctx context.Context, c *Client, cert *x509.Certificate, viaCA, refetch bool) bool {
	switch c.TokenEndpointAuthMethod {
	case AuthTLSClientAuth:
		return viaCA && tlsSubjectMatches(c.TLSClientAuth, cert)
	case AuthSelfSignedTLSClientAuth:
		var set *jose.JSONWebKeySet
		var err error
		if c.JWKSURI != "" && !refetch {
			set, err = s.jwks.getRateLimited(ctx, c.JWKSURI)
		} else {
			set, err = s.clientKeys(ctx, c, false)
		}
		if err == nil && keyInSet(set, cert) {
			return true
		}
		if refetch && c.JWKSURI != "" {
			if set, err = s.clientKeys(ctx, c, true); err == nil {
				return keyInSet(set, cert)
			}
		}
		if err != nil {
			s.log.WarnContext(ctx, "client certificate: keys unavailable", "client_id", c.ID, "err", err)
		}
	}
	return false
}

// keyInSet reports whether cert's public key is a key of set (RFC 8705
// §2.2); a JWK with x5c matches only the certificate its x5c starts with.
func keyInSet(set *jose.JSONWebKeySet, cert *x509.Certificate) bool {
	for _, k := range set.Keys {
		if !k.IsPublic() {
			continue
		}
		pub, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(cert.PublicKey) {
			continue
		}
		if len(k.Certificates) > 0 && !bytes.Equal(k.Certificates[0].Raw, cert.Raw) {
			continue
		}
		return true
	}
	return false
}

// tlsSubjectMatches is RFC 8705 §2.1.2: the one registered subject DN
// (compared as a DN) or SAN is the certificate's. DNS names and e-mail
// domains compare without case (RFC 4343), URIs exactly as encoded in the
// certificate, IP addresses as addresses (an IPv4-mapped IPv6 address is
// its IPv4 address).
func tlsSubjectMatches(t TLSClientAuth, cert *x509.Certificate) bool {
	n := 0
	for _, v := range []string{t.SubjectDN, t.SANDNS, t.SANURI, t.SANIP, t.SANEmail} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return false
	}
	switch {
	case t.SubjectDN != "":
		want, err := registration.ParseDN(t.SubjectDN)
		if err != nil {
			return false
		}
		got, err := registration.DNFromCertificate(cert.RawSubject)
		return err == nil && want.Equal(got)
	case t.SANDNS != "":
		for _, d := range cert.DNSNames {
			if strings.EqualFold(d, t.SANDNS) {
				return true
			}
		}
	case t.SANURI != "":
		for _, u := range sanURIs(cert) {
			if u == t.SANURI {
				return true
			}
		}
	case t.SANIP != "":
		want, err := netip.ParseAddr(t.SANIP)
		if err != nil {
			return false
		}
		for _, ip := range cert.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == want.Unmap() {
				return true
			}
		}
	case t.SANEmail != "":
		for _, e := range cert.EmailAddresses {
			if sameMailbox(e, t.SANEmail) {
				return true
			}
		}
	}
	return false
}

// sameMailbox compares e-mail addresses: the local part exactly (RFC 5321
// §2.4), the domain without case.
func sameMailbox(a, b string) bool {
	al, ad, ok1 := strings.Cut(a, "@")
	bl, bd, ok2 := strings.Cut(b, "@")
	return ok1 && ok2 && al == bl && strings.EqualFold(ad, bd)
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// sanURIs returns the certificate's uniformResourceIdentifier SANs as
// encoded (crypto/x509's URIs are re-serialised url.URL values).
func sanURIs(cert *x509.Certificate) []string {
	var out []string
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var seq asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &seq); err != nil || len(rest) != 0 || !seq.IsCompound || seq.Tag != asn1.TagSequence {
			return nil
		}
		for b := seq.Bytes; len(b) > 0; {
			var v asn1.RawValue
			var err error
			if b, err = asn1.Unmarshal(b, &v); err != nil {
				return out
			}
			if v.Class == asn1.ClassContextSpecific && v.Tag == 6 {
				out = append(out, string(v.Bytes))
			}
		}
	}
	return out
}

// authMethods lists the client authentication methods of the token,
// introspection and revocation endpoints of the listener whose base URL is
// base, for discovery: the certificate methods (RFC 8705 §2.1.1, §2.2.1)
// only where a client can present a certificate, on an https base (the
// HTTPS listener always requests one; a TLS-terminating proxy in front of
// it forwards it).
func authMethods(base string) []string {
	m := []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT}
	if strings.HasPrefix(base, "https://") {
		m = append(m, AuthTLSClientAuth, AuthSelfSignedTLSClientAuth)
	}
	return m
}
