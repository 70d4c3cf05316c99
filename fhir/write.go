package fhir

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
)

// writeOp is one write: a create (POST), update (PUT) or delete (DELETE).
type writeOp struct {
	method string
	typ    string
	id     string         // PUT, DELETE; assigned for POST
	res    map[string]any // POST, PUT
	// ifMatch is the version required by If-Match (0: none).
	ifMatch int64
	// ifNoneExist is the query of a conditional create.
	ifNoneExist string
	// cond is the query of a conditional update or delete (resolved to id
	// inside the transaction).
	cond string
	// ready is the version prepared outside the transaction (see
	// prepareEntries), used when the resource turns out to be new.
	ready *Write
}

// matchCond returns up to two ids of current resources of typ matching
// the search query raw (conditional interactions). The search is the
// caller's: it needs search access to typ and sees only what that allows.
func (s *Server) matchCond(ctx context.Context, tx Tx, p Principal, typ, raw string) ([]string, error) {
	req, err := s.condSearch(ctx, p, typ, raw)
	if err != nil {
		return nil, err
	}
	return tx.Match(ctx, req, 2)
}

// condSearch is the search of a conditional interaction's query raw, as
// authorizeSearch decides it for p.
func (s *Server) condSearch(ctx context.Context, p Principal, typ, raw string) (SearchRequest, error) {
	vals, err := url.ParseQuery(strings.TrimPrefix(raw, "?"))
	if err != nil {
		return SearchRequest{}, errorf(http.StatusBadRequest, "invalid", "conditional query: %v", err)
	}
	if len(vals) == 0 {
		return SearchRequest{}, errorf(http.StatusBadRequest, "invalid", "a conditional interaction needs search parameters")
	}
	return s.authorizeSearch(ctx, p, typ, vals, false)
}

// resolveCond turns a conditional update or delete into a plain one
// (FHIR R4 3.1.0.4.3 and 3.1.0.7.1): no match creates (update) or does
// nothing (delete), one match is the target, several are 412.
func (s *Server) resolveCond(ctx context.Context, tx Tx, p Principal, op *writeOp) (noop bool, err error) {
	if op.cond == "" {
		return false, nil
	}
	ids, err := s.matchCond(ctx, tx, p, op.typ, op.cond)
	if err != nil {
		return false, err
	}
	op.cond = ""
	switch len(ids) {
	case 0:
		if op.method == http.MethodDelete {
			return true, nil
		}
		if op.id == "" {
			op.id = newID()
		}
	case 1:
		if op.id != "" && op.id != ids[0] {
			return false, errorf(http.StatusBadRequest, "invalid", "the resource id %q differs from the matched %s/%s", op.id, op.typ, ids[0])
		}
		op.id = ids[0]
	default:
		return false, errorf(http.StatusPreconditionFailed, "multiple-matches", "the conditional %s matches more than one %s", strings.ToLower(op.method), op.typ)
	}
	return false, nil
}

// writeResult is the outcome of one write.
type writeResult struct {
	status int
	res    *Resource // the version written, or the existing one (conditional create)
}

// decodeResource parses a request body as a resource of the expected type
// (typ empty: any known type).
func (s *Server) decodeResource(raw []byte, typ string) (map[string]any, error) {
	m, err := search.Decode(raw)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "structure", "the body is not a JSON resource: %v", err)
	}
	return m, s.checkResource(m, typ)
}

func (s *Server) checkResource(m map[string]any, typ string) error {
	rt, _ := m["resourceType"].(string)
	if rt == "" {
		return errorf(http.StatusBadRequest, "structure", "the resource has no resourceType")
	}
	if typ != "" && rt != typ {
		return errorf(http.StatusBadRequest, "invalid", "resourceType %q does not match the URL (%s)", rt, typ)
	}
	if !s.reg.IsType(rt) {
		return errorf(http.StatusBadRequest, "not-supported", "unknown resource type %q", rt)
	}
	if id, ok := m["id"]; ok {
		sid, isStr := id.(string)
		if !isStr || !search.ValidID(sid) {
			return errorf(http.StatusBadRequest, "invalid", "resource id %v is not a valid FHIR id", id)
		}
	}
	if meta, ok := m["meta"]; ok {
		if _, isMap := meta.(map[string]any); !isMap {
			return errorf(http.StatusBadRequest, "structure", "meta must be an object")
		}
	}
	return nil
}

// apply performs one write inside tx, deciding access with p. Its checks
// (If-None-Exist, the criteria of a conditional update or delete, If-Match)
// and the Put that follows them are one atomic step: TransactResources is
// serialisable (see Store), so what Match and Current answered still holds
// at the commit, whatever other writers do.
func (s *Server) apply(ctx context.Context, tx Tx, p Principal, op *writeOp, now time.Time) (*writeResult, error) {
	switch op.method {
	case http.MethodPost:
		if op.ifNoneExist != "" {
			ids, err := s.matchCond(ctx, tx, p, op.typ, op.ifNoneExist)
			if err != nil {
				return nil, err
			}
			switch len(ids) {
			case 0:
			case 1:
				cur, err := tx.Current(ctx, op.typ, ids[0])
				if err != nil {
					return nil, err
				}
				if err := p.Authorize(ctx, AccessRequest{Interaction: InteractionRead, Type: op.typ, ID: cur.ID,
					Patients: s.patientsOf(op.typ, cur.JSON), Resource: cur.JSON}); err != nil {
					return nil, err
				}
				op.id = cur.ID
				return &writeResult{status: http.StatusOK, res: cur}, nil
			default:
				return nil, errorf(http.StatusPreconditionFailed, "duplicate", "If-None-Exist matches more than one %s", op.typ)
			}
		}
		if op.id == "" {
			op.id = newID()
		}
		return s.put(ctx, tx, p, op, nil, now, InteractionCreate, http.StatusCreated)
	case http.MethodPut:
		if _, err := s.resolveCond(ctx, tx, p, op); err != nil {
			return nil, err
		}
		op.res["id"] = op.id
		cur, err := tx.Current(ctx, op.typ, op.id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if cur != nil {
			// Re-creating a deleted resource is decided on its last
			// content too: its history stays attached to the id.
			if err := s.authorizeCurrent(ctx, tx, p, InteractionUpdate, cur); err != nil {
				return nil, err
			}
		}
		if op.ifMatch > 0 && (cur == nil || cur.Deleted || cur.Version != op.ifMatch) {
			have := "none"
			if cur != nil && !cur.Deleted {
				have = strconv.FormatInt(cur.Version, 10)
			}
			return nil, errorf(http.StatusPreconditionFailed, "conflict", "If-Match version %d does not match the current version (%s)", op.ifMatch, have)
		}
		status, interaction := http.StatusOK, InteractionUpdate
		if cur == nil || cur.Deleted {
			status, interaction = http.StatusCreated, InteractionCreate
		}
		return s.put(ctx, tx, p, op, cur, now, interaction, status)
	case http.MethodDelete:
		// Refuse a caller without delete scope before revealing whether
		// the resource exists (204 for a missing one).
		if err := p.Authorize(ctx, AccessRequest{Interaction: InteractionDelete, Type: op.typ}); err != nil {
			return nil, err
		}
		noop, err := s.resolveCond(ctx, tx, p, op)
		if err != nil {
			return nil, err
		}
		if noop {
			return &writeResult{status: http.StatusNoContent}, nil
		}
		cur, err := tx.Current(ctx, op.typ, op.id)
		if errors.Is(err, store.ErrNotFound) {
			return &writeResult{status: http.StatusNoContent}, nil
		}
		if err != nil {
			return nil, err
		}
		if cur.Deleted {
			return s.deleteDeleted(ctx, tx, p, cur)
		}
		patients := s.patientsOf(op.typ, cur.JSON)
		err = p.Authorize(ctx, AccessRequest{Interaction: InteractionDelete, Type: op.typ, ID: op.id,
			Patients: patients, Resource: cur.JSON})
		if errors.Is(err, ErrHidden) {
			// Outside the caller's reach: answered as for an id that never
			// existed (204, no version), so a delete is no existence oracle.
			return &writeResult{status: http.StatusNoContent}, nil
		}
		if err != nil {
			return nil, err
		}
		w := &Write{Resource: Resource{Type: op.typ, ID: op.id, Version: cur.Version + 1, LastUpdated: now, Deleted: true},
			Method: http.MethodDelete, Patients: patients}
		if err := tx.Put(ctx, w); err != nil {
			return nil, err
		}
		return &writeResult{status: http.StatusNoContent, res: &w.Resource}, nil
	}
	return nil, errorf(http.StatusMethodNotAllowed, "not-supported", "method %s is not supported here", op.method)
}

// put stores a new version of op.res (create or update).
func (s *Server) put(ctx context.Context, tx Tx, p Principal, op *writeOp, cur *Resource, now time.Time, interaction Interaction, status int) (*writeResult, error) {
	version := int64(1)
	if cur != nil {
		version = cur.Version + 1
	}
	if w := op.ready; w != nil && version == 1 && w.ID == op.id && w.LastUpdated.Equal(now) {
		op.ready = nil
		if err := p.Authorize(ctx, AccessRequest{Interaction: interaction, Type: op.typ, ID: op.id,
			Patients: w.Patients, Resource: w.JSON, Incoming: true}); err != nil {
			return nil, err
		}
		w.Method = op.method
		if err := tx.Put(ctx, w); err != nil {
			return nil, err
		}
		return &writeResult{status: status, res: &w.Resource}, nil
	}
	op.ready = nil
	m := op.res
	m["id"] = op.id
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["versionId"] = strconv.FormatInt(version, 10)
	meta["lastUpdated"] = now.UTC().Format(instantFormat)
	m["meta"] = meta
	raw := encodeResource(m)
	index, err := s.reg.Extract(op.typ, m, raw)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "processing", "indexing the resource: %v", err)
	}
	patients, err := s.reg.PatientCompartments(op.typ, m, raw)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "processing", "compartments of the resource: %v", err)
	}
	if err := p.Authorize(ctx, AccessRequest{Interaction: interaction, Type: op.typ, ID: op.id,
		Patients: patients, Resource: raw, Incoming: true}); err != nil {
		return nil, err
	}
	w := &Write{Resource: Resource{Type: op.typ, ID: op.id, Version: version, LastUpdated: now, JSON: raw},
		Method: op.method, Index: index, Patients: patients}
	if err := tx.Put(ctx, w); err != nil {
		return nil, err
	}
	return &writeResult{status: status, res: &w.Resource}, nil
}

// prepareEntries does, outside the transaction, the CPU work of storing
// entries that create resources: ids are assigned to POSTs, references to
// the entries' fullUrls rewritten, and each resource encoded, indexed and
// its compartments found as version 1 written at now. It does it only when
// nothing depends on what is stored (no conditional interaction, no
// If-Match, no read or delete); put uses the prepared version only when the
// resource turns out to be new, and does the work again otherwise, so the
// rows stored are those of the plain path.
func (s *Server) prepareEntries(entries []*entry, now time.Time) {
	for _, e := range entries {
		switch {
		case e.op.res == nil, e.op.cond != "", e.op.ifMatch != 0, e.op.ifNoneExist != "":
			return
		case e.op.method == http.MethodPost:
		case e.op.method == http.MethodPut && e.op.id != "":
		default:
			return
		}
	}
	refs := map[string]string{}
	for _, e := range entries {
		if e.op.method == http.MethodPost && e.op.id == "" {
			e.op.id = newID()
		}
		if e.fullURL != "" {
			refs[e.fullURL] = e.op.typ + "/" + e.op.id
		}
	}
	for _, e := range entries {
		rewriteRefs(e.op.res, refs)
		e.refsDone = true
	}
	for _, e := range entries {
		m := e.op.res
		m["id"] = e.op.id
		meta, _ := m["meta"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
		}
		meta["versionId"] = "1"
		meta["lastUpdated"] = now.UTC().Format(instantFormat)
		m["meta"] = meta
		raw := encodeResource(m)
		index, err := s.reg.Extract(e.op.typ, m, raw)
		if err != nil {
			continue // put does it again and reports the error
		}
		patients, err := s.reg.PatientCompartments(e.op.typ, m, raw)
		if err != nil {
			continue
		}
		e.op.ready = &Write{Resource: Resource{Type: e.op.typ, ID: e.op.id, Version: 1, LastUpdated: now, JSON: raw},
			Index: index, Patients: patients}
	}
}

// now returns the write timestamp (millisecond precision, UTC).
func (s *Server) writeTime() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// preferReturn reads Prefer: return=… (default representation).
func preferReturn(r *http.Request, def string) string {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ";") {
			part = strings.TrimSpace(part)
			if k, val, ok := strings.Cut(part, "="); ok && strings.TrimSpace(k) == "return" {
				switch val = strings.Trim(strings.TrimSpace(val), `"`); val {
				case "minimal", "representation", "OperationOutcome":
					return val
				}
			}
		}
	}
	return def
}

func preferLenient(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ";") {
			if k, val, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.TrimSpace(k) == "handling" {
				return strings.Trim(strings.TrimSpace(val), `"`) == "lenient"
			}
		}
	}
	return false
}

// parseETag reads an If-Match value (W/"3", "3" or 3).
func parseETag(v string) (int64, error) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, errorf(http.StatusBadRequest, "invalid", "If-Match %q is not a version ETag", v)
	}
	return n, nil
}

func (s *Server) writeResponse(w http.ResponseWriter, r *http.Request, wr *writeResult, loc bool) {
	res := wr.res
	s.setResourceHeaders(w, r, res, loc)
	switch preferReturn(r, "representation") {
	case "minimal":
		w.WriteHeader(wr.status)
	case "OperationOutcome":
		s.writeJSON(w, wr.status, operationOutcome("information", "informational",
			fmt.Sprintf("%s/%s version %d stored", res.Type, res.ID, res.Version)))
	default:
		s.writeJSON(w, wr.status, res.JSON)
	}
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) error {
	typ := r.PathValue("type")
	if err := s.checkType(typ); err != nil {
		return err
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	if err := s.admitWrite(r.Context(), p, typ, r.Header.Get("If-None-Exist"), InteractionCreate); err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	m, err := s.decodeResource(body, typ)
	if err != nil {
		return err
	}
	op := &writeOp{method: http.MethodPost, typ: typ, res: m, ifNoneExist: r.Header.Get("If-None-Exist")}
	delete(m, "id") // the server assigns ids on create
	return s.applyOne(w, r, p, op, true)
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) error {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if err := s.checkType(typ); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	if err := s.admitWrite(r.Context(), p, typ, "", InteractionUpdate, InteractionCreate); err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	m, err := s.decodeResource(body, typ)
	if err != nil {
		return err
	}
	if bid, _ := m["id"].(string); bid != id {
		return errorf(http.StatusBadRequest, "invalid", "the resource id (%q) must equal the id in the URL (%q)", bid, id)
	}
	op := &writeOp{method: http.MethodPut, typ: typ, id: id, res: m}
	if im := r.Header.Get("If-Match"); im != "" {
		if op.ifMatch, err = parseETag(im); err != nil {
			return err
		}
	}
	wr, err := s.transactOne(r, p, op)
	if err != nil {
		return err
	}
	s.writeResponse(w, r, wr, wr.status == http.StatusCreated)
	return nil
}

// handleConditionalUpdate serves PUT [type]?[search].
func (s *Server) handleConditionalUpdate(w http.ResponseWriter, r *http.Request) error {
	typ := r.PathValue("type")
	if err := s.checkType(typ); err != nil {
		return err
	}
	if r.URL.RawQuery == "" {
		return errorf(http.StatusMethodNotAllowed, "not-supported", "PUT needs a resource id or search parameters")
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	if err := s.admitWrite(r.Context(), p, typ, r.URL.RawQuery, InteractionUpdate, InteractionCreate); err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	m, err := s.decodeResource(body, typ)
	if err != nil {
		return err
	}
	bid, _ := m["id"].(string)
	op := &writeOp{method: http.MethodPut, typ: typ, id: bid, res: m, cond: r.URL.RawQuery}
	if im := r.Header.Get("If-Match"); im != "" {
		if op.ifMatch, err = parseETag(im); err != nil {
			return err
		}
	}
	return s.applyOne(w, r, p, op, true)
}

// handleConditionalDelete serves DELETE [type]?[search] (one match at most).
func (s *Server) handleConditionalDelete(w http.ResponseWriter, r *http.Request) error {
	typ := r.PathValue("type")
	if err := s.checkType(typ); err != nil {
		return err
	}
	if r.URL.RawQuery == "" {
		return errorf(http.StatusMethodNotAllowed, "not-supported", "DELETE needs a resource id or search parameters")
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	op := &writeOp{method: http.MethodDelete, typ: typ, cond: r.URL.RawQuery}
	now := s.writeTime()
	err = s.st.TransactResources(r.Context(), func(tx Tx) error {
		_, err := s.apply(r.Context(), tx, p, op, now)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if err := s.checkType(typ); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	op := &writeOp{method: http.MethodDelete, typ: typ, id: id}
	wr, err := s.transactOne(r, p, op)
	if err != nil {
		return err
	}
	if wr.res != nil {
		w.Header().Set("ETag", etag(wr.res.Version))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// transactOne runs one write in its own transaction.
func (s *Server) transactOne(r *http.Request, p Principal, op *writeOp) (*writeResult, error) {
	var wr *writeResult
	now := s.writeTime()
	err := s.st.TransactResources(r.Context(), func(tx Tx) error {
		var err error
		wr, err = s.apply(r.Context(), tx, p, op, now)
		return err
	})
	return wr, err
}

// applyOne runs one write in its own transaction and writes the answer.
func (s *Server) applyOne(w http.ResponseWriter, r *http.Request, p Principal, op *writeOp, body bool) error {
	wr, err := s.transactOne(r, p, op)
	if err != nil {
		return err
	}
	s.writeResponse(w, r, wr, body)
	return nil
}
