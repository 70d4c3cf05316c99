package search

import (
	"fmt"
	"math"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Paging and size limits.
const (
	DefaultCount = 50
	MaxCount     = 1000
	maxValues    = 100 // OR values per parameter
	maxClauses   = 64
	maxCursor    = 2048 // bytes of a _cursor value (an upstream's next link, sealed, fits)
)

// Query is a parsed search: Clauses are ANDed, the Values of a Clause ORed.
type Query struct {
	Type        string
	Clauses     []Clause
	Includes    []Include
	RevIncludes []Include
	Sort        []SortKey
	// Count is the page size.
	Count int
	// Summary is "", "count", "false" or "data".
	Summary string
	// Elements lists the top-level elements to return (empty: all).
	Elements []string
	// NoTotal is set by _total=none: the total is not counted.
	NoTotal bool
	// Cursor is the paging state carried by next links (_cursor): made and
	// read by the store (fhir.Cursor), opaque to this package.
	Cursor string
	// Ignored names the parameters left out under lenient handling, with
	// the reason.
	Ignored []string
}

// Clause is one search parameter occurrence.
type Clause struct {
	Param    string
	Type     Type
	Modifier string
	// Chain, when set, applies the inner clause to the resources referenced
	// by Param, whose type is one of Chain.Types.
	Chain  *Chain
	Values []Value
	// Missing is set for :missing (true or false).
	Missing *bool
}

// Chain is a chained parameter (subject:Patient.name=x).
type Chain struct {
	Types []string
	Inner Clause
}

// Value is one OR value of a clause, parsed by the clause's type.
type Value struct {
	Raw    string
	Prefix string // eq, ne, gt, lt, ge, le, sa, eb, ap (date, number, quantity)
	// Token and quantity: System ("" when absent), HasSystem reports that a
	// '|' was present; Code.
	System    string
	HasSystem bool
	Code      string
	// Text is the normalised string (string params, :text).
	Text string
	// Lo and Hi bound dates (ms) and the implicit range of numbers.
	Lo, Hi float64
	Num    float64
	// Reference targets.
	RefType, RefID string
}

// Include is an _include or _revinclude: resources of SourceType whose
// Param references (TargetType, or any) resources of the result.
type Include struct {
	SourceType string
	Param      string
	TargetType string
	// Iterate (:iterate) applies the include to included resources too.
	Iterate bool
}

// SortKey is one _sort key.
type SortKey struct {
	Param string
	Type  Type
	Desc  bool
}

// Error is a search request the server refuses (HTTP 400).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// resultParams are accepted and handled here or by the server.
var ignoredResultParams = map[string]bool{"_format": true, "_pretty": true}

// ParseQuery parses the search parameters q for resourceType. Unknown or
// unsupported parameters are an *Error unless lenient, in which case they
// are listed in Query.Ignored.
func (r *Registry) ParseQuery(resourceType string, q url.Values, lenient bool) (*Query, error) {
	if !r.types[resourceType] {
		return nil, errorf("unknown resource type %q", resourceType)
	}
	out := &Query{Type: resourceType, Count: DefaultCount}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	reject := func(name string, err error) error {
		if lenient {
			out.Ignored = append(out.Ignored, fmt.Sprintf("%s: %v", name, err))
			return nil
		}
		return err
	}
	for _, key := range keys {
		for _, raw := range q[key] {
			if err := r.parseParam(out, key, raw); err != nil {
				if _, ok := err.(*Error); !ok {
					return nil, err
				}
				if err := reject(key, err); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(out.Clauses) > maxClauses {
		return nil, errorf("too many search parameters (at most %d)", maxClauses)
	}
	return out, nil
}

func (r *Registry) parseParam(out *Query, key, raw string) error {
	if !validKey(key) {
		return errorf("malformed parameter name %q", key)
	}
	switch key {
	case "_count":
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return errorf("_count must be a non-negative integer")
		}
		out.Count = min(n, MaxCount)
		return nil
	case "_cursor":
		if out.Cursor != "" || raw == "" || len(raw) > maxCursor {
			return errorf("_cursor must be the one value of a next link")
		}
		out.Cursor = raw
		return nil
	case "_snapshot", "_offset":
		// The paging state of next links made before _cursor became opaque.
		return errorf("%s is no longer supported: follow the next link of a new search", key)
	case "_summary":
		switch raw {
		case "count", "false", "data":
			out.Summary = raw
			return nil
		}
		return errorf("_summary=%s is not supported (count, data, false are)", raw)
	case "_total":
		switch raw {
		case "none":
			out.NoTotal = true
		case "estimate", "accurate":
			out.NoTotal = false
		default:
			return errorf("_total must be none, estimate or accurate")
		}
		return nil
	case "_elements":
		for _, e := range strings.Split(raw, ",") {
			e = strings.TrimSpace(e)
			if !isIdent(e) {
				return errorf("_elements: %q is not an element name", e)
			}
			out.Elements = append(out.Elements, e)
		}
		return nil
	case "_sort":
		for _, s := range strings.Split(raw, ",") {
			k := SortKey{Param: strings.TrimSpace(s)}
			if strings.HasPrefix(k.Param, "-") {
				k.Desc, k.Param = true, k.Param[1:]
			}
			switch k.Param {
			case "_id":
				k.Type = TypeToken
			case "_lastUpdated":
				k.Type = TypeDate
			default:
				p := r.params[out.Type][k.Param]
				if p == nil || !p.Supported() {
					return errorf("_sort: unknown parameter %q for %s", k.Param, out.Type)
				}
				switch p.Type {
				case TypeString, TypeToken, TypeDate, TypeNumber, TypeQuantity, TypeURI:
				default:
					return errorf("_sort: cannot sort by %s parameter %q", p.Type, k.Param)
				}
				k.Type = p.Type
			}
			out.Sort = append(out.Sort, k)
		}
		return nil
	case "_include", "_revinclude", "_include:iterate", "_revinclude:iterate", "_include:recurse", "_revinclude:recurse":
		inc, err := r.parseInclude(raw)
		if err != nil {
			return err
		}
		base, mod, _ := strings.Cut(key, ":")
		inc.Iterate = mod != ""
		if base == "_include" {
			if inc.SourceType != out.Type && !inc.Iterate {
				return errorf("_include=%s: source type must be %s", raw, out.Type)
			}
			out.Includes = append(out.Includes, inc)
		} else {
			out.RevIncludes = append(out.RevIncludes, inc)
		}
		return nil
	}
	if ignoredResultParams[key] {
		return nil
	}
	c, err := r.parseClause(out.Type, key, raw, true)
	if err != nil {
		return err
	}
	out.Clauses = append(out.Clauses, c)
	return nil
}

func validKey(k string) bool {
	if k == "" || len(k) > 200 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

func (r *Registry) parseInclude(raw string) (Include, error) {
	parts := strings.Split(raw, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Include{}, errorf("include %q must be Type:param[:Target]", raw)
	}
	inc := Include{SourceType: parts[0], Param: parts[1]}
	if !r.types[inc.SourceType] {
		return Include{}, errorf("include %q: unknown type %q", raw, inc.SourceType)
	}
	p := r.params[inc.SourceType][inc.Param]
	if p == nil || p.Type != TypeReference || !p.Supported() {
		return Include{}, errorf("include %q: %s has no reference parameter %q", raw, inc.SourceType, inc.Param)
	}
	if len(parts) == 3 {
		inc.TargetType = parts[2]
		if !r.types[inc.TargetType] {
			return Include{}, errorf("include %q: unknown type %q", raw, inc.TargetType)
		}
	}
	return inc, nil
}

// parseClause parses name[:modifier][.chain]=raw for resourceType.
func (r *Registry) parseClause(resourceType, key, raw string, allowChain bool) (Clause, error) {
	name, chainRest, chained := strings.Cut(key, ".")
	code, modifier, _ := strings.Cut(name, ":")
	var c Clause
	c.Param, c.Modifier = code, modifier
	switch code {
	case "_id":
		c.Type = TypeToken
	case "_lastUpdated":
		c.Type = TypeDate
	default:
		p := r.params[resourceType][code]
		if p == nil {
			return c, errorf("unknown search parameter %q for %s", code, resourceType)
		}
		if !p.Supported() {
			return c, errorf("search parameter %q (%s) is not supported", code, p.Type)
		}
		c.Type = p.Type
		if chained {
			if !allowChain {
				return c, errorf("chains are supported one level deep only")
			}
			if p.Type != TypeReference {
				return c, errorf("%q is not a reference parameter and cannot be chained", code)
			}
			targets := p.Targets
			if modifier != "" {
				if !r.types[modifier] {
					return c, errorf("unknown type %q in chain %q", modifier, key)
				}
				targets = []string{modifier}
				c.Modifier = ""
			}
			ch := &Chain{}
			for _, t := range targets {
				inner, err := r.parseClause(t, chainRest, raw, false)
				if err != nil {
					if len(targets) == 1 {
						return c, err
					}
					continue
				}
				if len(ch.Types) > 0 && (inner.Type != ch.Inner.Type || inner.Param != ch.Inner.Param) {
					continue
				}
				ch.Types = append(ch.Types, t)
				ch.Inner = inner
			}
			if len(ch.Types) == 0 {
				return c, errorf("chain %q matches no target type", key)
			}
			c.Chain = ch
			return c, nil
		}
	}
	if modifier == "missing" {
		switch raw {
		case "true", "false":
			b := raw == "true"
			c.Missing = &b
			return c, nil
		}
		return c, errorf("%s:missing must be true or false", code)
	}
	if err := checkModifier(r, c.Type, modifier); err != nil {
		return c, errorf("%s: %v", code, err)
	}
	vals := splitValues(raw)
	if len(vals) > maxValues {
		return c, errorf("%s: too many values", code)
	}
	for _, v := range vals {
		pv, err := parseValue(c.Type, modifier, v)
		if err != nil {
			return c, errorf("%s: %v", code, err)
		}
		c.Values = append(c.Values, pv)
	}
	if code == "_id" {
		for _, v := range c.Values {
			if !ValidID(v.Code) {
				return c, errorf("_id: %q is not a valid id", v.Raw)
			}
		}
	}
	return c, nil
}

func checkModifier(r *Registry, t Type, m string) error {
	if m == "" {
		return nil
	}
	ok := false
	switch t {
	case TypeString:
		ok = m == "exact" || m == "contains"
	case TypeToken:
		ok = m == "not" || m == "text"
	case TypeURI:
		ok = m == "below" || m == "above"
	case TypeReference:
		ok = r.types[m]
	}
	if !ok {
		return errorf("modifier :%s is not supported for %s parameters", m, t)
	}
	return nil
}

// splitValues splits at unescaped commas and removes the escapes \, \| \$ \\.
func splitValues(raw string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) {
			b.WriteByte('\\')
			b.WriteByte(raw[i+1])
			i++
			continue
		}
		if c == ',' {
			out = append(out, b.String())
			b.Reset()
			continue
		}
		b.WriteByte(c)
	}
	return append(out, b.String())
}

// cutUnescaped cuts s at the first unescaped sep.
func cutUnescaped(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var prefixes = []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}

func cutPrefix(s string) (prefix, rest string) {
	if len(s) >= 3 {
		for _, p := range prefixes {
			if strings.HasPrefix(s, p) && (s[2] >= '0' && s[2] <= '9' || s[2] == '-' || s[2] == '.') {
				return p, s[2:]
			}
		}
	}
	return "eq", s
}

func parseValue(t Type, modifier, raw string) (Value, error) {
	v := Value{Raw: raw}
	if raw == "" {
		return v, fmt.Errorf("empty value")
	}
	if len(raw) > 1024 {
		return v, fmt.Errorf("value too long")
	}
	switch t {
	case TypeString:
		v.Code = unescape(raw)
		v.Text = Normalize(v.Code)
	case TypeURI:
		v.Code = unescape(raw)
	case TypeToken:
		if modifier == "text" {
			v.Text = Normalize(unescape(raw))
			return v, nil
		}
		sys, code, found := cutUnescaped(raw, '|')
		if found {
			v.HasSystem, v.System, v.Code = true, unescape(sys), unescape(code)
		} else {
			v.Code = unescape(raw)
		}
		if v.Code == "" && !v.HasSystem {
			return v, fmt.Errorf("empty token")
		}
		if v.Code == "" && v.System == "" {
			return v, fmt.Errorf("empty token")
		}
	case TypeReference:
		s := unescape(raw)
		if modifier != "" {
			if !ValidID(s) {
				return v, fmt.Errorf("%q is not an id", s)
			}
			v.RefType, v.RefID = modifier, s
			return v, nil
		}
		if ValidID(s) {
			v.RefID = s
			return v, nil
		}
		if typ, id, ok := splitRef(s); ok {
			v.RefType, v.RefID = typ, id
		}
		v.Code = s
	case TypeDate:
		p, rest := cutPrefix(raw)
		lo, hi, err := DateRange(rest)
		if err != nil {
			return v, fmt.Errorf("%q is not a date", raw)
		}
		v.Prefix, v.Lo, v.Hi = p, lo, hi
	case TypeNumber, TypeQuantity:
		p, rest := cutPrefix(raw)
		num := rest
		if t == TypeQuantity {
			var unitPart string
			var found bool
			num, unitPart, found = cutUnescaped(rest, '|')
			if found {
				sys, code, ok := cutUnescaped(unitPart, '|')
				if !ok {
					return v, fmt.Errorf("quantity %q must be number|system|code", raw)
				}
				v.HasSystem, v.System, v.Code = sys != "", unescape(sys), unescape(code)
			}
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return v, fmt.Errorf("%q is not a number", raw)
		}
		v.Prefix, v.Num = p, f
		// Implicit range from the precision: 100 → [99.5, 100.5),
		// computed exactly (0.3 - 0.05 is 0.25, not 0.2499…).
		v.Lo, v.Hi = f, math.Nextafter(f, math.Inf(1))
		if !strings.ContainsAny(num, "eE") {
			digits := 0
			if dot := strings.IndexByte(num, '.'); dot >= 0 {
				digits = len(num) - dot - 1
			}
			exact, ok := new(big.Rat).SetString(num)
			if ok && digits < 300 {
				half := new(big.Rat).SetFrac(big.NewInt(5), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits+1)), nil))
				lo, _ := new(big.Rat).Sub(exact, half).Float64()
				hi, _ := new(big.Rat).Add(exact, half).Float64()
				// With many digits the half-width is below the float
				// resolution; keep the value itself inside [Lo, Hi).
				v.Lo, v.Hi = min(lo, f), max(hi, math.Nextafter(f, math.Inf(1)))
			}
		}
	}
	return v, nil
}

// ApproxRange widens a date range by 10% of its distance from now (at least
// one day) for the ap prefix.
func ApproxRange(lo, hi float64, now time.Time) (float64, float64) {
	d := math.Abs(float64(now.UnixMilli())-lo) * 0.1
	if d < 86400000 {
		d = 86400000
	}
	return lo - d, hi + d
}

// Encode writes the query back as URL parameters (without paging state),
// for self and next links.
func Encode(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		switch k {
		case "_cursor", "_format":
			continue
		}
		out[k] = v
	}
	return out
}
