package oidc

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/smartgate/smartgate/idp"
)

// FuzzParseCallback: any callback query is refused with one of the
// idp errors and a short printable message, or yields a bounded code;
// a wrong iss never passes.
func FuzzParseCallback(f *testing.F) {
	const issuer = "https://login.example.org"
	for _, s := range []string{
		"code=abc&state=s", "code=abc&state=s&iss=https%3A%2F%2Flogin.example.org",
		"error=access_denied&error_description=no%00%0A&state=s", "iss=https%3A%2F%2Fevil&code=x",
		"code=a&code=b", "error=", "code=%ff%fe", "iss=&code=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		code, issSent, err := parseCallback(q, issuer)
		if err != nil {
			if !errors.Is(err, idp.ErrUpstream) && !errors.Is(err, idp.ErrInvalidToken) {
				t.Fatalf("error %v wraps no idp error", err)
			}
			if s := err.Error(); len(s) > 600 || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
				t.Fatalf("message %q", s)
			}
			return
		}
		if code == "" || len(code) > maxCode || q.Has("error") {
			t.Fatalf("code %q accepted from %q", code, raw)
		}
		if q.Has("iss") && (!issSent || q.Get("iss") != issuer) {
			t.Fatalf("iss %q accepted", q.Get("iss"))
		}
	})
}

// FuzzMapClaims: any claims object maps to an identity within bounds,
// verified only when email_verified says so.
func FuzzMapClaims(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@b.c","email_verified":true,"name":"A","hd":"b.c"}`,
		`{"email":"a@b.c","email_verified":"true"}`, `{"email_verified":"TRUE"}`, `{"email":1,"name":null}`,
		`{"amr":["pwd","mfa"]}`, `{"amr":"pwd"}`, `{"hd":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	m, _ := claimMap(map[string]string{"domain": "hd"}, "")
	f.Fuzz(func(t *testing.T, data []byte) {
		var claims map[string]json.RawMessage
		if json.Unmarshal(data, &claims) != nil {
			return
		}
		id := mapClaims(m, claims)
		for _, s := range []string{id.Email, id.Name, id.GivenName, id.FamilyName, id.PreferredUsername, id.Domain} {
			if len(s) > maxClaim || !utf8.ValidString(s) {
				t.Fatalf("claim %q", s)
			}
		}
		if len(id.AMR) > maxAMR {
			t.Fatalf("amr %v", id.AMR)
		}
		if id.EmailVerified && !boolClaim(claims["email_verified"]) {
			t.Fatal("verified without email_verified")
		}
		if id.Issuer != "" || id.Subject != "" {
			t.Fatal("mapClaims set the link key")
		}
		// The domain rule never admits without a verified claim.
		if checkDomain(id, []string{"example.org"}) == nil && id.Domain != "example.org" &&
			!(id.EmailVerified && emailDomain(id.Email) == "example.org") {
			t.Fatalf("admitted %+v", id)
		}
	})
}
