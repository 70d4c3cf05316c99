package patch

import (
	"slices"
	"strings"
	"time"

	"github.com/smartgate/smartgate/scim/schema"
)

// normalize checks a value against attribute a and returns it with
// sub-attribute names spelt as the schema does, booleans sent as
// "True"/"False" strings made booleans, and read-only sub-attributes
// (members' display) dropped as RFC 7643 §2.2 lets a server ignore them.
// whole is set when v is the attribute's whole value (a list for a
// multi-valued one; a single element is taken as a list of one).
func normalize(a *schema.Attribute, v any, whole bool) (any, error) {
	if whole && a.MultiValued {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		out := make([]any, 0, len(list))
		for _, x := range list {
			nx, err := normalizeOne(a, x)
			if err != nil {
				return nil, err
			}
			out = append(out, nx)
		}
		return out, nil
	}
	return normalizeOne(a, v)
}

func normalizeOne(a *schema.Attribute, v any) (any, error) {
	if a.Type != schema.Complex {
		return simple(a, a.Name, v)
	}
	obj, ok := v.(map[string]any)
	if s, isString := v.(string); isString && a.Sub("value") != nil {
		// Entra ID sends the enterprise manager as its id alone.
		obj, ok = map[string]any{"value": s}, true
	}
	if !ok {
		return nil, fail(InvalidValue, "%s must be an object", a.Name)
	}
	out := make(map[string]any, len(obj))
	for _, k := range sortedKeys(obj) {
		sub := a.Sub(k)
		if sub == nil {
			return nil, fail(InvalidValue, "unknown attribute %s.%s", a.Name, k)
		}
		if sub.Mutability == schema.ReadOnly || obj[k] == nil {
			continue
		}
		x, err := simple(sub, a.Name+"."+sub.Name, obj[k])
		if err != nil {
			return nil, err
		}
		out[sub.Name] = x
	}
	return out, nil
}

// simple checks a value of a simple attribute.
func simple(a *schema.Attribute, name string, v any) (any, error) {
	switch a.Type {
	case schema.String, schema.Reference, schema.Binary:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case schema.Boolean:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			// Entra ID sends "active":"False".
			switch strings.ToLower(b) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
	case schema.DateTime:
		if s, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return s, nil
			}
		}
	case schema.Decimal, schema.Integer:
		if n, ok := v.(float64); ok {
			return n, nil
		}
	}
	return nil, fail(InvalidValue, "%s must be a %s", name, a.Type)
}

// getKey finds name in m case-insensitively (RFC 7643 §2.1).
func getKey(m map[string]any, name string) (string, any, bool) {
	if v, ok := m[name]; ok {
		return name, v, true
	}
	for _, k := range sortedKeys(m) {
		if strings.EqualFold(k, name) {
			return k, m[k], true
		}
	}
	return "", nil, false
}

// setKey stores v under name, dropping the keys that differ from it in
// case only.
func setKey(m map[string]any, name string, v any) {
	deleteKey(m, name)
	m[name] = v
}

func deleteKey(m map[string]any, name string) {
	for k := range m {
		if strings.EqualFold(k, name) {
			delete(m, k)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
