package scim

import (
	"net/http"

	"github.com/smartgate/smartgate/account"
)

// Only an administrator's own token may give or take the admin role, on a
// person or through a group, or change an administrator at all: a
// provisioning client (a machine credential an administrator issued)
// provisions people, it does not make administrators, and it may not set
// an administrator's password, rename, deactivate or delete one (that
// would take the administrator over, or take the right away), nor change
// or delete a group that gives the admin role. Everything else a SCIM
// caller may do alike.

func errAdminOnly() *Error {
	return errorf(http.StatusForbidden, "", "only an administrator may give or take the admin role, directly or through a group")
}

func errAdminTarget(kind string) *Error {
	return errorf(http.StatusForbidden, "", "only an administrator may change or delete a %s that is or makes an administrator", kind)
}

// mayChangeAdmins reports whether q's caller is an administrator.
func (q *request) mayChangeAdmins() bool { return q.caller != nil && q.caller.Kind == CallerAdmin }

// givesAdmin reports whether roles (of a person or a group) hold admin.
func givesAdmin(roles []string) bool { return account.Rights{Roles: roles}.Admin() }

// checkUserTarget refuses, for a caller who is not an administrator, every
// change of u (PUT, PATCH, DELETE) when u is an administrator, directly or
// through a group (People.IsAdmin).
func (s *Server) checkUserTarget(q *request, u *account.User) error {
	if q.mayChangeAdmins() {
		return nil
	}
	admin, err := s.cfg.People.IsAdmin(q.Context(), u)
	if err != nil {
		return storeError(err, what{kind: "User", id: u.ID})
	}
	if admin {
		return errAdminTarget("User")
	}
	return nil
}

// checkUserAdmin refuses, for a caller who is not an administrator, a
// person u that holds the admin role (a new one, or one that was not an
// administrator: checkUserTarget refused the others).
func checkUserAdmin(q *request, u *account.User) error {
	if !q.mayChangeAdmins() && givesAdmin(u.Roles) {
		return errAdminOnly()
	}
	return nil
}

// checkGroupAdmin refuses, for a caller who is not an administrator, a
// group g that gives the admin role (a new one, or one that did not:
// checkGroupTarget refused the others).
func checkGroupAdmin(q *request, g *account.Group) error {
	if !q.mayChangeAdmins() && givesAdmin(g.Roles) {
		return errAdminOnly()
	}
	return nil
}

// checkGroupTarget refuses, for a caller who is not an administrator,
// every change of group id (PUT, PATCH, members, DELETE) when the group
// gives the admin role. It reads the group without its members.
func (s *Server) checkGroupTarget(q *request, id string) error {
	if q.mayChangeAdmins() {
		return nil
	}
	groups, _, err := s.cfg.Store.SearchGroups(q.Context(), account.Query{
		Filter: account.Compare{Attr: "id", Op: account.OpEq, Value: id, CaseExact: true}, Limit: 1}, false)
	if err != nil {
		return storeError(err, what{kind: "Group", id: id})
	}
	if len(groups) == 1 && givesAdmin(groups[0].Roles) {
		return errAdminTarget("Group")
	}
	return nil
}
