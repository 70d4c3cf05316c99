package search

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Entry is one index value of one search parameter of a resource.
type Entry struct {
	Param string
	Type  Type
	// System and Code: token (system, code or identifier value), quantity
	// (system, code) and reference (the reference as written); for string
	// parameters Code is the exact value; for uri parameters the URI.
	System string
	Code   string
	// Text is the normalised text: string values, token display and text,
	// quantity units.
	Text string
	// Lo and Hi bound date values (Unix milliseconds, inclusive) and hold
	// number and quantity values.
	Lo, Hi float64
	// RefType and RefID are the target of a literal reference.
	RefType, RefID string
}

// The bounds used for open date ranges (Unix milliseconds).
const (
	MinDate = -62135596800000.0 // 0001-01-01
	MaxDate = 253402300799999.0 // 9999-12-31T23:59:59.999Z
)

// Decode parses a resource for Extract and PatientCompartments. Numbers are
// kept as json.Number so that decimals keep their precision.
func Decode(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("search: decode resource: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("search: resource is not a JSON object")
	}
	if d.More() {
		return nil, fmt.Errorf("search: data after the resource")
	}
	return m, nil
}

// Extract evaluates every supported search parameter of resourceType on the
// resource (decoded by Decode; raw is its JSON encoding) and returns the
// index values.
func (r *Registry) Extract(resourceType string, res map[string]any, raw []byte) ([]Entry, error) {
	var out []Entry
	rawFn := func() []byte { return raw }
	codes := make([]string, 0, len(r.params[resourceType]))
	for c := range r.params[resourceType] {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		p := r.params[resourceType][c]
		if p.eval == nil || !p.Supported() {
			continue
		}
		nodes, err := p.eval.eval(res, rawFn)
		if err != nil {
			return nil, fmt.Errorf("search: evaluate %s.%s: %w", resourceType, c, err)
		}
		for _, n := range nodes {
			out = appendEntries(out, p, n)
		}
	}
	return out, nil
}

// PatientCompartments returns the ids of the patients in whose compartment
// the resource is, by the official Patient CompartmentDefinition. A Patient
// is in its own compartment.
func (r *Registry) PatientCompartments(resourceType string, res map[string]any, raw []byte) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if resourceType == "Patient" {
		if id, _ := res["id"].(string); ValidID(id) {
			add(id)
		}
	}
	rawFn := func() []byte { return raw }
	for _, c := range r.compartment[resourceType] {
		p := r.params[resourceType][c]
		nodes, err := p.eval.eval(res, rawFn)
		if err != nil {
			return nil, fmt.Errorf("search: compartment %s.%s: %w", resourceType, c, err)
		}
		for _, n := range nodes {
			m, ok := n.v.(map[string]any)
			if !ok {
				continue
			}
			ref, _ := m["reference"].(string)
			if t, id, ok := splitRef(ref); ok && t == "Patient" {
				add(id)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func appendEntries(out []Entry, p *Param, n node) []Entry {
	e := Entry{Param: p.Code, Type: p.Type}
	switch p.Type {
	case TypeString:
		switch v := n.v.(type) {
		case string:
			e.Code, e.Text = v, Normalize(v)
			return append(out, e)
		case map[string]any:
			for _, k := range []string{"text", "family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode", "country"} {
				for _, s := range strs(v[k]) {
					out = append(out, Entry{Param: p.Code, Type: p.Type, Code: s, Text: Normalize(s)})
				}
			}
		}
	case TypeURI:
		if s, ok := n.v.(string); ok {
			e.Code = s
			return append(out, e)
		}
	case TypeToken:
		return appendTokens(out, e, n)
	case TypeReference:
		switch v := n.v.(type) {
		case string:
			e.Code = v
			e.RefType, e.RefID, _ = splitRef(v)
			return append(out, e)
		case map[string]any:
			ref, _ := v["reference"].(string)
			if ref == "" || strings.HasPrefix(ref, "#") {
				return out
			}
			e.Code = ref
			e.RefType, e.RefID, _ = splitRef(ref)
			return append(out, e)
		}
	case TypeDate:
		switch v := n.v.(type) {
		case string:
			if lo, hi, err := DateRange(v); err == nil {
				e.Lo, e.Hi = lo, hi
				return append(out, e)
			}
		case map[string]any:
			if _, ok := v["start"]; ok || v["end"] != nil || n.typ == "Period" {
				e.Lo, e.Hi = MinDate, MaxDate
				if s, ok := v["start"].(string); ok {
					if lo, _, err := DateRange(s); err == nil {
						e.Lo = lo
					}
				}
				if s, ok := v["end"].(string); ok {
					if _, hi, err := DateRange(s); err == nil {
						e.Hi = hi
					}
				}
				return append(out, e)
			}
			for _, s := range strs(v["event"]) { // Timing
				if lo, hi, err := DateRange(s); err == nil {
					out = append(out, Entry{Param: p.Code, Type: p.Type, Lo: lo, Hi: hi})
				}
			}
		}
	case TypeNumber:
		if f, ok := number(n.v); ok {
			e.Lo, e.Hi = f, f
			return append(out, e)
		}
	case TypeQuantity:
		m, ok := n.v.(map[string]any)
		if !ok {
			return out
		}
		f, ok := number(m["value"])
		if !ok {
			return out
		}
		e.Lo, e.Hi = f, f
		e.System, _ = m["system"].(string)
		e.Code, _ = m["code"].(string)
		unit, _ := m["unit"].(string)
		e.Text = unit
		return append(out, e)
	}
	return out
}

func appendTokens(out []Entry, e Entry, n node) []Entry {
	switch v := n.v.(type) {
	case string:
		e.Code = v
		return append(out, e)
	case bool:
		e.Code = strconv.FormatBool(v)
		return append(out, e)
	case map[string]any:
		switch {
		case n.typ == "ContactPoint" || n.name == "telecom":
			e.System, _ = v["system"].(string)
			e.Code, _ = v["value"].(string)
			if e.Code != "" {
				out = append(out, e)
			}
		case n.typ == "Identifier" || n.name == "identifier" || (v["value"] != nil && v["coding"] == nil && v["code"] == nil):
			e.System, _ = v["system"].(string)
			e.Code, _ = v["value"].(string)
			if t, ok := v["type"].(map[string]any); ok {
				if s, ok := t["text"].(string); ok {
					e.Text = Normalize(s)
				}
			}
			if e.Code != "" {
				out = append(out, e)
			}
		case v["coding"] != nil || n.typ == "CodeableConcept":
			codings, _ := v["coding"].([]any)
			for _, c := range codings {
				if cm, ok := c.(map[string]any); ok {
					out = appendCoding(out, e, cm)
				}
			}
			if s, ok := v["text"].(string); ok && s != "" {
				t := e
				t.Text = Normalize(s)
				out = append(out, t)
			}
		default:
			out = appendCoding(out, e, v)
		}
	}
	return out
}

func appendCoding(out []Entry, e Entry, c map[string]any) []Entry {
	e.System, _ = c["system"].(string)
	e.Code, _ = c["code"].(string)
	if d, ok := c["display"].(string); ok {
		e.Text = Normalize(d)
	}
	if e.Code == "" && e.Text == "" {
		return out
	}
	return append(out, e)
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

// Normalize prepares text for default string matching: accents removed,
// case folded, surrounding space trimmed.
func Normalize(s string) string {
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return strings.TrimSpace(b.String())
}

// DateRange parses a FHIR date, dateTime or instant and returns the range
// of instants it covers, in Unix milliseconds (inclusive), by its
// precision: "2020" covers the whole year. Values without a time zone are
// taken as UTC.
func DateRange(s string) (lo, hi float64, err error) {
	var start, end time.Time
	switch {
	case len(s) == 4:
		t, err := time.Parse("2006", s)
		if err != nil {
			return 0, 0, err
		}
		start, end = t, t.AddDate(1, 0, 0)
	case len(s) == 7:
		t, err := time.Parse("2006-01", s)
		if err != nil {
			return 0, 0, err
		}
		start, end = t, t.AddDate(0, 1, 0)
	case len(s) == 10:
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return 0, 0, err
		}
		start, end = t, t.AddDate(0, 0, 1)
	case len(s) > 10 && s[10] == 'T':
		v := s
		hasZone := strings.HasSuffix(v, "Z") || strings.LastIndexAny(v, "+-") > 10
		if !hasZone {
			v += "Z"
		}
		body := v[11:]
		if i := strings.IndexAny(body, "Z+-"); i >= 0 {
			body = body[:i]
		}
		var prec time.Duration
		switch {
		case len(body) == 5: // hh:mm
			t, err := time.Parse("2006-01-02T15:04Z07:00", v)
			if err != nil {
				return 0, 0, err
			}
			start, prec = t, time.Minute
		case len(body) == 8: // hh:mm:ss
			t, err := time.Parse("2006-01-02T15:04:05Z07:00", v)
			if err != nil {
				return 0, 0, err
			}
			start, prec = t, time.Second
		default:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return 0, 0, err
			}
			start, prec = t, time.Millisecond
		}
		end = start.Add(prec)
	default:
		return 0, 0, fmt.Errorf("search: %q is not a FHIR date", s)
	}
	lo = float64(start.UnixMilli())
	hi = float64(end.UnixMilli() - 1)
	if hi < lo {
		hi = lo
	}
	if math.IsNaN(lo) {
		return 0, 0, fmt.Errorf("search: %q is not a FHIR date", s)
	}
	return lo, hi, nil
}
