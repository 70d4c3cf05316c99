package upstream

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// maxGetQuery is the longest query sent in a GET; longer ones go as a
// POST _search form.
const maxGetQuery = 2000

// SearchResources implements fhir.Searcher; see the package comment.
func (s *Store) SearchResources(ctx context.Context, req fhir.SearchRequest) (*fhir.SearchResult, error) {
	q := req.Query
	if err := s.checkRef(q.Type, ""); err != nil {
		return nil, err
	}
	seal := searchSeal(req)
	c := call{op: "search", method: http.MethodGet, path: q.Type}
	exact := true // the upstream was asked for exactly the caller's reach
	if req.Cursor != "" {
		p, raw, err := s.openCursor(req.Cursor, seal)
		if err != nil {
			return nil, err
		}
		c.path, c.rawQuery = p, raw
	} else {
		vals, ok, none := s.confine(req)
		if none {
			return &fhir.SearchResult{Total: total(q, 0)}, nil
		}
		exact = ok
		if enc := vals.Encode(); len(enc) > maxGetQuery {
			c.method, c.path = http.MethodPost, q.Type+"/_search"
			c.body, c.contentType = []byte(enc), "application/x-www-form-urlencoded"
		} else {
			c.query = vals
		}
	}
	a, err := s.do(ctx, c)
	if err != nil {
		return nil, err
	}
	b, err := s.parseBundle(ctx, "search", "searchset", a)
	if err != nil {
		return nil, err
	}
	out := &fhir.SearchResult{Total: -1}
	chk := &checker{s: s, req: req, reads: map[string]*fhir.Resource{}}
	dropped := false
	for _, e := range b.Entry {
		mode := ""
		if e.Search != nil {
			mode = e.Search.Mode
		}
		if mode == "outcome" || len(e.Resource) == 0 {
			continue
		}
		r, err := s.parseResource(ctx, "search", e.Resource, "", "")
		if err != nil {
			return nil, err
		}
		if mode == "" && r.Type == q.Type {
			mode = "match"
		}
		if mode == "match" {
			ok, err := chk.match(ctx, r)
			if err != nil {
				return nil, err
			}
			if !ok {
				dropped = true
				s.logger.WarnContext(ctx, "upstream: search entry outside the caller's reach dropped", "type", r.Type, "id", r.ID)
				continue
			}
			out.Matches = append(out.Matches, *r)
			continue
		}
		if req.Include != nil && !req.Include(*r) {
			continue
		}
		if req.MaxIncluded > 0 && len(out.Included) >= req.MaxIncluded {
			out.IncludedCut = true
			continue
		}
		out.Included = append(out.Included, *r)
	}
	if exact && !dropped && !chk.chained && b.Total != nil && req.Cursor == "" {
		out.Total = total(q, *b.Total)
	}
	if q.Summary == "count" {
		// A count the upstream made of exactly the caller's reach, or none.
		out.Matches, out.Included, out.Next = nil, nil, ""
		if exact && b.Total != nil {
			out.Total = *b.Total
		}
		return out, nil
	}
	if out.Next, err = s.sealNext(b.next(), seal); err != nil {
		return nil, s.garbage(ctx, "search", err.Error())
	}
	return out, nil
}

func total(q *search.Query, n int) int {
	if q.NoTotal {
		return -1
	}
	return n
}

// confine returns the upstream query of req: the client's parameters plus
// its confinement. exact reports that the upstream's matches are exactly
// the caller's (the total can be shown); none that nothing can match.
func (s *Store) confine(req fhir.SearchRequest) (vals url.Values, exact, none bool) {
	q := req.Query
	vals = q.Values()
	exact = true
	// Whole resources come back, so that every one can be checked here;
	// the endpoint applies _elements and _summary=data itself.
	vals.Del("_elements")
	vals.Del("_summary")
	if q.Summary == "count" {
		vals.Set("_summary", "count")
	}
	if req.Patients != nil {
		if len(req.Patients) == 0 {
			return nil, false, true
		}
		switch params := s.reg.CompartmentParams(q.Type); {
		case q.Type == "Patient":
			vals.Add("_id", strings.Join(req.Patients, ","))
		case len(params) == 0:
			// Not in any patient's compartment.
			return nil, false, true
		default:
			// One of the compartment's parameters (patient when it is
			// one, else the first): a resource in the compartment only
			// by another is not found (stricter, never wider).
			p := params[0]
			if slices.Contains(params, "patient") {
				p = "patient"
			}
			refs := make([]string, len(req.Patients))
			for i, id := range req.Patients {
				refs[i] = "Patient/" + id
			}
			vals.Add(p, strings.Join(refs, ","))
		}
	}
	switch len(req.AnyOf) {
	case 0:
	case 1:
		for _, c := range req.AnyOf[0] {
			k, v := c.KeyValue()
			vals.Add(k, v)
		}
	default:
		// A union of granular scopes is not one upstream search: the
		// entries are filtered here.
		exact = false
	}
	return vals, exact, false
}

// checker decides the entries of one upstream search page.
type checker struct {
	s       *Store
	req     fhir.SearchRequest
	reads   map[string]*fhir.Resource // chain targets read, by Type/id
	chained bool                      // some match was decided on a chain
}

// match reports whether a match is within the caller's reach and, for
// chained parameters that cross into a restricted reach, whether a
// referenced resource within that reach satisfies the chain.
func (c *checker) match(ctx context.Context, r *fhir.Resource) (bool, error) {
	q := c.req.Query
	if r.Type != q.Type {
		return false, nil
	}
	if !c.s.admits(q.Type, r.JSON, c.req.Patients, c.req.AnyOf, c.req.Now) {
		return false, nil
	}
	for _, cl := range q.Clauses {
		if cl.Chain == nil || c.req.ChainReach == nil {
			continue
		}
		ok, err := c.chain(ctx, r, cl)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// chain decides one chained clause on a match: trusted from the upstream
// when every target type is reached whole, else re-decided here on the
// referenced resources the caller may search.
func (c *checker) chain(ctx context.Context, r *fhir.Resource, cl search.Clause) (bool, error) {
	restricted := false
	for _, t := range cl.Chain.Types {
		reach, ok := c.req.ChainReach[t]
		if !ok || reach.Patients != nil || len(reach.AnyOf) > 0 {
			restricted = true
		}
	}
	if !restricted {
		return true, nil
	}
	c.chained = true
	res, err := search.Decode(r.JSON)
	if err != nil {
		return false, nil
	}
	entries, err := c.s.reg.Extract(r.Type, res, r.JSON)
	if err != nil {
		return false, nil
	}
	for _, e := range entries {
		if e.Param != cl.Param || !slices.Contains(cl.Chain.Types, e.RefType) || e.RefID == "" {
			continue
		}
		reach, ok := c.req.ChainReach[e.RefType]
		if !ok {
			continue
		}
		target, err := c.target(ctx, e.RefType, e.RefID)
		if err != nil {
			return false, err
		}
		if target == nil || !c.s.admits(e.RefType, target.JSON, reach.Patients, reach.AnyOf, c.req.Now) {
			continue
		}
		tres, err := search.Decode(target.JSON)
		if err != nil {
			continue
		}
		inner := &search.Query{Type: e.RefType, Clauses: []search.Clause{cl.Chain.Inner}}
		if ok, _ := c.s.reg.Matches(inner, tres, target.JSON, c.req.Now); ok {
			return true, nil
		}
	}
	return false, nil
}

// target reads a chain's referenced resource once per page (nil when it
// is not there).
func (c *checker) target(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	key := typ + "/" + id
	if r, ok := c.reads[key]; ok {
		return r, nil
	}
	r, err := c.s.ReadResource(ctx, typ, id)
	switch {
	case err == nil && r.Deleted:
		r = nil
	case err != nil && !isNotFound(err):
		return nil, err
	case err != nil:
		r = nil
	}
	c.reads[key] = r
	return r, nil
}
