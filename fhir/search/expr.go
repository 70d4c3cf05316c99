package search

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofhir/fhirpath"
	fptypes "github.com/gofhir/fhirpath/types"
)

// node is one value selected by an expression: the decoded JSON value, its
// FHIR type when known (from a choice element or a cast) and the name of the
// element it came from.
type node struct {
	v    any
	typ  string
	name string
}

// evaluator selects the values of one parameter from a decoded resource
// (root) whose JSON encoding is raw.
type evaluator interface {
	eval(root map[string]any, raw func() []byte) ([]node, error)
}

// compile turns a parameter expression (already restricted to one resource
// type) into an evaluator. Expressions made only of the shapes the R4
// definitions commonly use are compiled into a path program; any other
// expression is handed to the gofhir/fhirpath library (fallback = true).
func compile(expr, resourceType string) (ev evaluator, fallback bool, err error) {
	var prog compiled
	for _, b := range SplitTop(expr, '|') {
		p, ok := compileBranch(strings.TrimSpace(b), resourceType)
		if !ok {
			lib, err := fhirpath.Compile(expr)
			if err != nil {
				return nil, false, fmt.Errorf("compile %q: %w", expr, err)
			}
			return &library{expr: lib}, true, nil
		}
		prog = append(prog, p)
	}
	return prog, false, nil
}

type stepKind int

const (
	stepField     stepKind = iota // .name (choice elements resolved by suffix)
	stepAs                        // as T, .as(T), .ofType(T)
	stepRefIs                     // .where(resolve() is T)
	stepWhereEq                   // .where(field='literal')
	stepExtension                 // .extension('url')
)

type step struct {
	kind  stepKind
	name  string
	value string
}

type path []step

type compiled []path

func (c compiled) eval(root map[string]any, _ func() []byte) ([]node, error) {
	var out []node
	for _, p := range c {
		out = append(out, p.eval(root)...)
	}
	return out, nil
}

// compileBranch compiles one union branch such as
// "Observation.subject.where(resolve() is Patient)" or
// "(Observation.value as CodeableConcept).text".
func compileBranch(b, resourceType string) (path, bool) {
	var p path
	rest := ""
	if strings.HasPrefix(b, "(") {
		end := matchParen(b, 0)
		if end < 0 {
			return nil, false
		}
		inner := strings.TrimSpace(b[1:end])
		rest = strings.TrimSpace(b[end+1:])
		left, typ, isAs := strings.Cut(inner, " as ")
		q, ok := compileChain(strings.TrimSpace(left), resourceType)
		if !ok {
			return nil, false
		}
		p = q
		if isAs {
			typ = strings.TrimSpace(typ)
			if !isIdent(typ) {
				return nil, false
			}
			p = append(p, step{kind: stepAs, name: typ})
		}
		if rest != "" {
			if !strings.HasPrefix(rest, ".") {
				return nil, false
			}
			q, ok := compileSteps(rest[1:])
			if !ok {
				return nil, false
			}
			p = append(p, q...)
		}
		return p, true
	}
	left, typ, isAs := strings.Cut(b, " as ")
	p, ok := compileChain(strings.TrimSpace(left), resourceType)
	if !ok {
		return nil, false
	}
	if isAs {
		typ = strings.TrimSpace(typ)
		if !isIdent(typ) {
			return nil, false
		}
		p = append(p, step{kind: stepAs, name: typ})
	}
	return p, true
}

func compileChain(s, resourceType string) (path, bool) {
	root, rest, _ := strings.Cut(s, ".")
	if root != resourceType || rest == "" {
		return nil, false
	}
	return compileSteps(rest)
}

func compileSteps(s string) (path, bool) {
	var p path
	for _, part := range SplitTop(s, '.') {
		part = strings.TrimSpace(part)
		switch {
		case isIdent(part):
			p = append(p, step{kind: stepField, name: part})
		case strings.HasPrefix(part, "as(") && strings.HasSuffix(part, ")"):
			t := part[3 : len(part)-1]
			if !isIdent(t) {
				return nil, false
			}
			p = append(p, step{kind: stepAs, name: t})
		case strings.HasPrefix(part, "ofType(") && strings.HasSuffix(part, ")"):
			t := part[7 : len(part)-1]
			if !isIdent(t) {
				return nil, false
			}
			p = append(p, step{kind: stepAs, name: t})
		case strings.HasPrefix(part, "where(resolve() is ") && strings.HasSuffix(part, ")"):
			t := strings.TrimSpace(part[len("where(resolve() is ") : len(part)-1])
			if !isIdent(t) {
				return nil, false
			}
			p = append(p, step{kind: stepRefIs, name: t})
		case strings.HasPrefix(part, "where(") && strings.HasSuffix(part, ")"):
			f, lit, ok := strings.Cut(part[6:len(part)-1], "=")
			f, lit = strings.TrimSpace(f), strings.TrimSpace(lit)
			if !ok || !isIdent(f) || len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' || strings.ContainsAny(lit[1:len(lit)-1], "'\\") {
				return nil, false
			}
			p = append(p, step{kind: stepWhereEq, name: f, value: lit[1 : len(lit)-1]})
		case strings.HasPrefix(part, "extension('") && strings.HasSuffix(part, "')"):
			u := part[len("extension('") : len(part)-2]
			if strings.ContainsAny(u, "'\\") {
				return nil, false
			}
			p = append(p, step{kind: stepExtension, value: u})
		default:
			return nil, false
		}
	}
	return p, true
}

func matchParen(s string, open int) int {
	depth := 0
	inQuote := false
	for i := open; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// dataTypes are the FHIR data types that can appear as the suffix of a
// choice element (value[x] → valueQuantity).
var choiceSuffixes = map[string]string{
	"Base64Binary": "base64Binary", "Boolean": "boolean", "Canonical": "canonical", "Code": "code",
	"Date": "date", "DateTime": "dateTime", "Decimal": "decimal", "Id": "id", "Instant": "instant",
	"Integer": "integer", "Markdown": "markdown", "Oid": "oid", "PositiveInt": "positiveInt",
	"String": "string", "Time": "time", "UnsignedInt": "unsignedInt", "Uri": "uri", "Url": "url",
	"Uuid": "uuid", "Address": "Address", "Age": "Age", "Annotation": "Annotation",
	"Attachment": "Attachment", "CodeableConcept": "CodeableConcept", "Coding": "Coding",
	"ContactPoint": "ContactPoint", "Count": "Count", "Distance": "Distance", "Duration": "Duration",
	"HumanName": "HumanName", "Identifier": "Identifier", "Money": "Money", "Period": "Period",
	"Quantity": "Quantity", "Range": "Range", "Ratio": "Ratio", "Reference": "Reference",
	"SampledData": "SampledData", "Signature": "Signature", "Timing": "Timing",
	"ContactDetail": "ContactDetail", "Contributor": "Contributor", "DataRequirement": "DataRequirement",
	"Expression": "Expression", "ParameterDefinition": "ParameterDefinition",
	"RelatedArtifact": "RelatedArtifact", "TriggerDefinition": "TriggerDefinition",
	"UsageContext": "UsageContext", "Dosage": "Dosage", "Meta": "Meta",
}

func (p path) eval(root map[string]any) []node {
	cur := []node{{v: root, typ: fmt.Sprint(root["resourceType"])}}
	for _, s := range p {
		var next []node
		for _, n := range cur {
			switch s.kind {
			case stepField:
				m, ok := n.v.(map[string]any)
				if !ok {
					continue
				}
				if v, ok := m[s.name]; ok {
					next = appendFlat(next, v, "", s.name)
					continue
				}
				for k, v := range m {
					if len(k) > len(s.name) && strings.HasPrefix(k, s.name) {
						if t, ok := choiceSuffixes[k[len(s.name):]]; ok {
							next = appendFlat(next, v, t, s.name)
						}
					}
				}
			case stepAs:
				if n.typ == s.name || n.typ == "" && shapeIs(n.v, s.name) {
					n.typ = s.name
					next = append(next, n)
				}
			case stepRefIs:
				m, ok := n.v.(map[string]any)
				if !ok {
					continue
				}
				ref, _ := m["reference"].(string)
				if t, _, ok := splitRef(ref); ok && t == s.name {
					next = append(next, n)
				}
			case stepWhereEq:
				m, ok := n.v.(map[string]any)
				if ok && m[s.name] == s.value {
					next = append(next, n)
				}
			case stepExtension:
				m, ok := n.v.(map[string]any)
				if !ok {
					continue
				}
				exts, _ := m["extension"].([]any)
				for _, e := range exts {
					if em, ok := e.(map[string]any); ok && em["url"] == s.value {
						next = append(next, node{v: em, typ: "Extension", name: "extension"})
					}
				}
			}
		}
		cur = next
		if len(cur) == 0 {
			return nil
		}
	}
	return cur
}

// shapeIs guesses whether an untyped value is of FHIR type t; it is used
// only for casts of elements that are not choice elements.
func shapeIs(v any, t string) bool {
	switch v.(type) {
	case string:
		switch t {
		case "string", "code", "uri", "url", "canonical", "id", "markdown", "date", "dateTime", "instant", "time", "oid", "uuid":
			return true
		}
		return false
	case bool:
		return t == "boolean"
	case json.Number, float64:
		return t == "decimal" || t == "integer" || t == "positiveInt" || t == "unsignedInt"
	}
	return true
}

func appendFlat(out []node, v any, typ, name string) []node {
	if a, ok := v.([]any); ok {
		for _, e := range a {
			if e != nil {
				out = append(out, node{v: e, typ: typ, name: name})
			}
		}
		return out
	}
	if v == nil {
		return out
	}
	return append(out, node{v: v, typ: typ, name: name})
}

// library evaluates an expression with gofhir/fhirpath. resolve() is served
// by a stub that knows a referenced resource's type from the reference.
type library struct {
	expr *fhirpath.Expression
}

type stubResolver struct{}

func (stubResolver) Resolve(_ context.Context, ref string) ([]byte, error) {
	t, _, ok := splitRef(ref)
	if !ok {
		return nil, fmt.Errorf("unresolvable reference %q", ref)
	}
	return json.Marshal(map[string]string{"resourceType": t})
}

func (l *library) eval(_ map[string]any, raw func() []byte) ([]node, error) {
	col, err := l.expr.EvaluateWithOptions(raw(), fhirpath.WithResolver(stubResolver{}))
	if err != nil {
		return nil, err
	}
	return fromCollection(col)
}

func fromCollection(col fptypes.Collection) ([]node, error) {
	var out []node
	for _, v := range col {
		switch x := v.(type) {
		case *fptypes.ObjectValue:
			d := json.NewDecoder(strings.NewReader(string(x.Data())))
			d.UseNumber()
			var a any
			if err := d.Decode(&a); err != nil {
				return nil, err
			}
			typ := x.Type()
			if typ == "Object" {
				typ = ""
			}
			out = append(out, node{v: a, typ: typ})
		case fptypes.Boolean:
			out = append(out, node{v: x.Bool(), typ: "boolean"})
		case fptypes.Integer, fptypes.Decimal:
			out = append(out, node{v: json.Number(v.String()), typ: "decimal"})
		default:
			out = append(out, node{v: v.String(), typ: ""})
		}
	}
	return out, nil
}

// splitRef splits a literal reference ("Patient/1", "Patient/1/_history/2",
// "https://x/fhir/Patient/1") into type and id.
func splitRef(ref string) (typ, id string, ok bool) {
	if ref == "" || strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "urn:") {
		return "", "", false
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return "", "", false
	}
	typ, id = parts[len(parts)-2], parts[len(parts)-1]
	if !isIdent(typ) || typ[0] < 'A' || typ[0] > 'Z' || !ValidID(id) {
		return "", "", false
	}
	return typ, id, true
}

// ValidID reports whether s is a valid FHIR logical id: 1 to 64 characters
// from A-Z, a-z, 0-9, '-' and '.', and not "." or ".." (path segments that
// would name another URL than Type/id).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
