package scim

import (
	"strings"
)

// projection is what the attributes and excludedAttributes parameters ask
// for (RFC 7644 §3.4.2.5, §3.9): a list of attributes to return (instead
// of the default set) or to leave out. Attributes returned "always" (id,
// schemas) stay either way; password is never in a rendered resource.
type projection struct {
	include []attrRef
	exclude []attrRef
}

// attrRef names an attribute of a rendered resource: a top-level key
// (a core attribute or an extension's URN) and an optional sub-attribute.
type attrRef struct{ top, sub string }

// alwaysReturned are the attributes returned whatever was asked
// (RFC 7643 §3.1 and §7: id and schemas are "returned": "always").
var alwaysReturned = []string{"id", "schemas"}

// parseProjection reads the two parameters for a resource with the core
// schema core and its extensions. An entry may be schema-qualified
// ("urn:…:User:userName", "urn:…:enterprise:2.0:User:department") or an
// extension's URN alone (the whole extension). Entries naming attributes
// that do not exist select nothing.
func parseProjection(attributes, excluded string, core string, extensions ...string) projection {
	return projection{
		include: parseAttrList(attributes, core, extensions),
		exclude: parseAttrList(excluded, core, extensions),
	}
}

func parseAttrList(list, core string, extensions []string) []attrRef {
	var out []attrRef
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		out = append(out, parseAttrRef(item, core, extensions))
	}
	return out
}

func parseAttrRef(item, core string, extensions []string) attrRef {
	for _, ext := range extensions {
		if strings.EqualFold(item, ext) {
			return attrRef{top: ext}
		}
		if len(item) > len(ext) && strings.EqualFold(item[:len(ext)+1], ext+":") {
			return attrRef{top: ext, sub: item[len(ext)+1:]}
		}
	}
	if len(item) > len(core) && strings.EqualFold(item[:len(core)+1], core+":") {
		item = item[len(core)+1:]
	}
	top, sub, _ := strings.Cut(item, ".")
	return attrRef{top: top, sub: sub}
}

// wants reports whether the projection returns the top-level attribute
// name (to skip loading what will not be shown: a user's groups, a
// group's members).
func (p projection) wants(name string) bool {
	if len(p.include) > 0 {
		for _, a := range p.include {
			if strings.EqualFold(a.top, name) {
				return true
			}
		}
		return false
	}
	for _, a := range p.exclude {
		if strings.EqualFold(a.top, name) && a.sub == "" {
			return false
		}
	}
	return true
}

// apply returns doc as projected; doc is changed in place.
func (p projection) apply(doc map[string]any) map[string]any {
	if len(p.include) > 0 {
		out := make(map[string]any, len(p.include)+2)
		for _, k := range alwaysReturned {
			if v, ok := doc[k]; ok {
				out[k] = v
			}
		}
		for _, a := range p.include {
			key, v, ok := lookupFold(doc, a.top)
			if !ok {
				continue
			}
			if a.sub == "" {
				out[key] = v
				continue
			}
			if merged := pickSub(v, out[key], a.sub); merged != nil {
				out[key] = merged
			}
		}
		return out
	}
	for _, a := range p.exclude {
		key, v, ok := lookupFold(doc, a.top)
		if !ok || isAlways(key) {
			continue
		}
		if a.sub == "" {
			delete(doc, key)
			continue
		}
		dropSub(v, a.sub)
	}
	return doc
}

func isAlways(key string) bool {
	for _, k := range alwaysReturned {
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

// pickSub adds sub-attribute sub of v (an object, or an array of objects)
// to what was already picked of it (have), and returns the result, or nil
// when v has no such sub-attribute.
func pickSub(v, have any, sub string) any {
	switch x := v.(type) {
	case map[string]any:
		k, sv, ok := lookupFold(x, sub)
		if !ok {
			return have
		}
		m, _ := have.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		m[k] = sv
		return m
	case []any:
		prev, _ := have.([]any)
		out := make([]any, len(x))
		for i, el := range x {
			var h any
			if i < len(prev) {
				h = prev[i]
			}
			if r := pickSub(el, h, sub); r != nil {
				out[i] = r
			} else {
				out[i] = map[string]any{}
			}
		}
		return out
	}
	return have
}

// dropSub removes sub-attribute sub from v (an object or an array of
// objects).
func dropSub(v any, sub string) {
	switch x := v.(type) {
	case map[string]any:
		if k, _, ok := lookupFold(x, sub); ok {
			delete(x, k)
		}
	case []any:
		for _, el := range x {
			dropSub(el, sub)
		}
	}
}
