package fhir

import (
	"context"
	"fmt"

	"github.com/smartgate/smartgate/fhir/search"
)

// StoredAccessRequest is the access request the endpoint decides for
// interaction in on the stored resource typ/id (version vid when it is
// above 0, else the current one): the content, a deleted version's last
// content, and the patient compartments of that content, worked out as
// read and vread work them out. For the administrators' "why was this
// refused?" page. It returns an error for an unknown type or a bad id, and
// one wrapping store.ErrNotFound for a resource that never existed.
func (s *Server) StoredAccessRequest(ctx context.Context, in Interaction, typ, id string, vid int64) (AccessRequest, error) {
	if !s.reg.IsType(typ) {
		return AccessRequest{}, fmt.Errorf("fhir: unknown resource type %q", typ)
	}
	if !search.ValidID(id) {
		return AccessRequest{}, fmt.Errorf("fhir: %q is not a valid FHIR id", id)
	}
	var res *Resource
	var err error
	if vid > 0 {
		res, err = s.st.ReadResourceVersion(ctx, typ, id, vid)
	} else {
		res, err = s.st.ReadResource(ctx, typ, id)
	}
	if err != nil {
		return AccessRequest{}, fmt.Errorf("fhir: %s/%s: %w", typ, id, err)
	}
	content := res.JSON
	if res.Deleted {
		content = s.contentBefore(ctx, typ, id, res.Version)
	}
	return AccessRequest{Interaction: in, Type: typ, ID: id, Patients: s.patientsOf(typ, content), Resource: content}, nil
}
