package fhirview

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store"
)

// Store is what the view reads: the audit records, newest first.
type Store interface {
	AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error)
}

// Scan bounds: a search whose type, subtype or action codes are computed
// reads the store in batches of batchSize and stops after maxScan records
// (its next link goes on from there).
const (
	batchSize = 500
	maxScan   = 20000
)

// View is /fhir/AuditEvent: read and search over the audit trail, for
// administrators only. An administrator is a Principal that is a
// fhir.Administrator (an account with the admin role, or an
// administrator's OWin token) and whose token reaches every AuditEvent
// (fhir.WholeTypeReacher: user/AuditEvent.rs, user/*.rs, or the OWin
// token). Everyone else, patients, practitioners and backend services
// included, is refused 403: the trail names every user and patient.
type View struct {
	Store Store
}

var _ fhir.LocalType = (*View)(nil)

// SearchParams implements fhir.LocalType.
func (v *View) SearchParams() map[string]string { return SearchParams() }

// Admit implements fhir.LocalType: the one rule of who may read the view
// (see View). Read and Search apply it too, for callers other than the
// endpoint.
func (v *View) Admit(ctx context.Context, p fhir.Principal, in fhir.Interaction) error {
	if a, ok := p.(fhir.Administrator); !ok || !a.Administrator() {
		return fhir.Error(http.StatusForbidden, "forbidden", "AuditEvent is the audit trail, for administrators only")
	}
	if w, ok := p.(fhir.WholeTypeReacher); !ok || !w.ReachesAll(ctx, in, "AuditEvent") {
		return fhir.Error(http.StatusForbidden, "forbidden", "AuditEvent needs an administrator's token with user/AuditEvent.rs or user/*.rs")
	}
	return nil
}

// Read implements fhir.LocalType.
func (v *View) Read(ctx context.Context, p fhir.Principal, id, base string) ([]byte, error) {
	if err := v.Admit(ctx, p, fhir.InteractionRead); err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("fhirview: id %q: %w", id, store.ErrNotFound)
	}
	e, err := One(ctx, v.Store, n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(AuditEvent(e, Options{Base: base}))
}

// One reads the record with id n, or store.ErrNotFound.
func One(ctx context.Context, st Store, n int64) (audit.Event, error) {
	evs, err := st.AuditEvents(ctx, audit.Filter{Before: n + 1, Limit: 1})
	if err != nil {
		return audit.Event{}, fmt.Errorf("fhirview: read %d: %w", n, err)
	}
	if len(evs) == 0 || evs[0].ID != n {
		return audit.Event{}, fmt.Errorf("fhirview: read %d: %w", n, store.ErrNotFound)
	}
	return evs[0], nil
}

// Search implements fhir.LocalType.
func (v *View) Search(ctx context.Context, p fhir.Principal, params url.Values, base string) ([]byte, error) {
	if err := v.Admit(ctx, p, fhir.InteractionSearchType); err != nil {
		return nil, err
	}
	q, err := ParseQuery(params)
	if err != nil {
		return nil, fhir.Error(http.StatusBadRequest, "invalid", err.Error())
	}
	evs, next, err := Page(ctx, v.Store, q)
	if err != nil {
		return nil, err
	}
	return json.Marshal(bundle(evs, next, params, base))
}

// Page reads one page of q: at most q.Count records, newest first, and the
// cursor of the next page (0 when there is none).
func Page(ctx context.Context, st Store, q Query) ([]audit.Event, int64, error) {
	f := q.Filter
	f.Before = q.Cursor
	batch := min(q.Count+1, batchSize)
	if q.computed() {
		batch = batchSize
	}
	var out []audit.Event
	for scanned := 0; ; {
		f.Limit = batch
		evs, err := st.AuditEvents(ctx, f)
		if err != nil {
			return nil, 0, fmt.Errorf("fhirview: search: %w", err)
		}
		for _, e := range evs {
			if !q.Match(e) {
				continue
			}
			if len(out) == q.Count {
				return out, out[len(out)-1].ID, nil
			}
			out = append(out, e)
		}
		if len(evs) < batch {
			return out, 0, nil
		}
		f.Before = evs[len(evs)-1].ID
		if scanned += len(evs); scanned >= maxScan {
			return out, f.Before, nil
		}
	}
}

func bundle(evs []audit.Event, next int64, params url.Values, base string) map[string]any {
	self := url.Values{}
	for k, v := range params {
		if k != "_cursor" {
			self[k] = v
		}
	}
	links := []any{map[string]any{"relation": "self", "url": base + "/AuditEvent?" + withCursor(self, params.Get("_cursor"))}}
	if next > 0 {
		links = append(links, map[string]any{"relation": "next", "url": base + "/AuditEvent?" + withCursor(self, strconv.FormatInt(next, 10))})
	}
	entries := make([]any, 0, len(evs))
	o := Options{Base: base}
	for _, e := range evs {
		entries = append(entries, map[string]any{
			"fullUrl":  base + "/AuditEvent/" + strconv.FormatInt(e.ID, 10),
			"resource": AuditEvent(e, o),
			"search":   map[string]any{"mode": "match"},
		})
	}
	return map[string]any{"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
}

func withCursor(v url.Values, cursor string) string {
	if cursor == "" {
		return v.Encode()
	}
	c := url.Values{}
	for k, vs := range v {
		c[k] = vs
	}
	c.Set("_cursor", cursor)
	return c.Encode()
}
