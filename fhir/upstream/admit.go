package upstream

import (
	"errors"
	"time"

	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
)

// admits reports whether the resource is within a reach: in the
// compartment of one of patients (when not nil) and matching one of anyOf
// (when not empty), as the embedded store's search restriction.
func (s *Store) admits(typ string, raw []byte, patients []string, anyOf [][]search.Clause, now time.Time) bool {
	if patients != nil && !s.inCompartments(typ, raw, patients) {
		return false
	}
	if len(anyOf) == 0 {
		return true
	}
	res, err := search.Decode(raw)
	if err != nil {
		return false
	}
	for _, clauses := range anyOf {
		if ok, err := s.reg.Matches(&search.Query{Type: typ, Clauses: clauses}, res, raw, now); err == nil && ok {
			return true
		}
	}
	return false
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func decode(raw []byte) (map[string]any, error) { return search.Decode(raw) }
