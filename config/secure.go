package config

// The secure interface's settings in the file (interface.md): the
// client_cert_policy map of the four cases and the trusted_jwt_issuers
// list.

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/smartgate/smartgate/authz/clientcert"
)

// policyFromMap turns the file's client_cert_policy map into the flag's
// case=action form (ParsePolicy then checks the cases and actions).
func policyFromMap(node *yaml.Node) (string, error) {
	var m map[string]string
	if err := node.Decode(&m); err != nil {
		return "", fmt.Errorf("must be an action or a map of case: action (%v)", err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("an empty map: name the cases %s", strings.Join(caseNames(), ", "))
	}
	return strings.Join(parts, ","), nil
}

func caseNames() []string {
	out := make([]string, 0, len(clientcert.Cases))
	for _, c := range clientcert.Cases {
		out = append(out, string(c))
	}
	return out
}

// decodeTrustedJWTIssuers decodes the trusted_jwt_issuers list entry by
// entry (validateTrustedJWTIssuers checks the values).
func decodeTrustedJWTIssuers(node *yaml.Node, origin string, problems *Error) []TrustedJWTIssuer {
	if node.Kind != yaml.SequenceNode {
		problems.add("%s: must be a list of {issuer, jwks_uri, audience}", origin)
		return nil
	}
	var out []TrustedJWTIssuer
	for i, item := range node.Content {
		var ti TrustedJWTIssuer
		if err := decodeStrict(item, &ti); err != nil {
			problems.add("%s: trusted_jwt_issuers[%d] (line %d): %v", origin, i, item.Line, err)
			continue
		}
		out = append(out, ti)
	}
	return out
}

// validateTrustedJWTIssuers: each issuer and jwks_uri an absolute https
// URL (http only on loopback with --jwks-allow-private, for a lab), no
// issuer twice, and not smartgate's own listeners (always trusted).
func (c *Config) validateTrustedJWTIssuers(p *Error) {
	seen := map[string]bool{}
	for i, ti := range c.TrustedJWTIssuers {
		where := fmt.Sprintf("trusted_jwt_issuers[%d]", i)
		iss := strings.TrimSuffix(ti.Issuer, "/")
		switch {
		case ti.Issuer == "":
			p.add("%s: issuer is required", where)
		case seen[iss]:
			p.add("%s: issuer %q is listed twice", where, ti.Issuer)
		case iss == strings.TrimSuffix(c.HTTPURL, "/") || iss == strings.TrimSuffix(c.HTTPSURL, "/"):
			p.add("%s: %q is this server, whose ID tokens are always trusted", where, ti.Issuer)
		}
		seen[iss] = true
		for name, v := range map[string]string{"issuer": ti.Issuer, "jwks_uri": ti.JWKSURI} {
			if v == "" && name == "jwks_uri" {
				p.add("%s: jwks_uri is required", where)
				continue
			}
			if v != "" && !c.trustedURL(v) {
				p.add("%s: %s %q must be an absolute https URL (http only for a loopback host with jwks-allow-private)", where, name, v)
			}
		}
	}
}

func (c *Config) trustedURL(v string) bool {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return c.JWKSAllowPrivate && IsLoopbackAddr(net.JoinHostPort(u.Hostname(), "0"))
	}
	return false
}

// validHeaderName: an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}
