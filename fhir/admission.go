package fhir

import (
	"context"
	"net/http"
	"net/url"
)

// Request-level admission: what a token may do is decided from the URL and
// the headers before the body is read or decoded, so that a refused request
// costs no memory for its body (issue 9, defect 8). The decisions on the
// content (whose record, which category) follow once the body is read.

// admitWrite refuses, before the body is read, a write of typ that p may do
// as none of the interactions (PUT to an id may be an update or a create),
// and a conditional write whose condition cond (the If-None-Exist header or
// the URL query; "" for none) p may not search.
func (s *Server) admitWrite(ctx context.Context, p Principal, typ, cond string, any ...Interaction) error {
	var err error
	for _, in := range any {
		if err = p.Authorize(ctx, AccessRequest{Interaction: in, Type: typ}); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	if cond == "" {
		return nil
	}
	_, err = s.condSearch(ctx, p, typ, cond)
	return err
}

// admitEntry decides, from its request alone, whether p may do what a
// Bundle entry asks (e parsed by parseEntryRequest, no resource yet): the
// type-level scope of the interaction and the condition or search query.
func (s *Server) admitEntry(ctx context.Context, p Principal, e *entry) error {
	switch e.op.method {
	case http.MethodPost:
		return s.admitWrite(ctx, p, e.op.typ, e.op.ifNoneExist, InteractionCreate)
	case http.MethodPut:
		return s.admitWrite(ctx, p, e.op.typ, e.op.cond, InteractionUpdate, InteractionCreate)
	case http.MethodDelete:
		return s.admitWrite(ctx, p, e.op.typ, e.op.cond, InteractionDelete)
	case http.MethodGet:
		if e.op.id != "" {
			return p.Authorize(ctx, AccessRequest{Interaction: InteractionRead, Type: e.op.typ})
		}
		vals, err := url.ParseQuery(e.search)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid", "search: %v", err)
		}
		_, err = s.authorizeSearch(ctx, p, e.op.typ, vals, false)
		return err
	}
	return nil
}

// bundleInteractions are the interactions a batch or transaction entry can
// ask for.
var bundleInteractions = []Interaction{InteractionRead, InteractionSearchType, InteractionCreate, InteractionUpdate, InteractionDelete}

// admitBundle refuses, before the body is read, a Bundle from a token that
// may do no interaction on any type: every entry would be refused. Each
// entry is then decided on its own (see admitEntry).
func (s *Server) admitBundle(ctx context.Context, p Principal) error {
	types := s.reg.Types()
	for _, in := range bundleInteractions {
		for _, typ := range types {
			if p.Authorize(ctx, AccessRequest{Interaction: in, Type: typ}) == nil {
				return nil
			}
		}
	}
	return ErrInsufficientScope
}
