package clientcert_test

import (
	"context"
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
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/store/sqlite"
)

// pki is a small certificate world made with crypto/x509: a root CA, an
// intermediate under it, client certificates in every state the Verifier
// tells apart, and an unrelated CA.
type pki struct {
	now                      time.Time
	root, inter              *x509.Certificate
	client                   *x509.Certificate // by inter, clientAuth, valid
	unknown                  *x509.Certificate // by another CA
	expired, notYet, noUsage *x509.Certificate // by inter
	selfSigned               *x509.Certificate // allow-listed, no EKU
	selfExpired              *x509.Certificate // allow-listed, expired
	selfUnlisted             *x509.Certificate // not allow-listed
	keys                     map[*x509.Certificate]*ecdsa.PrivateKey
}

// tlsCert is c (with chain) and its key, for a TLS client.
func (p *pki) tlsCert(c *x509.Certificate, chain ...*x509.Certificate) *tls.Certificate {
	tc := &tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: p.keys[c], Leaf: c}
	for _, x := range chain {
		tc.Certificate = append(tc.Certificate, x.Raw)
	}
	return tc
}

func b64(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }

var serial int64

func mk(t testing.TB, tmpl *x509.Certificate, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func caTmpl(cn string, now time.Time) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
}

func leafTmpl(cn string, from, to time.Time, eku ...x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Lab, \"Quoted\" Org"}}, NotBefore: from, NotAfter: to,
		ExtKeyUsage: eku, KeyUsage: x509.KeyUsageDigitalSignature}
}

func newPKI(t testing.TB) *pki {
	now := time.Now().Truncate(time.Second)
	p := &pki{now: now, keys: map[*x509.Certificate]*ecdsa.PrivateKey{}}
	root, rootKey := mk(t, caTmpl("test root CA", now), nil, nil)
	inter, interKey := mk(t, caTmpl("test intermediate CA", now), root, rootKey)
	other, otherKey := mk(t, caTmpl("some other CA", now), nil, nil)
	p.root, p.inter = root, inter
	leaf := func(tmpl *x509.Certificate, parent *x509.Certificate, key crypto.Signer) *x509.Certificate {
		c, k := mk(t, tmpl, parent, key)
		p.keys[c] = k
		return c
	}
	day := 24 * time.Hour
	cauth := x509.ExtKeyUsageClientAuth
	p.client = leaf(leafTmpl("lab system", now.Add(-day), now.Add(day), cauth), inter, interKey)
	p.unknown = leaf(leafTmpl("stranger", now.Add(-day), now.Add(day), cauth), other, otherKey)
	p.expired = leaf(leafTmpl("old lab", now.Add(-3*day), now.Add(-day), cauth), inter, interKey)
	p.notYet = leaf(leafTmpl("future lab", now.Add(day), now.Add(3*day), cauth), inter, interKey)
	p.noUsage = leaf(leafTmpl("web server", now.Add(-day), now.Add(day), x509.ExtKeyUsageServerAuth), inter, interKey)
	p.selfSigned = leaf(leafTmpl("self-signed app", now.Add(-day), now.Add(day)), nil, nil)
	p.selfExpired = leaf(leafTmpl("self-signed old app", now.Add(-3*day), now.Add(-day)), nil, nil)
	p.selfUnlisted = leaf(leafTmpl("self-signed stranger", now.Add(-day), now.Add(day)), nil, nil)
	return p
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
}

// allowList is a real SQLite allow-list holding p's two allow-listed
// self-signed certificates.
func (p *pki) allowList(t testing.TB) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, c := range []*x509.Certificate{p.selfSigned, p.selfExpired} {
		if err := db.AddTrustedCertificate(ctx, &clientcert.TrustedCertificate{Fingerprint: clientcert.Fingerprint(c),
			Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			PEM: pemOf(c), AddedBy: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func pemOf(certs ...*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return b.String()
}

// nginxEscaped is PEM as nginx's $ssl_client_escaped_cert sends it:
// every reserved character percent-encoded, spaces as %20.
func nginxEscaped(certs ...*x509.Certificate) string {
	return strings.ReplaceAll(url.QueryEscape(pemOf(certs...)), "+", "%20")
}

// albEscaped is AWS ALB's X-Amzn-Mtls-Clientcert: URL-encoded with '+',
// '=' and '/' left as they are.
func albEscaped(certs ...*x509.Certificate) string {
	s := nginxEscaped(certs...)
	return strings.NewReplacer("%2B", "+", "%3D", "=", "%2F", "/").Replace(s)
}

// xfcc is an Envoy X-Forwarded-Client-Cert element for leaf and its
// chain (the chain includes the leaf, as Envoy sends it).
func xfcc(leaf *x509.Certificate, chain ...*x509.Certificate) string {
	return `By=spiffe://cluster.local/ns/default/sa/smartgate;Hash=` + clientcert.Fingerprint(leaf) +
		`;Cert="` + nginxEscaped(leaf) + `";Chain="` + nginxEscaped(append([]*x509.Certificate{leaf}, chain...)...) +
		`";Subject="CN=lab system,O=Lab\, \"Quoted\" Org";URI=spiffe://example.org/lab;DNS=lab.example.org`
}
