package registration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Token endpoint authentication methods (RFC 7591 §2, RFC 7523 §2.2).
const (
	AuthNone              = "none"                // public client (PKCE required)
	AuthClientSecretBasic = "client_secret_basic" // RFC 6749 §2.3.1, HTTP Basic
	AuthClientSecretPost  = "client_secret_post"  // RFC 6749 §2.3.1, form body
	AuthPrivateKeyJWT     = "private_key_jwt"     // RFC 7523 / SMART asymmetric
	// AuthTLSClientAuth: a certificate that chains to the server's client
	// CA and carries the registered subject DN or SAN (RFC 8705 §2.1).
	AuthTLSClientAuth = "tls_client_auth"
	// AuthSelfSignedTLSClientAuth: a certificate whose key is in the
	// client's registered JWK Set (RFC 8705 §2.2).
	AuthSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// Grant types (RFC 7591 §2) that a client may register.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// ResponseTypeCode is the only response type smartgate registers (RFC 7591
// §2: "code" for the authorization code grant; RFC 9700 §2.1.2 rules out the
// implicit grant's "token").
const ResponseTypeCode = "code"

// Metadata is the client metadata of RFC 7591 §2 and §2.2, plus the SMART
// App Launch launch_uri and OpenID Connect RP-Initiated Logout's
// post_logout_redirect_uris. The JSON names are those of the RFCs; the same
// names are the form field names of the administrator's registration page.
//
// Unknown members are not kept (RFC 7591 §3.1: the server MUST ignore
// metadata it does not understand), and nor are the language-tagged variants
// of human-readable members (client_name#ja, RFC 7591 §2.2).
type Metadata struct {
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	Contacts                []string        `json:"contacts,omitempty"`
	TOSURI                  string          `json:"tos_uri,omitempty"`
	PolicyURI               string          `json:"policy_uri,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	SoftwareID              string          `json:"software_id,omitempty"`
	SoftwareVersion         string          `json:"software_version,omitempty"`
	SoftwareStatement       string          `json:"software_statement,omitempty"`

	// LaunchURI is where an EHR launch sends the browser, with iss and launch
	// (SMART App Launch IG #launch-app-ehr-launch).
	LaunchURI string `json:"launch_uri,omitempty"`
	// PostLogoutRedirectURIs are the OpenID Connect RP-Initiated Logout 1.0
	// §3.1 redirect targets after logout.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`

	// RFC 8705 §2.1.2: the one subject DN or SAN a tls_client_auth
	// client's certificate carries (exactly one is registered).
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS    string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI    string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP     string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail  string `json:"tls_client_auth_san_email,omitempty"`
	// TLSClientCertificateBoundAccessTokens is RFC 8705 §3.4's
	// tls_client_certificate_bound_access_tokens: the client's access tokens
	// are bound to its certificate (false, the default, is left out).
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
}

// RFC 7591 §3.2.2 error codes.
const (
	CodeInvalidRedirectURI          = "invalid_redirect_uri"
	CodeInvalidClientMetadata       = "invalid_client_metadata"
	CodeInvalidSoftwareStatement    = "invalid_software_statement"
	CodeUnapprovedSoftwareStatement = "unapproved_software_statement"
)

// Error is a registration error (RFC 7591 §3.2.2). It marshals to the JSON
// body the registration endpoint returns with HTTP 400. Description never
// contains internal error text, and quotes client input only shortened and
// escaped, so it is safe to return to the client and to show on a page.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *Error) Error() string {
	return "registration: " + e.Code + ": " + e.Description
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &registration.Error{Code: registration.CodeInvalidRedirectURI})
// works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// MaxRequestBytes is the largest registration request Decode accepts (a
// JWK Set of a few RSA keys is under 10 KiB). HTTP handlers should also cap
// the body with http.MaxBytesReader.
const MaxRequestBytes = 128 << 10

// Decode reads one registration request body (RFC 7591 §3.1): a JSON object
// whose members are matched by their exact, case-sensitive names. Unknown
// members (client_id among them: S12) are ignored; a duplicated member, a
// member of the wrong JSON type, trailing data or a body over
// MaxRequestBytes is an *Error with CodeInvalidClientMetadata. A null member
// counts as absent.
func Decode(r io.Reader) (Metadata, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return Metadata{}, fmt.Errorf("registration: read request: %w", err)
	}
	if len(data) > MaxRequestBytes {
		return Metadata{}, errorf(CodeInvalidClientMetadata, "request larger than %d bytes", MaxRequestBytes)
	}
	members, derr := objectMembers(data)
	if derr != nil {
		return Metadata{}, derr
	}
	var m Metadata
	for name, raw := range members {
		if bytes.Equal(raw, []byte("null")) {
			continue
		}
		var dst any
		switch name {
		case "redirect_uris":
			dst = &m.RedirectURIs
		case "token_endpoint_auth_method":
			dst = &m.TokenEndpointAuthMethod
		case "grant_types":
			dst = &m.GrantTypes
		case "response_types":
			dst = &m.ResponseTypes
		case "client_name":
			dst = &m.ClientName
		case "client_uri":
			dst = &m.ClientURI
		case "logo_uri":
			dst = &m.LogoURI
		case "scope":
			dst = &m.Scope
		case "contacts":
			dst = &m.Contacts
		case "tos_uri":
			dst = &m.TOSURI
		case "policy_uri":
			dst = &m.PolicyURI
		case "jwks_uri":
			dst = &m.JWKSURI
		case "jwks":
			if len(raw) == 0 || raw[0] != '{' {
				return Metadata{}, errorf(CodeInvalidClientMetadata, "jwks must be a JSON object (a JWK Set)")
			}
			m.JWKS = bytes.Clone(raw)
			continue
		case "software_id":
			dst = &m.SoftwareID
		case "software_version":
			dst = &m.SoftwareVersion
		case "software_statement":
			dst = &m.SoftwareStatement
		case "launch_uri":
			dst = &m.LaunchURI
		case "post_logout_redirect_uris":
			dst = &m.PostLogoutRedirectURIs
		case "tls_client_auth_subject_dn":
			dst = &m.TLSClientAuthSubjectDN
		case "tls_client_auth_san_dns":
			dst = &m.TLSClientAuthSANDNS
		case "tls_client_auth_san_uri":
			dst = &m.TLSClientAuthSANURI
		case "tls_client_auth_san_ip":
			dst = &m.TLSClientAuthSANIP
		case "tls_client_auth_san_email":
			dst = &m.TLSClientAuthSANEmail
		case "tls_client_certificate_bound_access_tokens":
			dst = &m.TLSClientCertificateBoundAccessTokens
		default:
			continue // RFC 7591 §3.1: ignore what we do not understand
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			want := "a string"
			switch dst.(type) {
			case *[]string:
				want = "an array of strings"
			case *bool:
				want = "true or false"
			}
			return Metadata{}, errorf(CodeInvalidClientMetadata, "%s must be %s", name, want)
		}
	}
	return m, nil
}

// objectMembers splits a JSON object into its members, refusing duplicates
// (RFC 8259 §4: names SHOULD be unique; a duplicate makes the request
// ambiguous) and anything that is not exactly one object.
func objectMembers(data []byte) (map[string]json.RawMessage, *Error) {
	bad := errorf(CodeInvalidClientMetadata, "request body is not a JSON object")
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, bad
	}
	members := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		name, ok := tok.(string)
		if !ok {
			return nil, bad
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad
		}
		if _, dup := members[name]; dup {
			return nil, errorf(CodeInvalidClientMetadata, "member %s appears more than once", quote(name))
		}
		members[name] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, bad
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bad
	}
	return members, nil
}
