package scim

import (
	"errors"
	"net/http"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

func groupProjection(q *request) projection {
	v := q.URL.Query()
	return parseProjection(groupKind().res, v.Get("attributes"), v.Get("excludedAttributes"))
}

func (s *Server) writeGroup(q *request, status int, g *account.Group, location bool) error {
	j := renderGroup(g, s.baseURL(q))
	loc := ""
	if location {
		loc = j.Meta.Location
	}
	return writeResource(q, status, g.Meta.Version, loc, j, groupProjection(q))
}

func (s *Server) loadGroup(q *request) (*account.Group, error) {
	id := q.seg[1]
	g, err := s.cfg.Store.Group(q.Context(), id)
	if err != nil {
		return nil, storeError(err, what{kind: "Group", id: id})
	}
	return g, nil
}

func (s *Server) getGroup(q *request) error {
	g, err := s.loadGroup(q)
	if err != nil {
		return err
	}
	if notModified(q, g.Meta.Version) {
		return nil
	}
	return s.writeGroup(q, http.StatusOK, g, false)
}

// memberError is the answer to a group change naming a member that does
// not exist: a bad value in the body (400), not a missing group.
func memberError(err error, id string) *Error {
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusBadRequest, SCIMType: typeInvalidValue,
			Detail: "a member is not an existing User (or the group is gone)", cause: err}
	}
	return storeError(err, what{kind: "Group", id: id})
}

func (s *Server) createGroup(q *request) error {
	g, err := s.doCreateGroup(q)
	if err != nil {
		s.recordChange(q, "create Group", "Groups", err)
		return err
	}
	s.recordChange(q, "create Group", "Groups/"+g.ID, nil)
	return s.writeGroup(q, http.StatusCreated, g, true)
}

func (s *Server) doCreateGroup(q *request) (*account.Group, error) {
	data, err := readBody(q, s.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	in, err := decodeGroup(data)
	if err != nil {
		return nil, err
	}
	g := &in.group
	if err := checkGroupAdmin(q, g); err != nil {
		return nil, err
	}
	if err := s.cfg.People.CreateGroup(q.Context(), g); err != nil {
		return nil, memberError(err, "")
	}
	return s.reloadGroup(q, g)
}

// reloadGroup reads g back after a change, for the members' display.
func (s *Server) reloadGroup(q *request, g *account.Group) (*account.Group, error) {
	if len(g.Members) == 0 {
		return g, nil
	}
	stored, err := s.cfg.Store.Group(q.Context(), g.ID)
	if err != nil {
		return nil, storeError(err, what{kind: "Group", id: g.ID})
	}
	return stored, nil
}

// replaceGroup is PUT: the body replaces name, externalId and members; an
// omitted smartgate extension keeps the group's roles and ceiling, like a
// User's (provisioning clients do not know it).
func (s *Server) replaceGroup(q *request) error {
	id := q.seg[1]
	g, err := s.doReplaceGroup(q)
	s.recordChange(q, "replace Group", "Groups/"+id, err)
	if err != nil {
		return err
	}
	return s.writeGroup(q, http.StatusOK, g, false)
}

func (s *Server) doReplaceGroup(q *request) (*account.Group, error) {
	if err := s.checkGroupTarget(q, q.seg[1]); err != nil {
		return nil, err
	}
	old, err := s.loadGroup(q)
	if err != nil {
		return nil, err
	}
	if err := ifMatch(q, old.Meta.Version); err != nil {
		return nil, err
	}
	data, err := readBody(q, s.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	in, err := decodeGroup(data)
	if err != nil {
		return nil, err
	}
	return s.saveGroup(q, old, in)
}

// saveGroup stores in over old through People (PUT and PATCH).
func (s *Server) saveGroup(q *request, old *account.Group, in *groupIn) (*account.Group, error) {
	g := &in.group
	g.ID, g.Meta = old.ID, old.Meta
	if !in.smartgate {
		g.Roles, g.Ceiling = old.Roles, old.Ceiling
	}
	if err := checkGroupAdmin(q, g); err != nil {
		return nil, err
	}
	err := s.cfg.People.ReplaceGroup(q.Context(), g)
	if errors.Is(err, store.ErrConflict) {
		if taken, terr := s.displayNameTaken(q, g); terr == nil && taken {
			return nil, &Error{Status: http.StatusConflict, SCIMType: typeUniqueness, Detail: conflictDetail("Group"), cause: err}
		}
		return nil, preconditionOrConflict(q, "Group")
	}
	if err != nil {
		return nil, memberError(err, g.ID)
	}
	return s.reloadGroup(q, g)
}

// displayNameTaken reports whether another group has g's displayName.
func (s *Server) displayNameTaken(q *request, g *account.Group) (bool, error) {
	groups, _, err := s.cfg.Store.SearchGroups(q.Context(), account.Query{
		Filter: account.Compare{Attr: "displayName", Op: account.OpEq, Value: g.DisplayName}, Limit: 2}, false)
	if err != nil {
		return false, err
	}
	for _, o := range groups {
		if o.ID != g.ID {
			return true, nil
		}
	}
	return false, nil
}

func (s *Server) deleteGroup(q *request) error {
	id := q.seg[1]
	err := s.doDeleteGroup(q, id)
	s.recordChange(q, "delete Group", "Groups/"+id, err)
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) doDeleteGroup(q *request, id string) error {
	if err := s.checkGroupTarget(q, id); err != nil {
		return err
	}
	var version int64
	if hasIfMatch(q) {
		old, err := s.loadGroup(q)
		if err != nil {
			return err
		}
		if err := ifMatch(q, old.Meta.Version); err != nil {
			return err
		}
		version = old.Meta.Version
	}
	err := s.cfg.People.DeleteGroup(q.Context(), id, version)
	if errors.Is(err, store.ErrConflict) {
		return preconditionOrConflict(q, "Group")
	}
	if err != nil {
		return storeError(err, what{kind: "Group", id: id})
	}
	return nil
}
