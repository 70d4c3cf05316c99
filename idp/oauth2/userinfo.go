package oauth2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/smartgate/smartgate/idp"
)

// Bounds of the userinfo fields kept: a longer subject is refused
// (OpenID Connect's sub is at most 255 ASCII characters), a longer other
// field is dropped.
const (
	maxSubject = 255
	maxEmail   = 254 // RFC 5321's path limit less the brackets
	maxField   = 1024
)

// mapping names the userinfo fields of each Identity field ("" : none).
type mapping struct {
	subject           []string // the first one present is the subject
	email             string
	emailVerified     string
	name              string
	givenName         string
	familyName        string
	preferredUsername string
	domain            string
}

// claimMapping is the "none" preset's mapping: the defaults overridden by
// claims, with each unknown name or empty field reported.
func claimMapping(claims map[string]string, bad func(string, ...any)) mapping {
	m := mapping{subject: []string{"sub", "id"}, email: "email", emailVerified: "email_verified", name: "name",
		givenName: "given_name", familyName: "family_name", preferredUsername: "preferred_username"}
	fields := map[string]*string{"email": &m.email, "email_verified": &m.emailVerified, "name": &m.name,
		"given_name": &m.givenName, "family_name": &m.familyName, "preferred_username": &m.preferredUsername,
		"domain": &m.domain}
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := claims[k]
		f, known := fields[k]
		switch {
		case !known && k != "subject":
			bad("claims: unknown name %q (subject, email, email_verified, name, given_name, family_name, preferred_username, domain)", k)
		case v == "":
			bad("claims: %s maps to no field", k)
		case k == "subject":
			m.subject = []string{v}
		default:
			*f = v
		}
	}
	return m
}

// identityOf maps a userinfo answer (a JSON object) to an Identity
// (Issuer not set). A body that is not one JSON object is ErrUnavailable;
// a missing, empty, too long or malformed subject ErrInvalidToken. The
// email counts as verified only when the mapped email_verified field is
// true (or "true") and there is an email.
func identityOf(body []byte, m mapping) (idp.Identity, error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return idp.Identity{}, fmt.Errorf("%w: the userinfo answer is not a JSON object", idp.ErrUnavailable)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return idp.Identity{}, fmt.Errorf("%w: the userinfo answer is not one JSON object", idp.ErrUnavailable)
	}
	sub, err := subjectOf(obj, m.subject)
	if err != nil {
		return idp.Identity{}, err
	}
	id := idp.Identity{Subject: sub, Email: field(obj, m.email, maxEmail), Name: field(obj, m.name, maxField),
		GivenName: field(obj, m.givenName, maxField), FamilyName: field(obj, m.familyName, maxField),
		PreferredUsername: field(obj, m.preferredUsername, maxField), Domain: field(obj, m.domain, maxField)}
	if m.emailVerified != "" && id.Email != "" {
		v := obj[m.emailVerified]
		id.EmailVerified = v == true || v == "true"
	}
	return id, nil
}

// subjectOf is the first of names present in obj: a non-empty string, or
// an integer (GitHub-style numeric ids), of at most maxSubject bytes.
func subjectOf(obj map[string]any, names []string) (string, error) {
	for _, n := range names {
		v, ok := obj[n]
		if !ok {
			continue
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case json.Number:
			if s = v.String(); strings.Trim(s, "0123456789") != "" {
				return "", fmt.Errorf("%w: the userinfo field %q is not an integer", idp.ErrInvalidToken, n)
			}
		default:
			return "", fmt.Errorf("%w: the userinfo field %q is not a string or a number", idp.ErrInvalidToken, n)
		}
		if s == "" || len(s) > maxSubject {
			return "", fmt.Errorf("%w: the userinfo field %q is empty or too long", idp.ErrInvalidToken, n)
		}
		return s, nil
	}
	return "", fmt.Errorf("%w: the userinfo answer names no subject (%s)", idp.ErrInvalidToken,
		strings.Join(names, ", "))
}

// field is obj[name] when it is a string of at most limit bytes, else "".
func field(obj map[string]any, name string, limit int) string {
	if name == "" {
		return ""
	}
	s, _ := obj[name].(string)
	if len(s) > limit {
		return ""
	}
	return s
}
