package account

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/smartgate/smartgate/store"
)

// The last administrator rule: no change through People may leave the
// store without an active administrator, counting the admin role held
// directly and through a group (EffectiveRights). Each check first looks
// for an administrator the change cannot touch; only when there is none
// does it compare the touched person or group before and after.

// adminGroupsPage bounds one read of the groups that give admin.
const adminGroupsPage = 200

// keepAdmin refuses (ErrLastAdmin) replacing user old by u (nil: deleting
// it) when old is an active administrator, u would not be one, and no
// other active administrator exists.
func (p *People) keepAdmin(ctx context.Context, old, u *User) error {
	was, err := p.activeAdmin(ctx, old)
	if err != nil || !was {
		return err
	}
	is := false
	if u != nil {
		if is, err = p.activeAdmin(ctx, u); err != nil {
			return err
		}
	}
	if is {
		return nil
	}
	other, err := p.otherAdmin(ctx, old.ID, "")
	if err != nil {
		return err
	}
	if !other {
		return ErrLastAdmin
	}
	return nil
}

// activeAdmin reports whether u is active and holds admin directly or
// through one of its groups.
func (p *People) activeAdmin(ctx context.Context, u *User) (bool, error) {
	if !u.Active {
		return false, nil
	}
	return p.IsAdmin(ctx, u)
}

// keepGroupAdmin refuses (ErrLastAdmin) a change of group old that gives
// admin when, before it, old has an active member, after it (after
// reports) no member of the group is an active administrator through it,
// and no administrator exists outside the group.
func (p *People) keepGroupAdmin(ctx context.Context, old *Group, after func(context.Context) (bool, error)) error {
	if !slices.Contains(old.Roles, RoleAdmin) {
		return nil
	}
	other, err := p.otherAdmin(ctx, "", old.ID)
	if err != nil || other {
		return err
	}
	before, err := p.activeMemberOf(ctx, old.ID, nil)
	if err != nil || !before {
		return err
	}
	still, err := after(ctx)
	if err != nil || still {
		return err
	}
	return ErrLastAdmin
}

// otherAdmin reports whether an active administrator exists other than
// user notUser (when not empty) and not counting membership of group
// notGroup (when not empty).
func (p *People) otherAdmin(ctx context.Context, notUser, notGroup string) (bool, error) {
	direct := Filter(And{Compare{Attr: "active", Op: OpEq, Value: true},
		Compare{Attr: "smartgate.roles", Op: OpEq, Value: RoleAdmin, CaseExact: true}})
	if notUser != "" {
		direct = And{direct, Not{Compare{Attr: "id", Op: OpEq, Value: notUser, CaseExact: true}}}
	}
	if _, n, err := p.cfg.Store.SearchUsers(ctx, Query{Filter: direct}); err != nil || n > 0 {
		return n > 0, wrapAdmin(err)
	}
	q := Query{Filter: Compare{Attr: "smartgate.roles", Op: OpEq, Value: RoleAdmin, CaseExact: true}, Limit: adminGroupsPage}
	for {
		groups, total, err := p.cfg.Store.SearchGroups(ctx, q, false)
		if err != nil {
			return false, wrapAdmin(err)
		}
		for _, g := range groups {
			if g.ID == notGroup {
				continue
			}
			var except []string
			if notUser != "" {
				except = []string{notUser}
			}
			if ok, err := p.activeMemberOf(ctx, g.ID, except); err != nil || ok {
				return ok, err
			}
		}
		q.Offset += len(groups)
		if len(groups) == 0 || q.Offset >= total {
			return false, nil
		}
	}
}

// activeMemberOf reports whether group id has an active member other than
// those in except.
func (p *People) activeMemberOf(ctx context.Context, id string, except []string) (bool, error) {
	f := Filter(And{Compare{Attr: "active", Op: OpEq, Value: true},
		Compare{Attr: "groups.value", Op: OpEq, Value: id, CaseExact: true}})
	for _, x := range except {
		f = And{f, Not{Compare{Attr: "id", Op: OpEq, Value: x, CaseExact: true}}}
	}
	_, n, err := p.cfg.Store.SearchUsers(ctx, Query{Filter: f})
	return n > 0, wrapAdmin(err)
}

// anyActive reports whether one of the users ids is active (unknown ids
// are not).
func (p *People) anyActive(ctx context.Context, ids []string) (bool, error) {
	for _, id := range ids {
		u, err := p.cfg.Store.User(ctx, id)
		switch {
		case err == nil && u.Active:
			return true, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return false, wrapAdmin(err)
		}
	}
	return false, nil
}

func wrapAdmin(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("account: looking for another administrator: %w", err)
}
