package smart

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Kind says what sort of scope a Scope is. The zero Kind belongs only to the
// zero Scope, which is not a scope.
type Kind uint8

// The kinds of scope. Every scope with its own meaning in SMART App Launch
// has its own kind; anything else that is a valid OAuth scope token is
// KindOther.
const (
	KindResource        Kind = iota + 1 // patient/Observation.rs, user/*.read, …
	KindLaunch                          // launch (EHR launch)
	KindLaunchPatient                   // launch/patient
	KindLaunchEncounter                 // launch/encounter
	KindOpenID                          // openid
	KindFHIRUser                        // fhirUser
	KindProfile                         // profile (SMART 1.0 identity, deprecated by fhirUser)
	KindOfflineAccess                   // offline_access
	KindOnlineAccess                    // online_access
	KindOther                           // any other valid scope token (email, launch/imagingstudy, …)
)

// fixedNames are the scope tokens of the kinds that have exactly one spelling.
var fixedNames = [...]string{
	KindLaunch:          "launch",
	KindLaunchPatient:   "launch/patient",
	KindLaunchEncounter: "launch/encounter",
	KindOpenID:          "openid",
	KindFHIRUser:        "fhirUser",
	KindProfile:         "profile",
	KindOfflineAccess:   "offline_access",
	KindOnlineAccess:    "online_access",
}

// Context is the part of a resource scope before the slash: whose data the
// scope is about. Contexts never cross: a user/ scope grants nothing in the
// patient context and vice versa.
type Context uint8

// The three contexts of resource scopes.
const (
	ContextPatient Context = iota + 1 // patient/: the patient in context (IG #patient-specific-scopes)
	ContextUser                       // user/: whatever the signed-in user may access (IG #user-level-scopes)
	ContextSystem                     // system/: a backend client's own policy (IG #system-level-scopes)
)

// String returns "patient", "user" or "system" (or "" for the zero Context).
func (c Context) String() string {
	switch c {
	case ContextPatient:
		return "patient"
	case ContextUser:
		return "user"
	case ContextSystem:
		return "system"
	}
	return ""
}

// Version is the SMART scope syntax a resource scope was written in.
type Version uint8

// The two resource-scope syntaxes.
const (
	V1 Version = iota + 1 // SMART 1.0.0: .read, .write, .*
	V2                    // SMART 2.x: .cruds subsets, optional ?query
)

// Permissions is a set of SMART v2 interactions.
type Permissions uint8

// The interactions of SMART v2 (IG #scopes-for-requesting-fhir-resources).
// The FHIR layer maps each FHIR interaction to one of them: create ⇒ Create;
// read, vread and instance history ⇒ Read; update and patch ⇒ Update;
// delete ⇒ Delete; search and type or system history ⇒ Search.
const (
	Create Permissions = 1 << iota
	Read
	Update
	Delete
	Search

	// AllPermissions is cruds, what v1 ".*" means.
	AllPermissions = Create | Read | Update | Delete | Search
)

// v1 suffix meanings (IG 2.2: read ⇒ rs, write ⇒ cud, * ⇒ cruds).
const (
	v1Read  = Read | Search
	v1Write = Create | Update | Delete
	v1All   = AllPermissions
)

const permLetters = "cruds"

// Has reports whether p includes every interaction in q. Has(0) is false, so
// that an empty question is never answered yes.
func (p Permissions) Has(q Permissions) bool {
	return q != 0 && p&q == q
}

// String returns the interactions as their v2 letters in order, e.g. "rs".
func (p Permissions) String() string {
	var b strings.Builder
	for i := range len(permLetters) {
		if p&(1<<i) != 0 {
			b.WriteByte(permLetters[i])
		}
	}
	return b.String()
}

// Param is one name=value pair of a granular scope's query. Value is
// percent-decoded; Name is as written (it may carry a modifier, "code:in").
type Param struct {
	Name  string
	Value string
}

// Scope is one parsed scope. Build it with ParseScope; the zero Scope is not
// a scope. Scopes are comparable with ==: two Scopes are == exactly when they
// have the same String.
type Scope struct {
	kind    Kind
	name    string // KindOther: the scope token
	context Context
	typ     string // resource type or "*"
	perms   Permissions
	version Version
	query   string // raw query without '?', "" when none
}

// Kind returns the scope's kind.
func (s Scope) Kind() Kind { return s.kind }

// Context returns the context of a resource scope (zero for other kinds).
func (s Scope) Context() Context { return s.context }

// ResourceType returns the resource type of a resource scope: a FHIR type
// name or "*" (empty for other kinds).
func (s Scope) ResourceType() string { return s.typ }

// Permissions returns the interactions a resource scope grants, v1 suffixes
// mapped to their v2 meaning (read ⇒ rs, write ⇒ cud, * ⇒ cruds). It is
// empty for other kinds.
func (s Scope) Permissions() Permissions { return s.perms }

// Version returns the syntax of a resource scope (zero for other kinds).
func (s Scope) Version() Version { return s.version }

// Query returns the raw query of a granular v2 scope, without the '?', exactly
// as written; "" when the scope has none.
func (s Scope) Query() string { return s.query }

// Params returns the query of a granular scope as name/value pairs in the
// order written, values percent-decoded; nil when the scope has no query.
func (s Scope) Params() []Param {
	if s.query == "" {
		return nil
	}
	ps, err := parseQuery(s.query)
	if err != nil { // cannot happen for a parsed scope
		return nil
	}
	return ps
}

// String returns the scope in its wire form: exactly the text ParseScope
// parsed. A resource scope built by Narrow is written in v1 form when it was
// requested in v1 form and its permissions have a v1 spelling, else in v2
// form.
func (s Scope) String() string {
	switch s.kind {
	case KindResource:
		var b strings.Builder
		b.Grow(len(s.typ) + len(s.query) + 16)
		b.WriteString(s.context.String())
		b.WriteByte('/')
		b.WriteString(s.typ)
		b.WriteByte('.')
		b.WriteString(permsSuffix(s.perms, s.version))
		if s.query != "" {
			b.WriteByte('?')
			b.WriteString(s.query)
		}
		return b.String()
	case KindOther:
		return s.name
	case 0:
		return ""
	}
	return fixedNames[s.kind]
}

// MarshalText returns String, so that a Scope is written as its wire form in
// JSON and other text encodings (its fields are unexported).
func (s Scope) MarshalText() ([]byte, error) {
	if s.kind == 0 {
		return nil, fmt.Errorf("%w: marshaling the zero Scope", ErrInvalidScope)
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses text with ParseScope.
func (s *Scope) UnmarshalText(text []byte) error {
	sc, err := ParseScope(string(text))
	if err != nil {
		return err
	}
	*s = sc
	return nil
}

// hasV1Word reports whether p has a SMART 1.0 spelling.
func hasV1Word(p Permissions) bool {
	return p == v1Read || p == v1Write || p == v1All
}

// permsSuffix spells p in version v, falling back to v2 letters when v1 has
// no word for p.
func permsSuffix(p Permissions, v Version) string {
	if v == V1 {
		switch p {
		case v1Read:
			return "read"
		case v1Write:
			return "write"
		case v1All:
			return "*"
		}
	}
	return p.String()
}

// ErrInvalidScope is wrapped by every error of ParseScope.
var ErrInvalidScope = errors.New("smart: invalid scope")

// ParseScope parses one scope token (see the package documentation for the
// grammar). It never panics; an error wraps ErrInvalidScope and quotes the
// offending input. For every s it accepts, ParseScope(s).String() == s.
func ParseScope(s string) (Scope, error) {
	if s == "" {
		return Scope{}, fmt.Errorf("%w: empty", ErrInvalidScope)
	}
	for i := range len(s) {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return Scope{}, fmt.Errorf("%w %q: character %q not allowed in a scope", ErrInvalidScope, s, c)
		}
	}
	for k := KindLaunch; k <= KindOnlineAccess; k++ {
		if s == fixedNames[k] {
			return Scope{kind: k}, nil
		}
	}
	ctxName, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Scope{kind: KindOther, name: s}, nil
	}
	var ctx Context
	switch ctxName {
	case "patient":
		ctx = ContextPatient
	case "user":
		ctx = ContextUser
	case "system":
		ctx = ContextSystem
	default:
		return Scope{kind: KindOther, name: s}, nil
	}
	sc, err := parseResource(ctx, rest)
	if err != nil {
		return Scope{}, fmt.Errorf("%w %q: %w", ErrInvalidScope, s, err)
	}
	return sc, nil
}

// parseResource parses what follows "patient/", "user/" or "system/".
func parseResource(ctx Context, rest string) (Scope, error) {
	typ, suffix, ok := strings.Cut(rest, ".")
	if !ok {
		return Scope{}, errors.New(`missing "." before the permissions`)
	}
	if typ != "*" && !IsResourceType(typ) {
		return Scope{}, fmt.Errorf("resource type %q is neither a FHIR type nor *", typ)
	}
	perms, query, hasQuery := strings.Cut(suffix, "?")
	sc := Scope{kind: KindResource, context: ctx, typ: typ}
	switch perms {
	case "read":
		sc.perms, sc.version = v1Read, V1
	case "write":
		sc.perms, sc.version = v1Write, V1
	case "*":
		sc.perms, sc.version = v1All, V1
	default:
		p, ok := parseV2Perms(perms)
		if !ok {
			return Scope{}, fmt.Errorf("permissions %q are neither read, write, * nor an in-order subset of cruds", perms)
		}
		sc.perms, sc.version = p, V2
	}
	if hasQuery {
		if sc.version == V1 {
			return Scope{}, errors.New("a v1 scope (.read, .write, .*) cannot have a query")
		}
		if _, err := parseQuery(query); err != nil {
			return Scope{}, err
		}
		sc.query = query
	}
	return sc, nil
}

// parseV2Perms parses a non-empty, in-order subset of "cruds".
func parseV2Perms(s string) (Permissions, bool) {
	if s == "" || len(s) > len(permLetters) {
		return 0, false
	}
	var p Permissions
	next := 0 // index in permLetters the next letter may start at
	for i := range len(s) {
		j := strings.IndexByte(permLetters[next:], s[i])
		if j < 0 {
			return 0, false
		}
		next += j
		p |= 1 << next
		next++
	}
	return p, true
}

// parseQuery splits a granular scope's query into pairs. Each pair needs a
// non-empty name made of search-parameter characters and a non-empty value
// with valid percent-encoding.
func parseQuery(q string) ([]Param, error) {
	if q == "" {
		return nil, errors.New(`empty query after "?"`)
	}
	ps := make([]Param, 0, strings.Count(q, "&")+1)
	for part := range strings.SplitSeq(q, "&") {
		name, raw, ok := strings.Cut(part, "=")
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("query part %q is not param=value", part)
		}
		for i := range len(name) {
			if !isParamNameByte(name[i]) {
				return nil, fmt.Errorf("search parameter name %q has character %q", name, name[i])
			}
		}
		v, err := url.PathUnescape(raw)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", name, err)
		}
		ps = append(ps, Param{Name: name, Value: v})
	}
	return ps, nil
}

// isParamNameByte allows letters, digits and the characters FHIR search
// parameter names, modifiers and chains use: - _ . :
func isParamNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == ':'
}

// IsResourceType reports whether s looks like a FHIR resource type name:
// an upper-case ASCII letter followed by 1 to 63 ASCII letters. It checks
// the shape only, not membership in a FHIR version's list of types.
func IsResourceType(s string) bool {
	if len(s) < 2 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// IsFHIRID reports whether s is a valid FHIR logical id:
// [A-Za-z0-9\-\.]{1,64} (FHIR R4 datatypes.html#id).
func IsFHIRID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
