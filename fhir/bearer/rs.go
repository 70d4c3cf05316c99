package bearer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/rs"
	"github.com/smartgate/smartgate/store"
)

// ForeignVerifier is the Verifier of the gateway (smartgate gateway): it
// checks tokens of an issuer that keeps its accounts to itself, by package
// rs (the issuer's JWKS, or RFC 7662 introspection), and is the one place
// that decides whom such a token speaks for, from the token alone:
//
//   - a token whose sub is its client_id (or that has no sub) and that
//     names no fhirUser is a backend service's (System): its system/
//     scopes reach what they say;
//   - any other token speaks for a person, known only by fhirUser: a
//     Patient's user/ scopes reach their own compartment; a Practitioner's
//     or PractitionerRole's reach what the scopes say (the issuer decided
//     at issue that they may act for others); anyone else's user/ scopes
//     reach nothing. patient/ scopes reach the token's patient claim, as
//     everywhere.
//
// Administrators' unrestricted tokens do not exist at a gateway.
type ForeignVerifier struct {
	Tokens rs.Verifier
}

var _ Verifier = ForeignVerifier{}

// Verify implements Verifier.
func (v ForeignVerifier) Verify(ctx context.Context, token string) (*access.Principal, time.Time, error) {
	c, err := v.Tokens.Verify(ctx, token)
	switch {
	case errors.Is(err, rs.ErrInvalidToken):
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrInactive, err)
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	p := &access.Principal{
		Subject:        c.Subject,
		ClientID:       c.ClientID,
		Scopes:         c.Scopes,
		Patient:        c.Patient,
		FHIRUser:       c.FHIRUser,
		Audience:       c.Audience,
		CertThumbprint: c.CertThumbprint,
	}
	p.System = c.FHIRUser == "" && (c.Subject == "" || c.Subject == c.ClientID)
	if p.Subject == "" {
		p.Subject = c.ClientID
	}
	switch fhirUserType(c.FHIRUser) {
	case "Practitioner", "PractitionerRole":
		p.Roles = []string{account.RolePractitioner}
	case "Patient":
		p.Roles = []string{account.RolePatient}
	}
	exp := c.Expiry
	if exp.IsZero() {
		// An introspection answer without exp: good for this request and
		// the Authenticator's revalidation bound only.
		exp = time.Now().Add(time.Minute)
	}
	return p, exp, nil
}

// fhirUserType is the resource type of a fhirUser claim: a relative
// reference (Practitioner/9) or an absolute URL ({base}/Practitioner/9).
func fhirUserType(fhirUser string) string {
	parts := strings.Split(strings.TrimRight(fhirUser, "/"), "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}
