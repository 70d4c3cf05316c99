package registration

import (
	"net/netip"
	"net/url"
	"strings"
)

// The RFC 8705 §2.1.2 metadata members naming a tls_client_auth client's
// certificate.
const (
	FieldTLSSubjectDN = "tls_client_auth_subject_dn"
	FieldTLSSANDNS    = "tls_client_auth_san_dns"
	FieldTLSSANURI    = "tls_client_auth_san_uri"
	FieldTLSSANIP     = "tls_client_auth_san_ip"
	FieldTLSSANEmail  = "tls_client_auth_san_email"
)

// TLSSubjectProblem describes what is wrong with value v of the
// tls_client_auth_* member name (one of the Field constants), or returns ""
// when it is acceptable: a subject DN must parse as RFC 4514 (ParseDN), a
// dNSName be a host name (a leading "*." allowed), a URI be absolute, an
// IP address be one (without zone), an e-mail address have the form
// local@domain; all are printable ASCII but the DN (UTF-8).
func TLSSubjectProblem(name, v string) string {
	if name == FieldTLSSubjectDN {
		if problem := textProblem(v, MaxDNLength); problem != "" {
			return problem
		}
		if _, err := ParseDN(v); err != nil {
			return "is not an RFC 4514 distinguished name: " + err.Error()
		}
		return ""
	}
	if len(v) > MaxURILength {
		return "is too long"
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return "must be printable ASCII without spaces"
		}
	}
	switch name {
	case FieldTLSSANDNS:
		if !hostName(v) {
			return "is not a DNS name"
		}
	case FieldTLSSANURI:
		u, err := url.Parse(v)
		if err != nil || !u.IsAbs() {
			return "is not an absolute URI"
		}
	case FieldTLSSANIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "is not an IP address"
		}
	case FieldTLSSANEmail:
		local, domain, ok := strings.Cut(v, "@")
		if !ok || local == "" || !hostName(domain) || strings.Contains(domain, "*") {
			return "is not an e-mail address"
		}
	default:
		return "is not a tls_client_auth member"
	}
	return ""
}

// hostName: labels of letters, digits, '-' and '_' (1 to 63 bytes each,
// at most 253 in all), the first of which may be "*".
func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, l := range strings.Split(s, ".") {
		if l == "*" && i == 0 && strings.Contains(s, ".") {
			continue
		}
		if l == "" || len(l) > 63 {
			return false
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			if !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// tlsSubject validates the tls_client_auth_* members for method: exactly
// one for tls_client_auth (RFC 8705 §2.1.2), none for any other method. An
// IP address is registered in its canonical form.
func tlsSubject(m Metadata, method string, out *Metadata) *Error {
	fields := []struct {
		name string
		in   string
		dst  *string
	}{
		{FieldTLSSubjectDN, m.TLSClientAuthSubjectDN, &out.TLSClientAuthSubjectDN},
		{FieldTLSSANDNS, m.TLSClientAuthSANDNS, &out.TLSClientAuthSANDNS},
		{FieldTLSSANURI, m.TLSClientAuthSANURI, &out.TLSClientAuthSANURI},
		{FieldTLSSANIP, m.TLSClientAuthSANIP, &out.TLSClientAuthSANIP},
		{FieldTLSSANEmail, m.TLSClientAuthSANEmail, &out.TLSClientAuthSANEmail},
	}
	n := 0
	for _, f := range fields {
		v := strings.TrimSpace(f.in)
		if v == "" {
			continue
		}
		n++
		if method != AuthTLSClientAuth {
			return errorf(CodeInvalidClientMetadata, "%s may only be registered with token_endpoint_auth_method tls_client_auth (RFC 8705 §2.1.2)", f.name)
		}
		if problem := TLSSubjectProblem(f.name, v); problem != "" {
			return errorf(CodeInvalidClientMetadata, "%s %s %s", f.name, quote(v), problem)
		}
		if f.name == FieldTLSSANIP {
			v = netip.MustParseAddr(v).String()
		}
		*f.dst = v
	}
	if method == AuthTLSClientAuth && n != 1 {
		return errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method tls_client_auth requires exactly one of %s, %s, %s, %s and %s (RFC 8705 §2.1.2)",
			FieldTLSSubjectDN, FieldTLSSANDNS, FieldTLSSANURI, FieldTLSSANIP, FieldTLSSANEmail)
	}
	return nil
}

// hasTLSSubject reports whether m names any tls_client_auth_* member.
func hasTLSSubject(m Metadata) bool {
	for _, v := range []string{m.TLSClientAuthSubjectDN, m.TLSClientAuthSANDNS, m.TLSClientAuthSANURI, m.TLSClientAuthSANIP, m.TLSClientAuthSANEmail} {
		if strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}
