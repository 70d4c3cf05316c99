package oidc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/smartgate/smartgate/idp"
)

// Bounds of what an identity keeps from the provider's claims.
const (
	maxSubject = 255  // OpenID Connect Core §2: sub is at most 255 ASCII characters
	maxClaim   = 1024 // longer string claims are ignored
	maxAMR     = 16
)

// mapClaims is the Identity the claims (an id_token's or userinfo's,
// decoded as JSON objects) describe, through the mapping m (smartgate
// name → claim name, "" unset). Claims of the wrong type or too long are
// ignored; email_verified may be a bool or the string "true" (some
// providers). Issuer and Subject are left to the caller.
func mapClaims(m map[string]string, claims map[string]json.RawMessage) idp.Identity {
	str := func(name string) string {
		raw, ok := claims[m[name]]
		if m[name] == "" || !ok {
			return ""
		}
		var s string
		if json.Unmarshal(raw, &s) != nil || len(s) > maxClaim {
			return ""
		}
		return strings.TrimSpace(s)
	}
	id := idp.Identity{
		Email:             str(ClaimEmail),
		EmailVerified:     boolClaim(claims[m[ClaimEmailVerified]]),
		Name:              str(ClaimName),
		GivenName:         str(ClaimGivenName),
		FamilyName:        str(ClaimFamilyName),
		PreferredUsername: str(ClaimPreferredUsername),
		Domain:            strings.ToLower(str(ClaimDomain)),
	}
	if m[ClaimEmailVerified] == "" {
		id.EmailVerified = false
	}
	var amr []string
	if json.Unmarshal(claims["amr"], &amr) == nil && len(amr) <= maxAMR {
		for _, a := range amr {
			if a != "" && len(a) <= 64 {
				id.AMR = append(id.AMR, a)
			}
		}
	}
	return id
}

// boolClaim is a claim that is true, or the string "true" (any case).
func boolClaim(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && strings.EqualFold(s, "true")
}

// has reports whether claims has the claim name, not null.
func has(claims map[string]json.RawMessage, name string) bool {
	raw, ok := claims[name]
	return name != "" && ok && string(raw) != "null"
}

// checkDomain admits id when no domains are allowed, or its verified
// domain is allowed: the domain claim when there is one, else the
// domain of the email when the provider says it is verified.
func checkDomain(id idp.Identity, allowed []string) error {
	if len(allowed) == 0 {
		return nil
	}
	d, from := id.Domain, "hosted domain"
	if d == "" {
		if !id.EmailVerified {
			return fmt.Errorf("%w: the provider vouches for no domain (no domain claim, no verified email)", idp.ErrDomain)
		}
		d, from = emailDomain(id.Email), "verified email's domain"
		if d == "" {
			return fmt.Errorf("%w: the verified email has no domain", idp.ErrDomain)
		}
	}
	if !slices.Contains(allowed, d) {
		return fmt.Errorf("%w: the %s %q is not one of the allowed domains", idp.ErrDomain, from, idp.CleanText(d, 100))
	}
	return nil
}

// emailDomain is the lower-cased domain of an address local@domain, or "".
func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return ""
	}
	return strings.ToLower(email[at+1:])
}
