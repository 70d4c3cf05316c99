package clientcert

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Bounds of a client-certificate header: a longer value, or one with more
// certificates (leaf and chain together), is refused before any decoding.
const (
	MaxHeaderBytes = 16 << 10
	MaxHeaderCerts = 4
)

// ParseHeader reads the client certificate a TLS-terminating proxy passes
// in a request header (--client-cert-header): the leaf and what follows it
// (intermediates). The form is recognised from the value:
//
//   - URL-encoded PEM, one or more CERTIFICATE blocks, leaf first: nginx
//     $ssl_client_escaped_cert (leaf only), AWS ALB X-Amzn-Mtls-Clientcert
//     (chain; '+' left unescaped, so "+" is never read as a space), HAProxy
//     or Apache sending the PEM with its line breaks replaced by spaces or
//     tabs (Apache's %{SSL_CLIENT_CERT}s, nginx's old $ssl_client_cert):
//     whitespace inside a block is ignored.
//   - Envoy X-Forwarded-Client-Cert (XFCC): exactly one element
//     (By=…;Hash=…;Cert="…";Chain="…";Subject="…";URI=…;DNS=…), keys in
//     any case, values quoted or not, \" inside quotes. Cert is the leaf,
//     Chain the chain including the leaf (RFC-less Envoy convention); at
//     least one of them must be there (Envoy: set_current_client_cert_details
//     cert: true and/or chain: true). Several elements (a chain of proxies
//     appending, forward_client_cert_details APPEND_FORWARD) are refused:
//     the edge proxy must SANITIZE_SET, so that the one element is the
//     certificate of the client at the edge. Hash, By, Subject, URI and DNS
//     are not read (the certificate says it all).
//   - RFC 9440 Client-Cert: base64 DER between colons (":MIIC…:"), a comma
//     separated list of them for leaf and chain; also bare base64 DER,
//     comma-separated (HAProxy %[ssl_c_der,base64], Traefik's
//     X-Forwarded-Tls-Client-Cert, URL-encoded or not).
//
// An empty value is an error too: the caller treats a missing or empty
// header as "no certificate" before calling. The certificates are parsed,
// not verified: that is the Verifier's Check.
func ParseHeader(value string) (leaf *x509.Certificate, chain []*x509.Certificate, err error) {
	if len(value) > MaxHeaderBytes {
		return nil, nil, fmt.Errorf("client-certificate header longer than %d bytes", MaxHeaderBytes)
	}
	v := strings.TrimSpace(value)
	if v == "" {
		return nil, nil, errors.New("client-certificate header is empty")
	}
	var ders [][]byte
	if isXFCC(v) {
		ders, err = parseXFCC(v)
	} else {
		ders, err = parseCertList(v)
	}
	if err != nil {
		return nil, nil, err
	}
	certs := make([]*x509.Certificate, 0, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("client-certificate header: certificate %d: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs[0], certs[1:], nil
}

// xfccKeys are the keys Envoy writes into an XFCC element.
var xfccKeys = []string{"by", "hash", "cert", "chain", "subject", "uri", "dns"}

// isXFCC: the value starts with one of Envoy's keys and "=". PEM starts
// with "-----", base64 DER with "MII", RFC 9440 with ':'.
func isXFCC(v string) bool {
	k, _, ok := strings.Cut(v, "=")
	if !ok {
		return false
	}
	k = strings.ToLower(strings.TrimSpace(k))
	for _, x := range xfccKeys {
		if k == x {
			return true
		}
	}
	return false
}

// parseXFCC reads one XFCC element's Cert and Chain.
func parseXFCC(v string) ([][]byte, error) {
	var cert, chain string
	var haveCert, haveChain bool
	i := 0
	for i < len(v) {
		// key
		j := i
		for j < len(v) && v[j] != '=' && v[j] != ';' && v[j] != ',' && v[j] != '"' {
			j++
		}
		if j == len(v) || v[j] != '=' {
			return nil, errors.New("X-Forwarded-Client-Cert: expected key=value")
		}
		key := strings.ToLower(strings.TrimSpace(v[i:j]))
		if key == "" {
			return nil, errors.New("X-Forwarded-Client-Cert: empty key")
		}
		i = j + 1
		// value: quoted (with \" and \\) or up to the next ; or ,
		var val string
		if i < len(v) && v[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(v) {
				c := v[i]
				if c == '\\' && i+1 < len(v) {
					b.WriteByte(v[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, errors.New("X-Forwarded-Client-Cert: unterminated quoted value")
			}
			val = b.String()
		} else {
			j = i
			for j < len(v) && v[j] != ';' && v[j] != ',' {
				if v[j] == '"' {
					return nil, errors.New("X-Forwarded-Client-Cert: quote inside an unquoted value")
				}
				j++
			}
			val = strings.TrimSpace(v[i:j])
			i = j
		}
		switch key {
		case "cert":
			if haveCert {
				return nil, errors.New("X-Forwarded-Client-Cert: Cert given twice")
			}
			cert, haveCert = val, true
		case "chain":
			if haveChain {
				return nil, errors.New("X-Forwarded-Client-Cert: Chain given twice")
			}
			chain, haveChain = val, true
		}
		// separator
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
		if i == len(v) {
			break
		}
		switch v[i] {
		case ';':
			i++
		case ',':
			return nil, errors.New("X-Forwarded-Client-Cert: several elements (proxies appending); only one, from the edge proxy (SANITIZE_SET), is accepted")
		default:
			return nil, errors.New("X-Forwarded-Client-Cert: expected ; between key=value pairs")
		}
	}
	if !haveCert && !haveChain {
		return nil, errors.New("X-Forwarded-Client-Cert: no Cert or Chain (Envoy: set_current_client_cert_details cert: true)")
	}
	var leaf, rest [][]byte
	if haveCert {
		ders, err := parsePEMList(cert)
		if err != nil {
			return nil, fmt.Errorf("X-Forwarded-Client-Cert Cert: %w", err)
		}
		if len(ders) != 1 {
			return nil, errors.New("X-Forwarded-Client-Cert: Cert holds more than one certificate")
		}
		leaf = ders
	}
	if haveChain {
		ders, err := parsePEMList(chain)
		if err != nil {
			return nil, fmt.Errorf("X-Forwarded-Client-Cert Chain: %w", err)
		}
		rest = ders
	}
	switch {
	case leaf == nil:
		return rest, nil // the chain's first is the leaf
	case len(rest) > 0 && string(rest[0]) == string(leaf[0]):
		return append(leaf, rest[1:]...), nil
	case len(rest) > 0:
		return nil, errors.New("X-Forwarded-Client-Cert: Chain does not start with Cert")
	}
	return leaf, nil
}

const (
	pemBegin = "-----BEGIN CERTIFICATE-----"
	pemEnd   = "-----END CERTIFICATE-----"
)

// parseCertList reads the non-XFCC forms: (URL-encoded) PEM blocks, or
// RFC 9440 / bare base64 DER items separated by commas.
func parseCertList(v string) ([][]byte, error) {
	u, err := unescape(v)
	if err != nil {
		return nil, err
	}
	u = strings.TrimSpace(u)
	if strings.HasPrefix(u, "-----") {
		return pemBlocks(u)
	}
	var ders [][]byte
	for item := range strings.SplitSeq(u, ",") {
		item = strings.TrimSpace(item)
		if len(item) >= 2 && item[0] == ':' && item[len(item)-1] == ':' {
			item = item[1 : len(item)-1]
		}
		if item == "" {
			return nil, errors.New("client-certificate header: empty item in the list")
		}
		if len(ders) == MaxHeaderCerts {
			return nil, fmt.Errorf("client-certificate header: more than %d certificates", MaxHeaderCerts)
		}
		der, err := base64.StdEncoding.DecodeString(item)
		if err != nil {
			return nil, errors.New("client-certificate header: neither PEM nor base64 DER")
		}
		ders = append(ders, der)
	}
	return ders, nil
}

// parsePEMList reads an XFCC value: URL-encoded PEM.
func parsePEMList(v string) ([][]byte, error) {
	u, err := unescape(v)
	if err != nil {
		return nil, err
	}
	return pemBlocks(strings.TrimSpace(u))
}

// unescape undoes URL encoding. A '+' is kept (base64 has it; ALB leaves
// it unescaped), unless the value was clearly encoded with '+' for spaces
// ("-----BEGIN+CERTIFICATE-----", form encoding), where a literal '+' is
// %2B.
func unescape(v string) (string, error) {
	var u string
	var err error
	if strings.Contains(v, "BEGIN+CERTIFICATE") {
		u, err = url.QueryUnescape(v)
	} else {
		u, err = url.PathUnescape(v)
	}
	if err != nil {
		return "", errors.New("client-certificate header: bad URL encoding")
	}
	return u, nil
}

// pemBlocks reads CERTIFICATE blocks, leaf first. Line breaks inside a
// block may have become spaces or tabs on the way (Apache, nginx's
// $ssl_client_cert); only whitespace may stand between blocks.
func pemBlocks(s string) ([][]byte, error) {
	var ders [][]byte
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			break
		}
		if !strings.HasPrefix(s, pemBegin) {
			return nil, errors.New("client-certificate header: expected " + pemBegin)
		}
		s = s[len(pemBegin):]
		end := strings.Index(s, pemEnd)
		if end < 0 {
			return nil, errors.New("client-certificate header: " + pemEnd + " missing")
		}
		body := strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, s[:end])
		s = s[end+len(pemEnd):]
		if len(ders) == MaxHeaderCerts {
			return nil, fmt.Errorf("client-certificate header: more than %d certificates", MaxHeaderCerts)
		}
		der, err := base64.StdEncoding.DecodeString(body)
		if err != nil || len(der) == 0 {
			return nil, errors.New("client-certificate header: a PEM block is not base64")
		}
		ders = append(ders, der)
	}
	if len(ders) == 0 {
		return nil, errors.New("client-certificate header: no certificate")
	}
	return ders, nil
}
