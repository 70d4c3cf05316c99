package registration

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxDNLength bounds a tls_client_auth_subject_dn value (RFC 8705
// §2.1.2) and any DN string ParseDN reads.
const MaxDNLength = 2048

// DN is an X.501 distinguished name as RFC 4514 writes it: its RDNs in the
// string's order, most specific first ("CN=app,O=Example" is {CN=app},
// {O=Example}), which is the reverse of a certificate's RDNSequence.
// Compare DNs with Equal, never as strings: RFC 8705 §2.1.2 has the
// registered tls_client_auth_subject_dn and the certificate's subject
// compared as DNs.
type DN []RDN

// RDN is a relative distinguished name: a set of one or more attribute
// values (joined with '+' in the string form; their order does not count).
type RDN []AttributeValue

// AttributeValue is one attribute type and value of an RDN.
type AttributeValue struct {
	// Type is the attribute type's OID in dotted form ("2.5.4.3" for CN).
	Type string
	// Value is the value of a string-typed attribute (UTF8String,
	// PrintableString, IA5String, …), after RFC 4514 unescaping.
	Value string
	// Raw is the BER encoding of a value that is not a character string
	// (the "#hex" form of RFC 4514 §2.4); nil for a string value.
	Raw []byte
}

// attrTypes are the attribute type names ParseDN knows: RFC 4514 §3, plus
// those crypto/x509 and OpenSSL print. Their values compare as
// caseIgnoreMatch (RFC 4517 §4.2.11, RFC 4518 preparation); values of any
// other type compare exactly.
var attrTypes = []struct{ name, oid string }{
	{"CN", "2.5.4.3"},
	{"L", "2.5.4.7"},
	{"ST", "2.5.4.8"},
	{"O", "2.5.4.10"},
	{"OU", "2.5.4.11"},
	{"C", "2.5.4.6"},
	{"STREET", "2.5.4.9"},
	{"DC", "0.9.2342.19200300.100.1.25"},
	{"UID", "0.9.2342.19200300.100.1.1"},
	{"SERIALNUMBER", "2.5.4.5"},
	{"POSTALCODE", "2.5.4.17"},
	{"SN", "2.5.4.4"},
	{"GN", "2.5.4.42"},
	{"givenName", "2.5.4.42"},
	{"T", "2.5.4.12"},
	{"title", "2.5.4.12"},
	{"initials", "2.5.4.43"},
	{"generationQualifier", "2.5.4.44"},
	{"dnQualifier", "2.5.4.46"},
	{"pseudonym", "2.5.4.65"},
	{"organizationIdentifier", "2.5.4.97"},
	{"emailAddress", "1.2.840.113549.1.9.1"},
	{"E", "1.2.840.113549.1.9.1"},
}

func typeOID(name string) (string, bool) {
	for _, t := range attrTypes {
		if strings.EqualFold(t.name, name) {
			return t.oid, true
		}
	}
	return "", false
}

func typeName(oid string) string {
	for _, t := range attrTypes {
		if t.oid == oid {
			return t.name
		}
	}
	return oid
}

func caseIgnore(oid string) bool {
	return slices.ContainsFunc(attrTypes, func(t struct{ name, oid string }) bool { return t.oid == oid })
}

// ParseDN reads a distinguished name in the string form of RFC 4514 §3:
// attribute types by name (CN, O, OU, C, L, ST, STREET, DC, UID and a few
// more, any case) or dotted OID; values with '\' escapes (a special
// character or two hex digits) or in "#hex" BER form. Spaces around ',',
// '+' and '=' are ignored (RFC 4514 §4 lets readers accept them). An empty
// DN, an unknown attribute name, a value that is not UTF-8 or a string
// longer than MaxDNLength is an error.
func ParseDN(s string) (DN, error) {
	if len(s) > MaxDNLength {
		return nil, fmt.Errorf("distinguished name longer than %d bytes", MaxDNLength)
	}
	p := &dnParser{s: s}
	p.spaces()
	if p.end() {
		return nil, errors.New("empty distinguished name")
	}
	var dn DN
	for {
		rdn, err := p.rdn()
		if err != nil {
			return nil, err
		}
		dn = append(dn, rdn)
		p.spaces()
		if p.end() {
			return dn, nil
		}
		if p.s[p.i] != ',' {
			return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i], p.i)
		}
		p.i++
	}
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) end() bool { return p.i >= len(p.s) }

func (p *dnParser) spaces() {
	for !p.end() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *dnParser) rdn() (RDN, error) {
	var rdn RDN
	for {
		av, err := p.attributeValue()
		if err != nil {
			return nil, err
		}
		rdn = append(rdn, av)
		p.spaces()
		if p.end() || p.s[p.i] != '+' {
			return rdn, nil
		}
		p.i++
	}
}

func (p *dnParser) attributeValue() (AttributeValue, error) {
	p.spaces()
	start := p.i
	for !p.end() && (isAlnum(p.s[p.i]) || p.s[p.i] == '-' || p.s[p.i] == '.') {
		p.i++
	}
	name := p.s[start:p.i]
	var av AttributeValue
	switch {
	case name == "":
		return av, fmt.Errorf("attribute type expected at offset %d", start)
	case isDigit(name[0]):
		oid, ok := canonicalOID(name)
		if !ok {
			return av, fmt.Errorf("attribute type %s is not a numeric OID", strconv.Quote(name))
		}
		av.Type = oid
	default:
		oid, ok := typeOID(name)
		if !ok {
			return av, fmt.Errorf("unknown attribute type %s (use its dotted OID)", strconv.Quote(name))
		}
		av.Type = oid
	}
	p.spaces()
	if p.end() || p.s[p.i] != '=' {
		return av, fmt.Errorf("'=' expected after %s", name)
	}
	p.i++
	p.spaces()
	if !p.end() && p.s[p.i] == '#' {
		return p.hexValue(av)
	}
	return p.stringValue(av)
}

// hexValue reads the "#hex" form: the BER encoding of the value.
func (p *dnParser) hexValue(av AttributeValue) (AttributeValue, error) {
	p.i++
	start := p.i
	for !p.end() && isHex(p.s[p.i]) {
		p.i++
	}
	b, err := hex.DecodeString(p.s[start:p.i])
	if err != nil || len(b) == 0 {
		return av, errors.New("#hex value must be one or more hex pairs")
	}
	var rv asn1.RawValue
	rest, err := asn1.Unmarshal(b, &rv)
	if err != nil || len(rest) != 0 {
		return av, errors.New("#hex value is not one BER-encoded value")
	}
	return fromRaw(av, rv), nil
}

// stringValue reads an escaped string value, up to an unescaped ',' or '+'.
func (p *dnParser) stringValue(av AttributeValue) (AttributeValue, error) {
	var buf []byte
	keep := 0 // length of buf without unescaped trailing spaces
	for !p.end() {
		c := p.s[p.i]
		switch c {
		case ',', '+':
			goto done
		case '\\':
			if p.i+1 >= len(p.s) {
				return av, errors.New("'\\' at the end of the name")
			}
			n := p.s[p.i+1]
			switch {
			case strings.IndexByte(`\ #="+,;<>`, n) >= 0:
				buf = append(buf, n)
				p.i += 2
			case p.i+2 < len(p.s) && isHex(n) && isHex(p.s[p.i+2]):
				b, _ := hex.DecodeString(p.s[p.i+1 : p.i+3])
				buf = append(buf, b[0])
				p.i += 3
			default:
				return av, fmt.Errorf("bad escape at offset %d", p.i)
			}
			keep = len(buf)
			continue
		case '"', ';', '<', '>', 0:
			return av, fmt.Errorf("%q must be escaped (RFC 4514 §2.4)", c)
		}
		buf = append(buf, c)
		if c != ' ' {
			keep = len(buf)
		}
		p.i++
	}
done:
	buf = buf[:keep]
	if !utf8.Valid(buf) {
		return av, errors.New("attribute value is not UTF-8")
	}
	av.Value = string(buf)
	return av, nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// canonicalOID checks a dotted OID (at least two arcs, no leading zeros).
func canonicalOID(s string) (string, bool) {
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 {
		return "", false
	}
	for _, a := range arcs {
		if a == "" || len(a) > 1 && a[0] == '0' || len(a) > 20 {
			return "", false
		}
		for i := 0; i < len(a); i++ {
			if !isDigit(a[i]) {
				return "", false
			}
		}
	}
	return s, true
}

// ASN.1 universal string tags an attribute value may carry.
const (
	tagUTF8String      = 12
	tagNumericString   = 18
	tagPrintableString = 19
	tagT61String       = 20
	tagIA5String       = 22
	tagVisibleString   = 26
	tagBMPString       = 30
)

// fromRaw sets av's value from a BER value: the text of a character string
// type, else the encoding itself.
func fromRaw(av AttributeValue, rv asn1.RawValue) AttributeValue {
	if rv.Class == asn1.ClassUniversal && !rv.IsCompound {
		var s string
		ok := true
		switch rv.Tag {
		case tagUTF8String, tagNumericString, tagPrintableString, tagIA5String, tagVisibleString:
			s = string(rv.Bytes)
		case tagT61String: // read as Latin-1, as crypto/x509 does
			r := make([]rune, len(rv.Bytes))
			for i, b := range rv.Bytes {
				r[i] = rune(b)
			}
			s = string(r)
		case tagBMPString:
			if len(rv.Bytes)%2 != 0 {
				ok = false
				break
			}
			u := make([]uint16, len(rv.Bytes)/2)
			for i := range u {
				u[i] = uint16(rv.Bytes[2*i])<<8 | uint16(rv.Bytes[2*i+1])
			}
			s = string(utf16.Decode(u))
		default:
			ok = false
		}
		if ok && utf8.ValidString(s) {
			av.Value, av.Raw = s, nil
			return av
		}
	}
	av.Value, av.Raw = "", bytes.Clone(rv.FullBytes)
	return av
}

// DNFromCertificate reads a certificate's subject (or issuer): the DER of
// its RDNSequence (x509.Certificate.RawSubject), in DN order.
func DNFromCertificate(rawSubject []byte) (DN, error) {
	var seq []asn1.RawValue
	rest, err := asn1.Unmarshal(rawSubject, &seq)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("certificate subject is not an RDNSequence")
	}
	dn := make(DN, 0, len(seq))
	for _, el := range seq {
		var set []struct {
			Type  asn1.ObjectIdentifier
			Value asn1.RawValue
		}
		if rest, err := asn1.UnmarshalWithParams(el.FullBytes, &set, "set"); err != nil || len(rest) != 0 || len(set) == 0 {
			return nil, errors.New("certificate subject has a malformed RDN")
		}
		rdn := make(RDN, 0, len(set))
		for _, a := range set {
			rdn = append(rdn, fromRaw(AttributeValue{Type: a.Type.String()}, a.Value))
		}
		dn = append(dn, rdn)
	}
	slices.Reverse(dn)
	return dn, nil
}

// Equal reports whether d and o name the same entry: the same RDNs in the
// same order, each the same set of attribute values. Types compare by OID;
// string values of the known naming attributes compare as RFC 4518 prepares
// them (NFKC, case folded, insignificant spaces removed), others exactly;
// BER values compare byte for byte.
func (d DN) Equal(o DN) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if !d[i].equal(o[i]) {
			return false
		}
	}
	return true
}

func (r RDN) equal(o RDN) bool {
	if len(r) != len(o) {
		return false
	}
	used := make([]bool, len(o))
next:
	for _, a := range r {
		for j, b := range o {
			if !used[j] && a.equal(b) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

func (a AttributeValue) equal(b AttributeValue) bool {
	switch {
	case a.Type != b.Type:
		return false
	case a.Raw != nil || b.Raw != nil:
		return a.Raw != nil && b.Raw != nil && bytes.Equal(a.Raw, b.Raw)
	case caseIgnore(a.Type):
		return prepare(a.Value) == prepare(b.Value)
	default:
		return a.Value == b.Value
	}
}

// prepare is the RFC 4518 preparation of a caseIgnoreMatch value, in
// short: NFKC, case folding, and insignificant spaces (leading, trailing,
// runs) reduced.
func prepare(s string) string {
	s = cases.Fold().String(norm.NFKC.String(s))
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// String writes d in RFC 4514 form (known types by name), which ParseDN
// reads back to an equal DN.
func (d DN) String() string {
	var b strings.Builder
	for i, rdn := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(typeName(a.Type))
			b.WriteByte('=')
			if a.Raw != nil {
				b.WriteByte('#')
				b.WriteString(hex.EncodeToString(a.Raw))
				continue
			}
			writeEscaped(&b, a.Value)
		}
	}
	return b.String()
}

func writeEscaped(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ' ' && (i == 0 || i == len(v)-1), c == '#' && i == 0,
			strings.IndexByte(`"+,;<>\`, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(b, `\%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
}
