package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store"
)

// TransactResources implements fhir.Store. fn reads the upstream as it is
// now; its Puts are sent when it returns nil, each with If-Match on the
// version fn read (see the package comment). Transactions through one
// Store run one at a time.
func (s *Store) TransactResources(ctx context.Context, fn func(tx fhir.Tx) error) error {
	select {
	case s.writes <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writes }()
	t := &tx{s: s, read: map[string]*fhir.Resource{}, pending: map[string]*fhir.Write{}}
	if err := fn(t); err != nil {
		return err
	}
	return t.commit(ctx)
}

type tx struct {
	s *Store
	// read holds the version each resource was read at (nil: it did not
	// exist), for If-Match.
	read    map[string]*fhir.Resource
	puts    []*fhir.Write
	pending map[string]*fhir.Write
}

func key(typ, id string) string { return typ + "/" + id }

// Current implements fhir.Tx: a resource written earlier in this
// transaction as written, else the upstream's current version.
func (t *tx) Current(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	if w, ok := t.pending[key(typ, id)]; ok {
		r := w.Resource
		return &r, nil
	}
	r, err := t.s.ReadResource(ctx, typ, id)
	switch {
	case isNotFound(err):
		if _, seen := t.read[key(typ, id)]; !seen {
			t.read[key(typ, id)] = nil
		}
		return nil, err
	case err != nil:
		return nil, err
	}
	if _, seen := t.read[key(typ, id)]; !seen {
		t.read[key(typ, id)] = r
	}
	return r, nil
}

// Match implements fhir.Tx with a search of the first page.
func (t *tx) Match(ctx context.Context, req fhir.SearchRequest, limit int) ([]string, error) {
	q := *req.Query
	q.Count = limit
	req.Query, req.Cursor, req.Include = &q, "", func(fhir.Resource) bool { return false }
	res, err := t.s.SearchResources(ctx, req)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Matches))
	for _, m := range res.Matches {
		ids = append(ids, m.ID)
	}
	return ids, nil
}

// Compartments implements fhir.Tx from the last content.
func (t *tx) Compartments(ctx context.Context, typ, id string) ([]string, error) {
	raw, err := t.LastContent(ctx, typ, id)
	if err != nil || raw == nil {
		return nil, err
	}
	res, err := decode(raw)
	if err != nil {
		return nil, err
	}
	return t.s.reg.PatientCompartments(typ, res, raw)
}

// LastContent implements fhir.Tx: the newest version with content.
func (t *tx) LastContent(ctx context.Context, typ, id string) ([]byte, error) {
	cur, err := t.Current(ctx, typ, id)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !cur.Deleted {
		return cur.JSON, nil
	}
	for v := cur.Version - 1; v >= 1; v-- {
		old, err := t.s.ReadResourceVersion(ctx, typ, id, v)
		if err == nil && !old.Deleted {
			return old.JSON, nil
		}
		if err != nil && !isNotFound(err) {
			return nil, err
		}
	}
	return nil, nil
}

// Put implements fhir.Tx: the write is sent at commit.
func (t *tx) Put(ctx context.Context, w *fhir.Write) error {
	if err := t.s.checkRef(w.Type, w.ID); err != nil {
		return err
	}
	k := key(w.Type, w.ID)
	if _, dup := t.pending[k]; dup {
		return fmt.Errorf("upstream: %s written twice in one transaction: %w", k, store.ErrConflict)
	}
	t.pending[k] = w
	t.puts = append(t.puts, w)
	return nil
}

// ifMatch is the precondition of a write of typ/id: the version the
// transaction read, when the upstream gave it one.
func (t *tx) ifMatch(w *fhir.Write) string {
	r := t.read[key(w.Type, w.ID)]
	if r == nil || r.Deleted || !versioned(r.JSON) {
		// Nothing there, or a deletion: a create (a server need not take
		// If-Match on a version that is a deletion).
		return ""
	}
	return `W/"` + strconv.FormatInt(r.Version, 10) + `"`
}

// versioned reports whether the upstream gave the version (meta.versionId).
func versioned(raw []byte) bool {
	var head struct {
		Meta struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
	}
	return json.Unmarshal(raw, &head) == nil && head.Meta.VersionID != ""
}

func (t *tx) commit(ctx context.Context) error {
	switch len(t.puts) {
	case 0:
		return nil
	case 1:
		return t.send(ctx, t.puts[0])
	}
	return t.sendBundle(ctx)
}

// send writes one version by a plain PUT or DELETE.
func (t *tx) send(ctx context.Context, w *fhir.Write) error {
	c := call{op: "write", method: http.MethodPut, path: w.Type + "/" + w.ID, ifMatch: t.ifMatch(w)}
	if w.Deleted {
		c.method = http.MethodDelete
	} else {
		c.body, c.contentType = w.JSON, "application/fhir+json"
	}
	a, err := t.s.do(ctx, c)
	if err != nil {
		return err
	}
	if a.status >= 200 && a.status < 300 {
		return nil
	}
	return t.s.statusError(ctx, "write", a)
}

// sendBundle writes every version in one upstream transaction Bundle.
func (t *tx) sendBundle(ctx context.Context) error {
	entries := make([]map[string]any, 0, len(t.puts))
	for _, w := range t.puts {
		req := map[string]any{"method": http.MethodPut, "url": w.Type + "/" + w.ID}
		if im := t.ifMatch(w); im != "" {
			req["ifMatch"] = im
		}
		e := map[string]any{"request": req}
		if w.Deleted {
			req["method"] = http.MethodDelete
		} else {
			e["resource"] = json.RawMessage(w.JSON)
			e["fullUrl"] = t.s.base.String() + "/" + w.Type + "/" + w.ID
		}
		entries = append(entries, e)
	}
	body, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	if err != nil {
		return err
	}
	a, err := t.s.do(ctx, call{op: "transaction", method: http.MethodPost, body: body, contentType: "application/fhir+json"})
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return t.s.statusError(ctx, "transaction", a)
	}
	var b bundle
	if err := json.Unmarshal(a.body, &b); err != nil || b.ResourceType != "Bundle" || len(b.Entry) != len(entries) {
		return t.s.garbage(ctx, "transaction", "its transaction-response does not answer every entry")
	}
	for _, e := range b.Entry {
		if e.Response == nil || !strings.HasPrefix(strings.TrimSpace(e.Response.Status), "2") {
			// A transaction is all or nothing: the upstream should have
			// refused it whole; say so rather than guess what it kept.
			return t.s.garbage(ctx, "transaction", "its transaction-response has an entry that failed")
		}
	}
	return nil
}
