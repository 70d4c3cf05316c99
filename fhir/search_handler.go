package fhir

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/fhir/search"
)

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) error {
	typ := r.PathValue("type")
	if err := s.checkType(typ); err != nil {
		return err
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid", "malformed query string: %v", err)
	}
	if r.Method == http.MethodPost {
		// No search scope for the type: 403 before the form is read.
		if err := p.Authorize(r.Context(), AccessRequest{Interaction: InteractionSearchType, Type: typ}); err != nil {
			return err
		}
		if err := addSearchForm(w, r, params); err != nil {
			return err
		}
	}
	req, err := s.authorizeSearch(r.Context(), p, typ, params, preferLenient(r))
	if err != nil {
		return err
	}
	q := req.Query
	res, err := s.st.SearchResources(r.Context(), req)
	if err != nil {
		return err
	}
	base := s.baseURL(r)
	self := url.Values{}
	for k, v := range search.Encode(params) {
		self[k] = v
	}
	links := []any{map[string]any{"relation": "self", "url": base + "/" + typ + "?" + self.Encode()}}
	if res.Next != "" {
		next := search.Encode(params)
		next.Set("_cursor", string(res.Next))
		links = append(links, map[string]any{"relation": "next", "url": base + "/" + typ + "?" + next.Encode()})
	}
	var entries []any
	for _, m := range res.Matches {
		entries = append(entries, s.searchEntry(base, m, q, "match"))
	}
	// Included resources were each admitted by authorizeSearch's check.
	for _, inc := range res.Included {
		entries = append(entries, s.searchEntry(base, inc, q, "include"))
	}
	if oo := searchOutcome(q, res, req.MaxIncluded); oo != nil {
		entries = append(entries, map[string]any{"resource": oo, "search": map[string]any{"mode": "outcome"}})
	}
	bundle := map[string]any{
		"resourceType": "Bundle",
		"id":           newID(),
		"meta":         map[string]any{"lastUpdated": s.now().UTC().Format(instantFormat)},
		"type":         "searchset",
		"link":         links,
	}
	if res.Total >= 0 {
		bundle["total"] = res.Total
	}
	if len(entries) > 0 {
		bundle["entry"] = entries
	}
	s.writeJSON(w, http.StatusOK, bundle)
	return nil
}

// searchOutcome is the OperationOutcome entry of a searchset: warnings for
// the parameters left out and for included resources cut off at max; nil
// when there is nothing to say.
func searchOutcome(q *search.Query, res *SearchResult, max int) map[string]any {
	var issues []any
	for _, ig := range q.Ignored {
		issues = append(issues, map[string]any{"severity": "warning", "code": "not-supported",
			"diagnostics": "ignored search parameter " + ig})
	}
	if res.IncludedCut {
		issues = append(issues, map[string]any{"severity": "warning", "code": "too-costly",
			"diagnostics": fmt.Sprintf("included resources were cut off at %d per page (_include, _revinclude, :iterate); ask for fewer matches per page (_count)", max)})
	}
	if len(issues) == 0 {
		return nil
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": issues}
}

func (s *Server) searchEntry(base string, res Resource, q *search.Query, mode string) map[string]any {
	body := res.JSON
	if len(q.Elements) > 0 && mode == "match" {
		body = elements(body, q.Elements)
	} else if q.Summary == "data" {
		if m, err := search.Decode(body); err == nil {
			delete(m, "text")
			body = encodeResource(m)
		}
	}
	return map[string]any{
		"fullUrl":  base + "/" + res.Type + "/" + res.ID,
		"resource": rawJSON(body),
		"search":   map[string]any{"mode": mode},
	}
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) error {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if typ != "" {
		if err := s.checkType(typ); err != nil {
			return err
		}
	}
	if id != "" {
		if err := checkID(id); err != nil {
			return err
		}
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	hq := HistoryQuery{Type: typ, ID: id, Count: search.DefaultCount, ExcludeTypes: s.localTypeNames()}
	qv := r.URL.Query()
	for k := range qv {
		switch k {
		case "_count", "_since", "_cursor", "_format", "_pretty":
		default:
			if !preferLenient(r) {
				return errorf(http.StatusBadRequest, "not-supported", "history parameter %q is not supported", k)
			}
		}
	}
	if c := qv.Get("_count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			return errorf(http.StatusBadRequest, "invalid", "_count must be a positive integer")
		}
		hq.Count = min(n, search.MaxCount)
	}
	if v := qv.Get("_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid", "_since must be an instant (e.g. 2024-01-02T03:04:05Z)")
		}
		hq.Since = t
	}
	if vs := qv["_cursor"]; len(vs) > 0 {
		if len(vs) > 1 || vs[0] == "" {
			return errorf(http.StatusBadRequest, "invalid", "_cursor must be the one value of a next link")
		}
		hq.Cursor = Cursor(vs[0])
	}
	// check decides each version listed (see below); nil lists all.
	var check func(e HistoryEntry) bool
	totalExact := true
	if id != "" {
		if err := p.Authorize(r.Context(), AccessRequest{Interaction: InteractionHistoryInstance, Type: typ}); err != nil {
			return err
		}
		cur, err := s.st.ReadResource(r.Context(), typ, id)
		if err != nil {
			return err
		}
		last := s.lastContent(r, cur)
		if err := p.Authorize(r.Context(), AccessRequest{Interaction: InteractionHistoryInstance, Type: typ, ID: id,
			Patients: s.patientsOf(typ, last), Resource: last}); err != nil {
			return err
		}
	} else {
		interaction := InteractionHistoryType
		if typ == "" {
			interaction = InteractionHistorySystem
		}
		restr, err := p.Restrict(r.Context(), interaction, typ)
		if err != nil {
			return err
		}
		hq.Patients = restr.Patients
		totalExact = len(restr.AnyOf) == 0
		if restr.Patients != nil || len(restr.AnyOf) > 0 {
			// The store limits by the compartment a resource is in now;
			// each version listed must itself be within the grant (an old
			// version may have been in another compartment, and
			// query-restricted scopes are not applied by the store here).
			check = func(e HistoryEntry) bool { return s.versionAllowed(r.Context(), p, interaction, e) }
		}
	}
	if id != "" && !reachesAll(r.Context(), p, InteractionHistoryInstance, typ) {
		// Every version shown must be readable, not just the current one.
		check = func(e HistoryEntry) bool { return s.versionAllowed(r.Context(), p, InteractionHistoryInstance, e) }
	}
	page, err := s.st.ResourceHistory(r.Context(), hq)
	if err != nil {
		return err
	}
	base := s.baseURL(r)
	path := base
	if typ != "" {
		path += "/" + typ
	}
	if id != "" {
		path += "/" + id
	}
	path += "/_history"
	self := url.Values{}
	for k, v := range qv {
		self[k] = v
	}
	links := []any{map[string]any{"relation": "self", "url": path + "?" + self.Encode()}}
	if page.Next != "" {
		self.Set("_cursor", string(page.Next))
		links = append(links, map[string]any{"relation": "next", "url": path + "?" + self.Encode()})
	}
	var entries []any
	for _, e := range page.Entries {
		if s.isLocal(e.Type) || check != nil && !check(e) {
			continue
		}
		ent := map[string]any{"fullUrl": base + "/" + e.Type + "/" + e.ID}
		reqURL := e.Type + "/" + e.ID
		if e.Method == http.MethodPost {
			reqURL = e.Type
		}
		ent["request"] = map[string]any{"method": e.Method, "url": reqURL}
		status := http.StatusOK
		switch {
		case e.Deleted:
			status = http.StatusNoContent
		case e.Method == http.MethodPost || e.Version == 1:
			status = http.StatusCreated
		}
		ent["response"] = map[string]any{"status": statusText(status), "etag": etag(e.Version),
			"lastModified": e.LastUpdated.UTC().Format(instantFormat)}
		if !e.Deleted {
			ent["resource"] = rawJSON(e.JSON)
		}
		entries = append(entries, ent)
	}
	bundle := map[string]any{"resourceType": "Bundle", "id": newID(), "type": "history", "total": page.Total, "link": links}
	if check != nil || !totalExact || page.Total < 0 {
		// The store's count may include versions the caller may not see
		// (on this page or another): no total rather than an oracle. A
		// store that cannot count (an upstream without a total) says -1.
		delete(bundle, "total")
	}
	if len(entries) > 0 {
		bundle["entry"] = entries
	}
	s.writeJSON(w, http.StatusOK, bundle)
	return nil
}

// lastContent returns the content of the resource's last non-deleted
// version (the current one unless it was deleted).
func (s *Server) lastContent(r *http.Request, cur *Resource) []byte {
	if !cur.Deleted {
		return cur.JSON
	}
	return s.contentBefore(r.Context(), cur.Type, cur.ID, cur.Version)
}

// anyOf parses a restriction's AnyOf searches.
func (s *Server) anyOf(typ string, restr Restriction) ([][]search.Clause, error) {
	var out [][]search.Clause
	for _, f := range restr.AnyOf {
		fq, err := s.reg.ParseQuery(typ, f, false)
		if err != nil {
			return nil, fmt.Errorf("fhir: access filter for %s: %w", typ, err)
		}
		out = append(out, fq.Clauses)
	}
	return out, nil
}

// addSearchForm adds a POST _search's form (at most 1 MiB, and only
// application/x-www-form-urlencoded) to the query's params.
func addSearchForm(w http.ResponseWriter, r *http.Request, params url.Values) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return errorf(http.StatusUnsupportedMediaType, "not-supported", "POST _search takes application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "invalid", "search form: %v", err)
	}
	for k, v := range r.PostForm {
		params[k] = append(params[k], v...)
	}
	return nil
}
