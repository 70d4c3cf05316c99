package filter

import (
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
)

// Match reports whether elem, one element of a multi-valued complex
// attribute as decoded from JSON ({"type":"work","value":"…"}), matches
// the value filter f of a Path. f's attributes name full paths
// ("emails.type"); elem's keys are compared case-insensitively (RFC 7643
// §2.1), and string values honour each Compare's CaseExact as the store
// does.
func Match(f account.Filter, elem map[string]any) bool {
	switch f := f.(type) {
	case account.And:
		return Match(f.Left, elem) && Match(f.Right, elem)
	case account.Or:
		return Match(f.Left, elem) || Match(f.Right, elem)
	case account.Not:
		return !Match(f.X, elem)
	case account.Present:
		v, ok := lookup(elem, f.Attr)
		return ok && present(v)
	case account.Compare:
		v, ok := lookup(elem, f.Attr)
		if !ok || v == nil {
			return f.Op == account.OpNe
		}
		return compare(f, v)
	}
	return false // ValuePath cannot nest in a value filter
}

// lookup finds the sub-attribute named by the last segment of path.
func lookup(elem map[string]any, path string) (any, bool) {
	name := path[strings.LastIndexByte(path, '.')+1:]
	if v, ok := elem[name]; ok {
		return v, true
	}
	for k, v := range elem {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

func compare(c account.Compare, v any) bool {
	switch want := c.Value.(type) {
	case string:
		s, ok := v.(string)
		return ok && compareStrings(c.Op, s, want, c.CaseExact)
	case bool:
		b, ok := asBool(v)
		return ok && (b == want) == (c.Op == account.OpEq)
	case float64:
		n, ok := v.(float64)
		return ok && ordered(c.Op, cmpFloat(n, want))
	case time.Time:
		s, ok := v.(string)
		if !ok {
			return false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return err == nil && ordered(c.Op, t.Compare(want))
	}
	return false
}

// asBool accepts a JSON boolean or, as Entra ID sends them, "True" and
// "False" in any case.
func asBool(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func compareStrings(op account.Op, s, want string, caseExact bool) bool {
	if !caseExact {
		s, want = strings.ToLower(s), strings.ToLower(want)
	}
	switch op {
	case account.OpCo:
		return strings.Contains(s, want)
	case account.OpSw:
		return strings.HasPrefix(s, want)
	case account.OpEw:
		return strings.HasSuffix(s, want)
	}
	return ordered(op, strings.Compare(s, want))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ordered applies eq, ne, gt, ge, lt or le to the result of a
// comparison.
func ordered(op account.Op, c int) bool {
	switch op {
	case account.OpEq:
		return c == 0
	case account.OpNe:
		return c != 0
	case account.OpGt:
		return c > 0
	case account.OpGe:
		return c >= 0
	case account.OpLt:
		return c < 0
	case account.OpLe:
		return c <= 0
	}
	return false
}
