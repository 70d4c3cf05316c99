package patch

import (
	"reflect"
	"slices"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim/filter"
	"github.com/smartgate/smartgate/scim/schema"
)

// engine applies operations to its own copy of a document.
type engine struct {
	res *schema.Resource
	doc map[string]any
}

func (e *engine) apply(op Operation) error {
	kind, err := opName(op.Op)
	if err != nil {
		return err
	}
	if op.Path == "" {
		switch kind {
		case opRemove:
			return fail(NoTarget, "remove needs a path")
		default:
			return e.applyValue(kind, op.Value, op.HasValue)
		}
	}
	p, err := filter.ParsePath(e.res, op.Path)
	if err != nil {
		return fail(InvalidPath, "%s", strings.TrimPrefix(err.Error(), filter.ErrInvalidPath.Error()+": "))
	}
	return e.applyPath(kind, p, op.Value, op.HasValue)
}

// applyValue applies a path-less add or replace: each key of the value
// object is an attribute path (dotted, URN-qualified, with a value
// filter as Entra ID sends "emails[type eq \"work\"].value", or an
// extension's URN holding an object of its attributes).
func (e *engine) applyValue(kind opKind, v any, has bool) error {
	obj, ok := v.(map[string]any)
	if !has || !ok {
		return fail(InvalidValue, "a path-less operation needs an object value")
	}
	for _, k := range sortedKeys(obj) {
		if strings.EqualFold(k, "schemas") {
			continue // the server keeps schemas
		}
		if ext, ok := e.res.Extension(k); ok {
			inner, ok := obj[k].(map[string]any)
			if !ok {
				return fail(InvalidValue, "%s must be an object", ext.ID)
			}
			for _, ik := range sortedKeys(inner) {
				if err := e.applyKey(kind, ext.ID+":"+ik, inner[ik]); err != nil {
					return err
				}
			}
			continue
		}
		if err := e.applyKey(kind, k, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

func (e *engine) applyKey(kind opKind, key string, v any) error {
	p, err := filter.ParsePath(e.res, key)
	if err != nil {
		return fail(InvalidValue, "unknown attribute %q", key)
	}
	if p.Filter == nil && p.Target.Attribute.Mutability == schema.ReadOnly && e.unchanged(p, v) {
		return nil // Okta sends the group's id along with a new displayName
	}
	return e.applyPath(kind, p, v, v != nil)
}

// unchanged reports whether v is the current value of p (a path without
// a value filter).
func (e *engine) unchanged(p filter.Path, v any) bool {
	c := e.container(p.Top, false)
	_, cur, ok := getKey(c, p.Top.Attribute.Name)
	if ok && p.Sub != "" {
		m, _ := cur.(map[string]any)
		_, cur, ok = getKey(m, p.Sub)
	}
	return ok && reflect.DeepEqual(cur, v)
}

func (e *engine) applyPath(kind opKind, p filter.Path, v any, has bool) error {
	top, target := p.Top.Attribute, p.Target.Attribute
	if top.Mutability == schema.ReadOnly || target.Mutability == schema.ReadOnly {
		return fail(Mutability, "%s is read-only", p.Target.Path)
	}
	if kind != opRemove && !has {
		kind = opRemove // a null value unassigns (RFC 7643 §2.5)
	}
	if kind == opRemove && target.Required && p.Filter == nil {
		return fail(InvalidValue, "%s is required", p.Target.Path)
	}
	c := e.container(p.Top, kind != opRemove)
	if c == nil {
		return nil // removing from an absent extension
	}
	switch {
	case p.Filter != nil:
		return e.applyFiltered(kind, c, p, v, has)
	case p.Sub != "" && top.MultiValued:
		return fail(InvalidPath, "%s: select elements of %s with a value filter", p.Target.Path, p.Attr)
	case p.Sub != "":
		return e.applySub(kind, c, p, v)
	}
	return e.applyWhole(kind, c, p, v, has)
}

// container returns the object holding p's top-level attribute: the
// document, or its extension object (created when create is set).
func (e *engine) container(top schema.Found, create bool) map[string]any {
	if top.Schema.Alias == "" {
		return e.doc
	}
	k, v, ok := getKey(e.doc, top.Schema.ID)
	if m, isMap := v.(map[string]any); ok && isMap {
		if k != top.Schema.ID {
			delete(e.doc, k)
			e.doc[top.Schema.ID] = m
		}
		return m
	}
	if !create {
		return nil
	}
	m := map[string]any{}
	setKey(e.doc, top.Schema.ID, m)
	e.addSchema(top.Schema.ID)
	return m
}

// addSchema lists an extension in the document's schemas.
func (e *engine) addSchema(id string) {
	list, _ := e.doc["schemas"].([]any)
	for _, s := range list {
		if str, ok := s.(string); ok && strings.EqualFold(str, id) {
			return
		}
	}
	e.doc["schemas"] = append(list, id)
}

// applyWhole adds, replaces or removes a whole top-level attribute.
func (e *engine) applyWhole(kind opKind, c map[string]any, p filter.Path, v any, has bool) error {
	a, name := p.Top.Attribute, p.Top.Attribute.Name
	_, old, exists := getKey(c, name)
	if kind == opRemove {
		if has && a.MultiValued {
			return e.removeValues(c, p, old, v)
		}
		deleteKey(c, name)
		return nil
	}
	nv, err := normalize(a, v, true)
	if err != nil {
		return err
	}
	switch {
	case a.MultiValued:
		list, _ := old.([]any)
		add := nv.([]any)
		var touched []int
		if kind == opReplace || !exists {
			list, touched = nil, nil
		}
		for _, x := range add {
			if i := indexOf(list, x); i >= 0 {
				touched = append(touched, i)
				continue
			}
			list = append(list, x)
			touched = append(touched, len(list)-1)
		}
		if err := onePrimary(a, list, touched); err != nil {
			return err
		}
		setList(c, name, list)
	case a.Type == schema.Complex:
		// add and replace both merge sub-attributes (RFC 7644 §3.5.2.1, §3.5.2.3)
		m, _ := old.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		for k, x := range nv.(map[string]any) {
			setKey(m, k, x)
		}
		setKey(c, name, m)
	default:
		if a.Mutability == schema.Immutable && exists && !reflect.DeepEqual(old, nv) {
			return fail(Mutability, "%s is immutable", p.Target.Path)
		}
		setKey(c, name, nv)
	}
	return nil
}

// removeValues removes the given elements of a multi-valued attribute
// (Entra ID removes members with {"op":"remove","path":"members",
// "value":[{"value":"id"}]}); elements compare by their value
// sub-attribute when they have one.
func (e *engine) removeValues(c map[string]any, p filter.Path, old, v any) error {
	a := p.Top.Attribute
	nv, err := normalize(a, v, true)
	if err != nil {
		return err
	}
	list, _ := old.([]any)
	kept := list[:0:0]
	for _, x := range list {
		if !slices.ContainsFunc(nv.([]any), func(y any) bool { return sameElement(a, x, y) }) {
			kept = append(kept, x)
		}
	}
	setList(c, a.Name, kept)
	return nil
}

func sameElement(a *schema.Attribute, x, y any) bool {
	if a.Type == schema.Complex && a.Sub("value") != nil {
		xm, _ := x.(map[string]any)
		ym, _ := y.(map[string]any)
		_, xv, xok := getKey(xm, "value")
		_, yv, yok := getKey(ym, "value")
		if xok && yok {
			return reflect.DeepEqual(xv, yv)
		}
	}
	return reflect.DeepEqual(x, y)
}

// applySub sets or removes a sub-attribute of a single-valued complex
// attribute (name.givenName, enterprise manager.value).
func (e *engine) applySub(kind opKind, c map[string]any, p filter.Path, v any) error {
	name := p.Top.Attribute.Name
	_, old, _ := getKey(c, name)
	m, _ := old.(map[string]any)
	if kind == opRemove {
		if m != nil {
			deleteKey(m, p.Sub)
			if len(m) == 0 {
				deleteKey(c, name)
			}
		}
		return nil
	}
	nv, err := normalize(p.Target.Attribute, v, false)
	if err != nil {
		return err
	}
	if m == nil {
		m = map[string]any{}
		setKey(c, name, m)
	}
	if _, cur, ok := getKey(m, p.Sub); ok && p.Target.Attribute.Mutability == schema.Immutable && !reflect.DeepEqual(cur, nv) {
		return fail(Mutability, "%s is immutable", p.Target.Path)
	}
	setKey(m, p.Sub, nv)
	return nil
}

// applyFiltered applies an operation to the elements of a multi-valued
// attribute that its value filter selects.
func (e *engine) applyFiltered(kind opKind, c map[string]any, p filter.Path, v any, has bool) error {
	a := p.Top.Attribute
	_, old, _ := getKey(c, a.Name)
	list, _ := old.([]any)
	var hits []int
	for i, x := range list {
		if m, ok := x.(map[string]any); ok && filter.Match(p.Filter, m) {
			hits = append(hits, i)
		}
	}
	if kind == opRemove {
		return e.removeFiltered(c, p, list, hits)
	}
	var val any
	var err error
	if p.Sub != "" {
		val, err = normalize(p.Target.Attribute, v, false)
	} else {
		val, err = normalize(a, v, false)
	}
	if err != nil {
		return err
	}
	if len(hits) == 0 {
		// Entra ID adds "emails[type eq "work"].value" to a person
		// without a work address: make the element the filter describes.
		seed, ok := elementOf(p.Filter)
		if kind != opAdd || !ok {
			return fail(NoTarget, "no element of %s matches the filter", p.Attr)
		}
		list = append(list, seed)
		hits = []int{len(list) - 1}
	}
	for _, i := range hits {
		m := list[i].(map[string]any)
		if p.Sub != "" {
			if _, cur, ok := getKey(m, p.Sub); ok && p.Target.Attribute.Mutability == schema.Immutable && !reflect.DeepEqual(cur, val) {
				return fail(Mutability, "%s is immutable", p.Target.Path)
			}
			setKey(m, p.Sub, val)
			continue
		}
		for k, x := range val.(map[string]any) {
			if sub := a.Sub(k); sub != nil && sub.Mutability == schema.Immutable {
				if _, cur, ok := getKey(m, k); ok && !reflect.DeepEqual(cur, x) {
					return fail(Mutability, "%s.%s is immutable", p.Attr, k)
				}
			}
			setKey(m, k, x)
		}
	}
	if err := onePrimary(a, list, hits); err != nil {
		return err
	}
	setKey(c, a.Name, list)
	return nil
}

func (e *engine) removeFiltered(c map[string]any, p filter.Path, list []any, hits []int) error {
	if p.Sub != "" {
		if p.Target.Attribute.Mutability == schema.Immutable || p.Target.Attribute.Required {
			return fail(Mutability, "%s cannot be removed", p.Target.Path)
		}
		for _, i := range hits {
			deleteKey(list[i].(map[string]any), p.Sub)
		}
		return nil
	}
	kept := list[:0:0]
	for i, x := range list {
		if !slices.Contains(hits, i) {
			kept = append(kept, x)
		}
	}
	setList(c, p.Top.Attribute.Name, kept)
	return nil
}

// elementOf returns the element a filter of eq comparisons joined by
// and describes ({"type":"work"} for type eq "work").
func elementOf(f account.Filter) (map[string]any, bool) {
	switch f := f.(type) {
	case account.Compare:
		if f.Op != account.OpEq {
			return nil, false
		}
		return map[string]any{f.Attr[strings.LastIndexByte(f.Attr, '.')+1:]: f.Value}, true
	case account.And:
		l, ok := elementOf(f.Left)
		if !ok {
			return nil, false
		}
		r, ok := elementOf(f.Right)
		if !ok {
			return nil, false
		}
		for k, v := range r {
			l[k] = v
		}
		return l, true
	}
	return nil, false
}

// onePrimary keeps at most one primary element in a multi-valued
// attribute (RFC 7643 §2.4): an element the operation wrote with
// primary true clears the others'.
func onePrimary(a *schema.Attribute, list []any, touched []int) error {
	if a.Sub("primary") == nil {
		return nil
	}
	chosen := -1
	for _, i := range touched {
		if isPrimary(list[i]) {
			if chosen >= 0 && chosen != i {
				return fail(InvalidValue, "more than one primary %s", a.Name)
			}
			chosen = i
		}
	}
	if chosen < 0 {
		return nil
	}
	for i, x := range list {
		if i != chosen && isPrimary(x) {
			setKey(x.(map[string]any), "primary", false)
		}
	}
	return nil
}

func isPrimary(x any) bool {
	m, _ := x.(map[string]any)
	_, v, _ := getKey(m, "primary")
	b, _ := v.(bool)
	return b
}

func indexOf(list []any, x any) int {
	for i, y := range list {
		if reflect.DeepEqual(x, y) {
			return i
		}
	}
	return -1
}

// setList stores a multi-valued attribute, removing it when empty (it is
// then unassigned, RFC 7644 §3.5.2.2).
func setList(c map[string]any, name string, list []any) {
	if len(list) == 0 {
		deleteKey(c, name)
		return
	}
	setKey(c, name, list)
}
