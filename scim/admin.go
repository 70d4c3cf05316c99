package scim

import (
	"net/http"
	"slices"

	"github.com/smartgate/smartgate/account"
)

// Only an administrator's own token may give or take the admin role, on a
// person or through a group: a provisioning client (a machine credential
// an administrator issued) provisions people, it does not make
// administrators. Everything else a SCIM caller may do alike.

func errAdminOnly() *Error {
	return errorf(http.StatusForbidden, "", "only an administrator may give or take the admin role, directly or through a group")
}

// mayChangeAdmins reports whether q's caller is an administrator.
func (q *request) mayChangeAdmins() bool { return q.caller != nil && q.caller.Kind == CallerAdmin }

func givesAdmin(roles []string) bool { return slices.Contains(roles, account.RoleAdmin) }

// checkUserAdmin refuses a change of u's admin role (old is nil for a
// new person) by a caller who is not an administrator.
func checkUserAdmin(q *request, old, u *account.User) error {
	if q.mayChangeAdmins() {
		return nil
	}
	was := old != nil && givesAdmin(old.Roles)
	if was != givesAdmin(u.Roles) {
		return errAdminOnly()
	}
	return nil
}

// checkGroupAdmin refuses, for a caller who is not an administrator, a
// change of whether g gives the admin role, and a change of the members
// of a group that gives it (old is nil for a new group).
func checkGroupAdmin(q *request, old, g *account.Group) error {
	if q.mayChangeAdmins() {
		return nil
	}
	was := old != nil && givesAdmin(old.Roles)
	if was != givesAdmin(g.Roles) {
		return errAdminOnly()
	}
	if was && !sameMembers(old.Members, g.Members) {
		return errAdminOnly()
	}
	return nil
}

func sameMembers(a, b []account.Member) bool {
	ids := func(ms []account.Member) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.Value
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(ids(a), ids(b))
}

// checkMembersAdmin refuses, for a caller who is not an administrator, a
// member change of group id when the group gives the admin role. It reads
// the group without its members.
func (s *Server) checkMembersAdmin(q *request, id string) error {
	if q.mayChangeAdmins() {
		return nil
	}
	groups, _, err := s.cfg.Store.SearchGroups(q.Context(), account.Query{
		Filter: account.Compare{Attr: "id", Op: account.OpEq, Value: id, CaseExact: true}, Limit: 1}, false)
	if err != nil {
		return storeError(err, what{kind: "Group", id: id})
	}
	if len(groups) == 1 && givesAdmin(groups[0].Roles) {
		return errAdminOnly()
	}
	return nil
}
