// Package config defines smartgate's settings and loads them from, in rising
// order of precedence, built-in defaults, a YAML file, the environment
// (SMARTGATE_…) and command-line flags. Every setting has all three forms:
// flag --http-addr, environment SMARTGATE_HTTP_ADDR, file key http_addr.
//
// Load reports every problem at once (unknown file keys, bad values,
// inconsistent combinations) in one *Error, so an operator fixes a file in
// one pass.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/store/postgres"
)

// Config is the complete server configuration.
type Config struct {
	DataDir string
	// Database is empty for the embedded SQLite file in DataDir, or a
	// postgres:// URL (store/postgres).
	Database string
	HTTPAddr string
	// HTTPSAddr is where the TLS listener binds; empty turns it off.
	HTTPSAddr string
	HTTPURL   string
	HTTPSURL  string
	TLSCert   string
	TLSKey    string
	ClientCA  string
	// ClientCertPolicy is --client-cert-policy as given: one action for
	// the four cases or case=action pairs (clientcert.ParsePolicy reads
	// it; validate has checked it). CertPolicy is its meaning.
	ClientCertPolicy string
	// ClientCertHeader names the request header in which a trusted
	// TLS-terminating proxy (TrustedProxies) passes the client certificate
	// (URL-encoded PEM as nginx's $ssl_client_escaped_cert, or Envoy's
	// X-Forwarded-Client-Cert); empty: off.
	ClientCertHeader string
	// TrustedJWTIssuers are the issuers other than smartgate whose ID
	// tokens may name the user beside a client certificate (file only).
	TrustedJWTIssuers []TrustedJWTIssuer `yaml:"-"`
	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	CodeTTL           time.Duration
	// SessionTTL bounds a log-in session from the log-in; SessionIdle from
	// its last use (0: no idle limit).
	SessionTTL  time.Duration
	SessionIdle time.Duration
	OWin        bool
	// HTTPAuth is bearer (default) or none (loopback development only).
	HTTPAuth string
	// Registration is token (RFC 7591 registration needs an administrator's
	// bearer token) or open (public clients may register without one).
	Registration string
	// RegistrationTokenTTL is the lifetime of an RFC 7592 registration
	// access token.
	RegistrationTokenTTL time.Duration
	AdminPasswordFile    string
	LogLevel             string
	LogFormat            string
	// DevAssets, when set, is a folder holding templates/ and static/ that
	// are read from disk instead of the embedded copies.
	DevAssets string
	// SQLiteSynchronous is FULL or NORMAL.
	SQLiteSynchronous string
	// MaxDBBytes caps the database size (0: no cap); writes beyond it are
	// answered 503 and change nothing, as on a full disk.
	MaxDBBytes int64
	// AuditRetention is how long audit records are kept (0: forever).
	AuditRetention time.Duration
	// JWKSAllowPrivate lets clients' jwks_uri point at loopback or private
	// addresses, or use plain http (a lab with a local test kit).
	JWKSAllowPrivate bool
	MaxBodyBytes     int64
	ShutdownTimeout  time.Duration
	Demo             bool
	// TrustedProxies are the peers whose X-Forwarded-For / Forwarded header
	// names the client address (log-in throttle, audit, /metrics access).
	TrustedProxies reqctx.Prefixes
	// HSTS sends Strict-Transport-Security on the HTTPS listener when its
	// certificate is a configured one (TLSCert).
	HSTS bool
	// MetricsAllow are the client addresses that may read /metrics.
	MetricsAllow reqctx.Prefixes
	// MetricsTokenFile holds a bearer token that lets any client read
	// /metrics (read by the caller, never kept here).
	MetricsTokenFile string
	// AdminSecondFactor says whether administrators must have a second
	// factor (TOTP) before their log-in completes; for everyone else it is
	// optional whatever this says.
	AdminSecondFactor SecondFactorPolicy

	// Upstream is proxy mode's upstream FHIR server (config/upstream.go).
	Upstream Upstream
	// ExtraFHIRBases are --extra-fhir-bases (no trailing slash).
	ExtraFHIRBases []string

	// Providers are the federated identity providers (file only).
	Providers []Provider `yaml:"-"`

	// Sources says, per setting (keyed by flag name), where its effective
	// value came from: SourceFlag, SourceEnv, SourceFile or SourceDefault.
	Sources map[string]string `yaml:"-"`
	// Values is each setting's effective value as given (keyed by flag
	// name), except that a Secret setting's is only "set" or "unset".
	Values map[string]string `yaml:"-"`
}

// Where a setting's value came from (Config.Sources).
const (
	SourceFlag    = "flag"
	SourceEnv     = "environment"
	SourceFile    = "file"
	SourceDefault = "default"
)

// Secret reports whether the setting named flag may carry a credential (a
// password, a client secret, a key, a header with an API key) or names a
// file that does: its value is shown only as set or unset.
func Secret(flag string) bool {
	for _, w := range []string{"password", "secret", "token-file", "key", "header", "credential"} {
		if strings.Contains(flag, w) {
			return true
		}
	}
	return false
}

// record notes where s's value v came from (Sources, Values).
func (c *Config) record(s Setting, v, source string) {
	if c.Sources == nil {
		c.Sources, c.Values = map[string]string{}, map[string]string{}
	}
	c.Sources[s.Flag] = source
	switch {
	case s.show != nil:
		c.Values[s.Flag] = s.show(v)
	case !Secret(s.Flag):
		c.Values[s.Flag] = v
	case v != "":
		c.Values[s.Flag] = "set"
	default:
		c.Values[s.Flag] = "unset"
	}
}

// sourceOf is the Source of an origin as Load names it.
func sourceOf(origin string) string {
	switch {
	case strings.HasPrefix(origin, "flag "):
		return SourceFlag
	case strings.HasPrefix(origin, "environment "):
		return SourceEnv
	case strings.HasPrefix(origin, "config file "):
		return SourceFile
	}
	return SourceDefault
}

// TrustedJWTIssuer is an entry of the file's trusted_jwt_issuers list
// (interface.md): an OpenID provider whose ID tokens, presented as
// Authorization: Bearer beside a trusted client certificate, name the
// user (mapped to an account by its (issuer, subject) link only).
type TrustedJWTIssuer struct {
	Issuer  string `yaml:"issuer"`
	JWKSURI string `yaml:"jwks_uri"`
	// Audience is the aud the ID tokens carry; empty: the certificate's
	// client id.
	Audience string `yaml:"audience"`
}

// CertPolicy is the --client-cert-policy per case.
func (c *Config) CertPolicy() clientcert.Policy {
	p, err := clientcert.ParsePolicy(c.ClientCertPolicy)
	if err != nil { // validate refused it already
		return clientcert.Uniform(clientcert.Reject)
	}
	return p
}

// SecondFactorPolicy is the value of --admin-second-factor.
type SecondFactorPolicy string

// The values of SecondFactorPolicy.
const (
	// SecondFactorOptional: administrators, like everyone, may enrol a
	// second factor; a log-in asks for it only when they have.
	SecondFactorOptional SecondFactorPolicy = "optional"
	// SecondFactorRequired: an administrator's log-in completes only with a
	// second factor, enrolled during the log-in when there is none yet.
	SecondFactorRequired SecondFactorPolicy = "required"
)

// Required reports whether the policy requires a second factor.
func (p SecondFactorPolicy) Required() bool { return p == SecondFactorRequired }

// Provider configures one federated identity provider (the file's
// providers: list; interface.md). Secrets come only from the environment
// (ClientSecretEnv) or a file (ClientSecretFile), never inline.
type Provider struct {
	ID     string `yaml:"id"`
	Type   string `yaml:"type"`   // oidc | oauth2
	Preset string `yaml:"preset"` // google | facebook | hl7 | none
	// DisplayName is the button's label (default: the preset's name, or
	// the id).
	DisplayName string `yaml:"display_name"`
	Issuer      string `yaml:"issuer"`
	// AuthURL, TokenURL and UserInfoURL are the endpoints of an oauth2
	// provider without a preset (OpenID Connect providers use discovery).
	AuthURL          string   `yaml:"auth_url"`
	TokenURL         string   `yaml:"token_url"`
	UserInfoURL      string   `yaml:"userinfo_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	Provisioning     string   `yaml:"provisioning"` // auto | invite (default invite)
	TrustedEmail     bool     `yaml:"trusted_email"`
	// AllowedDomains, when set, admit only people whose verified domain
	// (hd claim, or the verified email's domain) is one of them.
	AllowedDomains []string `yaml:"allowed_domains"`
	// Claims maps smartgate's names (email, email_verified, name,
	// given_name, family_name, preferred_username, domain) to the
	// provider's claim names.
	Claims map[string]string `yaml:"claims"`

	// pos is the entry's place in the file's list, from 1 (0: not read
	// from a file); problems name it, whatever entries before it failed to
	// decode.
	pos int
}

// Setting describes one setting: its three names, default and meaning.
type Setting struct {
	Flag    string // e.g. "http-addr"
	Default string
	Usage   string
	kind    kind
	enum    []string
	set     func(c *Config, v string) error
	// show, when set, is how the value is shown (Config.Values): e.g. a
	// URL without its password.
	show func(v string) string
}

// Env is the setting's environment variable.
func (s Setting) Env() string {
	return "SMARTGATE_" + strings.ToUpper(strings.ReplaceAll(s.Flag, "-", "_"))
}

// Key is the setting's key in the YAML file.
func (s Setting) Key() string { return strings.ReplaceAll(s.Flag, "-", "_") }

type kind int

const (
	kString kind = iota
	kDuration
	kBool
	kEnum
	kInt
)

func str(f func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

func dur(f func(c *Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 90s, 1h, 720h)", v)
		}
		if d <= 0 {
			return fmt.Errorf("%q must be positive", v)
		}
		*f(c) = d
		return nil
	}
}

// durOrOff is dur that also takes 0 (the limit is off).
func durOrOff(f func(c *Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		if d, err := time.ParseDuration(v); err == nil && d == 0 {
			*f(c) = 0
			return nil
		}
		return dur(f)(c, v)
	}
}

func boolean(f func(c *Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*f(c) = b
		return nil
	}
}

func integer(f func(c *Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive whole number", v)
		}
		*f(c) = n
		return nil
	}
}

func prefixes(f func(c *Config) *reqctx.Prefixes) func(*Config, string) error {
	return func(c *Config, v string) error {
		ps, err := reqctx.ParsePrefixes(v)
		if err != nil {
			return fmt.Errorf("%q is not a comma-separated list of IP addresses and CIDR networks: %v", v, err)
		}
		*f(c) = ps
		return nil
	}
}

func nonNegative(f func(c *Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a whole number ≥ 0", v)
		}
		*f(c) = n
		return nil
	}
}

// Settings returns the table of settings, in documentation order.
func Settings() []Setting {
	return append([]Setting{
		{Flag: "data", Default: "./data", Usage: "folder for the database, generated keys and certificates", set: str(func(c *Config) *string { return &c.DataDir })},
		{Flag: "database", Default: "", Usage: "empty: the embedded SQLite file in --data; postgres://USER@HOST:PORT/DB?… : PostgreSQL (the password from the URL, PGPASSWORD or PGPASSFILE; never logged or shown)", set: func(c *Config, v string) error {
			if v != "" {
				if err := postgres.CheckURL(v); err != nil {
					return err
				}
			}
			c.Database = v
			return nil
		}, show: func(v string) string {
			if v == "" {
				return ""
			}
			return postgres.Redact(v)
		}},
		{Flag: "http-addr", Default: "127.0.0.1:8080", Usage: "where the HTTP listener binds (empty: off)", set: str(func(c *Config) *string { return &c.HTTPAddr })},
		{Flag: "https-addr", Default: "127.0.0.1:8443", Usage: "where the HTTPS listener binds (empty: off)", set: str(func(c *Config) *string { return &c.HTTPSAddr })},
		{Flag: "http-url", Default: "http://localhost:8080", Usage: "public base URL of the HTTP listener (issuer, discovery, links)", set: str(func(c *Config) *string { return &c.HTTPURL })},
		{Flag: "https-url", Default: "https://localhost:8443", Usage: "public base URL of the HTTPS listener", set: str(func(c *Config) *string { return &c.HTTPSURL })},
		{Flag: "tls-cert", Default: "", Usage: "PEM certificate (chain) for HTTPS; default: a self-signed one generated into the data folder", set: str(func(c *Config) *string { return &c.TLSCert })},
		{Flag: "tls-key", Default: "", Usage: "PEM private key for --tls-cert", set: str(func(c *Config) *string { return &c.TLSKey })},
		{Flag: "client-ca", Default: "", Usage: "PEM bundle of CAs whose client certificates the HTTPS listener accepts", set: str(func(c *Config) *string { return &c.ClientCA })},
		{Flag: "client-cert-policy", Default: "allow", Usage: "on the HTTPS listener's /fhir and /scim: reject, limit or allow, for all four cases or per case (no_certificate=limit,unknown_certificate=reject,no_jwt=allow,bad_jwt=reject; in the file a map of the four)", set: func(c *Config, v string) error {
			if _, err := clientcert.ParsePolicy(v); err != nil {
				return err
			}
			c.ClientCertPolicy = v
			return nil
		}},
		{Flag: "client-cert-header", Default: "", Usage: "request header in which a TLS-terminating proxy (one of --trusted-proxies) passes the client certificate: URL-encoded PEM (nginx $ssl_client_escaped_cert) or X-Forwarded-Client-Cert (Envoy); empty: off", set: str(func(c *Config) *string { return &c.ClientCertHeader })},
		{Flag: "access-token-ttl", Default: "1h", Usage: "access token lifetime", kind: kDuration, set: dur(func(c *Config) *time.Duration { return &c.AccessTokenTTL })},
		{Flag: "refresh-token-ttl", Default: "720h", Usage: "refresh token lifetime", kind: kDuration, set: dur(func(c *Config) *time.Duration { return &c.RefreshTokenTTL })},
		{Flag: "code-ttl", Default: "1m", Usage: "authorization code lifetime", kind: kDuration, set: dur(func(c *Config) *time.Duration { return &c.CodeTTL })},
		{Flag: "session-ttl", Default: "12h", Usage: "log-in session lifetime: a log-in is asked for again this long after the last one", kind: kDuration, set: dur(func(c *Config) *time.Duration { return &c.SessionTTL })},
		{Flag: "session-idle-timeout", Default: "30m", Usage: "a log-in session not used (pages, authorization requests) for this long ends on the server (0: no idle limit)", kind: kDuration, set: durOrOff(func(c *Config) *time.Duration { return &c.SessionIdle })},
		{Flag: "owin", Default: "true", Usage: "allow the OWin password grant for local accounts", kind: kBool, set: boolean(func(c *Config) *bool { return &c.OWin })},
		{Flag: "http-auth", Default: "bearer", Usage: "authentication on the HTTP listener's APIs: bearer, or none (loopback development only)", kind: kEnum, enum: []string{"bearer", "none"}, set: str(func(c *Config) *string { return &c.HTTPAuth })},
		{Flag: "registration", Default: "token", Usage: "dynamic client registration (/oauth/register): token (an administrator's bearer token is required) or open (anyone may register public clients with a limited scope ceiling)", kind: kEnum, enum: []string{"token", "open"}, set: str(func(c *Config) *string { return &c.Registration })},
		{Flag: "registration-token-ttl", Default: "24h", Usage: "lifetime of an RFC 7592 registration access token (a new one with every update); afterwards only an administrator changes the client", kind: kDuration, set: dur(func(c *Config) *time.Duration { return &c.RegistrationTokenTTL })},
		{Flag: "admin-password-file", Default: "", Usage: "file holding the first administrator's password (else SMARTGATE_ADMIN_PASSWORD, else generated and printed once)", set: str(func(c *Config) *string { return &c.AdminPasswordFile })},
		{Flag: "log-level", Default: "info", Usage: "debug, info, warn or error", kind: kEnum, enum: []string{"debug", "info", "warn", "error"}, set: str(func(c *Config) *string { return &c.LogLevel })},
		{Flag: "log-format", Default: "text", Usage: "text or json", kind: kEnum, enum: []string{"text", "json"}, set: str(func(c *Config) *string { return &c.LogFormat })},
		{Flag: "dev-assets", Default: "", Usage: "development: read templates/ and static/ from this folder instead of the embedded copies", set: str(func(c *Config) *string { return &c.DevAssets })},
		{Flag: "sqlite-synchronous", Default: "FULL", Usage: "FULL (an acknowledged write survives power loss) or NORMAL (survives a process crash)", kind: kEnum, enum: []string{"FULL", "NORMAL"}, set: str(func(c *Config) *string { return &c.SQLiteSynchronous })},
		{Flag: "max-db-bytes", Default: "0", Usage: "cap on the database size in bytes (0: none); writes beyond it answer 503 and change nothing", kind: kInt, set: nonNegative(func(c *Config) *int64 { return &c.MaxDBBytes })},
		{Flag: "audit-retention", Default: "8760h", Usage: "how long audit records are kept; older ones are deleted hourly (0: keep forever)", kind: kDuration, set: durOrOff(func(c *Config) *time.Duration { return &c.AuditRetention })},
		{Flag: "max-body-bytes", Default: "16777216", Usage: "largest request body accepted, in bytes", kind: kInt, set: integer(func(c *Config) *int64 { return &c.MaxBodyBytes })},
		{Flag: "shutdown-timeout", Default: "30s", Usage: "how long in-flight requests may take to finish at shutdown", kind: kDuration, set: dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
		{Flag: "jwks-allow-private", Default: "false", Usage: "lab mode: let clients' jwks_uri be on loopback or private addresses, or plain http", kind: kBool, set: boolean(func(c *Config) *bool { return &c.JWKSAllowPrivate })},
		{Flag: "trusted-proxies", Default: "", Usage: "comma-separated IP addresses and CIDR networks of reverse proxies whose X-Forwarded-For (else Forwarded) header names the client address, read from the right (empty: none; the peer's address is the client's)", set: prefixes(func(c *Config) *reqctx.Prefixes { return &c.TrustedProxies })},
		{Flag: "hsts", Default: "true", Usage: "send Strict-Transport-Security (max-age=31536000) on the HTTPS listener when --tls-cert is set (never with the generated self-signed certificate)", kind: kBool, set: boolean(func(c *Config) *bool { return &c.HSTS })},
		{Flag: "metrics-allow", Default: "127.0.0.0/8,::1", Usage: "comma-separated IP addresses and CIDR networks of clients that may read /metrics (others: 403, or 401 when --metrics-token-file is set)", set: prefixes(func(c *Config) *reqctx.Prefixes { return &c.MetricsAllow })},
		{Flag: "metrics-token-file", Default: "", Usage: "file holding a bearer token (at least 16 characters) with which any client may read /metrics", set: str(func(c *Config) *string { return &c.MetricsTokenFile })},
		{Flag: "admin-second-factor", Default: string(SecondFactorOptional), Usage: "second factor (TOTP) for administrators: optional (like everyone else: asked for when enrolled) or required (an administrator's log-in completes only with one, enrolled during the log-in if need be)", kind: kEnum, enum: []string{string(SecondFactorOptional), string(SecondFactorRequired)}, set: func(c *Config, v string) error { c.AdminSecondFactor = SecondFactorPolicy(v); return nil }},
		{Flag: "demo", Default: "false", Usage: "load the bundled synthetic patients, demo accounts and the demo SMART app", kind: kBool, set: boolean(func(c *Config) *bool { return &c.Demo })},
	}, upstreamSettings()...)
}

// Error lists every configuration problem found.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "configuration: " + e.Problems[0]
	}
	return "configuration has " + strconv.Itoa(len(e.Problems)) + " problems:\n  - " + strings.Join(e.Problems, "\n  - ")
}

func (e *Error) add(format string, args ...any) {
	e.Problems = append(e.Problems, fmt.Sprintf(format, args...))
}

// ErrHelp is returned when -h or --help was given; usage has been printed.
var ErrHelp = flag.ErrHelp

// Load builds the configuration for a command from args (flags after the
// subcommand), the environment (getenv, normally os.Getenv) and the file
// named by --config (or SMARTGATE_CONFIG). usage receives flag help text.
func Load(name string, args []string, getenv func(string) string, usage io.Writer) (*Config, []string, error) {
	settings := Settings()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	configFile := fs.String("config", getenv("SMARTGATE_CONFIG"), "YAML configuration file (env SMARTGATE_CONFIG)")
	flagVals := map[string]*string{}
	for _, s := range settings {
		v := new(string)
		flagVals[s.Flag] = v
		if s.kind == kBool {
			fs.Var(boolFlag{v}, s.Flag, s.Usage+" (env "+s.Env()+")")
		} else {
			fs.StringVar(v, s.Flag, s.Default, s.Usage+" (env "+s.Env()+")")
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, ErrHelp
		}
		return nil, nil, &Error{Problems: []string{err.Error()}}
	}

	cfg := &Config{}
	problems := &Error{}
	apply := func(s Setting, v, origin string) {
		if s.kind == kEnum && !slices.Contains(s.enum, v) {
			problems.add("%s: %q is not one of %s", origin, v, strings.Join(s.enum, ", "))
			return
		}
		if err := s.set(cfg, v); err != nil {
			problems.add("%s: %v", origin, err)
			return
		}
		cfg.record(s, v, sourceOf(origin))
	}
	for _, s := range settings {
		apply(s, s.Default, "default "+s.Flag)
	}
	if *configFile != "" {
		loadFile(*configFile, cfg, settings, apply, problems)
	}
	for _, s := range settings {
		if v, ok := lookupEnv(getenv, s.Env()); ok {
			apply(s, v, "environment "+s.Env())
		}
	}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.Flag == f.Name {
				apply(s, *flagVals[s.Flag], "flag --"+s.Flag)
			}
		}
	})
	cfg.validate(problems, getenv)
	if len(problems.Problems) > 0 {
		return nil, nil, problems
	}
	return cfg, fs.Args(), nil
}

func lookupEnv(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

type boolFlag struct{ v *string }

func (b boolFlag) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}
func (b boolFlag) Set(s string) error { *b.v = s; return nil }
func (b boolFlag) IsBoolFlag() bool   { return true }

func loadFile(path string, cfg *Config, settings []Setting, apply func(Setting, string, string), problems *Error) {
	b, err := os.ReadFile(path)
	if err != nil {
		problems.add("config file: %v", err)
		return
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		problems.add("config file %s: %v", path, err)
		return
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		node := doc[k]
		origin := fmt.Sprintf("config file %s: key %q (line %d)", path, k, node.Line)
		switch k {
		case "providers":
			cfg.Providers = decodeProviders(&node, origin, problems)
			continue
		case "trusted_jwt_issuers":
			cfg.TrustedJWTIssuers = decodeTrustedJWTIssuers(&node, origin, problems)
			continue
		}
		idx := slices.IndexFunc(settings, func(s Setting) bool { return s.Key() == k })
		if idx < 0 {
			problems.add("%s: unknown key", origin)
			continue
		}
		if k == "client_cert_policy" && node.Kind == yaml.MappingNode {
			v, err := policyFromMap(&node)
			if err != nil {
				problems.add("%s: %v", origin, err)
				continue
			}
			apply(settings[idx], v, origin)
			continue
		}
		if node.Kind != yaml.ScalarNode {
			problems.add("%s: must be a single value", origin)
			continue
		}
		apply(settings[idx], node.Value, origin)
	}
}

// decodeStrict decodes node into v, reporting unknown fields.
func decodeStrict(node *yaml.Node, v any) error {
	out, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(out)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func (c *Config) validate(p *Error, getenv func(string) string) {
	if c.HTTPAddr == "" && c.HTTPSAddr == "" {
		p.add("http-addr and https-addr are both empty: at least one listener must be on")
	}
	checkAddr := func(name, v string) {
		if v == "" {
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil {
			p.add("%s: %q is not host:port", name, v)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			p.add("%s: %q has a bad port", name, v)
		}
	}
	checkAddr("http-addr", c.HTTPAddr)
	checkAddr("https-addr", c.HTTPSAddr)
	checkURL := func(name, v, scheme string) {
		u, err := url.Parse(v)
		switch {
		case err != nil || u.Host == "":
			p.add("%s: %q is not an absolute URL", name, v)
		case u.Scheme != scheme:
			p.add("%s: %q must use %s://", name, v, scheme)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			p.add("%s: %q must not have a query, fragment or user info", name, v)
		}
	}
	checkURL("http-url", c.HTTPURL, "http")
	checkURL("https-url", c.HTTPSURL, "https")
	// reject needs --client-ca or the allow-list: the store is not open
	// here, so the serve command checks that (cmd/smartgate).
	if c.ClientCertHeader != "" {
		if len(c.TrustedProxies) == 0 {
			p.add("client-cert-header needs trusted-proxies: the header is believed only from those addresses")
		}
		if !validHeaderName(c.ClientCertHeader) {
			p.add("client-cert-header: %q is not a header name", c.ClientCertHeader)
		}
	}
	c.validateTrustedJWTIssuers(p)
	c.validateUpstream(p)
	if (c.TLSCert == "") != (c.TLSKey == "") {
		p.add("tls-cert and tls-key go together: set both or neither")
	}
	for name, f := range map[string]string{"tls-cert": c.TLSCert, "tls-key": c.TLSKey, "client-ca": c.ClientCA, "admin-password-file": c.AdminPasswordFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			p.add("%s: %v", name, err)
		}
	}
	if c.MetricsTokenFile != "" {
		if _, err := ReadMetricsToken(c.MetricsTokenFile); err != nil {
			p.add("metrics-token-file: %v", err)
		}
	}
	if c.CodeTTL > 10*time.Minute {
		p.add("code-ttl: %s is too long; authorization codes must be short-lived (at most 10m)", c.CodeTTL)
	}
	if c.HTTPAuth == "none" && c.HTTPAddr != "" && !IsLoopbackAddr(c.HTTPAddr) {
		p.add("http-auth=none is refused because http-addr %q is not a loopback address", c.HTTPAddr)
	}
	c.validateProviders(p, getenv)
}

// MinMetricsTokenLength is the shortest bearer token accepted for /metrics.
const MinMetricsTokenLength = 16

// ReadMetricsToken reads the /metrics bearer token from path (surrounding
// white space removed). It must be at least MinMetricsTokenLength
// characters.
func ReadMetricsToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinMetricsTokenLength || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s: the token must be one line of at least %d characters without spaces", path, MinMetricsTokenLength)
	}
	return tok, nil
}

// IsLoopbackAddr reports whether a listen address binds only to loopback.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && IsLoopbackHost(host)
}

// IsLoopbackHost reports whether a host name or address is loopback.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SessionIdleLimit is SessionIdle for settings whose zero means "the
// default" (web.Config.SessionIdle): negative when there is no idle limit.
func (c *Config) SessionIdleLimit() time.Duration {
	if c.SessionIdle == 0 {
		return -1
	}
	return c.SessionIdle
}
