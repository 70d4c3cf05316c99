package registration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/smartgate/smartgate/authz/smart"
)

// Length limits on registered metadata. Requests over a limit are refused
// with invalid_client_metadata (or invalid_redirect_uri for redirect_uris)
// rather than truncated.
const (
	MaxURILength               = 2000     // any URI
	MaxClientNameRunes         = 200      // client_name
	MaxTextLength              = 255      // software_id, software_version, one contact, one kid
	MaxContacts                = 10       // contacts entries
	MaxScopeLength             = 8192     // scope (granular SMART scopes can be long)
	MaxSoftwareStatementLength = 16 << 10 // software_statement
	DefaultMaxRedirectURIs     = 10       // when Policy.MaxRedirectURIs is 0
)

// Policy is what the caller allows for one registration: open registration
// (RFC 7591 §3 without an initial access token) gets a narrow policy, an
// administrator a wide one (checklist DCR7).
type Policy struct {
	// Scopes is the scope ceiling. Requested scopes outside it are narrowed
	// to it with smart.Scopes.Intersect (RFC 7591 §2: the server "MAY reject
	// or replace any of the client's requested metadata values"); the
	// registered value is returned in the response, so the client sees what
	// it got. When nothing requested survives, Validate fails. A nil ceiling
	// allows no scope at all unless AnyScope is set.
	Scopes smart.Scopes
	// AnyScope registers every valid requested scope as is (administrators).
	AnyScope bool
	// DefaultScopes are registered when the request has no scope (RFC 7591
	// §2: "the authorization server MAY register a client with a default set
	// of scopes"), narrowed to the ceiling like a request.
	DefaultScopes smart.Scopes
	// AllowConfidential permits token_endpoint_auth_method other than "none".
	// When false, an omitted method defaults to "none" instead of
	// client_secret_basic and any other method is refused: open registration
	// creates public clients only (DCR7).
	AllowConfidential bool
	// MaxRedirectURIs caps redirect_uris and post_logout_redirect_uris; 0
	// means DefaultMaxRedirectURIs.
	MaxRedirectURIs int
	// GrantTypes lists the grant types this registration may use, a subset
	// of authorization_code, refresh_token and client_credentials; nil allows
	// all three.
	GrantTypes []string
	// AuthMethods, when not nil, lists the only token_endpoint_auth_method
	// values this registration may use; an omitted method is the first.
	// (RFC 7592 updates under a client's ceiling.)
	AuthMethods []string
	// AllowSymmetricBackend lets client_credentials use client_secret_basic
	// or client_secret_post (RFC 6749 §4.4). Only for administrators (the
	// pages, an RFC 7591 request with an administrator's token, the CLI):
	// provisioning clients and resource servers that are not SMART Backend
	// Services, which require private_key_jwt (checklist K13). Open and
	// self-service registrations never get it.
	AllowSymmetricBackend bool
	// AllowCertificateAuth permits tls_client_auth and
	// self_signed_tls_client_auth (RFC 8705 §2). Administrators only (and
	// RFC 7592 updates of a client an administrator gave such a method):
	// a certificate names one client, and a second client registered for
	// the same subject or public key (public keys are public) makes the
	// certificate ambiguous, so that it authenticates neither.
	AllowCertificateAuth bool
}

// Validate checks client metadata against RFC 7591, RFC 9700 and the SMART
// App Launch IG, and returns the normalised metadata to store and echo (RFC
// 7591 §3.2.1), or an *Error (RFC 7591 §3.2.2). Validate is idempotent: a
// result validates again, under the same policy, to itself. The rules:
//
// Authentication method (RFC 7591 §2, RFC 8705 §2): one of none,
// client_secret_basic, client_secret_post, private_key_jwt,
// tls_client_auth, self_signed_tls_client_auth. When it is omitted the RFC
// default client_secret_basic is registered, except that a request with a
// tls_client_auth_* member gets tls_client_auth, one with jwks or jwks_uri
// gets private_key_jwt, that a
// policy without AllowConfidential registers none, and that a policy with
// AuthMethods registers the first of them (and refuses any method not
// listed). The response shows the client which (RFC 7591 §3.2.1).
//
// Grant and response types (RFC 7591 §2.1, checklist DCR4): grant_types
// defaults to [authorization_code]; response_types to [code] when
// authorization_code is registered and to nothing otherwise. The only
// response type is "code", and "code" is registered exactly when
// authorization_code is; a request that names both inconsistently is
// refused rather than silently corrected. refresh_token requires
// authorization_code (no other grant issues refresh tokens here).
// client_credentials requires private_key_jwt or a certificate method:
// SMART Backend Services authenticate with asymmetric keys, and symmetric
// secrets are not for backend services (IG client-confidential-symmetric,
// checklist K13).
// implicit and password, and the "token" response type, are refused (RFC
// 9700 §2.1.2 and §2.4). Repeated values are removed.
//
// Redirect URIs (RFC 6749 §3.1.2, RFC 9700 §2.1 and §4.1, RFC 8252 §7,
// checklist DCR5): at least one when authorization_code is registered, at
// most Policy.MaxRedirectURIs; each absolute, printable ASCII, without
// fragment, wildcard ('*') or user information, and either https with a
// host, http on a loopback host (127.0.0.1, [::1], localhost; RFC 8252 §7.3),
// or a private-use scheme in reverse-DNS form such as com.example.app:/cb
// (RFC 8252 §7.1). javascript:, data: and every other scheme are refused.
// Redirect URIs are stored byte for byte as given (after trimming
// surrounding spaces), because they are later compared by exact string
// match (RFC 9700 §4.1.3, checklist C7). post_logout_redirect_uris follow
// the same rules.
//
// Other URLs: client_uri, logo_uri, tos_uri, policy_uri, launch_uri and
// jwks_uri must be https URLs with a host, or http on a loopback host; no
// user information; launch_uri and jwks_uri have no fragment.
//
// Text: client_name, software_id, software_version and contacts are kept
// as text (markup is harmless because every page escapes it) but may not
// contain control characters or Unicode bidirectional overrides, and are
// length-limited.
//
// Keys (RFC 7591 §2, checklists DCR3, DCR9, K8, L2): jwks and jwks_uri are
// mutually exclusive; private_key_jwt and self_signed_tls_client_auth
// (RFC 8705 §2.2: the certificate's key is one of them) require exactly
// one of them, and no other method may register either (keys are used only
// to authenticate, so a client registered with keys cannot fall back to a
// secret). jwks must pass ParseJWKS and is stored compacted.
//
// Certificates (RFC 8705 §2.1.2): tls_client_auth requires exactly one of
// tls_client_auth_subject_dn (an RFC 4514 DN, ParseDN),
// tls_client_auth_san_dns, _san_uri (absolute), _san_ip (registered in
// canonical form) and _san_email (TLSSubjectProblem); no other method may
// register any of them. Both certificate methods need
// Policy.AllowCertificateAuth. tls_client_certificate_bound_access_tokens
// (RFC 8705 §3.4) is kept as given, for any method.
//
// Scope (RFC 7591 §2): parsed with smart.ParseScopes; an invalid token is
// refused; the result is narrowed to Policy.Scopes (see Policy). system/
// scopes require the client_credentials grant.
//
// Software statement (RFC 7591 §2.3): a value that is not a signed JWS in
// compact serialisation is refused with invalid_software_statement; a
// well-formed one is ignored (the server "MAY ignore the software statement
// if it does not support this feature"): its claims are not used and it is
// not registered or echoed.
//
// client_id is not part of Metadata: a client can never choose its own id
// (RFC 9700 §2.6, checklist S12).
func Validate(m Metadata, p Policy) (Metadata, error) {
	var out Metadata

	// Keys first: DCR3 is absolute.
	jwksURI := strings.TrimSpace(m.JWKSURI)
	jwks := bytes.TrimSpace(m.JWKS)
	if bytes.Equal(jwks, []byte("null")) {
		jwks = nil
	}
	if jwksURI != "" && len(jwks) > 0 {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "jwks and jwks_uri must not both be present (RFC 7591 §2)")
	}

	// Authentication method.
	method := strings.TrimSpace(m.TokenEndpointAuthMethod)
	switch method {
	case "":
		switch {
		case len(p.AuthMethods) > 0:
			method = p.AuthMethods[0]
		case !p.AllowConfidential:
			method = AuthNone
		case hasTLSSubject(m) && p.AllowCertificateAuth:
			method = AuthTLSClientAuth
		case jwksURI != "" || len(jwks) > 0:
			method = AuthPrivateKeyJWT
		default:
			method = AuthClientSecretBasic
		}
	case AuthNone, AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthTLSClientAuth, AuthSelfSignedTLSClientAuth:
	default:
		return Metadata{}, errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method %s is not supported; use none, client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or self_signed_tls_client_auth", quote(method))
	}
	if method != AuthNone && !p.AllowConfidential {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "this registration may only create public clients (token_endpoint_auth_method none)")
	}
	if (method == AuthTLSClientAuth || method == AuthSelfSignedTLSClientAuth) && !p.AllowCertificateAuth {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method %s is for clients an administrator registers", method)
	}
	if p.AuthMethods != nil && !slices.Contains(p.AuthMethods, method) {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method %s is not allowed for this client; an administrator can change it", method)
	}
	out.TokenEndpointAuthMethod = method

	// Grant and response types.
	grants, err := grantTypes(m.GrantTypes, p.GrantTypes)
	if err != nil {
		return Metadata{}, err
	}
	responses, err := responseTypes(m.ResponseTypes)
	if err != nil {
		return Metadata{}, err
	}
	hasCode := slices.Contains(grants, GrantAuthorizationCode)
	switch {
	case len(responses) == 0 && hasCode:
		responses = []string{ResponseTypeCode}
	case len(responses) > 0 && !hasCode:
		return Metadata{}, errorf(CodeInvalidClientMetadata, "response_types code requires the authorization_code grant type (RFC 7591 §2.1)")
	}
	if slices.Contains(grants, GrantRefreshToken) && !hasCode {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "grant type refresh_token requires authorization_code")
	}
	backend := slices.Contains(grants, GrantClientCredentials)
	if backend && !asymmetric(method) && !(p.AllowSymmetricBackend && (method == AuthClientSecretBasic || method == AuthClientSecretPost)) {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "grant type client_credentials requires token_endpoint_auth_method private_key_jwt (SMART Backend Services), tls_client_auth or self_signed_tls_client_auth")
	}
	out.GrantTypes, out.ResponseTypes = grants, responses

	// Redirect URIs.
	maxURIs := p.MaxRedirectURIs
	if maxURIs <= 0 {
		maxURIs = DefaultMaxRedirectURIs
	}
	out.RedirectURIs, err = redirectURIs("redirect_uris", m.RedirectURIs, maxURIs, CodeInvalidRedirectURI)
	if err != nil {
		return Metadata{}, err
	}
	if hasCode && len(out.RedirectURIs) == 0 {
		return Metadata{}, errorf(CodeInvalidRedirectURI, "redirect_uris is required for the authorization_code grant type")
	}
	out.PostLogoutRedirectURIs, err = redirectURIs("post_logout_redirect_uris", m.PostLogoutRedirectURIs, maxURIs, CodeInvalidClientMetadata)
	if err != nil {
		return Metadata{}, err
	}

	// Web URLs.
	for _, f := range []struct {
		name          string
		in            string
		dst           *string
		allowFragment bool
	}{
		{"client_uri", m.ClientURI, &out.ClientURI, true},
		{"logo_uri", m.LogoURI, &out.LogoURI, true},
		{"tos_uri", m.TOSURI, &out.TOSURI, true},
		{"policy_uri", m.PolicyURI, &out.PolicyURI, true},
		{"launch_uri", m.LaunchURI, &out.LaunchURI, false},
		{"jwks_uri", jwksURI, &out.JWKSURI, false},
	} {
		v := strings.TrimSpace(f.in)
		if v == "" {
			continue
		}
		if problem := webURLProblem(v, f.allowFragment); problem != "" {
			return Metadata{}, errorf(CodeInvalidClientMetadata, "%s %s: %s", f.name, quote(v), problem)
		}
		*f.dst = v
	}

	// Text.
	for _, f := range []struct {
		name     string
		in       string
		dst      *string
		maxRunes int
	}{
		{"client_name", m.ClientName, &out.ClientName, MaxClientNameRunes},
		{"software_id", m.SoftwareID, &out.SoftwareID, MaxTextLength},
		{"software_version", m.SoftwareVersion, &out.SoftwareVersion, MaxTextLength},
	} {
		v := strings.TrimSpace(f.in)
		if problem := textProblem(v, f.maxRunes); problem != "" {
			return Metadata{}, errorf(CodeInvalidClientMetadata, "%s %s", f.name, problem)
		}
		*f.dst = v
	}
	for _, c := range m.Contacts {
		c = strings.TrimSpace(c)
		if c == "" {
			return Metadata{}, errorf(CodeInvalidClientMetadata, "contacts must not contain empty entries")
		}
		if problem := textProblem(c, MaxTextLength); problem != "" {
			return Metadata{}, errorf(CodeInvalidClientMetadata, "contact %s", problem)
		}
		if !slices.Contains(out.Contacts, c) {
			if len(out.Contacts) == MaxContacts {
				return Metadata{}, errorf(CodeInvalidClientMetadata, "at most %d contacts", MaxContacts)
			}
			out.Contacts = append(out.Contacts, c)
		}
	}

	// Keys.
	usesKeys := method == AuthPrivateKeyJWT || method == AuthSelfSignedTLSClientAuth
	if usesKeys && jwksURI == "" && len(jwks) == 0 {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "token_endpoint_auth_method %s requires jwks or jwks_uri", method)
	}
	if !usesKeys && (jwksURI != "" || len(jwks) > 0) {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "jwks and jwks_uri may only be registered with token_endpoint_auth_method private_key_jwt or self_signed_tls_client_auth")
	}
	if len(jwks) > 0 {
		if _, err := ParseJWKS(jwks); err != nil {
			return Metadata{}, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, jwks); err != nil { // ParseJWKS accepted it, so it is JSON
			return Metadata{}, errorf(CodeInvalidClientMetadata, "jwks is not valid JSON")
		}
		out.JWKS = json.RawMessage(buf.Bytes())
	}

	// Certificates (RFC 8705).
	if err := tlsSubject(m, method, &out); err != nil {
		return Metadata{}, err
	}
	out.TLSClientCertificateBoundAccessTokens = m.TLSClientCertificateBoundAccessTokens

	// Scope.
	if out.Scope, err = scope(m.Scope, p, backend); err != nil {
		return Metadata{}, err
	}

	// Software statement: checked, then ignored.
	if ss := strings.TrimSpace(m.SoftwareStatement); ss != "" && !wellFormedJWS(ss) {
		return Metadata{}, errorf(CodeInvalidSoftwareStatement, "software_statement is not a signed JWT in compact serialisation (RFC 7591 §2.3)")
	}
	return out, nil
}

// asymmetric reports the methods that authenticate with a key or a
// certificate rather than a shared secret.
func asymmetric(method string) bool {
	return method == AuthPrivateKeyJWT || method == AuthTLSClientAuth || method == AuthSelfSignedTLSClientAuth
}

// grantTypes validates and de-duplicates grant_types (RFC 7591 §2).
func grantTypes(in, allowed []string) ([]string, *Error) {
	if len(in) == 0 {
		in = []string{GrantAuthorizationCode}
	}
	var out []string
	for _, g := range in {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
		case "implicit", "password":
			return nil, errorf(CodeInvalidClientMetadata, "grant type %s is not allowed (RFC 9700 §2.1.2, §2.4)", g)
		default:
			return nil, errorf(CodeInvalidClientMetadata, "grant type %s is not supported", quote(g))
		}
		if allowed != nil && !slices.Contains(allowed, g) {
			return nil, errorf(CodeInvalidClientMetadata, "grant type %s is not allowed for this registration", g)
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

// responseTypes validates and de-duplicates response_types (RFC 7591 §2).
func responseTypes(in []string) ([]string, *Error) {
	var out []string
	for _, r := range in {
		switch r {
		case ResponseTypeCode:
		case "token":
			return nil, errorf(CodeInvalidClientMetadata, "response type token (implicit grant) is not allowed (RFC 9700 §2.1.2)")
		default:
			return nil, errorf(CodeInvalidClientMetadata, "response type %s is not supported; only code", quote(r))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// redirectURIs validates and de-duplicates a list of redirection URIs.
func redirectURIs(name string, in []string, maxURIs int, code string) ([]string, *Error) {
	var out []string
	for _, u := range in {
		u = strings.TrimSpace(u)
		if problem := RedirectURIProblem(u); problem != "" {
			return nil, errorf(code, "%s entry %s: %s", name, quote(u), problem)
		}
		if slices.Contains(out, u) {
			continue
		}
		if len(out) == maxURIs {
			return nil, errorf(code, "at most %d %s", maxURIs, name)
		}
		out = append(out, u)
	}
	return out, nil
}

// scope parses, checks and narrows the requested scope (RFC 7591 §2).
func scope(in string, p Policy, backend bool) (string, *Error) {
	if len(in) > MaxScopeLength {
		return "", errorf(CodeInvalidClientMetadata, "scope longer than %d bytes", MaxScopeLength)
	}
	requested, invalid := smart.ParseScopes(in)
	if len(invalid) > 0 {
		return "", errorf(CodeInvalidClientMetadata, "scope %s is not a valid scope", quote(invalid[0]))
	}
	explicit := len(requested) > 0
	switch {
	case explicit && !backend && hasSystem(requested):
		return "", errorf(CodeInvalidClientMetadata, "system/ scopes require the client_credentials grant type (SMART Backend Services)")
	case !explicit:
		for _, s := range p.DefaultScopes {
			if backend || !isSystem(s) {
				requested = append(requested, s)
			}
		}
	}
	granted := requested
	if !p.AnyScope {
		granted = requested.Intersect(p.Scopes)
	}
	if explicit && len(granted) == 0 {
		return "", errorf(CodeInvalidClientMetadata, "none of the requested scopes may be registered")
	}
	return granted.String(), nil
}

func hasSystem(ss smart.Scopes) bool {
	return slices.ContainsFunc(ss, isSystem)
}

func isSystem(s smart.Scope) bool {
	return s.Kind() == smart.KindResource && s.Context() == smart.ContextSystem
}

// textProblem describes what is wrong with a human-readable value, or "".
func textProblem(s string, maxRunes int) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if utf8.RuneCountInString(s) > maxRunes {
		return "is longer than " + strconv.Itoa(maxRunes) + " characters"
	}
	for _, r := range s {
		if unicode.IsControl(r) || isBidiControl(r) {
			return "contains a control character"
		}
	}
	return ""
}

// isBidiControl reports the Unicode bidirectional embedding, override and
// isolate characters (and the marks), which can make a displayed name read
// differently from what it is (Unicode TR #9, "Trojan Source").
func isBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F ||
		(r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// wellFormedJWS reports whether s is a JWS in compact serialisation (RFC
// 7515 §7.1) with a JSON header naming an algorithm other than "none" and a
// non-empty signature: RFC 7591 §2.3 requires software statements to be
// signed or MACed.
func wellFormedJWS(s string) bool {
	if len(s) > MaxSoftwareStatementLength {
		return false
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[2] == "" {
		return false
	}
	for _, p := range parts[1:] {
		if _, err := base64.RawURLEncoding.DecodeString(p); err != nil {
			return false
		}
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hdr, &h) != nil || h.Alg == "" || strings.EqualFold(h.Alg, "none") {
		return false
	}
	return true
}

// quote returns s as a Go-quoted string (control characters and non-ASCII
// escaped), shortened to 64 bytes, for error descriptions.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.QuoteToASCII(s[:cut]) + "…"
	}
	return strconv.QuoteToASCII(s)
}
