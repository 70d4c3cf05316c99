package fhir

import (
	"context"
	"net/url"

	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// entry is one parsed Bundle entry.
type entry struct {
	index   int
	fullURL string
	// givenID is the id a POSTed resource carried (ignored by the REST
	// transaction, kept by Import).
	givenID string
	op      writeOp // method GET: read of typ/id
	// search is the query of a GET search entry; base the server's base URL.
	search, base string
	// response
	result *writeResult
	// searchset is the result Bundle of a search entry.
	searchset map[string]any
	err       error
	// refsDone: prepareEntries rewrote the references already.
	refsDone bool
}

// parseEntries checks a transaction, batch or collection Bundle and parses
// its entries. base is this server's base URL (entries may use absolute
// URLs on it). In a collection every entry is stored as an update when the
// resource has an id, else as a create.
func (s *Server) parseEntries(bundle map[string]any, base string) (kind string, entries []*entry, err error) {
	if rt, _ := bundle["resourceType"].(string); rt != "Bundle" {
		return "", nil, errorf(http.StatusBadRequest, "invalid", "expected a Bundle, got %q", rt)
	}
	kind, _ = bundle["type"].(string)
	switch kind {
	case "transaction", "batch", "collection":
	default:
		return "", nil, errorf(http.StatusBadRequest, "invalid", "Bundle.type must be transaction, batch or collection, not %q", kind)
	}
	raw, ok := bundle["entry"]
	list, isList := raw.([]any)
	if ok && !isList {
		return "", nil, errorf(http.StatusBadRequest, "structure", "Bundle.entry must be an array")
	}
	for i, re := range list {
		m, ok := re.(map[string]any)
		if !ok {
			return "", nil, errorf(http.StatusBadRequest, "structure", "entry %d is not an object", i)
		}
		e, err := s.parseEntry(kind, i, m, base)
		if err != nil {
			return "", nil, err
		}
		entries = append(entries, e)
	}
	return kind, entries, nil
}

// parseEntry parses entry i of a Bundle of kind (see parseEntries).
func (s *Server) parseEntry(kind string, i int, m map[string]any, base string) (*entry, error) {
	e := &entry{index: i}
	e.fullURL, _ = m["fullUrl"].(string)
	res, hasRes := m["resource"].(map[string]any)
	if hasRes {
		e.op.res = res
	}
	if kind == "collection" {
		if !hasRes {
			return nil, errorf(http.StatusBadRequest, "invalid", "entry %d has no resource", i)
		}
		if err := s.checkResource(res, ""); err != nil {
			return nil, entryErr(i, err)
		}
		e.op.typ, _ = res["resourceType"].(string)
		e.op.method = http.MethodPost
		if id, _ := res["id"].(string); id != "" {
			e.op.method, e.op.id = http.MethodPut, id
		}
		return e, nil
	}
	req, _ := m["request"].(map[string]any)
	if req == nil {
		return nil, errorf(http.StatusBadRequest, "invalid", "entry %d has no request", i)
	}
	method, _ := req["method"].(string)
	rawURL, _ := req["url"].(string)
	if err := s.parseEntryRequest(e, method, rawURL, base, req); err != nil {
		return nil, entryErr(i, err)
	}
	switch e.op.method {
	case http.MethodPost, http.MethodPut:
		if !hasRes {
			return nil, errorf(http.StatusBadRequest, "invalid", "entry %d (%s) has no resource", i, method)
		}
		if err := s.checkResource(res, e.op.typ); err != nil {
			return nil, entryErr(i, err)
		}
		if e.op.method == http.MethodPut && e.op.cond != "" {
			e.op.id, _ = res["id"].(string)
		} else if e.op.method == http.MethodPut {
			if id, _ := res["id"].(string); id != e.op.id {
				return nil, errorf(http.StatusBadRequest, "invalid", "entry %d: resource id %q does not match the URL id %q", i, id, e.op.id)
			}
		} else {
			e.givenID, _ = res["id"].(string) // import keeps it (keepIDs)
			delete(res, "id")
		}
	}
	return e, nil
}

func entryErr(i int, err error) error {
	he := toHTTPError(err)
	return &httpError{status: he.status, code: he.code, msg: fmt.Sprintf("entry %d: %s", i, he.msg), header: he.header}
}

func (s *Server) parseEntryRequest(e *entry, method, rawURL, base string, req map[string]any) error {
	u := strings.TrimPrefix(rawURL, base+"/")
	path, query, hasQuery := strings.Cut(u, "?")
	parts := strings.Split(path, "/")
	if len(parts) == 0 || parts[0] == "" {
		return errorf(http.StatusBadRequest, "invalid", "request.url %q has no resource type", rawURL)
	}
	e.op.typ = parts[0]
	if err := s.checkType(e.op.typ); err != nil {
		return errorf(http.StatusBadRequest, "not-supported", "unknown resource type %q", e.op.typ)
	}
	if s.isLocal(e.op.typ) {
		return errorf(http.StatusMethodNotAllowed, "not-supported", "%s is a read-only view, not available in batch or transaction entries", e.op.typ)
	}
	e.op.method = method
	switch method {
	case http.MethodPost:
		if len(parts) != 1 || hasQuery {
			return errorf(http.StatusBadRequest, "invalid", "POST request.url must be a resource type, not %q", rawURL)
		}
		e.op.ifNoneExist, _ = req["ifNoneExist"].(string)
	case http.MethodPut, http.MethodDelete, http.MethodGet:
		if len(parts) == 1 && method == http.MethodGet {
			e.search, e.base = query, base
			return nil
		}
		if hasQuery && len(parts) == 1 {
			e.op.cond = query // conditional update or delete
			if im, _ := req["ifMatch"].(string); im != "" && method == http.MethodPut {
				v, err := parseETag(im)
				if err != nil {
					return err
				}
				e.op.ifMatch = v
			}
			return nil
		}
		if hasQuery || len(parts) != 2 {
			return errorf(http.StatusBadRequest, "not-supported", "%s request.url must be Type/id or Type?search: %q", method, rawURL)
		}
		if err := checkID(parts[1]); err != nil {
			return err
		}
		e.op.id = parts[1]
		if im, _ := req["ifMatch"].(string); im != "" && method == http.MethodPut {
			v, err := parseETag(im)
			if err != nil {
				return err
			}
			e.op.ifMatch = v
		}
	default:
		return errorf(http.StatusBadRequest, "not-supported", "request.method %q is not supported", method)
	}
	return nil
}

// rewriteRefs replaces every string equal to a key of refs (an entry's
// fullUrl) with its value (the stored Type/id).
func rewriteRefs(v any, refs map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = rewriteRefs(e, refs)
		}
	case []any:
		for i, e := range x {
			x[i] = rewriteRefs(e, refs)
		}
	case string:
		if r, ok := refs[x]; ok {
			return r
		}
	}
	return v
}

var processOrder = []string{http.MethodDelete, http.MethodPost, http.MethodPut, http.MethodGet}

// transaction applies entries all-or-nothing (FHIR R4 3.1.0.11.2): ids are
// assigned to created entries, references to their fullUrls rewritten, and
// the entries processed in the order DELETE, POST, PUT, GET.
func (s *Server) transaction(ctx context.Context, p Principal, entries []*entry) error {
	return s.transactionAt(ctx, p, entries, s.writeTime())
}

// transactionAt is transaction with the write time given (that of entries
// made ready by prepareEntries).
func (s *Server) transactionAt(ctx context.Context, p Principal, entries []*entry, now time.Time) error {
	return s.st.TransactResources(ctx, func(tx Tx) error {
		refs := map[string]string{}
		for _, e := range entries {
			switch e.op.method {
			case http.MethodPost:
				if e.op.ifNoneExist != "" {
					ids, err := s.matchCond(ctx, tx, p, e.op.typ, e.op.ifNoneExist)
					if err != nil {
						return entryErr(e.index, err)
					}
					if len(ids) == 1 {
						e.op.id = ids[0]
					}
				}
				if e.op.id == "" {
					e.op.id = newID()
				}
			case http.MethodPut:
				if _, err := s.resolveCond(ctx, tx, p, &e.op); err != nil {
					return entryErr(e.index, err)
				}
			}
			if e.fullURL != "" && e.op.id != "" && e.op.method != http.MethodGet && e.op.method != http.MethodDelete {
				refs[e.fullURL] = e.op.typ + "/" + e.op.id
			}
		}
		for _, e := range entries {
			if e.op.res != nil && !e.refsDone {
				rewriteRefs(e.op.res, refs)
			}
		}
		for _, m := range processOrder {
			for _, e := range entries {
				if e.op.method != m {
					continue
				}
				r, err := s.applyEntry(ctx, tx, p, e, now)
				if err != nil {
					return entryErr(e.index, err)
				}
				e.result = r
			}
		}
		return nil
	})
}

func (s *Server) applyEntry(ctx context.Context, tx Tx, p Principal, e *entry, now time.Time) (*writeResult, error) {
	if e.op.method == http.MethodGet && e.search != "" {
		return s.searchEntryInTx(ctx, tx, p, e)
	}
	if e.op.method == http.MethodGet {
		cur, err := tx.Current(ctx, e.op.typ, e.op.id)
		if err != nil {
			return nil, err
		}
		if err := s.authorizeCurrent(ctx, tx, p, InteractionRead, cur); err != nil {
			return nil, err
		}
		if cur.Deleted {
			return nil, errorf(http.StatusGone, "deleted", "%s/%s was deleted", e.op.typ, e.op.id)
		}
		return &writeResult{status: http.StatusOK, res: cur}, nil
	}
	return s.apply(ctx, tx, p, &e.op, now)
}

// batch applies each entry on its own.
func (s *Server) batch(ctx context.Context, p Principal, entries []*entry) {
	now := s.writeTime()
	for _, m := range processOrder {
		for _, e := range entries {
			if e.op.method != m || e.err != nil {
				continue
			}
			if e.op.method == http.MethodPost && e.op.id == "" && e.op.ifNoneExist == "" {
				e.op.id = newID()
			}
			err := s.st.TransactResources(ctx, func(tx Tx) error {
				var err error
				e.result, err = s.applyEntry(ctx, tx, p, e, now)
				return err
			})
			if err != nil {
				e.result, e.err = nil, err
			}
		}
	}
}

func statusText(code int) string { return strconv.Itoa(code) + " " + http.StatusText(code) }

func (s *Server) handleBundle(w http.ResponseWriter, r *http.Request) error {
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	if err := s.admitBundle(r.Context(), p); err != nil {
		return err
	}
	base := s.baseURL(r)
	kind, entries, err := s.readBundle(w, r, p, base)
	if err != nil {
		return err
	}
	switch kind {
	case "transaction":
		for _, e := range entries {
			if e.err != nil {
				return entryErr(e.index, e.err)
			}
		}
		if err := s.transaction(r.Context(), p, entries); err != nil {
			return err
		}
	case "batch":
		s.batch(r.Context(), p, entries)
	}
	ret := preferReturn(r, "minimal")
	out := make([]any, len(entries))
	for i, e := range entries {
		resp := map[string]any{}
		entryOut := map[string]any{"response": resp}
		if e.err != nil {
			he := toHTTPError(e.err)
			resp["status"] = statusText(he.status)
			resp["outcome"] = operationOutcome("error", he.code, he.msg)
		} else if e.searchset != nil {
			resp["status"] = statusText(http.StatusOK)
			entryOut["resource"] = e.searchset
		} else if e.result != nil {
			resp["status"] = statusText(e.result.status)
			if res := e.result.res; res != nil {
				resp["etag"] = etag(res.Version)
				resp["lastModified"] = res.LastUpdated.UTC().Format(instantFormat)
				if e.op.method != http.MethodGet {
					resp["location"] = fmt.Sprintf("%s/%s/_history/%d", res.Type, res.ID, res.Version)
				}
				if !res.Deleted {
					entryOut["fullUrl"] = base + "/" + res.Type + "/" + res.ID
					if ret == "representation" || e.op.method == http.MethodGet {
						entryOut["resource"] = rawJSON(res.JSON)
					}
				}
			}
		}
		out[i] = entryOut
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"resourceType": "Bundle",
		"id":           newID(),
		"type":         kind + "-response",
		"entry":        out,
	})
	return nil
}

// searchEntryInTx runs the search of a GET entry inside the transaction
// (matches only: no includes, no paging beyond _count).
func (s *Server) searchEntryInTx(ctx context.Context, tx Tx, p Principal, e *entry) (*writeResult, error) {
	vals, err := url.ParseQuery(e.search)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid", "search: %v", err)
	}
	req, err := s.authorizeSearch(ctx, p, e.op.typ, vals, false)
	if err != nil {
		return nil, err
	}
	q := req.Query
	if len(q.Includes) > 0 || len(q.RevIncludes) > 0 || len(q.Sort) > 0 {
		return nil, errorf(http.StatusBadRequest, "not-supported", "_include, _revinclude and _sort are not supported in bundle searches")
	}
	ids, err := tx.Match(ctx, req, q.Count)
	if err != nil {
		return nil, err
	}
	var list []any
	for _, id := range ids {
		cur, err := tx.Current(ctx, e.op.typ, id)
		if err != nil {
			return nil, err
		}
		list = append(list, s.searchEntry(e.base, *cur, q, "match"))
	}
	e.searchset = map[string]any{
		"resourceType": "Bundle", "type": "searchset",
		"link": []any{map[string]any{"relation": "self", "url": e.base + "/" + e.op.typ + "?" + e.search}},
	}
	if list != nil {
		e.searchset["entry"] = list
	}
	return &writeResult{status: http.StatusOK}, nil
}
