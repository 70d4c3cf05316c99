package scimsql

import (
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/smartgate/smartgate/account"
)

// anon and numbered are the two kinds of placeholder the stores use: ? (a
// parameter per occurrence) and $n (one parameter, repeatable).
var (
	anon = Dialect{
		Param: func(int, any) string { return "?" }, True: "1", False: "0",
		Bool:  func(b bool) any { return b },
		JSON:  func(col, path string) string { return "J(" + col + "," + path + ")" },
		Words: func(col string) string { return "W(" + col + ") e" },
		Fold:  func(x string) string { return x }, NoCase: " NC",
		Contains:  func(x string, p func() string) string { return "C(" + x + "," + p() + ")" },
		HasPrefix: func(x string, p func() string) string { return "P(" + x + "," + p() + "," + p() + ")" },
		HasSuffix: func(x string, p func() string) string { return "S(" + x + "," + p() + "," + p() + ")" },
	}
	numbered = Dialect{
		Param: func(n int, _ any) string { return "$" + strconv.Itoa(n) }, True: "T", False: "F",
		Bool: func(b bool) any { return map[bool]int64{false: 0, true: 1}[b] },
		JSON: anon.JSON, Words: anon.Words,
		Fold: func(x string) string { return "f(" + x + ")" }, Bytes: " B",
		Contains: anon.Contains,
		HasPrefix: func(x string, p func() string) string {
			v := p()
			return "P(" + x + "," + v + "," + v + ")"
		},
		HasSuffix: anon.HasSuffix,
	}
)

func TestWhere(t *testing.T) {
	eq := func(attr string, v any, exact bool) account.Compare {
		return account.Compare{Attr: attr, Op: account.OpEq, Value: v, CaseExact: exact}
	}
	for _, tc := range []struct {
		d    *Dialect
		f    account.Filter
		want string
		args []any
	}{
		{&anon, nil, "1", nil},
		{&numbered, nil, "T", nil},
		// The substring tests take their value as often as the dialect
		// says, numbered after the parameters before them.
		{&anon, account.And{Left: eq("title", "a", false), Right: account.Compare{Attr: "id", Op: account.OpSw, Value: "x", CaseExact: true}},
			"(COALESCE(J(u.attrs,title), '') = ? NC AND P(u.id,?,?))", []any{"a", "x", "x"}},
		{&numbered, account.And{Left: eq("title", "a", false), Right: account.Compare{Attr: "id", Op: account.OpSw, Value: "x", CaseExact: true}},
			"(f(COALESCE(J(u.attrs,title), '')) = f($1) AND P(u.id,$2,$2))", []any{"a", "x"}},
		{&numbered, account.Or{Left: account.Compare{Attr: "id", Op: account.OpEw, Value: "x", CaseExact: true}, Right: eq("id", "y", true)},
			"(S(u.id,$1,$2) OR u.id = $3)", []any{"x", "x", "y"}},
		{&anon, account.Compare{Attr: "emails.value", Op: account.OpCo, Value: "50%", CaseExact: false},
			`u.id IN (SELECT e.user_id FROM user_emails e WHERE e.value LIKE ? ESCAPE '\')`, []any{`%50\%%`}},
		// ne and not are negations that stay two-valued; booleans take
		// the dialect's value; ordering comparisons of exact attributes
		// are bytewise.
		{&numbered, account.Not{X: account.Compare{Attr: "active", Op: account.OpNe, Value: true}},
			"NOT COALESCE(NOT COALESCE(u.active = $1, F), F)", []any{int64(1)}},
		{&numbered, account.Compare{Attr: "externalId", Op: account.OpLt, Value: "m", CaseExact: true},
			"(u.external_id <> '' AND u.external_id B < $1)", []any{"m"}},
		{&anon, account.ValuePath{Attr: "smartgate.roles", Filter: account.Present{Attr: "smartgate.roles"}},
			"EXISTS (SELECT 1 FROM W(u.roles) e WHERE e.value <> '')", nil},
		// userName is compared exactly, in its stored (folded) form.
		{&anon, eq("userName", "Alice", false), "u.user_name = ?", []any{"alice"}},
	} {
		got, args, err := Users(tc.d).Where(tc.f)
		if err != nil || got != tc.want || !reflect.DeepEqual(args, tc.args) {
			t.Errorf("Where(%#v) = %q, %#v, %v; want %q, %#v", tc.f, got, args, err, tc.want, tc.args)
		}
	}
}

func TestWhereInvalid(t *testing.T) {
	for _, f := range []account.Filter{
		account.Present{Attr: "nope"},
		account.Compare{Attr: "active", Op: account.OpGt, Value: true},
		account.Compare{Attr: "title", Op: account.OpEq, Value: 1},
		account.Compare{Attr: "meta.created", Op: account.OpEq, Value: "yesterday"},
		account.ValuePath{Attr: "emails", Filter: account.Present{Attr: "title"}},
		account.ValuePath{Attr: "title", Filter: account.Present{Attr: "title"}},
	} {
		if _, _, err := Users(&anon).Where(f); !errors.Is(err, account.ErrInvalidQuery) {
			t.Errorf("Where(%#v): %v, want account.ErrInvalidQuery", f, err)
		}
	}
}

func TestOrderBy(t *testing.T) {
	for _, tc := range []struct {
		d      *Dialect
		s      func(*Dialect) *Schema
		sortBy string
		desc   bool
		want   string
	}{
		{&anon, Users, "", false, "u.created, u.id"},
		{&numbered, Groups, "", true, "g.created DESC, g.id B DESC"},
		{&anon, Users, "displayName", false, "(u.display_name = ''), u.display_name NC, u.id"},
		{&numbered, Users, "emails", true, "(COALESCE((SELECT e.value FROM user_emails e WHERE e.user_id = u.id ORDER BY e.is_primary DESC, e.position LIMIT 1), '') = '') DESC, " +
			"f(COALESCE((SELECT e.value FROM user_emails e WHERE e.user_id = u.id ORDER BY e.is_primary DESC, e.position LIMIT 1), '')) DESC, u.id B DESC"},
		{&numbered, Users, "id", false, "(u.id = ''), u.id B, u.id B"},
		{&anon, Users, "meta.created", false, "(u.created = 0), u.created, u.id"},
	} {
		got, err := tc.s(tc.d).OrderBy(tc.sortBy, tc.desc)
		if err != nil || got != tc.want {
			t.Errorf("OrderBy(%q, %v) = %q, %v; want %q", tc.sortBy, tc.desc, got, err, tc.want)
		}
	}
	for _, by := range []string{"groups", "smartgate.roles", "nope"} {
		if _, err := Users(&anon).OrderBy(by, false); !errors.Is(err, account.ErrInvalidQuery) {
			t.Errorf("OrderBy(%q): %v, want account.ErrInvalidQuery", by, err)
		}
	}
}
