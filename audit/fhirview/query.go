package fhirview

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/audit"
)

// Search bounds.
const (
	DefaultCount = 50
	MaxCount     = 1000
)

// Query is a parsed AuditEvent search: the part the store selects by
// (Filter) and the codes computed by the mapping (type, subtype, action),
// which the view tests on each record.
type Query struct {
	Filter  audit.Filter
	Type    []string // token values, OR
	Subtype []string
	Action  []string
	Count   int
	Cursor  int64 // id of the last record of the previous page
}

// SearchParams are the parameters ParseQuery takes, by FHIR search type.
func SearchParams() map[string]string {
	return map[string]string{
		"date": "date", "agent": "reference", "entity": "reference", "patient": "reference",
		"type": "token", "subtype": "token", "outcome": "token", "action": "token", "_count": "number",
	}
}

// ParseQuery parses the search parameters of /fhir/AuditEvent. Its errors
// are meant for the caller (a 400 OperationOutcome).
func ParseQuery(params url.Values) (Query, error) {
	q := Query{Count: DefaultCount}
	for name, vals := range params {
		for _, v := range vals {
			if err := q.add(name, v); err != nil {
				return Query{}, err
			}
		}
	}
	return q, nil
}

func (q *Query) add(name, v string) error {
	switch name {
	case "date":
		return addDate(&q.Filter, v)
	case "agent":
		return setOnce(&q.Filter.Agent, name, lastSegment(v))
	case "entity":
		if !strings.Contains(v, "/") {
			return fmt.Errorf("entity must be a reference such as Observation/123, not %q", v)
		}
		return setOnce(&q.Filter.Resource, name, v)
	case "patient":
		return setOnce(&q.Filter.Patient, name, strings.TrimPrefix(v, "Patient/"))
	case "outcome":
		o := OutcomeOf(v)
		if o == "" {
			return fmt.Errorf("outcome must be 0, 4 or 8, not %q", v)
		}
		return setOnce(&q.Filter.Outcome, name, o)
	case "type":
		q.Type = append(q.Type, strings.Split(v, ",")...)
	case "subtype":
		q.Subtype = append(q.Subtype, strings.Split(v, ",")...)
	case "action":
		for _, a := range strings.Split(v, ",") {
			if len(a) != 1 || !strings.Contains("CRUDE", a) {
				return fmt.Errorf("action must be one of C, R, U, D, E, not %q", a)
			}
			q.Action = append(q.Action, a)
		}
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("_count must be a positive integer, not %q", v)
		}
		q.Count = min(n, MaxCount)
	case "_cursor":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("_cursor is not a cursor of this listing: follow the next link as given")
		}
		q.Cursor = n
	case "_format", "_pretty":
	default:
		return fmt.Errorf("search parameter %q is not supported on AuditEvent (supported: date, agent, entity, patient, type, subtype, outcome, action, _count)", name)
	}
	return nil
}

func setOnce(dst *string, name, v string) error {
	if v == "" {
		return fmt.Errorf("%s needs a value", name)
	}
	if *dst != "" && *dst != v {
		return fmt.Errorf("%s may be given once", name)
	}
	*dst = v
	return nil
}

// lastSegment is the id of a reference (Practitioner/x → x), or v.
func lastSegment(v string) string {
	if i := strings.LastIndexByte(v, '/'); i >= 0 {
		return v[i+1:]
	}
	return v
}

// addDate narrows f by one date parameter: an optional prefix (eq, ge, le,
// gt, lt) and a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD, or a full
// date-time with seconds and a zone), which stands for the range it
// names.
func addDate(f *audit.Filter, v string) error {
	prefix := "eq"
	if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
	}
	lo, hi, err := ParseDateTime(v)
	if err != nil {
		return err
	}
	since, until := time.Time{}, time.Time{}
	switch prefix {
	case "eq":
		since, until = lo, hi
	case "ge":
		since = lo
	case "gt":
		since = hi
	case "le":
		until = hi
	case "lt":
		until = lo
	default:
		return fmt.Errorf("date prefix %q is not supported (eq, ge, gt, le, lt)", prefix)
	}
	if !since.IsZero() && since.After(f.Since) {
		f.Since = since
	}
	if !until.IsZero() && (f.Until.IsZero() || until.Before(f.Until)) {
		f.Until = until
	}
	return nil
}

// ParseDateTime parses a FHIR dateTime and returns the range [lo, hi) it
// stands for: a year, a month, a day (in UTC), or an instant (to the
// precision given, at least the second).
func ParseDateTime(v string) (lo, hi time.Time, err error) {
	layouts := []struct {
		layout string
		next   func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
	}
	for _, l := range layouts {
		if len(v) == len(l.layout) {
			if t, err := time.Parse(l.layout, v); err == nil {
				return t, l.next(t), nil
			}
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil && len(v) <= 35 {
		// A stated fraction is the precision; whole seconds otherwise.
		step := time.Second
		if i := strings.IndexByte(v, '.'); i >= 0 {
			digits := 0
			for _, c := range v[i+1:] {
				if c < '0' || c > '9' {
					break
				}
				digits++
			}
			step = time.Duration(pow10(9 - min(digits, 9)))
		}
		return t.UTC(), t.UTC().Add(step), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("%q is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)", v)
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// computed reports whether the query tests codes the store does not hold.
func (q Query) computed() bool { return len(q.Type)+len(q.Subtype)+len(q.Action) > 0 }

// Match reports whether a record's computed codes satisfy the query's
// type, subtype and action (the store has applied the rest).
func (q Query) Match(e audit.Event) bool {
	if !q.computed() {
		return true
	}
	c := classify(e)
	if len(q.Type) > 0 && !matchToken(q.Type, c.typ) {
		return false
	}
	if len(q.Subtype) > 0 && !matchToken(q.Subtype, c.subtype) {
		return false
	}
	if len(q.Action) > 0 && !contains(q.Action, c.action) {
		return false
	}
	return true
}

// matchToken reports whether the coding matches one of the token values
// (system|code, |code, or code).
func matchToken(vals []string, c map[string]any) bool {
	for _, v := range vals {
		sys, code, hasSys := strings.Cut(v, "|")
		if !hasSys {
			code, sys = v, ""
		}
		if code == c["code"] && (!hasSys || sys == c["system"]) {
			return true
		}
	}
	return false
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
