package postgres

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
)

// The filter compiler: one translation of account.Filter into a
// parameterised SQL condition ($1, $2, … in order), with a table per
// resource (usersSchema, groupsSchema) that says how each canonical
// attribute reads in SQL. It is store/sqlite's compiler (filter.go there)
// in this dialect, with the same semantics; only the spelling differs:
// NOCASE is lower(x COLLATE "C") (ASCII folding only, the expression of the
// user_emails_value and groups_display_name indexes), LIKE is made
// case-insensitive the same way, instr/substr are strpos/left/right,
// json_extract is attrs::jsonb #>> path, json_each is unnest, and BINARY
// comparisons and orders name COLLATE "C" so that they are bytewise
// whatever the database's locale.
//
// Semantics, decided here once for every caller:
//
//   - Every attribute expression is NOT NULL; an absent value is the empty
//     string ('' columns, COALESCE over the JSON path), 0 for a time. A
//     comparison never matches an absent value (title lt "b" does not
//     match a person without a title; eq "" matches nothing): the guard
//     `x <> ''` is added where the operator could otherwise match ''.
//   - ne is the negation of eq (RFC 7644 §3.4.2.2 defines it only as "not
//     identical"): a resource without the attribute matches `title ne "x"`,
//     and for a multi-valued attribute `emails.value ne "x"` means no e-mail
//     is "x" (not "some e-mail is not x"), as `not (emails.value eq "x")`.
//   - not is `NOT COALESCE(x, false)`, so that it stays two-valued even if an
//     expression were ever NULL: not(a) matches exactly what a does not.
//   - A comparison or presence test on a sub-attribute of a multi-valued
//     attribute outside brackets (emails.value co "@x") matches when one
//     element does; inside brackets (emails[type eq "work" and value co
//     "@x"]) one element must satisfy the whole bracket. Both compile to
//     `id IN (SELECT owner FROM element table WHERE …)`, which lets the
//     planner start from an index on the element (user_emails_value)
//     instead of scanning every resource.
//   - Case: Compare.CaseExact false compares lower(x COLLATE "C") with the
//     value folded likewise, and LIKE on both folded, which fold ASCII
//     letters only (SQLite's NOCASE and LIKE); true compares bytes (=,
//     strpos, left, right, COLLATE "C"). userName is stored in its PRECIS form (case-folded), so its
//     values are folded the same way (account.NormalizeUserName, else
//     lower case) and compared exactly, on the unique index for eq.
//   - co, sw and ew match their value literally: %, _ and \ are escaped
//     for LIKE (ESCAPE '\'), and strpos/left/right have no metacharacters.
//   - gt, ge, lt and le compare strings in the attribute's collation and
//     times as instants; booleans take eq and ne only.
//
// Anything the table does not know (an attribute, an operator for its
// type, a value of another type) is account.ErrInvalidQuery.

type kind int

const (
	kindString kind = iota
	kindBool
	kindTime
)

// attr is one canonical attribute in SQL.
type attr struct {
	expr  string // never NULL; element attributes read the alias e
	kind  kind
	exact bool   // sorts case-exactly (bytewise) rather than ASCII case-insensitively
	in    string // the multi-valued attribute it is a sub-attribute of, or ""
}

// multi is a multi-valued attribute: wrap puts a condition on one element
// (alias e) into a condition on the resource; first, when set, is the
// element that sortBy uses (the primary one, else the first) as a FROM …
// WHERE … ORDER BY … clause.
type multi struct {
	wrap  string
	first string
}

// schema is what the compiler knows of one resource type.
type schema struct {
	alias    string // u or g
	attrs    map[string]attr
	multis   map[string]multi
	userName string // the attribute stored PRECIS-normalised, or ""
	order    string // the default order: creation, then id (bytewise)
}

// rolesElements reads a space-separated roles column (account roles: no
// spaces inside) as rows e(value); the empty string is no rows.
func rolesElements(col string) string {
	return `unnest(string_to_array(` + col + `, ' ')) AS e(value)`
}

// jsonAttr reads the key path (dotted) of the users.attrs JSON object.
func jsonAttr(path string) attr {
	return attr{expr: "COALESCE(u.attrs::jsonb #>> '{" + strings.ReplaceAll(path, ".", ",") + "}', '')"}
}

var usersSchema = schema{
	alias:    "u",
	userName: "userName",
	order:    `u.created, u.id COLLATE "C"`,
	attrs: map[string]attr{
		"id":                        {expr: "u.id", exact: true},
		"externalId":                {expr: "u.external_id", exact: true},
		"userName":                  {expr: "u.user_name"},
		"displayName":               {expr: "u.display_name"},
		"active":                    {expr: "u.active", kind: kindBool},
		"name.givenName":            {expr: "u.given_name"},
		"name.familyName":           {expr: "u.family_name"},
		"name.formatted":            {expr: "u.formatted_name"},
		"name.middleName":           jsonAttr("middleName"),
		"name.honorificPrefix":      jsonAttr("honorificPrefix"),
		"name.honorificSuffix":      jsonAttr("honorificSuffix"),
		"nickName":                  jsonAttr("nickName"),
		"title":                     jsonAttr("title"),
		"userType":                  jsonAttr("userType"),
		"preferredLanguage":         jsonAttr("preferredLanguage"),
		"locale":                    jsonAttr("locale"),
		"timezone":                  jsonAttr("timezone"),
		"profileUrl":                {expr: jsonAttr("profileUrl").expr, exact: true},
		"enterprise.employeeNumber": jsonAttr("enterprise.employeeNumber"),
		"enterprise.costCenter":     jsonAttr("enterprise.costCenter"),
		"enterprise.organization":   jsonAttr("enterprise.organization"),
		"enterprise.division":       jsonAttr("enterprise.division"),
		"enterprise.department":     jsonAttr("enterprise.department"),
		"enterprise.manager.value":  {expr: jsonAttr("enterprise.manager").expr, exact: true},
		"smartgate.fhirUser":        {expr: "u.fhir_user", exact: true},
		"meta.created":              {expr: "u.created", kind: kindTime},
		"meta.lastModified":         {expr: "u.last_modified", kind: kindTime},
		"emails.value":              {expr: "e.value", in: "emails"},
		"emails.type":               {expr: "e.type", in: "emails"},
		"emails.primary":            {expr: "e.is_primary", kind: kindBool, in: "emails"},
		"phoneNumbers.value":        {expr: "e.value", in: "phoneNumbers"},
		"phoneNumbers.type":         {expr: "e.type", in: "phoneNumbers"},
		"phoneNumbers.primary":      {expr: "e.is_primary", kind: kindBool, in: "phoneNumbers"},
		"groups.value":              {expr: "e.group_id", exact: true, in: "groups"},
		"groups.display":            {expr: "COALESCE((SELECT gd.display_name FROM groups gd WHERE gd.id = e.group_id), '')", in: "groups"},
		"smartgate.roles":           {expr: "e.value", in: "smartgate.roles"},
	},
	multis: map[string]multi{
		"emails": {wrap: "u.id IN (SELECT e.user_id FROM user_emails e WHERE %s)",
			first: "FROM user_emails e WHERE e.user_id = u.id ORDER BY e.is_primary DESC, e.position"},
		"phoneNumbers": {wrap: "u.id IN (SELECT e.user_id FROM user_phone_numbers e WHERE %s)",
			first: "FROM user_phone_numbers e WHERE e.user_id = u.id ORDER BY e.is_primary DESC, e.position"},
		"groups":          {wrap: "u.id IN (SELECT e.user_id FROM group_members e WHERE %s)"},
		"smartgate.roles": {wrap: "EXISTS (SELECT 1 FROM " + rolesElements("u.roles") + " WHERE %s)"},
	},
}

var groupsSchema = schema{
	alias: "g",
	order: `g.created, g.id COLLATE "C"`,
	attrs: map[string]attr{
		"id":                {expr: "g.id", exact: true},
		"externalId":        {expr: "g.external_id", exact: true},
		"displayName":       {expr: "g.display_name"},
		"meta.created":      {expr: "g.created", kind: kindTime},
		"meta.lastModified": {expr: "g.last_modified", kind: kindTime},
		"members.value":     {expr: "e.user_id", exact: true, in: "members"},
		"smartgate.roles":   {expr: "e.value", in: "smartgate.roles"},
	},
	multis: map[string]multi{
		"members":         {wrap: "g.id IN (SELECT e.group_id FROM group_members e WHERE %s)"},
		"smartgate.roles": {wrap: "EXISTS (SELECT 1 FROM " + rolesElements("g.roles") + " WHERE %s)"},
	},
}

// compiler turns one filter into SQL; args collects its parameters in
// order.
type compiler struct {
	s    *schema
	args []any
	elem string // the multi-valued attribute whose brackets we are in, or ""
}

// param adds v to the parameters and returns its placeholder, typed (text
// for a string, bigint for an integer) so that no parameter's type is
// left for the server to guess.
func (c *compiler) param(v any) string {
	c.args = append(c.args, v)
	n := "$" + strconv.Itoa(len(c.args))
	switch v.(type) {
	case string:
		return n + "::text"
	default:
		return n + "::bigint"
	}
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", account.ErrInvalidQuery, fmt.Sprintf(format, a...))
}

// where compiles f (nil: every resource) into a condition and its
// parameters.
func (s *schema) where(f account.Filter) (string, []any, error) {
	if f == nil {
		return "TRUE", nil, nil
	}
	c := compiler{s: s}
	w, err := c.filter(f)
	if err != nil {
		return "", nil, err
	}
	return w, c.args, nil
}

func (c *compiler) filter(f account.Filter) (string, error) {
	switch f := f.(type) {
	case account.And:
		return c.binary(f.Left, "AND", f.Right)
	case account.Or:
		return c.binary(f.Left, "OR", f.Right)
	case account.Not:
		x, err := c.filter(f.X)
		if err != nil {
			return "", err
		}
		return "NOT COALESCE(" + x + ", false)", nil
	case account.Compare:
		return c.compare(f)
	case account.Present:
		return c.present(f.Attr)
	case account.ValuePath:
		return c.valuePath(f)
	case nil:
		return "", invalid("empty filter node")
	}
	return "", invalid("unknown filter node %T", f)
}

func (c *compiler) binary(l account.Filter, op string, r account.Filter) (string, error) {
	a, err := c.filter(l)
	if err != nil {
		return "", err
	}
	b, err := c.filter(r)
	if err != nil {
		return "", err
	}
	return "(" + a + " " + op + " " + b + ")", nil
}

func (c *compiler) valuePath(v account.ValuePath) (string, error) {
	m, ok := c.s.multis[v.Attr]
	if !ok {
		return "", invalid("%q is not a multi-valued attribute", v.Attr)
	}
	if c.elem != "" {
		return "", invalid("brackets inside the brackets of %q", c.elem)
	}
	c.elem = v.Attr
	inner, err := c.filter(v.Filter)
	c.elem = ""
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(m.wrap, inner), nil
}

// lookup finds path; wrap, when not "", is the multi-valued attribute the
// condition on path must be wrapped into (outside brackets).
func (c *compiler) lookup(path string) (a attr, wrap string, err error) {
	a, ok := c.s.attrs[path]
	if !ok {
		return attr{}, "", invalid("unknown attribute %q", path)
	}
	if c.elem != "" {
		if a.in != c.elem {
			return attr{}, "", invalid("%q is not a sub-attribute of %q", path, c.elem)
		}
		return a, "", nil
	}
	if a.in != "" {
		return a, c.s.multis[a.in].wrap, nil
	}
	return a, "", nil
}

func (c *compiler) present(path string) (string, error) {
	if m, ok := c.s.multis[path]; ok && c.elem == "" {
		return fmt.Sprintf(m.wrap, "TRUE"), nil
	}
	if _, ok := c.s.attrs[path]; !ok && c.elem == "" {
		if parts := c.s.subAttrs(path); len(parts) > 0 {
			// A singular complex attribute (name, enterprise.manager) is
			// present when one of its sub-attributes is (RFC 7644
			// §3.4.2.2: "a non-empty node").
			var conds []string
			for _, p := range parts {
				cond, err := c.present(p)
				if err != nil {
					return "", err
				}
				conds = append(conds, cond)
			}
			return "(" + strings.Join(conds, " OR ") + ")", nil
		}
	}
	a, wrap, err := c.lookup(path)
	if err != nil {
		return "", err
	}
	var cond string
	switch a.kind {
	case kindString:
		cond = a.expr + " <> ''"
	case kindTime:
		cond = a.expr + " <> 0"
	case kindBool:
		cond = "TRUE" // a boolean always has a value
	}
	if wrap != "" {
		return fmt.Sprintf(wrap, cond), nil
	}
	return cond, nil
}

// subAttrs are the sub-attributes of the singular complex attribute path
// (name: name.givenName, …), in a stable order.
func (s *schema) subAttrs(path string) []string {
	var out []string
	for p, a := range s.attrs {
		if a.in == "" && strings.HasPrefix(p, path+".") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func (c *compiler) compare(cm account.Compare) (string, error) {
	a, wrap, err := c.lookup(cm.Attr)
	if err != nil {
		return "", err
	}
	op := cm.Op
	if op == account.OpNe {
		cm.Op = account.OpEq
	}
	var cond string
	switch a.kind {
	case kindString:
		cond, err = c.compareString(a, cm, cm.Attr == c.s.userName && c.s.userName != "")
	case kindBool:
		cond, err = c.compareBool(a, cm)
	case kindTime:
		cond, err = c.compareTime(a, cm)
	}
	if err != nil {
		return "", err
	}
	if wrap != "" {
		cond = fmt.Sprintf(wrap, cond)
	}
	if op == account.OpNe {
		cond = "NOT COALESCE(" + cond + ", false)"
	}
	return cond, nil
}

// foldUserName is a userName value in its stored form.
func foldUserName(v string) string {
	if n, err := account.NormalizeUserName(v); err == nil && strings.TrimSpace(v) == v {
		return n
	}
	return strings.ToLower(v)
}

// likeEscaper makes a value literal in a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// nocase is x folded as SQLite's NOCASE folds (ASCII letters only): the
// expression of the user_emails_value and groups_display_name indexes.
func nocase(x string) string { return "lower(" + x + ` COLLATE "C")` }

func (c *compiler) compareString(a attr, cm account.Compare, userName bool) (string, error) {
	v, ok := cm.Value.(string)
	if !ok {
		return "", invalid("%s %s: want a string, not %T", cm.Attr, cm.Op, cm.Value)
	}
	exact := cm.CaseExact
	if userName {
		v, exact = foldUserName(v), true
	}
	x := a.expr
	var cond string
	switch cm.Op {
	case account.OpEq:
		if exact {
			cond = x + " = " + c.param(v)
		} else {
			cond = nocase(x) + " = " + nocase(c.param(v))
		}
	case account.OpGt, account.OpGe, account.OpLt, account.OpLe:
		sqlOp := map[account.Op]string{account.OpGt: ">", account.OpGe: ">=", account.OpLt: "<", account.OpLe: "<="}[cm.Op]
		if exact {
			cond = x + ` COLLATE "C" ` + sqlOp + " " + c.param(v)
		} else {
			cond = nocase(x) + " " + sqlOp + " " + nocase(c.param(v))
		}
	case account.OpCo, account.OpSw, account.OpEw:
		if v == "" {
			return x + " <> ''", nil // every value contains, starts and ends with ""
		}
		if !exact {
			p := likeEscaper.Replace(v)
			switch cm.Op {
			case account.OpCo:
				p = "%" + p + "%"
			case account.OpSw:
				p += "%"
			case account.OpEw:
				p = "%" + p
			}
			return nocase(x) + " LIKE " + nocase(c.param(p)) + ` ESCAPE '\'`, nil
		}
		p := c.param(v)
		switch cm.Op {
		case account.OpCo:
			return "strpos(" + x + ", " + p + ") > 0", nil
		case account.OpSw:
			return "left(" + x + ", length(" + p + ")) = " + p, nil
		default:
			return "right(" + x + ", length(" + p + ")) = " + p, nil
		}
	default:
		return "", invalid("unknown operator %q", cm.Op)
	}
	if v == "" || cm.Op == account.OpLt || cm.Op == account.OpLe {
		cond = "(" + x + " <> '' AND " + cond + ")" // an absent value matches no comparison
	}
	return cond, nil
}

func (c *compiler) compareBool(a attr, cm account.Compare) (string, error) {
	v, ok := cm.Value.(bool)
	if !ok {
		return "", invalid("%s %s: want a boolean, not %T", cm.Attr, cm.Op, cm.Value)
	}
	if cm.Op != account.OpEq {
		return "", invalid("%s: booleans take eq and ne only, not %q", cm.Attr, cm.Op)
	}
	return a.expr + " = " + c.param(flag01(v)), nil
}

func (c *compiler) compareTime(a attr, cm account.Compare) (string, error) {
	var t time.Time
	switch v := cm.Value.(type) {
	case time.Time:
		t = v
	case string:
		p, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return "", invalid("%s %s: %q is not a dateTime", cm.Attr, cm.Op, v)
		}
		t = p
	default:
		return "", invalid("%s %s: want a dateTime, not %T", cm.Attr, cm.Op, cm.Value)
	}
	ops := map[account.Op]string{account.OpEq: "=", account.OpGt: ">", account.OpGe: ">=", account.OpLt: "<", account.OpLe: "<="}
	sqlOp, ok := ops[cm.Op]
	if !ok {
		return "", invalid("%s: dateTimes take eq ne gt ge lt le, not %q", cm.Attr, cm.Op)
	}
	return "(" + a.expr + " <> 0 AND " + a.expr + " " + sqlOp + " " + c.param(encodeTime(t)) + ")", nil
}

// orderBy is the ORDER BY clause of a search sorted by sortBy (RFC 7644
// §3.4.2.3): by the attribute's value in its collation (ASCII
// case-insensitive, or bytewise when exact), resources without
// a value last when ascending and first when descending, then by id so
// that pages are stable. A multi-valued attribute sorts by its primary
// element, else its first (e-mails, phone numbers). "" is the default
// order (creation, then id). An attribute the store cannot sort by is
// account.ErrInvalidQuery rather than silently ignored: the RFC leaves it
// open, and a client asking for an order it does not get would page
// through an order it did not ask for.
func (s *schema) orderBy(sortBy string, desc bool) (string, error) {
	dir := ""
	if desc {
		dir = " DESC"
	}
	if sortBy == "" {
		return strings.ReplaceAll(s.order, ",", dir+",") + dir, nil
	}
	path := sortBy
	if m, ok := s.multis[path]; ok && m.first != "" {
		path += ".value"
	}
	a, ok := s.attrs[path]
	if !ok {
		return "", invalid("cannot sort by %q", sortBy)
	}
	key := a.expr
	if a.in != "" {
		m := s.multis[a.in]
		if m.first == "" {
			return "", invalid("cannot sort by %q", sortBy)
		}
		key = "COALESCE((SELECT " + a.expr + " " + m.first + " LIMIT 1), '')"
	}
	sortKey := key
	switch {
	case a.kind == kindString && !a.exact:
		sortKey = nocase(key)
	case a.kind == kindString:
		sortKey = key + ` COLLATE "C"`
	}
	empty := ""
	switch a.kind {
	case kindString:
		empty = "(" + key + " = '')" + dir + ", "
	case kindTime:
		empty = "(" + key + " = 0)" + dir + ", "
	}
	return empty + sortKey + dir + ", " + s.alias + `.id COLLATE "C"` + dir, nil
}
