package scim

import (
	"errors"
	"net/http"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// userProjection is the projection a request's query string asks for.
func userProjection(q *request) projection {
	v := q.URL.Query()
	return parseProjection(userKind().res, v.Get("attributes"), v.Get("excludedAttributes"))
}

// writeUser answers u (with its groups and identities when they are
// shown). A created user has neither yet, and is answered with its
// Location.
func (s *Server) writeUser(q *request, status int, u *account.User, created bool) error {
	proj := userProjection(q)
	var groups []account.Group
	if proj.wants("groups") && !created {
		var err error
		if groups, err = s.cfg.Store.GroupsOf(q.Context(), u.ID); err != nil {
			return storeError(err, what{kind: "User", id: u.ID})
		}
	}
	var links []account.Link
	if s.cfg.Links != nil && proj.wantsIn(URNSmartUser, "identities") && !created {
		var err error
		if links, err = s.cfg.Links.LinksOf(q.Context(), u.ID); err != nil {
			return storeError(err, what{kind: "User", id: u.ID})
		}
	}
	j := renderUser(u, groups, links, s.baseURL(q))
	loc := ""
	if created {
		loc = j.Meta.Location
	}
	return writeResource(q, status, u.Meta.Version, loc, j, proj)
}

// loadUser reads the user of the path.
func (s *Server) loadUser(q *request) (*account.User, error) {
	id := q.seg[1]
	u, err := s.cfg.Store.User(q.Context(), id)
	if err != nil {
		return nil, storeError(err, what{kind: "User", id: id})
	}
	return u, nil
}

// loadUserToChange reads the user of the path for a change, refusing it
// first when the caller may not change that person (checkUserTarget).
func (s *Server) loadUserToChange(q *request) (*account.User, error) {
	u, err := s.loadUser(q)
	if err != nil {
		return nil, err
	}
	if err := s.checkUserTarget(q, u); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Server) getUser(q *request) error {
	u, err := s.loadUser(q)
	if err != nil {
		return err
	}
	if notModified(q, u.Meta.Version) {
		return nil
	}
	return s.writeUser(q, http.StatusOK, u, false)
}

func (s *Server) createUser(q *request) error {
	data, err := readBody(q, s.cfg.MaxBodyBytes)
	if err != nil {
		s.recordChange(q, "create User", "Users", err)
		return err
	}
	in, err := decodeUser(data)
	if err != nil {
		s.recordChange(q, "create User", "Users", err)
		return err
	}
	u := &in.user
	if err = checkUserAdmin(q, u); err == nil {
		err = s.cfg.People.Create(q.Context(), u, in.password)
	}
	if err != nil {
		err = storeError(err, what{kind: "User"})
		s.recordChange(q, "create User", "Users", err)
		return err
	}
	s.recordChange(q, "create User", "Users/"+u.ID, nil)
	return s.writeUser(q, http.StatusCreated, u, true)
}

// replaceUser is PUT (RFC 7644 §3.5.1): the body replaces the person, but
// readOnly attributes in it are ignored, an omitted password or active
// keeps the stored one, and an omitted smartgate extension keeps fhirUser
// and roles (provisioning clients do not know it).
func (s *Server) replaceUser(q *request) error {
	id := q.seg[1]
	err := s.doReplaceUser(q)
	s.recordChange(q, "replace User", "Users/"+id, err)
	return err
}

func (s *Server) doReplaceUser(q *request) error {
	old, err := s.loadUserToChange(q)
	if err != nil {
		return err
	}
	if err := ifMatch(q, old.Meta.Version); err != nil {
		return err
	}
	data, err := readBody(q, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	in, err := decodeUser(data)
	if err != nil {
		return err
	}
	u, err := s.saveUser(q, old, in)
	if err != nil {
		return err
	}
	return s.writeUser(q, http.StatusOK, u, false)
}

// saveUser stores in over old through People (PUT and PATCH).
func (s *Server) saveUser(q *request, old *account.User, in *userIn) (*account.User, error) {
	u := &in.user
	u.ID, u.Meta, u.PasswordHash = old.ID, old.Meta, old.PasswordHash
	if !in.smartgate {
		u.FHIRUser, u.Roles = old.FHIRUser, old.Roles
	}
	if !in.active {
		u.Active = old.Active
	}
	if err := checkUserAdmin(q, u); err != nil {
		return nil, err
	}
	err := s.cfg.People.Replace(q.Context(), u, in.password)
	if errors.Is(err, store.ErrConflict) {
		// A taken userName, or a change that came in between.
		if other, oerr := s.cfg.Store.UserByName(q.Context(), u.UserName); oerr == nil && other.ID != u.ID {
			return nil, &Error{Status: http.StatusConflict, SCIMType: typeUniqueness, Detail: conflictDetail("User"), cause: err}
		}
		return nil, preconditionOrConflict(q, "User")
	}
	if err != nil {
		return nil, storeError(err, what{kind: "User", id: u.ID})
	}
	return u, nil
}

// deleteUser removes a person through People, which revokes what they
// hold (RFC 7644 §3.6: 204).
func (s *Server) deleteUser(q *request) error {
	id := q.seg[1]
	err := s.doDeleteUser(q, id)
	s.recordChange(q, "delete User", "Users/"+id, err)
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) doDeleteUser(q *request, id string) error {
	old, err := s.loadUserToChange(q)
	if err != nil {
		return err
	}
	var version int64
	if hasIfMatch(q) {
		if err := ifMatch(q, old.Meta.Version); err != nil {
			return err
		}
		version = old.Meta.Version
	}
	err = s.cfg.People.Delete(q.Context(), id, version)
	if errors.Is(err, store.ErrConflict) {
		return preconditionOrConflict(q, "User")
	}
	if err != nil {
		return storeError(err, what{kind: "User", id: id})
	}
	return nil
}
