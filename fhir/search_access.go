package fhir

import (
	"context"
	"fmt"
	"net/url"

	"github.com/smartgate/smartgate/fhir/search"
)

// DefaultMaxIncluded caps the _include/_revinclude resources (with
// :iterate) of one search page; a Bundle that was cut says so in an
// OperationOutcome entry (search.mode outcome).
const DefaultMaxIncluded = 1000

// authorizeSearch is the one access decision for a search of typ by p, made
// before any query runs. Every search path uses it: GET and POST _search,
// batch and transaction GET entries, and the conditions of conditional
// create, update and delete (plain and in Bundles). It decides:
//   - the type: p needs search access to typ (else ErrInsufficientScope);
//     the matches are limited to its reach (compartment, query-restricted
//     scopes);
//   - chained parameters: p needs search access to every target type, and
//     a chain only tests referenced resources within that reach, so that
//     whether a resource matches reveals nothing outside the grant;
//   - includes: _include/_revinclude (and :iterate) whose resources p may
//     not read at all are left out (listed in Query.Ignored); every other
//     included resource is shown, and iterated from, only if p may read it,
//     and at most Config.MaxIncluded of them per page.
func (s *Server) authorizeSearch(ctx context.Context, p Principal, typ string, params url.Values, lenient bool) (SearchRequest, error) {
	restr, err := p.Restrict(ctx, InteractionSearchType, typ)
	if err != nil {
		return SearchRequest{}, err
	}
	q, err := s.reg.ParseQuery(typ, params, lenient)
	if err != nil {
		return SearchRequest{}, err
	}
	req := SearchRequest{Query: q, Cursor: Cursor(q.Cursor), Patients: restr.Patients, Now: s.now(), MaxIncluded: s.cfg.MaxIncluded}
	if req.AnyOf, err = s.anyOf(typ, restr); err != nil {
		return SearchRequest{}, err
	}
	if req.ChainReach, err = s.chainReach(ctx, p, q); err != nil {
		return SearchRequest{}, err
	}
	s.authorizeIncludes(ctx, p, q)
	req.Include = func(r Resource) bool {
		return !s.isLocal(r.Type) && s.authorizeStored(ctx, p, InteractionRead, r.Type, r.ID, r.JSON) == nil
	}
	return req, nil
}

// chainReach returns, for every target type of q's chained parameters,
// the caller's search reach on it; ErrInsufficientScope when a target type
// may not be searched at all.
func (s *Server) chainReach(ctx context.Context, p Principal, q *search.Query) (map[string]Reach, error) {
	out := map[string]Reach{}
	for _, c := range q.Clauses {
		if c.Chain == nil {
			continue
		}
		for _, typ := range c.Chain.Types {
			if _, done := out[typ]; done {
				continue
			}
			if s.isLocal(typ) {
				continue // missing from the map: the chain reaches none of it
			}
			restr, err := p.Restrict(ctx, InteractionSearchType, typ)
			if err != nil {
				return nil, fmt.Errorf("chained search through %s: %w", typ, err)
			}
			anyOf, err := s.anyOf(typ, restr)
			if err != nil {
				return nil, err
			}
			out[typ] = Reach{Patients: restr.Patients, AnyOf: anyOf}
		}
	}
	return out, nil
}

// authorizeIncludes drops the includes of q that can bring only resources
// p may not read (no read scope for any type they could be of), or that
// iterate from resources p may not read.
func (s *Server) authorizeIncludes(ctx context.Context, p Principal, q *search.Query) {
	readable := func(types ...string) bool {
		for _, t := range types {
			if s.isLocal(t) {
				continue
			}
			if p.Authorize(ctx, AccessRequest{Interaction: InteractionRead, Type: t}) == nil {
				return true
			}
		}
		return false
	}
	keep := func(incs []search.Include, rev bool) []search.Include {
		var out []search.Include
		for _, inc := range incs {
			shown := []string{inc.SourceType} // _revinclude shows the sources
			if !rev {
				shown = []string{inc.TargetType}
				if inc.TargetType == "" {
					shown = s.reg.Param(inc.SourceType, inc.Param).Targets
				}
			}
			ok := readable(shown...)
			if inc.Iterate && !rev && inc.SourceType != q.Type {
				ok = ok && readable(inc.SourceType)
			}
			if !ok {
				q.Ignored = append(q.Ignored, fmt.Sprintf("include %s:%s: no read access to the resources it would include", inc.SourceType, inc.Param))
				continue
			}
			out = append(out, inc)
		}
		return out
	}
	q.Includes = keep(q.Includes, false)
	q.RevIncludes = keep(q.RevIncludes, true)
}
