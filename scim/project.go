package scim

import (
	"slices"
	"strings"

	"github.com/smartgate/smartgate/scim/schema"
)

// projection is what the attributes and excludedAttributes parameters ask
// for (RFC 7644 §3.4.2.5, §3.9): a list of attributes to return instead
// of the default set, or to leave out of it. The schema table's returned
// rules hold either way: "always" attributes (id) and schemas stay,
// "never" (password) is never rendered at all.
type projection struct {
	include [][]string // key paths into the rendered resource
	exclude [][]string
	always  []string
}

// parseProjection reads the two parameters against the resource type r.
// An entry may be schema-qualified ("urn:…:User:userName",
// "urn:…:enterprise:2.0:User:department") or an extension's URN alone
// (the whole extension). An entry the schema does not know selects
// nothing (RFC 7644 does not make it an error).
func parseProjection(r *schema.Resource, attributes, excluded string) projection {
	p := projection{
		include: parseAttrList(r, attributes),
		exclude: parseAttrList(r, excluded),
		always:  []string{"schemas"},
	}
	for _, a := range append(append([]schema.Attribute{}, r.Common...), r.Core.Attributes...) {
		if a.Returned == schema.Always {
			p.always = append(p.always, a.Name)
		}
	}
	return p
}

func parseAttrList(r *schema.Resource, list string) [][]string {
	var out [][]string
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if ext, ok := r.Extension(item); ok {
			out = append(out, []string{ext.ID})
			continue
		}
		f, err := r.Lookup(item)
		if err != nil {
			continue
		}
		var keys []string
		if f.Schema != nil && f.Schema.ID != r.Core.ID {
			keys = append(keys, f.Schema.ID)
		}
		if f.Parent != nil {
			keys = append(keys, f.Parent.Name)
		}
		out = append(out, append(keys, f.Attribute.Name))
	}
	return out
}

// wants reports whether the projection returns the top-level attribute
// name, so that what will not be shown is not loaded (a user's groups, a
// group's members).
func (p projection) wants(name string) bool {
	if len(p.include) > 0 {
		for _, keys := range p.include {
			if strings.EqualFold(keys[0], name) {
				return true
			}
		}
		return false
	}
	for _, keys := range p.exclude {
		if len(keys) == 1 && strings.EqualFold(keys[0], name) {
			return false
		}
	}
	return true
}

// wantsIn reports whether the projection returns the attribute name of
// the extension ext (its URN), so that what will not be shown is not
// loaded (a user's identities).
func (p projection) wantsIn(ext, name string) bool {
	named := func(keys []string) bool {
		return strings.EqualFold(keys[0], ext) && (len(keys) == 1 || strings.EqualFold(keys[1], name))
	}
	if len(p.include) > 0 {
		return slices.ContainsFunc(p.include, named)
	}
	return !slices.ContainsFunc(p.exclude, func(keys []string) bool { return len(keys) <= 2 && named(keys) })
}

// apply returns doc as projected; doc may be changed in place.
// identity reports whether apply returns every document unchanged (neither
// parameter given, or both selecting nothing).
func (p projection) identity() bool { return len(p.include) == 0 && len(p.exclude) == 0 }

func (p projection) apply(doc map[string]any) map[string]any {
	if len(p.include) > 0 {
		out := make(map[string]any, len(p.include)+len(p.always))
		for _, k := range p.always {
			if key, v, ok := lookupFold(doc, k); ok {
				out[key] = v
			}
		}
		for _, keys := range p.include {
			pickPath(doc, keys, out)
		}
		return out
	}
	for _, keys := range p.exclude {
		if len(keys) == 1 && p.isAlways(keys[0]) {
			continue
		}
		dropPath(doc, keys)
	}
	return doc
}

func (p projection) isAlways(key string) bool {
	for _, k := range p.always {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// lookupFold finds key in doc case-insensitively (RFC 7643 §2.1).
func lookupFold(doc map[string]any, key string) (string, any, bool) {
	if v, ok := doc[key]; ok {
		return key, v, true
	}
	for k, v := range doc {
		if strings.EqualFold(k, key) {
			return k, v, true
		}
	}
	return "", nil, false
}

// pickPath copies what keys names in src (an object, through arrays of
// objects) into dst, merging with what dst already holds, and returns the
// result (dst unchanged when src has nothing there).
func pickPath(src any, keys []string, dst any) any {
	if len(keys) == 0 {
		return src
	}
	switch x := src.(type) {
	case map[string]any:
		k, v, ok := lookupFold(x, keys[0])
		if !ok {
			return dst
		}
		m, _ := dst.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if r := pickPath(v, keys[1:], m[k]); r != nil {
			m[k] = r
		}
		if len(m) == 0 {
			return dst
		}
		return m
	case []any:
		prev, _ := dst.([]any)
		out := make([]any, len(x))
		for i, el := range x {
			var h any
			if i < len(prev) {
				h = prev[i]
			}
			if r := pickPath(el, keys, h); r != nil {
				out[i] = r
			} else {
				out[i] = map[string]any{}
			}
		}
		return out
	}
	return dst
}

// dropPath removes what keys names from src (an object, through arrays of
// objects).
func dropPath(src any, keys []string) {
	switch x := src.(type) {
	case map[string]any:
		k, v, ok := lookupFold(x, keys[0])
		if !ok {
			return
		}
		if len(keys) == 1 {
			delete(x, k)
			return
		}
		dropPath(v, keys[1:])
	case []any:
		for _, el := range x {
			dropPath(el, keys)
		}
	}
}
