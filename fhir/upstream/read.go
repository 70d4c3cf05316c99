package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buger/jsonparser"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
)

// checkRef refuses a type or id that could make the upstream path mean
// something else (the endpoint has checked both already; this store does
// not rely on it). "." and ".." match the FHIR id pattern but are dot
// segments of a path: Patient/.. is the base to the upstream (RFC 3986
// 5.2.4), Patient/. its Patient search.
func (s *Store) checkRef(typ, id string) error {
	if !s.reg.IsType(typ) || (id != "" && (!search.ValidID(id) || id == "." || id == "..")) {
		return fmt.Errorf("upstream: %q/%q is not a resource reference: %w", typ, id, store.ErrNotFound)
	}
	return nil
}

// parseResource reads one resource of the upstream; it must be typ/id
// (when given) and carry a numeric version (or none: version 1).
func (s *Store) parseResource(ctx context.Context, op string, raw []byte, typ, id string) (*fhir.Resource, error) {
	head, err := readHead(raw)
	if err != nil {
		return nil, s.garbage(ctx, op, "its answer is not FHIR JSON")
	}
	if !s.reg.IsType(head.ResourceType) || !search.ValidID(head.ID) {
		return nil, s.garbage(ctx, op, "its answer is not a resource with an id")
	}
	if (typ != "" && head.ResourceType != typ) || (id != "" && head.ID != id) {
		return nil, s.garbageAbout(ctx, op, "it answered another resource than the one asked for",
			"asked", typ+"/"+id, "answered", head.ResourceType+"/"+head.ID)
	}
	r := &fhir.Resource{Type: head.ResourceType, ID: head.ID, Version: 1, JSON: raw}
	if head.VersionID != "" {
		v, err := strconv.ParseInt(head.VersionID, 10, 64)
		if err != nil || v < 1 {
			return nil, s.garbageAbout(ctx, op, "a resource's version (meta.versionId) is not a positive number",
				"resource", r.Type+"/"+r.ID, "version", head.VersionID)
		}
		r.Version = v
	}
	if t, err := time.Parse(time.RFC3339Nano, head.LastUpdated); err == nil {
		r.LastUpdated = t
	}
	return r, nil
}

// garbageAbout is garbage whose details name a resource: they go to the
// log only, since the resource may be outside the caller's reach (another
// patient's id, a version string the upstream made up).
func (s *Store) garbageAbout(ctx context.Context, op, why string, details ...any) error {
	s.logger.WarnContext(ctx, "upstream: unusable answer", append([]any{"op", op, "why", why}, details...)...)
	return fmt.Errorf("%w: %s", fhir.ErrBadGateway, why)
}

// ReadResource implements fhir.ResourceReader. A deleted resource (410) is
// returned Deleted, with the version of its deletion from its history.
func (s *Store) ReadResource(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	if err := s.checkRef(typ, id); err != nil {
		return nil, err
	}
	a, err := s.do(ctx, call{op: "read", method: http.MethodGet, path: typ + "/" + id})
	if err != nil {
		return nil, err
	}
	switch a.status {
	case http.StatusOK:
		return s.parseResource(ctx, "read", a.body, typ, id)
	case http.StatusGone:
		return s.deletedResource(ctx, typ, id)
	}
	return nil, s.statusError(ctx, "read", a)
}

// deletedResource finds the version of typ/id's deletion: the newest entry
// of its history. Without one it is version 1 with no earlier content (so
// that it reads as not found to whoever cannot reach everything).
func (s *Store) deletedResource(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	page, err := s.ResourceHistory(ctx, fhir.HistoryQuery{Type: typ, ID: id, Count: 1})
	if err == nil && len(page.Entries) > 0 && page.Entries[0].Deleted {
		r := page.Entries[0].Resource
		return &r, nil
	}
	return &fhir.Resource{Type: typ, ID: id, Version: 1, Deleted: true}, nil
}

// ReadResourceVersion implements fhir.ResourceReader.
func (s *Store) ReadResourceVersion(ctx context.Context, typ, id string, version int64) (*fhir.Resource, error) {
	if err := s.checkRef(typ, id); err != nil {
		return nil, err
	}
	a, err := s.do(ctx, call{op: "vread", method: http.MethodGet, path: fmt.Sprintf("%s/%s/_history/%d", typ, id, version)})
	if err != nil {
		return nil, err
	}
	switch a.status {
	case http.StatusOK:
		r, err := s.parseResource(ctx, "vread", a.body, typ, id)
		if err == nil && r.Version != version {
			return nil, s.garbage(ctx, "vread", fmt.Sprintf("it answered version %d for %d", r.Version, version))
		}
		return r, err
	case http.StatusGone:
		return &fhir.Resource{Type: typ, ID: id, Version: version, Deleted: true}, nil
	}
	return nil, s.statusError(ctx, "vread", a)
}

// bundle is the part of a Bundle this store reads.
type bundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []bundleEntry `json:"entry"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Search   *struct {
		Mode string `json:"mode"`
	} `json:"search"`
	Request *struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"request"`
	Response *struct {
		Status       string `json:"status"`
		Etag         string `json:"etag"`
		LastModified string `json:"lastModified"`
	} `json:"response"`
}

func (s *Store) parseBundle(ctx context.Context, op, want string, a *answer) (*bundle, error) {
	if a.status != http.StatusOK {
		return nil, s.statusError(ctx, op, a)
	}
	var b bundle
	if err := json.Unmarshal(a.body, &b); err != nil || b.ResourceType != "Bundle" {
		return nil, s.garbage(ctx, op, "its answer is not a Bundle")
	}
	if b.Type != want {
		return nil, s.garbage(ctx, op, fmt.Sprintf("it answered a %q Bundle for a %s", b.Type, want))
	}
	return &b, nil
}

// next returns the Bundle's next link.
func (b *bundle) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// ResourceHistory implements fhir.ResourceReader. The upstream cannot
// confine a history listing to compartments: with q.Patients set, versions
// whose content is in none of them are left out here (the endpoint decides
// every version listed as well, deletions on the content they deleted).
// Versions of q.ExcludeTypes are left out here too; the upstream counts
// them, so a listing that can include them has no total.
func (s *Store) ResourceHistory(ctx context.Context, q fhir.HistoryQuery) (*fhir.HistoryPage, error) {
	path := "_history"
	if q.Type != "" {
		if err := s.checkRef(q.Type, q.ID); err != nil {
			return nil, err
		}
		path = q.Type + "/_history"
		if q.ID != "" {
			path = q.Type + "/" + q.ID + "/_history"
		}
	}
	c := call{op: "history", method: http.MethodGet, path: path, query: url.Values{}}
	if q.Cursor != "" {
		// A position in the upstream's history: its next link's query,
		// asked again of this listing's path with this request's _count
		// and _since. The endpoint decides every version listed, so a
		// history cursor is not bound to one listing or caller.
		_, raw, err := s.openCursor(q.Cursor, historySeal)
		if err != nil {
			return nil, err
		}
		if c.query, err = url.ParseQuery(raw); err != nil {
			return nil, fhir.ErrInvalidCursor
		}
	}
	if q.Count > 0 {
		c.query.Set("_count", strconv.Itoa(q.Count))
	}
	if !q.Since.IsZero() {
		c.query.Set("_since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	a, err := s.do(ctx, c)
	if err != nil {
		return nil, err
	}
	b, err := s.parseBundle(ctx, "history", "history", a)
	if err != nil {
		return nil, err
	}
	page := &fhir.HistoryPage{Total: -1}
	excludes := (q.Type == "" && len(q.ExcludeTypes) > 0) || slices.Contains(q.ExcludeTypes, q.Type)
	if b.Total != nil && !excludes {
		page.Total = *b.Total
	}
	for _, e := range b.Entry {
		he, err := s.historyEntry(ctx, e)
		if err != nil {
			return nil, err
		}
		if (q.Type != "" && he.Type != q.Type) || (q.ID != "" && he.ID != q.ID) {
			return nil, s.garbageAbout(ctx, "history", "its history lists another resource than the one asked for",
				"asked", q.Type+"/"+q.ID, "listed", he.Type+"/"+he.ID)
		}
		if slices.Contains(q.ExcludeTypes, he.Type) {
			continue
		}
		if q.Patients != nil && !he.Deleted && !s.inCompartments(he.Type, he.JSON, q.Patients) {
			page.Total = -1
			continue
		}
		page.Entries = append(page.Entries, he)
	}
	if page.Next, err = s.sealNext(b.next(), historySeal); err != nil {
		return nil, s.garbage(ctx, "history", err.Error())
	}
	return page, nil
}

// historyEntry reads one entry of a history Bundle.
func (s *Store) historyEntry(ctx context.Context, e bundleEntry) (fhir.HistoryEntry, error) {
	var he fhir.HistoryEntry
	he.Method = http.MethodPut
	if e.Request != nil && e.Request.Method != "" {
		he.Method = strings.ToUpper(e.Request.Method)
	}
	if len(e.Resource) > 0 && string(e.Resource) != "null" {
		r, err := s.parseResource(ctx, "history", e.Resource, "", "")
		if err != nil {
			return he, err
		}
		he.Resource = *r
		return he, nil
	}
	// A deletion: no resource; who and which version from the request
	// URL (or fullUrl) and the response's ETag.
	he.Deleted = true
	ref := e.FullURL
	if e.Request != nil && e.Request.URL != "" {
		ref = e.Request.URL
	}
	ref, _, _ = strings.Cut(ref, "?")
	ref = strings.TrimSuffix(ref, "/")
	if i := strings.Index(ref, "/_history"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 || s.checkRef(parts[len(parts)-2], parts[len(parts)-1]) != nil {
		return he, s.garbage(ctx, "history", "a deletion in its history names no resource")
	}
	he.Type, he.ID = parts[len(parts)-2], parts[len(parts)-1]
	he.Version = 1
	if e.Response != nil {
		if v, ok := etagVersion(e.Response.Etag); ok {
			he.Version = v
		}
		if t, err := time.Parse(time.RFC3339Nano, e.Response.LastModified); err == nil {
			he.LastUpdated = t
		}
	}
	return he, nil
}

// etagVersion reads W/"3" or "3".
func etagVersion(etag string) (int64, bool) {
	etag = strings.TrimPrefix(strings.TrimSpace(etag), "W/")
	v, err := strconv.ParseInt(strings.Trim(etag, `"`), 10, 64)
	return v, err == nil && v > 0
}

// inCompartments reports whether the resource is in the compartment of one
// of patients (by the R4 Patient CompartmentDefinition).
func (s *Store) inCompartments(typ string, raw []byte, patients []string) bool {
	res, err := search.Decode(raw)
	if err != nil {
		return false
	}
	comps, err := s.reg.PatientCompartments(typ, res, raw)
	if err != nil {
		return false
	}
	for _, c := range comps {
		for _, p := range patients {
			if c == p {
				return true
			}
		}
	}
	return false
}

// resourceHead is what this store reads of a resource.
type resourceHead struct{ ResourceType, ID, VersionID, LastUpdated string }

// readHead reads a resource's type, id and meta in one pass that does not
// decode the rest (jsonparser), after checking that raw is one well-formed
// JSON value (it is served as it is): json.Valid is most of its cost,
// where decoding the head with encoding/json cost about twice as much
// (measured on a Synthea Patient read through the proxy).
//
// A property of the head that appears twice (keys compared unescaped, as
// encoding/json does) is not FHIR JSON: jsonparser would read the first,
// the access decision (search.Decode, encoding/json) the last, so that
// {"id":"p2",…,"id":"p1"} read as Patient/p2 would be decided as p1's.
func readHead(raw []byte) (resourceHead, error) {
	var h resourceHead
	if !json.Valid(raw) {
		return h, errNotJSON
	}
	var seen [5]bool // resourceType, id, versionId, lastUpdated, meta
	once := func(i int) error {
		if seen[i] {
			return errNotJSON
		}
		seen[i] = true
		return nil
	}
	str := func(i int, v []byte, t jsonparser.ValueType, dst *string) error {
		if err := once(i); err != nil {
			return err
		}
		if t != jsonparser.String {
			return errNotJSON
		}
		s, err := jsonparser.ParseString(v)
		if err != nil {
			return errNotJSON
		}
		*dst = s
		return nil
	}
	err := jsonparser.ObjectEach(raw, func(k, v []byte, t jsonparser.ValueType, _ int) error {
		switch string(k) {
		case "resourceType":
			return str(0, v, t, &h.ResourceType)
		case "id":
			return str(1, v, t, &h.ID)
		case "meta":
			if err := once(4); err != nil {
				return err
			}
			if t != jsonparser.Object {
				return errNotJSON
			}
			return jsonparser.ObjectEach(v, func(k, v []byte, t jsonparser.ValueType, _ int) error {
				switch string(k) {
				case "versionId":
					return str(2, v, t, &h.VersionID)
				case "lastUpdated":
					return str(3, v, t, &h.LastUpdated)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return resourceHead{}, errNotJSON
	}
	return h, nil
}

var errNotJSON = errors.New("not a JSON resource")
