package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim/patch"
	"github.com/smartgate/smartgate/store"
)

// PATCH (RFC 7644 §3.5.2): the operations are applied by package patch to
// the stored resource as SCIM renders it, all or nothing; the result is
// decoded like a PUT body and stored through People. A PATCH that changes
// nothing stores nothing (and keeps the version).

// patchOps reads and decodes a PatchOp body.
func (s *Server) patchOps(q *request) ([]patch.Operation, error) {
	data, err := readBody(q, s.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	ops, err := patch.Decode(data)
	if err != nil {
		return nil, patchError(err)
	}
	return ops, nil
}

// patchError is the answer to an error of package patch: 400 with its
// scimType (mutability for id, meta, groups; invalidPath; noTarget; …).
func patchError(err error) error {
	var pe *patch.Error
	if errors.As(err, &pe) {
		return &Error{Status: http.StatusBadRequest, SCIMType: pe.ScimType, Detail: pe.Detail, cause: err}
	}
	return err
}

// applyPatch applies ops to the rendered resource v of type k and returns
// the patched document's JSON, or nil when nothing changed.
func applyPatch(k kind, v any, ops []patch.Operation) ([]byte, error) {
	doc, err := toDoc(v)
	if err != nil {
		return nil, err
	}
	out, err := patch.Apply(k.res, doc, ops)
	if err != nil {
		return nil, patchError(err)
	}
	if reflect.DeepEqual(doc, out) {
		return nil, nil
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("scim: encode patched resource: %w", err)
	}
	return data, nil
}

func (s *Server) patchUser(q *request) error {
	id := q.seg[1]
	u, err := s.doPatchUser(q)
	s.recordChange(q, "patch User", "Users/"+id, err)
	if err != nil {
		return err
	}
	return s.writeUser(q, http.StatusOK, u, false)
}

func (s *Server) doPatchUser(q *request) (*account.User, error) {
	old, err := s.loadUserToChange(q)
	if err != nil {
		return nil, err
	}
	if err := ifMatch(q, old.Meta.Version); err != nil {
		return nil, err
	}
	ops, err := s.patchOps(q)
	if err != nil {
		return nil, err
	}
	data, err := applyPatch(userKind(), renderUser(old, nil, nil, s.baseURL(q)), ops)
	if err != nil || data == nil {
		return old, err
	}
	in, err := decodeUser(data)
	if err != nil {
		return nil, err
	}
	// The patched document holds the extension unless the PATCH removed
	// it: only a PUT's omission keeps it.
	in.smartgate = true
	return s.saveUser(q, old, in)
}

func (s *Server) patchGroup(q *request) error {
	id := q.seg[1]
	g, meta, err := s.doPatchGroup(q)
	s.recordChange(q, "patch Group", "Groups/"+id, err)
	switch {
	case err != nil:
		return err
	case g != nil:
		return s.writeGroup(q, http.StatusOK, g, false)
	case q.URL.Query().Get("attributes") != "":
		// RFC 7644 §3.5.2: with attributes, the answer is 200 and the
		// resource.
		if g, err = s.loadGroup(q); err != nil {
			return err
		}
		return s.writeGroup(q, http.StatusOK, g, false)
	}
	q.w.Header().Set("ETag", etag(meta.Version))
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// doPatchGroup applies a Group PATCH. One that only adds and removes
// members (what Entra ID and Okta send) changes them in the store without
// loading the group, and returns only the new meta; any other is applied
// to the whole group, which it returns.
func (s *Server) doPatchGroup(q *request) (*account.Group, account.Meta, error) {
	if err := s.checkGroupTarget(q, q.seg[1]); err != nil {
		return nil, account.Meta{}, err
	}
	ops, err := s.patchOps(q)
	if err != nil {
		return nil, account.Meta{}, err
	}
	if add, remove, ok := patch.MemberChanges(ops); ok {
		if version, ok := singleVersion(q.Header.Get("If-Match")); ok {
			meta, err := s.changeMembers(q, version, add, remove)
			return nil, meta, err
		}
	}
	old, err := s.loadGroup(q)
	if err != nil {
		return nil, account.Meta{}, err
	}
	if err := ifMatch(q, old.Meta.Version); err != nil {
		return nil, account.Meta{}, err
	}
	data, err := applyPatch(groupKind(), renderGroup(old, s.baseURL(q)), ops)
	if err != nil || data == nil {
		return old, old.Meta, err
	}
	in, err := decodeGroup(data)
	if err != nil {
		return nil, account.Meta{}, err
	}
	in.smartgate = true // as for a User
	g, err := s.saveGroup(q, old, in)
	if err != nil {
		return nil, account.Meta{}, err
	}
	return g, g.Meta, nil
}

// changeMembers changes a group's members through People.
func (s *Server) changeMembers(q *request, version int64, add, remove []string) (account.Meta, error) {
	id := q.seg[1]
	meta, err := s.cfg.People.ChangeMembers(q.Context(), id, version, add, remove)
	switch {
	case err == nil:
		return meta, nil
	case errors.Is(err, store.ErrConflict):
		return meta, preconditionOrConflict(q, "Group")
	case errors.Is(err, store.ErrNotFound):
		// The group, or a member to add, does not exist.
		if _, gerr := s.cfg.Store.Group(q.Context(), id); gerr != nil {
			return meta, storeError(gerr, what{kind: "Group", id: id})
		}
		return meta, memberError(err, id)
	}
	return meta, storeError(err, what{kind: "Group", id: id})
}

// singleVersion reads an If-Match header that names at most one version:
// absent or "*" is 0 (any version), W/"n" or "n" is n. ok is false for
// anything else (a list), which the caller checks against the stored
// resource instead.
func singleVersion(h string) (int64, bool) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return 0, true
	}
	v, err := strconv.Unquote(strings.TrimPrefix(h, "W/"))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
