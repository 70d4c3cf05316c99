// Package search is the FHIR R4 search model of smartgate, without storage:
// the registry of search parameters built from the official R4
// SearchParameter definitions, the extraction of index values from resources
// (Extract), the Patient compartment memberships of a resource
// (PatientCompartments) and the parser of search URLs (ParseQuery).
//
// The definitions are embedded (see defs/NOTICE.md for their origin).
package search

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

//go:embed defs/search-parameters.json.gz defs/compartmentdefinition-patient.json defs/codesystem-resource-types.json
var defsFS embed.FS

// Type is a search parameter type.
type Type string

// The search parameter types of R4.
const (
	TypeString    Type = "string"
	TypeToken     Type = "token"
	TypeReference Type = "reference"
	TypeDate      Type = "date"
	TypeNumber    Type = "number"
	TypeQuantity  Type = "quantity"
	TypeURI       Type = "uri"
	TypeComposite Type = "composite"
	TypeSpecial   Type = "special"
)

// Param is one search parameter as it applies to one resource type.
type Param struct {
	// Code is the name used in URLs.
	Code string
	// Type is the parameter type.
	Type Type
	// Expression is the part of the definition's FHIRPath expression that
	// applies to this resource type.
	Expression string
	// Targets are the resource types a reference parameter may point to.
	Targets []string
	// Definition is the canonical URL of the SearchParameter.
	Definition string
	// Documentation is the definition's description.
	Documentation string

	eval evaluator
}

// Supported reports whether the parameter can be searched on this server.
func (p *Param) Supported() bool {
	switch p.Type {
	case TypeString, TypeToken, TypeReference, TypeDate, TypeNumber, TypeQuantity, TypeURI:
		return p.eval != nil || p.Code == "_id" || p.Code == "_lastUpdated"
	}
	return false
}

// Registry holds the search parameters of every resource type. It is
// immutable after Load and safe for concurrent use.
type Registry struct {
	types       map[string]bool
	params      map[string]map[string]*Param // type → code → param
	compartment map[string][]string          // type → param codes linking to a Patient
	fallbacks   int
}

type spBundle struct {
	Entry []struct {
		Resource struct {
			URL         string   `json:"url"`
			Code        string   `json:"code"`
			Base        []string `json:"base"`
			Type        Type     `json:"type"`
			Expression  string   `json:"expression"`
			Target      []string `json:"target"`
			Description string   `json:"description"`
		} `json:"resource"`
	} `json:"entry"`
}

// Load builds the registry from the embedded R4 definitions. It takes tens
// of milliseconds; callers keep the result.
func Load() (*Registry, error) {
	reg := &Registry{
		types:       map[string]bool{},
		params:      map[string]map[string]*Param{},
		compartment: map[string][]string{},
	}
	var cs struct {
		Concept []struct {
			Code string `json:"code"`
		} `json:"concept"`
	}
	if err := readDef("defs/codesystem-resource-types.json", &cs); err != nil {
		return nil, err
	}
	for _, c := range cs.Concept {
		switch c.Code {
		case "Resource", "DomainResource", "Parameters":
			continue
		}
		reg.types[c.Code] = true
		reg.params[c.Code] = map[string]*Param{}
	}
	var b spBundle
	if err := readDef("defs/search-parameters.json.gz", &b); err != nil {
		return nil, err
	}
	for _, e := range b.Entry {
		sp := e.Resource
		for _, base := range sp.Base {
			var types []string
			switch base {
			case "Resource", "DomainResource":
				for t := range reg.types {
					types = append(types, t)
				}
			default:
				if !reg.types[base] {
					continue
				}
				types = []string{base}
			}
			for _, t := range types {
				expr := branchesFor(sp.Expression, t)
				p := &Param{Code: sp.Code, Type: sp.Type, Expression: expr, Targets: sp.Target,
					Definition: sp.URL, Documentation: sp.Description}
				if expr != "" && p.Type != TypeComposite && p.Type != TypeSpecial && !selectsResources(p) {
					ev, fallback, err := compile(expr, t)
					if err != nil {
						return nil, fmt.Errorf("search: parameter %s on %s: %w", sp.Code, t, err)
					}
					if fallback {
						reg.fallbacks++
					}
					p.eval = ev
				}
				reg.params[t][sp.Code] = p
			}
		}
	}
	// _id and _lastUpdated are answered from the resource table.
	for t := range reg.types {
		for _, c := range []string{"_id", "_lastUpdated"} {
			if p := reg.params[t][c]; p != nil {
				p.eval = nil
			}
		}
	}
	var cd struct {
		Resource []struct {
			Code  string   `json:"code"`
			Param []string `json:"param"`
		} `json:"resource"`
	}
	if err := readDef("defs/compartmentdefinition-patient.json", &cd); err != nil {
		return nil, err
	}
	for _, r := range cd.Resource {
		for _, code := range r.Param {
			if code == "{def}" {
				continue
			}
			p := reg.params[r.Code][code]
			if p == nil || p.eval == nil {
				return nil, fmt.Errorf("search: compartment param %s.%s is not a known search parameter", r.Code, code)
			}
			reg.compartment[r.Code] = append(reg.compartment[r.Code], code)
		}
	}
	return reg, nil
}

func readDef(name string, v any) error {
	b, err := defsFS.ReadFile(name)
	if err != nil {
		return fmt.Errorf("search: read %s: %w", name, err)
	}
	if strings.HasSuffix(name, ".gz") {
		// The 2 MB R4 SearchParameter bundle is kept compressed (byte for
		// byte HL7's content: gunzip restores it).
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("search: read %s: %w", name, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return fmt.Errorf("search: read %s: %w", name, err)
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("search: parse %s: %w", name, err)
	}
	return nil
}

// selectsResources reports a reference parameter whose expression selects
// resources instead of References (Bundle.composition and Bundle.message:
// "Bundle.entry[0].resource"). R4 means them for chained searches into the
// Bundle's first resource; they index no reference, so they are not
// supported (and not listed in the CapabilityStatement).
func selectsResources(p *Param) bool {
	return p.Type == TypeReference && strings.Contains(p.Expression, ".entry[0].resource")
}

// IsType reports whether t is an R4 resource type this server stores.
func (r *Registry) IsType(t string) bool { return r.types[t] }

// Types lists the resource types, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.types))
	for t := range r.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Param returns the parameter code of resource type t, or nil.
func (r *Registry) Param(t, code string) *Param {
	return r.params[t][code]
}

// Params lists the supported parameters of type t, sorted by code.
func (r *Registry) Params(t string) []*Param {
	var out []*Param
	for _, p := range r.params[t] {
		if p.Supported() {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Fallbacks reports how many (type, parameter) expressions are evaluated by
// the general FHIRPath library instead of the compiled evaluator.
func (r *Registry) Fallbacks() int { return r.fallbacks }

// InPatientCompartment reports whether resources of type t can belong to a
// Patient compartment.
func (r *Registry) InPatientCompartment(t string) bool {
	return t == "Patient" || len(r.compartment[t]) > 0
}

// branchesFor keeps the union branches of expr that apply to resource type
// t (those rooted at t, Resource or DomainResource, and bare element names),
// joined again by " | ".
func branchesFor(expr, t string) string {
	var keep []string
	for _, b := range SplitTop(expr, '|') {
		b = strings.TrimSpace(b)
		root := strings.TrimLeft(b, "( ")
		if i := strings.IndexAny(root, ". )"); i >= 0 {
			root = root[:i]
		}
		switch {
		case root == t:
			keep = append(keep, b)
		case root == "Resource", root == "DomainResource":
			keep = append(keep, t+strings.TrimPrefix(strings.TrimPrefix(b, "Resource"), "DomainResource"))
		case isIdent(root) && root[0] >= 'a' && root[0] <= 'z' && b == root:
			// A path relative to the resource, as in R4's InsurancePlan-name
			// ("name | alias"): FHIRPath evaluates it on the resource.
			keep = append(keep, t+"."+b)
		}
	}
	return strings.Join(keep, " | ")
}

// SplitTop splits a FHIRPath expression s at the sep characters outside
// parentheses and quotes: union branches at '|', path steps at '.'.
func SplitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
