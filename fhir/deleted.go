package fhir

import (
	"context"
	"errors"
	"net/http"
)

// Access to a deleted resource is decided on its last version that had
// content (issue 9, defect 9): a deleted resource outside the caller's
// reach answers like an id that never existed, and cannot be re-created
// under its id by a caller who could not have written its last content.

// decisionContent returns the content an access decision on the current
// version cur is made on, inside a write transaction: cur's own, or for a
// deletion that of the last version with content (nil if there is none).
func decisionContent(ctx context.Context, tx Tx, cur *Resource) ([]byte, error) {
	if !cur.Deleted {
		return cur.JSON, nil
	}
	return tx.LastContent(ctx, cur.Type, cur.ID)
}

// contentBefore returns the content of the newest version of typ/id older
// than version that is not a deletion, or nil.
func (s *Server) contentBefore(ctx context.Context, typ, id string, version int64) []byte {
	for v := version - 1; v >= 1; v-- {
		old, err := s.st.ReadResourceVersion(ctx, typ, id, v)
		if err == nil && !old.Deleted {
			return old.JSON
		}
	}
	return nil
}

// versionAllowed decides one version listed in a history: a deletion on
// the content it deleted.
func (s *Server) versionAllowed(ctx context.Context, p Principal, in Interaction, e HistoryEntry) bool {
	content := e.JSON
	if e.Deleted {
		content = s.contentBefore(ctx, e.Type, e.ID, e.Version)
	}
	return p.Authorize(ctx, AccessRequest{Interaction: in, Type: e.Type, ID: e.ID,
		Patients: s.patientsOf(e.Type, content), Resource: content}) == nil
}

// authorizeCurrent decides interaction in on the current version cur inside
// a write transaction, on decisionContent.
func (s *Server) authorizeCurrent(ctx context.Context, tx Tx, p Principal, in Interaction, cur *Resource) error {
	content, err := decisionContent(ctx, tx, cur)
	if err != nil {
		return err
	}
	return p.Authorize(ctx, AccessRequest{Interaction: in, Type: cur.Type, ID: cur.ID,
		Patients: s.patientsOf(cur.Type, content), Resource: content})
}

// deleteDeleted answers a delete of a resource that is already deleted:
// 204 with its version when the caller reaches its last content, and as
// for an id that never existed (204, no version) when not.
func (s *Server) deleteDeleted(ctx context.Context, tx Tx, p Principal, cur *Resource) (*writeResult, error) {
	err := s.authorizeCurrent(ctx, tx, p, InteractionDelete, cur)
	switch {
	case errors.Is(err, ErrHidden):
		return &writeResult{status: http.StatusNoContent}, nil
	case err != nil:
		return nil, err
	}
	return &writeResult{status: http.StatusNoContent, res: cur}, nil
}
