package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Upstream is proxy mode's upstream FHIR server (--fhir-upstream) and how
// smartgate authenticates to it: nothing, a static header, a client
// credentials token from the upstream's own token endpoint, or a client
// certificate (with the header or the token, or alone).
type Upstream struct {
	URL     string
	Timeout time.Duration
	// Header is one "Name: value" header sent with every upstream request
	// (SMARTGATE_FHIR_UPSTREAM_HEADER); HeaderFile a file holding one.
	Header, HeaderFile string
	// TokenURL, ClientID, ClientSecretFile and Scope: client credentials
	// (client_secret_basic) against the upstream's token endpoint.
	TokenURL, ClientID, ClientSecretFile, Scope string
	// Cert and Key: the client certificate smartgate presents; CA: the
	// CAs that sign the upstream's TLS certificate (default: the system's).
	Cert, Key, CA string
}

// upstreamSettings are the settings of proxy mode, after --demo in the
// table (Settings).
func upstreamSettings() []Setting {
	u := func(f func(u *Upstream) *string) func(*Config, string) error {
		return str(func(c *Config) *string { return f(&c.Upstream) })
	}
	return []Setting{
		{Flag: "fhir-upstream", Default: "", Usage: "base URL of an existing FHIR server that /fhir proxies to, with the same enforcement (empty: the embedded FHIR store)", set: u(func(u *Upstream) *string { return &u.URL })},
		{Flag: "fhir-upstream-timeout", Default: "30s", Usage: "longest wait for one upstream request (then 504)", kind: kDuration, set: dur(func(c *Config) *time.Duration { return &c.Upstream.Timeout })},
		{Flag: "fhir-upstream-header", Default: "", Usage: "one \"Name: value\" header sent with every upstream request, e.g. an API key (set it in the environment, not on the command line)", set: u(func(u *Upstream) *string { return &u.Header })},
		{Flag: "fhir-upstream-header-file", Default: "", Usage: "file holding that header line instead", set: u(func(u *Upstream) *string { return &u.HeaderFile })},
		{Flag: "fhir-upstream-token-url", Default: "", Usage: "the upstream's own token endpoint: smartgate gets its upstream access token there by client credentials", set: u(func(u *Upstream) *string { return &u.TokenURL })},
		{Flag: "fhir-upstream-client-id", Default: "", Usage: "client id for --fhir-upstream-token-url", set: u(func(u *Upstream) *string { return &u.ClientID })},
		{Flag: "fhir-upstream-client-secret-file", Default: "", Usage: "file holding the client secret for --fhir-upstream-token-url (client_secret_basic)", set: u(func(u *Upstream) *string { return &u.ClientSecretFile })},
		{Flag: "fhir-upstream-scope", Default: "", Usage: "scope asked for at --fhir-upstream-token-url (space-separated)", set: u(func(u *Upstream) *string { return &u.Scope })},
		{Flag: "fhir-upstream-cert", Default: "", Usage: "PEM client certificate smartgate presents to the upstream", set: u(func(u *Upstream) *string { return &u.Cert })},
		{Flag: "fhir-upstream-key", Default: "", Usage: "PEM private key for --fhir-upstream-cert", set: u(func(u *Upstream) *string { return &u.Key })},
		{Flag: "extra-fhir-bases", Default: "", Usage: "comma-separated other FHIR base URLs (gateways, proxies elsewhere) that apps may name as aud; their tokens name that base alone and are not accepted by this server's own /fhir", set: func(c *Config, v string) error {
			c.ExtraFHIRBases = nil
			for _, b := range strings.Split(v, ",") {
				if b = strings.TrimRight(strings.TrimSpace(b), "/"); b == "" {
					continue
				}
				u, err := url.Parse(b)
				if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
					return fmt.Errorf("%q is not an http(s) URL without query", b)
				}
				c.ExtraFHIRBases = append(c.ExtraFHIRBases, b)
			}
			return nil
		}},
		{Flag: "fhir-upstream-ca", Default: "", Usage: "PEM bundle of CAs that sign the upstream's TLS certificate (default: the system's)", set: u(func(u *Upstream) *string { return &u.CA })},
	}
}

// validateUpstream checks proxy mode's settings.
func (c *Config) validateUpstream(p *Error) {
	up := c.Upstream
	if up.URL == "" {
		for name, v := range map[string]string{"fhir-upstream-header": up.Header, "fhir-upstream-header-file": up.HeaderFile,
			"fhir-upstream-token-url": up.TokenURL, "fhir-upstream-cert": up.Cert, "fhir-upstream-ca": up.CA} {
			if v != "" {
				p.add("%s is set but fhir-upstream is not", name)
			}
		}
		return
	}
	u, err := url.Parse(up.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		p.add("fhir-upstream: %q is not an http(s) URL", up.URL)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		p.add("fhir-upstream: %q must not have a query, fragment or user info", up.URL)
	}
	if c.Demo {
		p.add("demo and fhir-upstream do not go together: --demo loads the embedded FHIR store, and with fhir-upstream the data is the upstream's (load it there)")
	}
	if up.Timeout <= 0 {
		p.add("fhir-upstream-timeout must be positive")
	}
	if up.Header != "" && up.HeaderFile != "" {
		p.add("fhir-upstream-header and fhir-upstream-header-file: set one")
	}
	if up.Header != "" {
		if _, _, err := ParseHeaderLine(up.Header); err != nil {
			p.add("fhir-upstream-header: %v", err)
		}
	}
	if up.TokenURL != "" {
		if up.Header != "" || up.HeaderFile != "" {
			p.add("fhir-upstream-token-url and a static fhir-upstream-header: set one")
		}
		if tu, err := url.Parse(up.TokenURL); err != nil || tu.Host == "" || (tu.Scheme != "https" && !(tu.Scheme == "http" && IsLoopbackHost(tu.Hostname()))) {
			p.add("fhir-upstream-token-url: %q must be an https URL (http only on loopback)", up.TokenURL)
		}
		if up.ClientID == "" || up.ClientSecretFile == "" {
			p.add("fhir-upstream-token-url needs fhir-upstream-client-id and fhir-upstream-client-secret-file")
		}
	}
	if (up.Cert == "") != (up.Key == "") {
		p.add("fhir-upstream-cert and fhir-upstream-key go together: set both or neither")
	}
	for name, f := range map[string]string{"fhir-upstream-header-file": up.HeaderFile, "fhir-upstream-client-secret-file": up.ClientSecretFile,
		"fhir-upstream-cert": up.Cert, "fhir-upstream-key": up.Key, "fhir-upstream-ca": up.CA} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			p.add("%s: %v", name, err)
		}
	}
}

// ParseHeaderLine reads "Name: value" (the value trimmed).
func ParseHeaderLine(line string) (name, value string, err error) {
	name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
	value = strings.TrimSpace(value)
	if !ok || !validHeaderName(name) || value == "" || strings.ContainsAny(value, "\r\n") {
		return "", "", errHeaderLine
	}
	switch strings.ToLower(name) {
	case "host", "content-length", "transfer-encoding", "connection":
		return "", "", errHeaderLine
	}
	return name, value, nil
}

var errHeaderLine = &headerLineError{}

type headerLineError struct{}

func (*headerLineError) Error() string {
	return `must be one "Name: value" header line (not Host, Content-Length, Transfer-Encoding or Connection)`
}
