package clientcert_test

import (
	"crypto/x509"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz/clientcert"
)

// TestParseHeaderForms: every form ParseHeader documents gives the leaf
// and the chain after it, in order.
func TestParseHeaderForms(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		name  string
		value string
		chain int
	}{
		{"nginx escaped, leaf", nginxEscaped(p.client), 0},
		{"nginx escaped, leaf and intermediate", nginxEscaped(p.client, p.inter), 1},
		{"lower-case escapes", strings.ReplaceAll(nginxEscaped(p.client), "%0A", "%0a"), 0},
		{"ALB", albEscaped(p.client, p.inter), 1},
		{"form-encoded (+ for spaces)", strings.ReplaceAll(nginxEscaped(p.client), "%20", "+"), 0},
		{"raw PEM", pemOf(p.client), 0},
		{"PEM, spaces for line breaks", strings.ReplaceAll(pemOf(p.client, p.inter), "\n", " "), 1},
		{"PEM, tabs (nginx $ssl_client_cert)", strings.ReplaceAll(strings.TrimSuffix(pemOf(p.client), "\n"), "\n", "\n\t"), 0},
		{"XFCC Cert and Chain", xfcc(p.client, p.inter), 1},
		{"XFCC Cert only, lower-case key, unquoted", "hash=abc;cert=" + nginxEscaped(p.client), 0},
		{"XFCC Chain only", `By=x;Chain="` + nginxEscaped(p.client, p.inter) + `"`, 1},
		{"XFCC spaces around ;", `By=x ; Cert="` + nginxEscaped(p.client) + `" ; URI=spiffe://a`, 0},
		{"RFC 9440", ":" + b64(p.client) + ":", 0},
		{"RFC 9440 list", ":" + b64(p.client) + ":, :" + b64(p.inter) + ":", 1},
		{"base64 DER (HAProxy)", b64(p.client), 0},
		{"Traefik: escaped base64 DER, comma-separated", strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(b64(p.client) + "," + b64(p.inter)), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaf, chain, err := clientcert.ParseHeader(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if !leaf.Equal(p.client) || len(chain) != tc.chain || (tc.chain == 1 && !chain[0].Equal(p.inter)) {
				t.Fatalf("leaf %s, chain %d", leaf.Subject, len(chain))
			}
		})
	}
}

// TestParseHeaderRefuses: malformed, oversized and ambiguous values are
// errors that say what is wrong.
func TestParseHeaderRefuses(t *testing.T) {
	p := newPKI(t)
	five := nginxEscaped(p.client, p.inter, p.root, p.inter, p.root)
	cases := []struct{ name, value, want string }{
		{"empty", "  ", "empty"},
		{"too long", strings.Repeat("%20", clientcert.MaxHeaderBytes/3+1), "longer than 16384"},
		{"five certificates", five, "more than 4 certificates"},
		{"five in XFCC Chain", `Chain="` + five + `"`, "more than 4 certificates"},
		{"five RFC 9440 items", strings.Repeat(":"+b64(p.client)+":,", 4) + ":" + b64(p.client) + ":", "more than 4 certificates"},
		{"bad escape", "-----BEGIN%20CERTIFICATE-----%ZZ", "bad URL encoding"},
		{"no END", "-----BEGIN CERTIFICATE-----\nMIIB\n", "END CERTIFICATE----- missing"},
		{"other PEM type", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "expected -----BEGIN CERTIFICATE-----"},
		{"text after the block", pemOf(p.client) + "trailing", "expected -----BEGIN CERTIFICATE-----"},
		{"not base64 in the block", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----", "not base64"},
		{"base64 that is no certificate", base64.StdEncoding.EncodeToString([]byte("hello")), "certificate 1"},
		{"not base64", "hello world", "neither PEM nor base64 DER"},
		{"empty list item", b64(p.client) + ",", "empty item"},
		{"two XFCC elements", xfcc(p.client, p.inter) + "," + xfcc(p.unknown), "several elements"},
		{"two XFCC elements, unquoted", "By=a;Cert=" + nginxEscaped(p.client) + ",By=b", "several elements"},
		{"XFCC without Cert or Chain", `By=spiffe://a;Hash=abc;Subject="CN=x"`, "no Cert or Chain"},
		{"XFCC Cert twice", `Cert="` + nginxEscaped(p.client) + `";Cert="` + nginxEscaped(p.client) + `"`, "Cert given twice"},
		{"XFCC Cert with two certificates", `Cert="` + nginxEscaped(p.client, p.inter) + `"`, "more than one certificate"},
		{"XFCC Chain not starting with Cert", `Cert="` + nginxEscaped(p.client) + `";Chain="` + nginxEscaped(p.unknown) + `"`, "does not start with Cert"},
		{"XFCC unterminated quote", `Cert="` + nginxEscaped(p.client), "unterminated"},
		{"XFCC quote inside unquoted value", `By=a"b;Cert=x`, "quote inside"},
		{"XFCC missing =", `By=a;Cert`, "expected key=value"},
		{"XFCC garbage after a quoted value", `Cert="x"y`, "expected ;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaf, chain, err := clientcert.ParseHeader(tc.value)
			if err == nil {
				t.Fatalf("accepted: %v %d", leaf.Subject, len(chain))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseHeader: no value panics, the bounds hold, and what parses has a
// leaf.
func FuzzParseHeader(f *testing.F) {
	p := newPKI(f)
	for _, s := range []string{
		nginxEscaped(p.client, p.inter), albEscaped(p.client), pemOf(p.client), strings.ReplaceAll(pemOf(p.client), "\n", " "),
		xfcc(p.client, p.inter), `By=a;Hash=b;Cert="x\"y";Chain=z`, ":" + b64(p.client) + ":", b64(p.client) + "," + b64(p.inter),
		"", "Cert=", `Cert="`, "-----BEGIN CERTIFICATE-----", "%", ",,,", "By=a,By=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		leaf, chain, err := clientcert.ParseHeader(s)
		if err != nil {
			if leaf != nil || chain != nil {
				t.Fatal("certificates with an error")
			}
			return
		}
		if len(s) > clientcert.MaxHeaderBytes {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if leaf == nil || len(chain)+1 > clientcert.MaxHeaderCerts {
			t.Fatalf("leaf %v, chain %d", leaf, len(chain))
		}
	})
}

// BenchmarkParseHeader: reading the header, per form.
func BenchmarkParseHeader(b *testing.B) {
	p := newPKI(b)
	for _, bc := range []struct{ name, value string }{
		{"nginx-leaf", nginxEscaped(p.client)},
		{"nginx-chain", nginxEscaped(p.client, p.inter)},
		{"xfcc", xfcc(p.client, p.inter)},
		{"rfc9440", ":" + b64(p.client) + ":, :" + b64(p.inter) + ":"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := clientcert.ParseHeader(bc.value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifierCA: Check of a certificate that chains to --client-ca
// through an intermediate it sent (the allow-list is not consulted).
func BenchmarkVerifierCA(b *testing.B) {
	p := newPKI(b)
	v := clientcert.NewVerifier(clientcert.Options{CAs: p.pool(), Allow: p.allowList(b)})
	r := httptest.NewRequest("GET", "/fhir/Patient", nil)
	b.ReportAllocs()
	for b.Loop() {
		peer := clientcert.NewPeer(p.client, []*x509.Certificate{p.inter}, "tls")
		if v.Check(r, peer); !peer.Trusted {
			b.Fatal(peer.Problem)
		}
	}
}

// BenchmarkVerifierAllowList: Check of an allow-listed self-signed
// certificate (SQLite lookup by fingerprint), alone and after a failed
// CA verification (both configured, the usual case for such a client).
func BenchmarkVerifierAllowList(b *testing.B) {
	p := newPKI(b)
	db := p.allowList(b)
	r := httptest.NewRequest("GET", "/fhir/Patient", nil)
	for _, bc := range []struct {
		name string
		opts clientcert.Options
	}{
		{"allow-list-only", clientcert.Options{Allow: db}},
		{"after-ca", clientcert.Options{CAs: p.pool(), Allow: db}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := clientcert.NewVerifier(bc.opts)
			b.ReportAllocs()
			for b.Loop() {
				peer := clientcert.NewPeer(p.selfSigned, nil, "tls")
				if v.Check(r, peer); !peer.Trusted {
					b.Fatal(peer.Problem)
				}
			}
		})
	}
}
