package patch

import (
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim/filter"
	"github.com/smartgate/smartgate/scim/schema"
)

// MemberChanges recognises a Group PATCH that only adds and removes
// members, so that the server can change a large group without loading
// it (account.Directory.ChangeMembers). It accepts the forms Okta and
// Entra ID send:
//
//	{"op":"add","path":"members","value":[{"value":"id"}, …]}
//	{"op":"remove","path":"members[value eq \"id\"]"}
//	{"op":"remove","path":"members","value":[{"value":"id"}, …]}
//
// and returns the ids to add and to remove, each id in one list only
// (the last operation naming it wins, as applying them in order would).
// ok is false for anything else: the caller then applies the operations
// to the whole group with Apply.
func MemberChanges(ops []Operation) (add, remove []string, ok bool) {
	if len(ops) == 0 {
		return nil, nil, false
	}
	last := map[string]opKind{}
	var order []string
	note := func(id string, k opKind) {
		if _, seen := last[id]; !seen {
			order = append(order, id)
		}
		last[id] = k
	}
	g := schema.Group()
	for _, op := range ops {
		kind, err := opName(op.Op)
		if err != nil || kind == opReplace {
			return nil, nil, false
		}
		ids, ok := memberIDs(g, kind, op)
		if !ok {
			return nil, nil, false
		}
		for _, id := range ids {
			note(id, kind)
		}
	}
	for _, id := range order {
		if last[id] == opAdd {
			add = append(add, id)
		} else {
			remove = append(remove, id)
		}
	}
	return add, remove, true
}

// memberIDs returns the member ids one add or remove operation names.
func memberIDs(g *schema.Resource, kind opKind, op Operation) ([]string, bool) {
	p, err := filter.ParsePath(g, op.Path)
	if err != nil || p.Attr != "members" || p.Sub != "" {
		return nil, false
	}
	if p.Filter != nil {
		if kind != opRemove || op.HasValue {
			return nil, false
		}
		return eqValues(p.Filter)
	}
	if !op.HasValue {
		return nil, false // remove of every member
	}
	v, err := normalize(p.Top.Attribute, op.Value, true)
	if err != nil {
		return nil, false
	}
	var ids []string
	for _, x := range v.([]any) {
		m := x.(map[string]any)
		id, ok := m["value"].(string)
		if !ok || id == "" {
			return nil, false
		}
		if t, ok := m["type"].(string); ok && !strings.EqualFold(t, "User") {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, len(ids) > 0
}

// eqValues returns the ids of a filter made of members.value eq "id"
// joined by or.
func eqValues(f account.Filter) ([]string, bool) {
	switch f := f.(type) {
	case account.Compare:
		id, ok := f.Value.(string)
		return []string{id}, ok && f.Attr == "members.value" && f.Op == account.OpEq && id != ""
	case account.Or:
		l, ok := eqValues(f.Left)
		if !ok {
			return nil, false
		}
		r, ok := eqValues(f.Right)
		return append(l, r...), ok
	}
	return nil, false
}
