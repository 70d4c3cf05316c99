package fhir

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// LocalType is a resource type the endpoint answers itself from something
// other than its Store: AuditEvent, the read-only view of the audit trail
// (package audit/fhirview). Only read and search-type (GET, and POST
// _search) reach it; every other interaction on the type is answered 405,
// and the Store (embedded or upstream) is never asked for the type: not by
// the REST routes, batch or transaction entries, _include, _revinclude,
// chained parameters or history (whose queries leave it out:
// HistoryQuery.ExcludeTypes, so that not even the total counts the
// type's stored versions). Who may read the type is the
// LocalType's own decision (Admit), taken before the request is read.
type LocalType interface {
	// Admit decides whether p may use interaction in (InteractionRead or
	// InteractionSearchType) on the type at all: request-level admission
	// (admission.go). The endpoint asks it as soon as it knows the
	// Principal, before it parses the query or reads a POST _search form,
	// and answers its error (an Error, or ErrInsufficientScope) without
	// doing either. Read and Search may refine the decision; they must not
	// allow what Admit refuses.
	Admit(ctx context.Context, p Principal, in Interaction) error
	// Read answers GET [base]/{type}/{id} with the resource's JSON; base
	// is the endpoint's base URL.
	Read(ctx context.Context, p Principal, id, base string) ([]byte, error)
	// Search answers a search with a searchset Bundle's JSON; base is the
	// endpoint's base URL (for fullUrl and the links).
	Search(ctx context.Context, p Principal, params url.Values, base string) ([]byte, error)
	// SearchParams lists the search parameters for the CapabilityStatement
	// as name and FHIR search type.
	SearchParams() map[string]string
}

// Administrator is implemented by Principals that can tell whether they
// speak for an administrator: an account with the admin role, or an
// administrator's OWin token.
type Administrator interface {
	Administrator() bool
}

// Error is an error that the endpoint answers with status and an
// OperationOutcome whose issue has code and the diagnostics msg; for
// LocalType implementations, whose other errors are answered as the
// store's are (store.ErrNotFound 404, ErrInsufficientScope 403, …).
func Error(status int, code, msg string) error {
	return &httpError{status: status, code: code, msg: msg}
}

// localType returns the local type that r names, if any: the {type} path
// value, or the first segment after /fhir/ on the routes without one.
func (s *Server) localType(r *http.Request) (string, LocalType) {
	typ := r.PathValue("type")
	if typ == "" {
		typ, _, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/fhir/"), "/")
	}
	lt, ok := s.cfg.LocalTypes[typ]
	if !ok {
		return "", nil
	}
	return typ, lt
}

// localTypeNames lists the local types, sorted: what a history query
// asks the Store to leave out (HistoryQuery.ExcludeTypes).
func (s *Server) localTypeNames() []string {
	names := make([]string, 0, len(s.cfg.LocalTypes))
	for t := range s.cfg.LocalTypes {
		names = append(names, t)
	}
	sort.Strings(names)
	return names
}

// isLocal reports whether typ is answered by a LocalType.
func (s *Server) isLocal(typ string) bool {
	_, ok := s.cfg.LocalTypes[typ]
	return ok
}

// localHandler answers an interaction (action) on a local type.
func (s *Server) localHandler(typ string, lt LocalType, action string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		switch {
		case action == string(InteractionRead) && r.Method == http.MethodGet:
			return s.localRead(w, r, lt)
		case action == string(InteractionSearchType):
			return s.localSearch(w, r, lt)
		}
		e := errorf(http.StatusMethodNotAllowed, "not-supported", "%s is a read-only view: only read and search are allowed", typ)
		e.header = http.Header{"Allow": {"GET"}}
		return e
	}
}

func (s *Server) localRead(w http.ResponseWriter, r *http.Request, lt LocalType) error {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	if err := lt.Admit(r.Context(), p, InteractionRead); err != nil {
		return err
	}
	b, err := lt.Read(r.Context(), p, id, s.baseURL(r))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) localSearch(w http.ResponseWriter, r *http.Request, lt LocalType) error {
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	// Refused callers are answered before the query or the form is read.
	if err := lt.Admit(r.Context(), p, InteractionSearchType); err != nil {
		return err
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid", "malformed query string: %v", err)
	}
	if r.Method == http.MethodPost {
		if err := addSearchForm(w, r, params); err != nil {
			return err
		}
	}
	b, err := lt.Search(r.Context(), p, params, s.baseURL(r))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, b)
	return nil
}

// localCapabilities puts the local types into a CapabilityStatement's
// resource list (replacing any entry of the same type): read and
// search-type only.
func (s *Server) localCapabilities(cs map[string]any) {
	rest, _ := cs["rest"].([]any)
	if len(rest) == 0 || len(s.cfg.LocalTypes) == 0 {
		return
	}
	ours := rest[0].(map[string]any)
	var kept []any
	for _, r := range asList(ours["resource"]) {
		if m, ok := r.(map[string]any); ok && !s.isLocal(m["type"].(string)) {
			kept = append(kept, r)
		}
	}
	for _, t := range s.localTypeNames() {
		sp := s.cfg.LocalTypes[t].SearchParams()
		pnames := make([]string, 0, len(sp))
		for n := range sp {
			pnames = append(pnames, n)
		}
		sort.Strings(pnames)
		var params []any
		for _, n := range pnames {
			params = append(params, map[string]any{"name": n, "type": sp[n]})
		}
		kept = append(kept, map[string]any{
			"type":          t,
			"profile":       "http://hl7.org/fhir/StructureDefinition/" + t,
			"interaction":   []any{map[string]any{"code": string(InteractionRead)}, map[string]any{"code": string(InteractionSearchType)}},
			"documentation": t + " is a read-only view, answered by this server itself (never forwarded or stored)",
			"searchParam":   params,
		})
	}
	sort.SliceStable(kept, func(i, j int) bool {
		return kept[i].(map[string]any)["type"].(string) < kept[j].(map[string]any)["type"].(string)
	})
	ours["resource"] = kept
}
