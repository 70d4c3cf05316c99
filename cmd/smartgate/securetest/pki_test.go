package securetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// pemCert is a certificate and its key, in memory and as PEM files (for
// curl's --cert/--key).
type pemCert struct {
	Name     string
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertFile string
	KeyFile  string
	TLS      tls.Certificate
}

// PEM is the certificate PEM-encoded.
func (c *pemCert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// HeaderValue is the certificate as a TLS-terminating proxy passes it:
// URL-encoded PEM (nginx $ssl_client_escaped_cert).
func (c *pemCert) HeaderValue() string { return url.QueryEscape(string(c.PEM())) }

// SubjectDN is the subject in RFC 4514 form, as registered in
// tls_client_auth_subject_dn.
func (c *pemCert) SubjectDN() string { return c.Cert.Subject.String() }

// Thumbprint is the certificate's x5t#S256.
func (c *pemCert) Thumbprint() string { return thumbprint(c.Cert) }

// JWK is the public key with the certificate in x5c (RFC 8705 §2.2:
// self_signed_tls_client_auth registers the certificate in jwks).
func (c *pemCert) JWK() map[string]any {
	pub := c.Key.Public().(*ecdsa.PublicKey)
	b, _ := pub.Bytes() // uncompressed point 0x04 || X || Y
	n := (len(b) - 1) / 2
	return map[string]any{"kty": "EC", "crv": "P-256", "use": "sig",
		"x":   base64.RawURLEncoding.EncodeToString(b[1 : 1+n]),
		"y":   base64.RawURLEncoding.EncodeToString(b[1+n:]),
		"x5c": []string{base64.StdEncoding.EncodeToString(c.Cert.Raw)}}
}

// pki is every certificate the tests use.
type pki struct {
	ServerCA   *pemCert // issues the HTTPS listener's certificate (curl --cacert)
	Server     *pemCert // the listener's certificate (--tls-cert/--tls-key)
	ClientCA   *pemCert // --client-ca
	OtherCA    *pemCert // a CA the server does not know
	Trusted    *pemCert // ClientCA, clientAuth: the tls_client_auth client
	Bound      *pemCert // ClientCA, clientAuth, another subject: the bound-token client
	Unknown    *pemCert // OtherCA, same subject as Trusted
	Expired    *pemCert // ClientCA, same subject as Trusted, validity over
	NotYet     *pemCert // ClientCA, same subject as Trusted, validity not begun
	WrongUsage *pemCert // ClientCA, same subject as Trusted, serverAuth only
	SelfSigned *pemCert // its own issuer: the self_signed_tls_client_auth client
	Listed     *pemCert // self-signed, on the allow-list (smartgate cert add): another self_signed_tls_client_auth client
}

var (
	pkiOnce sync.Once
	thePKI  *pki
	pkiErr  error
)

// certs returns the tests' certificates, made once.
func certs(t *testing.T) *pki {
	t.Helper()
	pkiOnce.Do(func() { thePKI, pkiErr = makePKI(filepath.Join(tmpRoot, "pki")) })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return thePKI
}

var serial int64 = 100

func makePKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	hour := time.Hour
	p := &pki{}
	var err error
	mk := func(name string, tmpl *x509.Certificate, issuer *pemCert) *pemCert {
		if err != nil {
			return nil
		}
		var c *pemCert
		c, err = issue(dir, name, tmpl, issuer)
		return c
	}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"smartgate securetest"}},
			NotBefore: now.Add(-hour), NotAfter: now.Add(24 * hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign}
	}
	trustedSubject := pkix.Name{CommonName: "backend-service-1", Organization: []string{"Hospital Lab"}, Country: []string{"DK"}}
	leaf := func(subj pkix.Name, from, to time.Time, eku ...x509.ExtKeyUsage) *x509.Certificate {
		return &x509.Certificate{Subject: subj, NotBefore: from, NotAfter: to,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku}
	}
	p.ServerCA = mk("server-ca", ca("securetest server CA"), nil)
	p.Server = mk("server", &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-hour), NotAfter: now.Add(24 * hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, p.ServerCA)
	p.ClientCA = mk("client-ca", ca("securetest client CA"), nil)
	p.OtherCA = mk("other-ca", ca("securetest unknown CA"), nil)
	p.Trusted = mk("trusted", leaf(trustedSubject, now.Add(-hour), now.Add(24*hour), x509.ExtKeyUsageClientAuth), p.ClientCA)
	p.Bound = mk("bound", leaf(pkix.Name{CommonName: "bound-service", Organization: []string{"Hospital Lab"}, Country: []string{"DK"}},
		now.Add(-hour), now.Add(24*hour), x509.ExtKeyUsageClientAuth), p.ClientCA)
	p.Unknown = mk("unknown", leaf(trustedSubject, now.Add(-hour), now.Add(24*hour), x509.ExtKeyUsageClientAuth), p.OtherCA)
	p.Expired = mk("expired", leaf(trustedSubject, now.Add(-48*hour), now.Add(-24*hour), x509.ExtKeyUsageClientAuth), p.ClientCA)
	p.NotYet = mk("notyet", leaf(trustedSubject, now.Add(24*hour), now.Add(48*hour), x509.ExtKeyUsageClientAuth), p.ClientCA)
	p.WrongUsage = mk("wrongusage", leaf(trustedSubject, now.Add(-hour), now.Add(24*hour), x509.ExtKeyUsageServerAuth), p.ClientCA)
	p.SelfSigned = mk("selfsigned", leaf(pkix.Name{CommonName: "self-signed-service", Organization: []string{"Clinic"}},
		now.Add(-hour), now.Add(24*hour), x509.ExtKeyUsageClientAuth), nil)
	p.Listed = mk("listed", leaf(pkix.Name{CommonName: "allow-listed-service", Organization: []string{"Clinic"}},
		now.Add(-hour), now.Add(24*hour), x509.ExtKeyUsageClientAuth), nil)
	return p, err
}

// issue signs tmpl with issuer (nil: self-signed) and writes name.pem and
// name.key.
func issue(dir, name string, tmpl *x509.Certificate, issuer *pemCert) (*pemCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	parent, signer := tmpl, crypto.Signer(key)
	if issuer != nil {
		parent, signer = issuer.Cert, issuer.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &pemCert{Name: name, Cert: cert, Key: key,
		CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+".key"),
		TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}
	if err := os.WriteFile(c.CertFile, c.PEM(), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	return c, nil
}
