package smart

import (
	"slices"
	"strings"
)

// Scopes is a list of scopes in the order given (a request, a grant, a
// client's allowed scopes, a ceiling).
type Scopes []Scope

// ParseScopes parses a space-separated scope parameter (RFC 6749 §3.3). It
// returns the valid scopes in the order given, without repeats, and the
// tokens that are not valid scopes (also in order, without repeats). Runs of
// white space are treated as one separator.
func ParseScopes(s string) (Scopes, []string) {
	var (
		out     Scopes
		invalid []string
		seen    dedup
	)
	for tok := range strings.FieldsSeq(s) {
		if seen.seen(tok) {
			continue
		}
		sc, err := ParseScope(tok)
		if err != nil {
			invalid = append(invalid, tok)
			continue
		}
		out = append(out, sc)
	}
	return out, invalid
}

// dedup remembers strings, linearly while there are few and in a map once
// there are many, so that a request with thousands of scopes stays linear.
type dedup struct {
	few  []string
	many map[string]struct{}
}

// seen reports whether s was seen before, and remembers it.
func (d *dedup) seen(s string) bool {
	if d.many != nil {
		if _, ok := d.many[s]; ok {
			return true
		}
		d.many[s] = struct{}{}
		return false
	}
	if slices.Contains(d.few, s) {
		return true
	}
	d.few = append(d.few, s)
	if len(d.few) > 16 {
		d.many = make(map[string]struct{}, 2*len(d.few))
		for _, f := range d.few {
			d.many[f] = struct{}{}
		}
		d.few = nil
	}
	return false
}

// String returns the scopes space-separated in their order: the value of a
// token response's "scope" field.
func (ss Scopes) String() string {
	return strings.Join(ss.Strings(), " ")
}

// Strings returns each scope's String, in order (for fosite's []string APIs
// and authz.Decision.Scopes).
func (ss Scopes) Strings() []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.String()
	}
	return out
}

// Has reports whether one of the scopes is of kind k, e.g.
// Has(KindOfflineAccess) to decide about issuing a refresh token.
func (ss Scopes) Has(k Kind) bool {
	return slices.ContainsFunc(ss, func(s Scope) bool { return s.kind == k })
}

// HasPatientScopes reports whether one of the scopes is a patient/ resource
// scope, in which case a patient context must be established (checklist E3,
// IG #apps-that-launch-from-the-ehr).
func (ss Scopes) HasPatientScopes() bool {
	return slices.ContainsFunc(ss, func(s Scope) bool {
		return s.kind == KindResource && s.context == ContextPatient
	})
}

// Allows returns the resource scopes that allow interaction p (normally a
// single interaction, e.g. Read) on resources of type resourceType in
// context ctx: same context, type equal or "*", permissions including all of
// p. An empty result means access is denied.
//
// Granular scopes are a union (IG #scope-equivalence, checklist G5): when one
// of the returned scopes has no Query, the interaction is not restricted by
// search parameters; otherwise a resource is allowed when it matches the
// query of at least one returned scope, and a search must be limited to the
// union of those queries.
//
// Pass a concrete type; resourceType "*" (a system-wide search) matches only
// wildcard scopes.
func (ss Scopes) Allows(ctx Context, resourceType string, p Permissions) Scopes {
	var out Scopes
	for _, s := range ss {
		if s.kind == KindResource && s.context == ctx &&
			(s.typ == "*" || s.typ == resourceType) && s.perms.Has(p) {
			out = append(out, s)
		}
	}
	return out
}

// Contains reports whether the scopes together grant everything s grants.
// A non-resource scope is contained only when it is present. A resource
// scope is contained when each of its interactions is granted by some
// element e that covers it otherwise (Subset(s with that one interaction, e)):
// so patient/Observation.rs is contained in "patient/Observation.r
// patient/*.s", because interactions are independent, but a query is never
// assembled from several elements. Use it for refresh requests (checklist
// R3/R7: every requested scope must be contained in the original grant) and
// for a client's allowed scopes.
func (ss Scopes) Contains(s Scope) bool {
	if s.kind != KindResource {
		return s.kind != 0 && slices.Contains(ss, s)
	}
	missing := s.perms
	for _, e := range ss {
		if missing = uncovered(missing, s, e); missing == 0 {
			return true
		}
	}
	return false
}

// uncovered returns the interactions of missing (a subset of s's) that e
// does not grant for s's context, type and query.
func uncovered(missing Permissions, s, e Scope) Permissions {
	if e.kind != KindResource || e.context != s.context || !typeCovers(e.typ, s.typ) || !queryCovers(e, s) {
		return missing
	}
	return missing &^ e.perms
}

// Subset reports whether a grants nothing beyond b:
//   - resource scopes: same context (patient, user and system never cross),
//     b's type is "*" or a's type, a's permissions are among b's, and b has no
//     query or the same query as a (the same name/value pairs, in any order,
//     compared after percent-decoding);
//   - other scopes: a and b are the same scope.
//
// v1 and v2 spellings are compared by meaning: Subset(patient/Observation.read,
// patient/Observation.rs) and its converse both hold.
func Subset(a, b Scope) bool {
	if a.kind != KindResource || b.kind != KindResource {
		return a.kind != 0 && a == b
	}
	return a.context == b.context && typeCovers(b.typ, a.typ) &&
		b.perms&a.perms == a.perms && a.perms != 0 && queryCovers(b, a)
}

// typeCovers reports whether a scope for type outer covers type inner.
func typeCovers(outer, inner string) bool {
	return outer == "*" || outer == inner
}

// queryCovers reports whether outer's query restriction admits everything
// inner's does: outer has none, or both have the same pairs.
func queryCovers(outer, inner Scope) bool {
	if outer.query == "" || outer.query == inner.query {
		return true
	}
	if inner.query == "" {
		return false
	}
	return sameParams(outer.Params(), inner.Params())
}

// sameParams compares two queries as multisets of decoded pairs.
func sameParams(a, b []Param) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	cmp := func(x, y Param) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.Value, y.Value)
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

// Narrow returns what the ceiling allows of requested, as scopes whose union
// is exactly the intersection of requested with the union of the ceiling
// (within the rules of Subset: queries are intersected only when one side has
// none or both are the same). The result is empty when nothing is allowed.
//
//   - When the ceiling contains requested (Scopes.Contains), the result is
//     requested itself, so its spelling (v1 or v2, query text) is kept.
//   - A non-resource scope is otherwise dropped: a ceiling that should let
//     openid, launch/patient, … through must list them.
//   - A resource scope is intersected with each ceiling entry of the same
//     context; results for the same type and query are merged (their
//     permissions joined), and results covered by another are dropped. A
//     result keeps the v1 spelling when requested was v1, it has no query and
//     its permissions have a v1 word (read, write, *); else it is written in
//     v2 form.
//
// One requested scope may therefore become several: requested patient/*.rs
// under the ceiling "patient/Observation.rs patient/Condition.r" gives
// patient/Observation.rs and patient/Condition.r; a single scope cannot
// express that, and granting a wider one would be unsound.
func Narrow(requested Scope, ceiling Scopes) Scopes {
	if requested.kind == 0 {
		return nil
	}
	if ceiling.Contains(requested) {
		return Scopes{requested}
	}
	if requested.kind != KindResource {
		return nil
	}
	var out Scopes
	for _, c := range ceiling {
		n, ok := intersect(requested, c)
		if !ok {
			continue
		}
		merged := false
		for i, o := range out {
			if o.typ == n.typ && o.query == n.query {
				out[i].perms |= n.perms
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, n)
		}
	}
	// Drop results covered by another one (keep the first of equals).
	reduced := out[:0:0]
	for i, o := range out {
		covered := false
		for j, p := range out {
			if i != j && Subset(o, p) && (!Subset(p, o) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			reduced = append(reduced, o)
		}
	}
	for i := range reduced {
		reduced[i].version = V2
		if requested.version == V1 && reduced[i].query == "" && hasV1Word(reduced[i].perms) {
			reduced[i].version = V1
		}
	}
	return reduced
}

// intersect returns the single scope r ∩ c, when it is not empty and is
// representable.
func intersect(r, c Scope) (Scope, bool) {
	if c.kind != KindResource || c.context != r.context {
		return Scope{}, false
	}
	n := Scope{kind: KindResource, context: r.context, perms: r.perms & c.perms}
	if n.perms == 0 {
		return Scope{}, false
	}
	switch {
	case typeCovers(c.typ, r.typ):
		n.typ = r.typ
	case r.typ == "*":
		n.typ = c.typ
	default:
		return Scope{}, false
	}
	switch {
	case queryCovers(c, r):
		n.query = r.query
	case r.query == "":
		n.query = c.query
	default: // two different queries: their AND is not expressible safely
		return Scope{}, false
	}
	return n, true
}

// Intersect returns Narrow of each scope in ss under ceiling, concatenated in
// order without repeats: what may be granted of a request.
func (ss Scopes) Intersect(ceiling Scopes) Scopes {
	var (
		out  Scopes
		seen dedup
	)
	for _, r := range ss {
		for _, n := range Narrow(r, ceiling) {
			if !seen.seen(n.String()) {
				out = append(out, n)
			}
		}
	}
	return out
}

// ScopeStrategy has the signature of fosite.ScopeStrategy, to be set as
// fosite.Config.ScopeStrategy. It reports whether needle is granted by the
// haystack (a client's allowed scopes or an original grant): needle equals
// one of the haystack strings, or needle is a valid resource scope that the
// valid entries of the haystack contain under SMART semantics
// (Scopes.Contains), so patient/Observation.read matches a haystack entry
// patient/Observation.rs and patient/Observation.rs?category=… matches
// patient/*.read. Non-resource scopes match only exactly. Invalid haystack
// entries are ignored. It never panics.
func ScopeStrategy(haystack []string, needle string) bool {
	if slices.Contains(haystack, needle) {
		return true
	}
	n, err := ParseScope(needle)
	if err != nil || n.kind != KindResource {
		return false
	}
	prefix := n.context.String() + "/"
	missing := n.perms
	for _, h := range haystack {
		if !strings.HasPrefix(h, prefix) {
			continue
		}
		if e, err := ParseScope(h); err == nil {
			if missing = uncovered(missing, n, e); missing == 0 {
				return true
			}
		}
	}
	return false
}

// ScopeSCIM is the scope of a token that may call the SCIM API. Under a
// ceiling it is a right like a resource scope: a person is granted it only
// when their ceiling names it (an administrator's does: the role table of
// package account).
const ScopeSCIM = "scim"

// ScopeLaunchCreate is the scope of a token that may create EHR launches
// through the launch API (package launch): an administrator's right, like
// ScopeSCIM, granted to a client only when an administrator allowed it.
const ScopeLaunchCreate = "launch:create"

// Privileged reports whether tok is one of the administrators' scopes
// (ScopeSCIM, ScopeLaunchCreate): kept under a ceiling only when the
// ceiling names it, and granted to a client only by an administrator.
func Privileged(tok string) bool { return tok == ScopeSCIM || tok == ScopeLaunchCreate }

// NarrowTo is the one rule of a person's scope ceiling (their roles' and
// groups' rights): of each requested scope it keeps what the ceiling allows.
// A resource scope becomes Narrow of it under the ceiling (nothing when the
// ceiling allows none of it; contexts never cross; a granular request under
// a wider ceiling stays as requested, a wider request under a granular
// ceiling becomes the ceiling's granular scope); scim and launch:create
// (Privileged) are kept only when the ceiling holds them; a token that spells a resource context in another case
// (USER/*.cruds, Patient/*.rs: not a SMART scope, which are case-sensitive)
// is dropped; every other scope (openid, fhirUser, launch/patient,
// offline_access, …) passes unchanged, since a ceiling speaks of data
// and SCIM only. Tokens that are not valid scopes are dropped (they grant
// nothing); invalid ceiling entries are ignored. The result keeps the
// request's order, without repeats.
func NarrowTo(requested, ceiling []string) []string {
	ceil, _ := ParseScopes(strings.Join(ceiling, " "))
	var (
		out  []string
		seen dedup
	)
	add := func(s string) {
		if !seen.seen(s) {
			out = append(out, s)
		}
	}
	for _, tok := range requested {
		sc, err := ParseScope(tok)
		switch {
		case err != nil, sc.kind == KindOther && resourceLookalike(tok):
		case sc.kind == KindResource:
			for _, n := range Narrow(sc, ceil) {
				add(n.String())
			}
		case Privileged(tok):
			if slices.Contains(ceiling, tok) {
				add(tok)
			}
		default:
			add(tok)
		}
	}
	return out
}

// resourceLookalike reports whether tok starts with a resource scope's
// context in another case ("USER/", "Patient/"): ParseScope takes it for an
// other scope, but under a ceiling it would pass as data access that no
// ceiling allowed.
func resourceLookalike(tok string) bool {
	ctx, _, ok := strings.Cut(tok, "/")
	return ok && (strings.EqualFold(ctx, "patient") || strings.EqualFold(ctx, "user") || strings.EqualFold(ctx, "system"))
}
