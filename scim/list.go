package scim

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim/filter"
	"github.com/smartgate/smartgate/scim/schema"
)

// listParams are the query parameters of a list (RFC 7644 §3.4.2), from a
// GET's query string or a POST .search body (§3.4.3).
type listParams struct {
	Schemas            []string `json:"schemas"`
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
}

// listResponse is the answer of a list (RFC 7644 §3.4.2).
type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []any    `json:"Resources"`
}

// queryParams reads listParams from a GET's query string.
func queryParams(q *request) (listParams, error) {
	v := q.URL.Query()
	p := listParams{Filter: v.Get("filter"), SortBy: v.Get("sortBy"), SortOrder: v.Get("sortOrder")}
	for _, n := range []struct {
		name string
		dst  **int
	}{{"startIndex", &p.StartIndex}, {"count", &p.Count}} {
		s := v.Get(n.name)
		if s == "" {
			continue
		}
		i, err := strconv.Atoi(s)
		if errors.Is(err, strconv.ErrRange) {
			// An integer too large to hold is still an integer: capped
			// like any other.
			i, err = math.MaxInt32, nil
			if strings.HasPrefix(s, "-") {
				i = -1
			}
		}
		if err != nil {
			return p, errorf(http.StatusBadRequest, typeInvalidValue, "%s must be an integer, not %q", n.name, s)
		}
		*n.dst = &i
	}
	if a := v.Get("attributes"); a != "" {
		p.Attributes = []string{a}
	}
	if a := v.Get("excludedAttributes"); a != "" {
		p.ExcludedAttributes = []string{a}
	}
	return p, nil
}

// searchParams reads listParams from a POST .search body.
func searchParams(q *request, max int64) (listParams, error) {
	var p listParams
	data, err := readBody(q, max)
	if err != nil {
		return p, err
	}
	if err := decodeStrict(data, &p); err != nil {
		return p, err
	}
	if len(p.Schemas) != 1 || !strings.EqualFold(p.Schemas[0], URNSearch) {
		return p, errorf(http.StatusBadRequest, typeInvalidSyntax, "a search request's schemas must be [%q]", URNSearch)
	}
	return p, nil
}

// page is a checked list request against one resource type.
type page struct {
	query      account.Query
	startIndex int
	proj       projection
}

// kind is a resource type: its schema table.
type kind struct{ res *schema.Resource }

func userKind() kind  { return kind{res: schema.User()} }
func groupKind() kind { return kind{res: schema.Group()} }

// page checks p against the resource type k: the filter (invalidFilter),
// sortBy and sortOrder, and the paging (startIndex below 1 is 1, count
// below 0 is 0, count above maxResults is capped, RFC 7644 §3.4.2.4).
func (p listParams) page(k kind, maxResults int) (page, error) {
	pg := page{startIndex: 1, query: account.Query{Limit: maxResults}}
	if p.StartIndex != nil && *p.StartIndex > 1 {
		pg.startIndex = *p.StartIndex
	}
	if p.Count != nil {
		pg.query.Limit = min(max(*p.Count, 0), maxResults)
	}
	pg.query.Offset = pg.startIndex - 1
	if strings.TrimSpace(p.Filter) != "" {
		f, err := filter.Parse(k.res, p.Filter)
		if err != nil {
			return pg, filterError(err)
		}
		pg.query.Filter = f
	}
	if p.SortBy != "" {
		by, err := filter.ParseSortBy(k.res, p.SortBy)
		if err != nil {
			return pg, &Error{Status: http.StatusBadRequest, SCIMType: typeInvalidValue,
				Detail: fmt.Sprintf("sortBy %q is not an attribute that can be sorted on", p.SortBy), cause: err}
		}
		pg.query.SortBy = by
		switch strings.ToLower(p.SortOrder) {
		case "", "ascending":
		case "descending":
			pg.query.Descending = true
		default:
			return pg, errorf(http.StatusBadRequest, typeInvalidValue, "sortOrder must be ascending or descending, not %q", p.SortOrder)
		}
	}
	pg.proj = parseProjection(k.res, strings.Join(p.Attributes, ","), strings.Join(p.ExcludedAttributes, ","))
	return pg, nil
}

// filterError is the answer to a filter the parser refused.
func filterError(err error) *Error {
	detail := err.Error()
	if !errors.Is(err, filter.ErrInvalidFilter) {
		detail = "the filter is not valid: " + detail
	}
	return &Error{Status: http.StatusBadRequest, SCIMType: typeInvalidFilter, Detail: detail, cause: err}
}

func (s *Server) listUsers(q *request) error {
	p, err := queryParams(q)
	if err != nil {
		return err
	}
	return s.findUsers(q, p)
}

func (s *Server) searchUsers(q *request) error {
	p, err := searchParams(q, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	return s.findUsers(q, p)
}

func (s *Server) findUsers(q *request, p listParams) error {
	pg, err := p.page(s.users, s.cfg.MaxResults)
	if err != nil {
		return err
	}
	res, total, err := s.userPage(q, pg)
	if err != nil {
		return err
	}
	return writeJSON(q.w, http.StatusOK, listResponse{Schemas: []string{URNListResponse}, TotalResults: total,
		StartIndex: pg.startIndex, ItemsPerPage: len(res), Resources: res})
}

// userPage runs pg against the store and renders the page.
func (s *Server) userPage(q *request, pg page) ([]any, int, error) {
	users, total, err := s.cfg.Store.SearchUsers(q.Context(), pg.query)
	if err != nil {
		return nil, 0, storeError(err, what{kind: "User"})
	}
	// The groups of the whole page in one query, and only when shown.
	var groups map[string][]account.Group
	if pg.proj.wants("groups") && len(users) > 0 {
		ids := make([]string, len(users))
		for i := range users {
			ids[i] = users[i].ID
		}
		if groups, err = s.cfg.Store.GroupsOfUsers(q.Context(), ids); err != nil {
			return nil, 0, storeError(err, what{kind: "User"})
		}
	}
	links, err := s.linksOfPage(q, pg.proj, users)
	if err != nil {
		return nil, 0, err
	}
	res := make([]any, 0, len(users))
	base := s.baseURL(q)
	for i := range users {
		r := renderUser(&users[i], groups[users[i].ID], links[users[i].ID], base)
		if pg.proj.identity() {
			// Nothing to take out: encoded once, with the page.
			res = append(res, r)
			continue
		}
		doc, err := toDoc(r)
		if err != nil {
			return nil, 0, err
		}
		res = append(res, pg.proj.apply(doc))
	}
	return res, total, nil
}

// linksOfPage reads the federated identities of a page of users in one
// query, and only when a LinkReader is configured and they are shown.
func (s *Server) linksOfPage(q *request, proj projection, users []account.User) (map[string][]account.Link, error) {
	if s.cfg.Links == nil || len(users) == 0 || !proj.wantsIn(URNSmartUser, "identities") {
		return nil, nil
	}
	ids := make([]string, len(users))
	for i := range users {
		ids[i] = users[i].ID
	}
	links, err := s.cfg.Links.LinksOfUsers(q.Context(), ids)
	if err != nil {
		return nil, storeError(err, what{kind: "User"})
	}
	return links, nil
}

func (s *Server) listGroups(q *request) error {
	p, err := queryParams(q)
	if err != nil {
		return err
	}
	return s.findGroups(q, p)
}

func (s *Server) searchGroups(q *request) error {
	p, err := searchParams(q, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	return s.findGroups(q, p)
}

func (s *Server) findGroups(q *request, p listParams) error {
	pg, err := p.page(s.groups, s.cfg.MaxResults)
	if err != nil {
		return err
	}
	res, total, err := s.groupPage(q, pg)
	if err != nil {
		return err
	}
	return writeJSON(q.w, http.StatusOK, listResponse{Schemas: []string{URNListResponse}, TotalResults: total,
		StartIndex: pg.startIndex, ItemsPerPage: len(res), Resources: res})
}

// groupPage runs pg against the store; members are loaded only when the
// projection returns them.
func (s *Server) groupPage(q *request, pg page) ([]any, int, error) {
	groups, total, err := s.cfg.Store.SearchGroups(q.Context(), pg.query, pg.proj.wants("members"))
	if err != nil {
		return nil, 0, storeError(err, what{kind: "Group"})
	}
	res := make([]any, 0, len(groups))
	base := s.baseURL(q)
	for i := range groups {
		r := renderGroup(&groups[i], base)
		if pg.proj.identity() {
			res = append(res, r)
			continue
		}
		doc, err := toDoc(r)
		if err != nil {
			return nil, 0, err
		}
		res = append(res, pg.proj.apply(doc))
	}
	return res, total, nil
}

// searchAll is POST /.search at the root (RFC 7644 §3.4.3): Users, then
// Groups, paged as one list. A filter that names an attribute only one
// resource type has selects only from that type.
func (s *Server) searchAll(q *request) error {
	p, err := searchParams(q, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	up, uerr := p.page(s.users, s.cfg.MaxResults)
	gp, gerr := p.page(s.groups, s.cfg.MaxResults)
	if uerr != nil && gerr != nil {
		return uerr
	}
	pg := up
	if uerr != nil {
		pg = gp
	}
	var res []any
	total := 0
	if uerr == nil {
		r, n, err := s.userPage(q, up)
		if err != nil {
			return err
		}
		res, total = r, n
	}
	if gerr == nil {
		// The groups' part of the page starts where the users end.
		gp.query.Offset = max(0, pg.query.Offset-total)
		gp.query.Limit = pg.query.Limit - len(res)
		r, n, err := s.groupPage(q, gp)
		if err != nil {
			return err
		}
		res, total = append(res, r...), total+n
	}
	if res == nil {
		res = []any{}
	}
	return writeJSON(q.w, http.StatusOK, listResponse{Schemas: []string{URNListResponse}, TotalResults: total,
		StartIndex: pg.startIndex, ItemsPerPage: len(res), Resources: res})
}
