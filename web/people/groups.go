package people

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// groupRow is a group as the lists show it.
type groupRow struct {
	ID, DisplayName string
	Roles, Ceiling  []string
	Version         int64
}

func rowOfGroup(g *account.Group) groupRow {
	return groupRow{ID: g.ID, DisplayName: g.DisplayName, Roles: g.Roles, Ceiling: g.Ceiling, Version: g.Meta.Version}
}

// groupForm is the values of the group forms: displayName, roles (the
// roles membership gives) and ceiling (one scope per line; empty: none).
type groupForm struct {
	DisplayName string
	Roles       []string
	Ceiling     string
	Version     int64
	Action      string
	New         bool
	Errors      map[string]string
}

// HasRole is used by the template's checkboxes.
func (f groupForm) HasRole(r string) bool { return slices.Contains(f.Roles, r) }

// AllRoles are the roles the form offers.
func (groupForm) AllRoles() []string { return userForm{}.AllRoles() }

func formOfGroup(g *account.Group) groupForm {
	return groupForm{DisplayName: g.DisplayName, Roles: g.Roles, Ceiling: strings.Join(g.Ceiling, "\n"),
		Version: g.Meta.Version, Action: GroupsPath + "/" + url.PathEscape(g.ID), Errors: map[string]string{}}
}

// maxCeiling bounds the scopes of one ceiling.
const maxCeiling = 100

// groupFormFrom reads and checks the form, and returns the ceiling it
// names (nil: no ceiling).
func groupFormFrom(r *http.Request) (groupForm, []string) {
	p := r.PostForm
	f := groupForm{DisplayName: strings.TrimSpace(p.Get("displayName")), Ceiling: p.Get("ceiling"), Errors: map[string]string{}}
	if f.DisplayName == "" || len(f.DisplayName) > maxField {
		f.Errors["displayName"] = "A name is required, at most 256 characters."
	}
	for _, role := range p["roles"] {
		if !account.ValidRole(role) {
			f.Errors["roles"] = "Choose among the roles offered."
		} else if !slices.Contains(f.Roles, role) {
			f.Roles = append(f.Roles, role)
		}
	}
	var ceiling []string
	for l := range strings.Lines(f.Ceiling) {
		l = strings.TrimSpace(l)
		if l == "" || slices.Contains(ceiling, l) {
			continue
		}
		if err := account.ValidateCeiling([]string{l}); err != nil {
			f.Errors["ceiling"] = "Not a SMART resource scope (patient/…, user/… or system/…, e.g. user/*.rs): " + l
			break
		}
		ceiling = append(ceiling, l)
	}
	if len(ceiling) > maxCeiling {
		f.Errors["ceiling"] = "At most 100 scopes."
	}
	return f, ceiling
}

// groupChangeError maps what account.People refused to a status, a field
// and a message.
func groupChangeError(err error) (status int, field, msg string) {
	switch {
	case errors.Is(err, account.ErrLastAdmin):
		return http.StatusConflict, "", msgLastAdmin
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "displayName", "A group of this name exists."
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "", "There is no such group or member."
	case errors.Is(err, account.ErrInvalidUser):
		return http.StatusBadRequest, "", invalidMessage(err)
	}
	return http.StatusInternalServerError, "", ""
}

// --- list and create --------------------------------------------------------

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r, "groups")
	if !ok {
		return
	}
	q, n := pageOf(r)
	list, total, err := s.cfg.Directory.SearchGroups(r.Context(), account.Query{Filter: searchFilter(q, []string{"displayName"}),
		SortBy: "displayName", Offset: (n - 1) * PageSize, Limit: PageSize}, false)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	for i := range list {
		v.Groups = append(v.Groups, rowOfGroup(&list[i]))
	}
	paging(&v, GroupsPath, q, n, total)
	v.Message = doneMessage(r)
	s.render(w, r, http.StatusOK, "groups_list", v)
}

func (s *Server) newGroup(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r, "groups")
	if !ok {
		return
	}
	v.GForm = groupForm{Action: GroupsPath + "/new", New: true, Errors: map[string]string{}}
	s.render(w, r, http.StatusOK, "groups_new", v)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "groups")
	if !ok {
		return
	}
	f, ceiling := groupFormFrom(r)
	f.Action, f.New = GroupsPath+"/new", true
	if len(f.Errors) > 0 {
		v.GForm, v.Error = f, "The group is not created: see the fields marked below."
		s.render(w, r, http.StatusBadRequest, "groups_new", v)
		return
	}
	g := &account.Group{DisplayName: f.DisplayName, Roles: f.Roles, Ceiling: ceiling}
	if err := s.cfg.People.CreateGroup(r.Context(), g); err != nil {
		status, field, msg := groupChangeError(err)
		if status == http.StatusInternalServerError {
			s.cfg.Pages.Fail(w, r, status, "", err)
			return
		}
		if field != "" {
			f.Errors[field], msg = msg, "The group is not created: see the fields marked below."
		}
		v.GForm, v.Error = f, msg
		s.render(w, r, status, "groups_new", v)
		return
	}
	s.record(r, admin, "group", "Group/"+g.ID, "create", "")
	seeOther(w, GroupsPath+"/"+url.PathEscape(g.ID)+"?done=created")
}

// --- the group's page -------------------------------------------------------

// group loads the group named in the path (with its members), or answers
// 404.
func (s *Server) group(w http.ResponseWriter, r *http.Request) (*account.Group, bool) {
	g, err := s.cfg.Directory.Group(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such group.", err)
		return nil, false
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return nil, false
	}
	return g, true
}

// showGroup renders the group's page; form, when not nil, is the edit
// form as submitted.
func (s *Server) showGroup(w http.ResponseWriter, r *http.Request, v page, status int, g *account.Group, form *groupForm) {
	row := rowOfGroup(g)
	v.Group, v.Members = &row, g.Members
	if form != nil {
		v.GForm = *form
	} else {
		v.GForm = formOfGroup(g)
	}
	s.render(w, r, status, "groups_edit", v)
}

func (s *Server) editGroup(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r, "groups")
	if !ok {
		return
	}
	g, ok := s.group(w, r)
	if !ok {
		return
	}
	v.Message = doneMessage(r)
	s.showGroup(w, r, v, http.StatusOK, g, nil)
}

// changeGroup runs save under the version the form was shown with, as
// change does for people, and reports whether it was made.
func (s *Server) changeGroup(w http.ResponseWriter, r *http.Request, v page, g *account.Group, form *groupForm,
	save func(ctx context.Context, version int64) error) bool {
	version, ok := versionOf(r)
	if !ok || version != g.Meta.Version {
		status := http.StatusConflict
		v.Error = msgStale
		if !ok {
			status, v.Error = http.StatusBadRequest, msgNoVersion
		}
		s.showGroup(w, r, v, status, g, form)
		return false
	}
	err := save(r.Context(), version)
	if err == nil {
		return true
	}
	status, field, msg := groupChangeError(err)
	if status == http.StatusInternalServerError {
		s.cfg.Pages.Fail(w, r, status, "", err)
		return false
	}
	if errors.Is(err, store.ErrConflict) {
		// A taken name (only an edit renames), or someone else's change in
		// between.
		if now, err := s.cfg.Directory.Group(r.Context(), g.ID); form == nil || err == nil && now.Meta.Version != version {
			field, msg = "", msgStale
			if err == nil {
				g = now
			}
		}
	}
	if field != "" && form != nil {
		form.Errors[field], msg = msg, "Not saved: see the fields marked below."
	}
	v.Error = msg
	s.showGroup(w, r, v, status, g, form)
	return false
}

func (s *Server) updateGroup(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "groups")
	if !ok {
		return
	}
	g, ok := s.group(w, r)
	if !ok {
		return
	}
	f, ceiling := groupFormFrom(r)
	f.Action = GroupsPath + "/" + url.PathEscape(g.ID)
	f.Version, _ = versionOf(r)
	if len(f.Errors) > 0 {
		v.Error = "Not saved: see the fields marked below."
		s.showGroup(w, r, v, http.StatusBadRequest, g, &f)
		return
	}
	if !s.changeGroup(w, r, v, g, &f, func(ctx context.Context, version int64) error {
		next := *g
		next.DisplayName, next.Roles, next.Ceiling = f.DisplayName, f.Roles, ceiling
		next.Meta.Version = version
		return s.cfg.People.ReplaceGroup(ctx, &next)
	}) {
		return
	}
	s.record(r, admin, "group", "Group/"+g.ID, "update", "")
	seeOther(w, GroupsPath+"/"+url.PathEscape(g.ID)+"?done=saved")
}

// maxAddAtOnce bounds the user names one form adds.
const maxAddAtOnce = 100

// changeMembers adds the people named in add (user names, one per line or
// separated by spaces or commas) and removes the member ids in remove.
func (s *Server) changeMembers(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "groups")
	if !ok {
		return
	}
	g, ok := s.group(w, r)
	if !ok {
		return
	}
	names := strings.FieldsFunc(r.PostForm.Get("add"), func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
	var add []string
	for _, name := range names {
		if len(add) == maxAddAtOnce {
			v.Error = "At most 100 people at once."
			break
		}
		u, err := s.userByName(r.Context(), name)
		if errors.Is(err, store.ErrNotFound) {
			v.Error = "There is no person with the user name " + name + "."
			break
		} else if err != nil {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		add = append(add, u.ID)
	}
	remove := r.PostForm["remove"]
	if v.Error == "" && len(add)+len(remove) == 0 {
		v.Error = "Name a person to add."
	}
	if v.Error != "" {
		s.showGroup(w, r, v, http.StatusBadRequest, g, nil)
		return
	}
	if !s.changeGroup(w, r, v, g, nil, func(ctx context.Context, version int64) error {
		_, err := s.cfg.People.ChangeMembers(ctx, g.ID, version, add, remove)
		return err
	}) {
		return
	}
	if len(add) > 0 {
		s.record(r, admin, "group", "Group/"+g.ID, "add members", strings.Join(add, " "))
	}
	if len(remove) > 0 {
		s.record(r, admin, "group", "Group/"+g.ID, "remove members", strings.Join(remove, " "))
	}
	seeOther(w, GroupsPath+"/"+url.PathEscape(g.ID)+"?done=members")
}

// userByName finds a person by user name as typed (normalised first).
func (s *Server) userByName(ctx context.Context, name string) (*account.User, error) {
	n, err := account.NormalizeUserName(name)
	if err != nil {
		return nil, store.ErrNotFound
	}
	return s.cfg.Directory.UserByName(ctx, n)
}

// --- delete -----------------------------------------------------------------

func confirmGroup(g *account.Group) *confirm {
	path := GroupsPath + "/" + url.PathEscape(g.ID)
	return &confirm{What: "group", Name: g.DisplayName, Action: path + "/delete", Cancel: path, Version: g.Meta.Version}
}

func (s *Server) confirmDeleteGroup(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r, "groups")
	if !ok {
		return
	}
	g, ok := s.group(w, r)
	if !ok {
		return
	}
	s.showConfirm(w, r, v, http.StatusOK, confirmGroup(g))
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "groups")
	if !ok {
		return
	}
	g, ok := s.group(w, r)
	if !ok {
		return
	}
	version, ok := versionOf(r)
	if !ok || version != g.Meta.Version {
		status := http.StatusConflict
		v.Error = msgStale
		if !ok {
			status, v.Error = http.StatusBadRequest, msgNoVersion
		}
		s.showConfirm(w, r, v, status, confirmGroup(g))
		return
	}
	if err := s.cfg.People.DeleteGroup(r.Context(), g.ID, version); err != nil {
		status, _, msg := groupChangeError(err)
		if errors.Is(err, store.ErrConflict) {
			msg = msgStale
		}
		if status == http.StatusInternalServerError {
			s.cfg.Pages.Fail(w, r, status, "", err)
			return
		}
		v.Error = msg
		s.showConfirm(w, r, v, status, confirmGroup(g))
		return
	}
	s.record(r, admin, "group", "Group/"+g.ID, "delete", "")
	seeOther(w, GroupsPath+"?done=deleted")
}
