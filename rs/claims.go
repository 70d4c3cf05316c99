package rs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smartgate/smartgate/authz/smart"
)

// Claims are what a verified access token says.
type Claims struct {
	Issuer   string
	Subject  string
	ClientID string
	Audience []string
	// Scope is the token's scope as issued (space-separated); Scopes the
	// parsed SMART scopes of it (scopes that do not parse are left out).
	Scope  string
	Scopes smart.Scopes
	// Patient, Encounter and FHIRUser are the SMART launch context and
	// identity claims, when the token carries them.
	Patient   string
	Encounter string
	FHIRUser  string
	// CertThumbprint is the RFC 8705 cnf x5t#S256 of a certificate-bound
	// token (empty: not bound). Expiry is zero when an introspection
	// answer had no exp.
	CertThumbprint string
	JTI            string
	IssuedAt       time.Time
	Expiry         time.Time
}

// HasScope reports whether the token's scopes grant scope (SMART 1 and 2
// spellings compared by meaning; smart.Scopes.Contains); false for a scope
// that does not parse.
func (c *Claims) HasScope(scope string) bool {
	s, err := smart.ParseScope(scope)
	return err == nil && c != nil && c.Scopes.Contains(s)
}

type claimsKey struct{}

// FromContext returns the Claims that Middleware put in ctx.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// WithClaims returns ctx carrying c (what Middleware does; for tests of
// handlers behind it).
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ErrInvalidToken is wrapped by every Verifier error about the token
// itself (expired, wrong issuer or audience, bad signature, inactive): the
// caller answers 401 invalid_token. Other errors (the issuer's keys or the
// introspection endpoint cannot be had) are the server's problem.
var ErrInvalidToken = errors.New("rs: invalid token")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// rawClaims is the JSON of a JWT access token (RFC 9068 §2.2) or of an
// introspection response (RFC 7662 §2.2): the members both share.
type rawClaims struct {
	Active    *bool           `json:"active,omitempty"`
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	ClientID  string          `json:"client_id"`
	Audience  audience        `json:"aud"`
	Scope     json.RawMessage `json:"scope"`
	SCP       []string        `json:"scp"`
	Patient   string          `json:"patient"`
	Encounter string          `json:"encounter"`
	FHIRUser  string          `json:"fhirUser"`
	JTI       string          `json:"jti"`
	Exp       *json.Number    `json:"exp"`
	Nbf       *json.Number    `json:"nbf"`
	Iat       *json.Number    `json:"iat"`
	Cnf       struct {
		X5t string `json:"x5t#S256"`
	} `json:"cnf"`
}

// audience is aud as a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// numericDate reads a JSON NumericDate (seconds, possibly fractional).
func numericDate(n *json.Number) (time.Time, bool, error) {
	if n == nil {
		return time.Time{}, false, nil
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false, fmt.Errorf("%q is not a NumericDate", n.String())
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true, nil
}

// claims checks raw's times against now (exp required unless optionalExp;
// nbf and iat not in the future beyond leeway), its issuer against iss and
// its audience against aud (when set), and returns the Claims.
func (raw *rawClaims) claims(iss, aud string, now time.Time, leeway time.Duration, optionalExp bool) (*Claims, error) {
	exp, hasExp, err := numericDate(raw.Exp)
	if err != nil {
		return nil, invalid("exp: %v", err)
	}
	if !hasExp && !optionalExp {
		return nil, invalid("no exp")
	}
	if hasExp && !now.Before(exp.Add(leeway)) {
		return nil, invalid("expired")
	}
	if nbf, ok, err := numericDate(raw.Nbf); err != nil || ok && now.Add(leeway).Before(nbf) {
		return nil, invalid("not valid yet (nbf)")
	}
	iat, ok, err := numericDate(raw.Iat)
	if err != nil || ok && now.Add(leeway).Before(iat) {
		return nil, invalid("issued in the future (iat)")
	}
	if iss != "" && raw.Issuer != iss {
		return nil, invalid("issuer %q is not %q", raw.Issuer, iss)
	}
	if aud != "" && !slices.Contains(raw.Audience, aud) {
		return nil, invalid("audience %q does not include %q", []string(raw.Audience), aud)
	}
	scope, err := raw.scope()
	if err != nil {
		return nil, invalid("scope: %v", err)
	}
	parsed, _ := smart.ParseScopes(scope)
	return &Claims{
		Issuer: raw.Issuer, Subject: raw.Subject, ClientID: raw.ClientID, Audience: raw.Audience,
		Scope: scope, Scopes: parsed, Patient: raw.Patient, Encounter: raw.Encounter, FHIRUser: raw.FHIRUser,
		CertThumbprint: raw.Cnf.X5t, JTI: raw.JTI, IssuedAt: iat, Expiry: exp,
	}, nil
}

// scope is the scope claim: a space-separated string (RFC 9068 §2.2.3,
// RFC 7662), or the scp array some servers send.
func (raw *rawClaims) scope() (string, error) {
	if len(raw.Scope) > 0 && string(raw.Scope) != "null" {
		var s string
		if err := json.Unmarshal(raw.Scope, &s); err != nil {
			return "", errors.New("not a string")
		}
		return s, nil
	}
	return strings.Join(raw.SCP, " "), nil
}
