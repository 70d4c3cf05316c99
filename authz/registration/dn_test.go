package registration_test

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/smartgate/smartgate/authz/registration"
)

// subject is the DER of a certificate subject, as crypto/x509 writes it.
func subject(t testing.TB, n pkix.Name) []byte {
	t.Helper()
	der, err := asn1.Marshal(n.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestS13_DNCompare checks RFC 8705 §2.1.2's comparison of the registered
// tls_client_auth_subject_dn with a certificate's subject: as RFC 4514
// distinguished names, not as strings.
func TestS13_DNCompare(t *testing.T) {
	cert := subject(t, pkix.Name{CommonName: "Lab App", Organization: []string{"Example Hospital"}, Country: []string{"DE"}})
	// A multi-valued RDN: CN=a+UID=b, under O=x.
	multiRDN, _ := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "x"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a"}, {Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: "b"}},
	})
	comma := subject(t, pkix.Name{CommonName: "Smith, John", Organization: []string{"#1 Clinic"}})
	for _, tc := range []struct {
		name string
		dn   string
		cert []byte
		want bool
	}{
		{"same", "CN=Lab App,O=Example Hospital,C=DE", cert, true},
		{"case and spaces", "cn=lab   APP , o = example hospital,c=de", cert, true},
		{"OIDs", "2.5.4.3=Lab App,2.5.4.10=Example Hospital,2.5.4.6=DE", cert, true},
		{"hex BER value", "CN=#0c074c616220417070,O=Example Hospital,C=DE", cert, true},
		{"hex pairs", `CN=Lab\20App,O=Example Hospital,C=D\45`, cert, true},
		{"other CN", "CN=Lab App 2,O=Example Hospital,C=DE", cert, false},
		{"reversed order", "C=DE,O=Example Hospital,CN=Lab App", cert, false},
		{"missing RDN", "CN=Lab App,O=Example Hospital", cert, false},
		{"extra RDN", "CN=Lab App,OU=IT,O=Example Hospital,C=DE", cert, false},
		{"other type", "CN=Lab App,OU=Example Hospital,C=DE", cert, false},
		{"multi-valued in any order", "UID=b+CN=a,O=x", multiRDN, true},
		{"multi-valued split", "CN=a,UID=b,O=x", multiRDN, false},
		{"multi-valued partial", "CN=a,O=x", multiRDN, false},
		{"escaped comma", `CN=Smith\, John,O=\#1 Clinic`, comma, true},
		{"hex comma", `CN=Smith\2C John,O=\231 Clinic`, comma, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := registration.ParseDN(tc.dn)
			if err != nil {
				t.Fatalf("ParseDN(%q): %v", tc.dn, err)
			}
			got, err := registration.DNFromCertificate(tc.cert)
			if err != nil {
				t.Fatal(err)
			}
			if reg.Equal(got) != tc.want || got.Equal(reg) != tc.want {
				t.Errorf("%q equal to %q = %v, want %v", tc.dn, got, !tc.want, tc.want)
			}
		})
	}
}

func TestS13_DNRefused(t *testing.T) {
	// '=' needs no escape inside a value (RFC 4514 §3 stringchar).
	if _, err := registration.ParseDN("CN=a=b"); err != nil {
		t.Errorf("ParseDN(CN=a=b) = %v, want it accepted", err)
	}
	for _, dn := range []string{
		"", "   ", "CN", "CN=a,", ",CN=a", "CN=a;O=b", "FOO=x", "1=x", "01.2=x", "2.5.4.3.=x",
		`CN=a\`, `CN=\zz`, `CN=\ff`, "CN=#", "CN=#zz", "CN=#0c05ab", `CN=a"b`, "CN=a<b", "CN=a\x00",
	} {
		if d, err := registration.ParseDN(dn); err == nil {
			t.Errorf("ParseDN(%q) = %v, want an error", dn, d)
		}
	}
}

// FuzzParseDN: ParseDN reads outside input (registration requests, the
// pages, the CLI). It must not panic, and what it accepts must survive
// String and ParseDN again unchanged.
func FuzzParseDN(f *testing.F) {
	for _, s := range []string{
		"CN=Lab App,O=Example Hospital,C=DE", `CN=Smith\, John+UID=js,DC=example,DC=org`,
		"2.5.4.3=#0c03617070", `CN=\ lead\20and trail\ ,O=\#x`, "emailAddress=a@b.example,CN=x",
		"CN=#1e0400410042", "CN=#14024142", "1.2.3.4=#04020102", `CN=caf\c3\a9`, "CN=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := registration.ParseDN(s)
		if err != nil {
			return
		}
		out := d.String()
		d2, err := registration.ParseDN(out)
		if err != nil {
			t.Fatalf("ParseDN(%q) = %#v; its String %q does not parse: %v", s, d, out, err)
		}
		if !d.Equal(d2) || !d2.Equal(d) {
			t.Fatalf("%q: %#v != %#v after String %q", s, d, d2, out)
		}
		if d2.String() != out {
			t.Fatalf("%q: String not stable: %q then %q", s, out, d2.String())
		}
	})
}
