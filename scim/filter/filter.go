// Package filter parses the SCIM query language of RFC 7644 against a
// resource type's schema (package scim/schema): filters (§3.4.2.2) into
// account.Filter, which the store compiles to SQL; PATCH paths (§3.5.2)
// and sortBy / attributes entries into Path; and Match evaluates a value
// filter on one element of a multi-valued attribute in memory (PATCH).
//
// The parser is smartgate's own recursive descent over the RFC's ABNF:
// github.com/scim2/filter-parser/v2 v2.2.0 keeps the backslashes of
// escaped quotes in string values, refuses \u escapes, and refuses
// grouping parentheses inside a value filter, all of which the grammar
// allows.
package filter

import (
	"errors"
	"fmt"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim/schema"
)

// ErrInvalidFilter is wrapped by every error of Parse (SCIM invalidFilter);
// ErrInvalidPath by every error of ParsePath and ParseSortBy (SCIM
// invalidPath).
var (
	ErrInvalidFilter = errors.New("scim: invalid filter")
	ErrInvalidPath   = errors.New("scim: invalid path")
)

// The bounds on a filter or path: its length in bytes and the nesting of
// parentheses, not and brackets.
const (
	MaxLength = 4096
	MaxDepth  = 32
)

// Path is a parsed attribute path: an attribute, optionally a value
// filter on a multi-valued one, and a sub-attribute. Attr and Sub are
// canonical (account.Filter's names without the parent: Attr "emails",
// Sub "value").
type Path struct {
	Attr   string         // canonical top-level path, e.g. "emails", "name", "enterprise.manager"
	Filter account.Filter // the [ … ] value filter, or nil
	Sub    string         // sub-attribute after the filter or dot, or ""
	// Top is the top-level attribute; Target the attribute the path
	// names (Top's sub-attribute Sub, or Top itself).
	Top, Target schema.Found
}

// Canonical returns the canonical path the Path names, without its
// filter: "emails.value", "enterprise.manager".
func (p Path) Canonical() string { return p.Target.Path }

// Parse parses a filter against the resource type r. Every attribute is
// resolved in r's schema and must be one the store filters on; values
// are typed by the attribute (string, bool, float64, time.Time).
func Parse(r *schema.Resource, filter string) (account.Filter, error) {
	if len(filter) > MaxLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidFilter, MaxLength)
	}
	p := &parser{res: r, lex: lexer{src: filter}}
	f, err := p.parseFilter()
	if err == nil && p.lex.peek().kind != tEOF {
		err = p.errorf("unexpected %s", p.lex.peek())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFilter, err)
	}
	return f, nil
}

// ParsePath parses a PATCH path (RFC 7644 §3.5.2: attrPath, or
// valuePath with an optional sub-attribute) or an attributes /
// excludedAttributes / sortBy entry against r. Value filters in a path
// are evaluated in memory (Match), so they may name any sub-attribute,
// not only those the store filters on.
func ParsePath(r *schema.Resource, path string) (Path, error) {
	if len(path) > MaxLength {
		return Path{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidPath, MaxLength)
	}
	p, err := parsePath(r, path)
	if err != nil {
		return Path{}, fmt.Errorf("%w: %w", ErrInvalidPath, err)
	}
	return p, nil
}

// ParseSortBy parses a sortBy parameter and returns the canonical path
// the store sorts on; the attribute must be a single-valued, filterable
// one or the value sub-attribute of a multi-valued one (RFC 7644
// §3.4.2.3 sorts multi-valued attributes by their primary value).
func ParseSortBy(r *schema.Resource, sortBy string) (string, error) {
	p, err := ParsePath(r, sortBy)
	if err != nil {
		return "", err
	}
	t := p.Target
	if p.Filter != nil || !t.Attribute.Filterable || t.Attribute.Type == schema.Complex {
		return "", fmt.Errorf("%w: cannot sort by %q", ErrInvalidPath, sortBy)
	}
	return t.Path, nil
}

func parsePath(r *schema.Resource, path string) (Path, error) {
	head, rest, bracket := strings.Cut(path, "[")
	if !bracket {
		if err := checkWord(path); err != nil {
			return Path{}, err
		}
		t, err := r.Lookup(path)
		if err != nil {
			return Path{}, err
		}
		return pathOf(r, t, nil)
	}
	if err := checkWord(head); err != nil {
		return Path{}, err
	}
	top, err := r.Lookup(head)
	if err != nil {
		return Path{}, err
	}
	if top.Parent != nil || top.Attribute.Type != schema.Complex || !top.Attribute.MultiValued {
		return Path{}, fmt.Errorf("%s is not a multi-valued complex attribute", top.Path)
	}
	p := &parser{res: r, lex: lexer{src: rest}, inMemory: true}
	vf, err := p.parseValueFilter(top)
	if err != nil {
		return Path{}, err
	}
	tail := p.lex.src[p.lex.pos:]
	if tail == "" {
		return pathOf(r, top, vf)
	}
	sub, ok := strings.CutPrefix(tail, ".")
	if !ok || checkWord(sub) != nil || strings.Contains(sub, ".") {
		return Path{}, fmt.Errorf("unexpected %q after the value filter", tail)
	}
	t, err := r.Sub(top, sub)
	if err != nil {
		return Path{}, err
	}
	return pathOf(r, t, vf)
}

func pathOf(r *schema.Resource, t schema.Found, vf account.Filter) (Path, error) {
	top := t
	if t.Parent != nil {
		var err error
		if top, err = r.Lookup(topName(t)); err != nil {
			return Path{}, err
		}
	}
	p := Path{Attr: top.Path, Filter: vf, Top: top, Target: t}
	if t.Parent != nil {
		p.Sub = t.Attribute.Name
	}
	return p, nil
}

// topName is the lookup name of t's top-level attribute.
func topName(t schema.Found) string {
	if t.Schema.Alias == "" {
		return t.Parent.Name
	}
	return t.Schema.ID + ":" + t.Parent.Name
}

// checkWord refuses an attribute path with characters outside the
// grammar's (whitespace, quotes, parentheses, brackets).
func checkWord(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"()[]") {
		return fmt.Errorf("bad attribute path %q", s)
	}
	return nil
}
