// Package scimsql is the SCIM filter compiler of the SQL stores: one
// translation of account.Filter into a parameterised SQL condition and of a
// sortBy into an ORDER BY clause, with a table per resource (Users, Groups)
// that says how each canonical attribute reads in SQL. store/sqlite and
// store/postgres share it; a Dialect holds exactly what their SQL spells
// differently (placeholders, case folding, JSON and roles access,
// substring tests, bytewise collation), and each store runs the SQL.
package scimsql

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store/internal/dbtime"
)

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
//   - not is `NOT COALESCE(x, false)` (the dialect's false), so that it
//     stays two-valued even if an expression were ever NULL: not(a)
//     matches exactly what a does not.
//   - A comparison or presence test on a sub-attribute of a multi-valued
//     attribute outside brackets (emails.value co "@x") matches when one
//     element does; inside brackets (emails[type eq "work" and value co
//     "@x"]) one element must satisfy the whole bracket. Both compile to
//     `id IN (SELECT owner FROM element table WHERE …)`, which lets the
//     planner start from an index on the element (user_emails_value)
//     instead of scanning every resource.
//   - Case: Compare.CaseExact false compares folding ASCII letters only
//     (SQLite's NOCASE and LIKE; lower(x COLLATE "C") in PostgreSQL, the
//     expression of its user_emails_value and groups_display_name
//     indexes); true compares bytes. userName is stored in its PRECIS form
//     (case-folded), so its values are folded the same way
//     (account.NormalizeUserName, else lower case) and compared exactly, on
//     the unique index for eq.
//   - co, sw and ew match their value literally: %, _ and \ are escaped
//     for LIKE (ESCAPE '\'), and the case-exact substring tests have no
//     metacharacters.
//   - gt, ge, lt and le compare strings in the attribute's collation and
//     times as instants; booleans take eq and ne only.
//
// Anything the table does not know (an attribute, an operator for its
// type, a value of another type) is account.ErrInvalidQuery.

// Dialect is what one SQL backend spells differently. No function may be
// nil.
type Dialect struct {
	// Param is the placeholder of the n-th parameter (from 1), whose value
	// is v (a string, or an int64 for times and booleans).
	Param func(n int, v any) string
	// True and False are the boolean literals.
	True, False string
	// Bool is the parameter value that a boolean column compares with.
	Bool func(b bool) any
	// JSON is the text at the dotted key path of the JSON object in column
	// col, NULL when absent.
	JSON func(col, path string) string
	// Words is a FROM item of the space-separated words of column col (no
	// quotes or spaces inside a word) as rows e(value); '' is no rows.
	Words func(col string) string
	// Fold and NoCase make a comparison ASCII case-insensitive:
	// Fold(x) op Fold(placeholder) NoCase, and Fold(key) NoCase as a sort
	// key; a LIKE of Fold(x) with Fold(pattern) must fold ASCII letters
	// too.
	Fold   func(x string) string
	NoCase string
	// Bytes is the clause that makes an ordering comparison or sort key
	// bytewise ("" where that is the default).
	Bytes string
	// Contains, HasPrefix and HasSuffix are the case-exact tests that x
	// contains, starts or ends with one value; each call of param adds the
	// value as a parameter again and returns its placeholder.
	Contains, HasPrefix, HasSuffix func(x string, param func() string) string
}

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

// Schema is what the compiler knows of one resource type, in one dialect.
type Schema struct {
	d        *Dialect
	alias    string // u or g
	attrs    map[string]attr
	multis   map[string]multi
	userName string // the attribute stored PRECIS-normalised, or ""
	order    string // the default order: creation, then id (bytewise)
}

// Users is the schema of the users table (alias u) and its element tables.
func Users(d *Dialect) *Schema {
	jsonAttr := func(path string) attr {
		return attr{expr: "COALESCE(" + d.JSON("u.attrs", path) + ", '')"}
	}
	return &Schema{
		d:        d,
		alias:    "u",
		userName: "userName",
		order:    "u.created, u.id" + d.Bytes,
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
			"smartgate.roles": {wrap: "EXISTS (SELECT 1 FROM " + d.Words("u.roles") + " WHERE %s)"},
		},
	}
}

// Groups is the schema of the groups table (alias g) and its members.
func Groups(d *Dialect) *Schema {
	return &Schema{
		d:     d,
		alias: "g",
		order: "g.created, g.id" + d.Bytes,
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
			"smartgate.roles": {wrap: "EXISTS (SELECT 1 FROM " + d.Words("g.roles") + " WHERE %s)"},
		},
	}
}

// compiler turns one filter into SQL; args collects its parameters in
// order.
type compiler struct {
	s    *Schema
	d    *Dialect
	args []any
	elem string // the multi-valued attribute whose brackets we are in, or ""
}

// param adds v to the parameters and returns its placeholder.
func (c *compiler) param(v any) string {
	c.args = append(c.args, v)
	return c.d.Param(len(c.args), v)
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", account.ErrInvalidQuery, fmt.Sprintf(format, a...))
}

// Where compiles f (nil: every resource) into a condition and its
// parameters.
func (s *Schema) Where(f account.Filter) (string, []any, error) {
	if f == nil {
		return s.d.True, nil, nil
	}
	c := compiler{s: s, d: s.d}
	w, err := c.filter(f)
	if err != nil {
		return "", nil, err
	}
	return w, c.args, nil
}

// not is the negation of cond, two-valued even if cond were NULL.
func (c *compiler) not(cond string) string {
	return "NOT COALESCE(" + cond + ", " + c.d.False + ")"
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
		return c.not(x), nil
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
		return fmt.Sprintf(m.wrap, c.d.True), nil
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
		cond = c.d.True // a boolean always has a value
	}
	if wrap != "" {
		return fmt.Sprintf(wrap, cond), nil
	}
	return cond, nil
}

// subAttrs are the sub-attributes of the singular complex attribute path
// (name: name.givenName, …), in a stable order.
func (s *Schema) subAttrs(path string) []string {
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
		cond = c.not(cond)
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

// ordering are the SQL operators of gt, ge, lt and le.
var ordering = map[account.Op]string{account.OpGt: ">", account.OpGe: ">=", account.OpLt: "<", account.OpLe: "<="}

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
	d := c.d
	var cond string
	switch cm.Op {
	case account.OpEq:
		if exact {
			cond = x + " = " + c.param(v)
		} else {
			cond = d.Fold(x) + " = " + d.Fold(c.param(v)) + d.NoCase
		}
	case account.OpGt, account.OpGe, account.OpLt, account.OpLe:
		if exact {
			cond = x + d.Bytes + " " + ordering[cm.Op] + " " + c.param(v)
		} else {
			cond = d.Fold(x) + " " + ordering[cm.Op] + " " + d.Fold(c.param(v)) + d.NoCase
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
			return d.Fold(x) + " LIKE " + d.Fold(c.param(p)) + ` ESCAPE '\'`, nil
		}
		// The closure adds to a copy of the parameters rather than
		// capturing c, which would move every compiler to the heap.
		args := c.args
		param := func() string {
			args = append(args, v)
			return d.Param(len(args), v)
		}
		test := d.HasSuffix
		switch cm.Op {
		case account.OpCo:
			test = d.Contains
		case account.OpSw:
			test = d.HasPrefix
		}
		cond = test(x, param)
		c.args = args
		return cond, nil
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
	return a.expr + " = " + c.param(c.d.Bool(v)), nil
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
	sqlOp, ok := ordering[cm.Op]
	if cm.Op == account.OpEq {
		sqlOp, ok = "=", true
	}
	if !ok {
		return "", invalid("%s: dateTimes take eq ne gt ge lt le, not %q", cm.Attr, cm.Op)
	}
	return "(" + a.expr + " <> 0 AND " + a.expr + " " + sqlOp + " " + c.param(dbtime.Encode(t)) + ")", nil
}

// OrderBy is the ORDER BY clause of a search sorted by sortBy (RFC 7644
// §3.4.2.3): by the attribute's value in its collation (ASCII
// case-insensitive, or bytewise when exact), resources without a value
// last when ascending and first when descending, then by id so that pages
// are stable. A multi-valued attribute sorts by its primary element, else
// its first (e-mails, phone numbers). "" is the default order (creation,
// then id). An attribute the store cannot sort by is
// account.ErrInvalidQuery rather than silently ignored: the RFC leaves it
// open, and a client asking for an order it does not get would page
// through an order it did not ask for.
func (s *Schema) OrderBy(sortBy string, desc bool) (string, error) {
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
		sortKey = s.d.Fold(key) + s.d.NoCase
	case a.kind == kindString:
		sortKey = key + s.d.Bytes
	}
	empty := ""
	switch a.kind {
	case kindString:
		empty = "(" + key + " = '')" + dir + ", "
	case kindTime:
		empty = "(" + key + " = 0)" + dir + ", "
	}
	return empty + sortKey + dir + ", " + s.alias + ".id" + s.d.Bytes + dir, nil
}
