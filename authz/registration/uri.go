package registration

import (
	"net/url"
	"strings"
)

// RedirectURIProblem describes why raw may not be registered as a
// redirection URI, or returns "". See Validate for the rules (RFC 6749
// §3.1.2, RFC 9700 §2.1 and §4.1, RFC 8252 §7.1 and §7.3). It is the one
// redirect-URI rule: Validate applies it, and authz.CreateClient and
// authz.UpdateClientMetadata apply it again to what they store.
func RedirectURIProblem(raw string) string {
	if problem := uriSyntaxProblem(raw); problem != "" {
		return problem
	}
	if strings.Contains(raw, "#") {
		return "must not contain a fragment (RFC 6749 §3.1.2)"
	}
	if strings.Contains(raw, "*") {
		return "must not contain wildcards; redirect URIs are compared exactly (RFC 9700 §4.1.3)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a URI"
	}
	if u.Scheme == "" {
		return "must be an absolute URI (RFC 6749 §3.1.2)"
	}
	if u.User != nil {
		return "must not contain user information"
	}
	switch {
	case u.Scheme == "https":
		if u.Host == "" || u.Hostname() == "" {
			return "must name a host"
		}
	case u.Scheme == "http":
		if !IsLoopbackHost(u.Hostname()) {
			return "must use https; http is allowed only for loopback redirect URIs of native apps (RFC 8252 §7.3)"
		}
	case isPrivateUseScheme(u.Scheme):
		if u.Host == "" && u.Path == "" && u.Opaque == "" {
			return "must have a path after the scheme"
		}
	default:
		return "scheme " + quote(u.Scheme) + " is not allowed; use https, http on loopback, or a reverse-DNS private-use scheme (RFC 8252 §7.1)"
	}
	return ""
}

// webURLProblem describes why raw may not be registered as one of the
// client's web URLs (client_uri, logo_uri, tos_uri, policy_uri, launch_uri,
// jwks_uri), or returns "": it must be https with a host, or http on a
// loopback host, without user information.
func webURLProblem(raw string, allowFragment bool) string {
	if problem := uriSyntaxProblem(raw); problem != "" {
		return problem
	}
	if !allowFragment && strings.Contains(raw, "#") {
		return "must not contain a fragment"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a URL"
	}
	if u.User != nil {
		return "must not contain user information"
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" || u.Hostname() == "" {
			return "must name a host"
		}
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return "must use https (http only on loopback)"
		}
	default:
		return "must be an https URL"
	}
	return ""
}

// uriSyntaxProblem checks what every registered URI shares: non-empty,
// length-limited, and only the characters RFC 3986 §2 allows in a URI
// (unreserved, reserved and '%'): no spaces, controls, non-ASCII (an IRI
// must be given in its URI form so that exact comparison works) or
// '"', '<', '>', '\', '^', '`', '{', '|', '}'.
func uriSyntaxProblem(raw string) string {
	if raw == "" {
		return "must not be empty"
	}
	if len(raw) > MaxURILength {
		return "is longer than the limit"
	}
	for i := range len(raw) {
		if !isURIChar(raw[i]) {
			return "contains a character not allowed in a URI (RFC 3986 §2)"
		}
	}
	return ""
}

func isURIChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// IsLoopbackHost reports whether host (without brackets or port) is one of
// the loopback names RFC 8252 §7.3 allows for http redirect URIs: the IPv4
// and IPv6 loopback literals and, although RFC 8252 §8.3 discourages it,
// "localhost" (widely used by development tools such as Inferno).
func IsLoopbackHost(host string) bool {
	return host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")
}

// isPrivateUseScheme reports whether scheme is in the reverse-DNS form RFC
// 8252 §7.1 requires of private-use URI schemes ("com.example.app"): at
// least two non-empty dot-separated labels. Registered schemes (javascript,
// data, file, …) contain no dot and so never qualify.
func isPrivateUseScheme(scheme string) bool {
	labels := strings.Split(scheme, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
	}
	return true
}
