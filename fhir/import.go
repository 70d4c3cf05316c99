package fhir

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/smartgate/smartgate/fhir/search"
)

// ImportOptions tune Import. The zero value is valid.
type ImportOptions struct {
	// Progress, when set, is called after each stored batch or Bundle.
	Progress func(ImportProgress)
	// Registry is the search registry; nil loads the embedded one.
	Registry *search.Registry
	// BatchSize is the number of NDJSON resources stored per transaction
	// (default 500).
	BatchSize int
}

// ImportProgress reports how far an import got.
type ImportProgress struct {
	Resources int   // resources stored so far
	Bytes     int64 // input bytes read so far
}

// ImportResult summarises an import.
type ImportResult struct {
	Resources int
	Bundles   int
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Import stores the content of r: FHIR Bundles (transaction, batch or
// collection; a transaction all-or-nothing, urn:uuid: references rewritten,
// resources keep the ids they carry)
// and/or resources, one JSON value after another (NDJSON). Resources with
// an id keep it (update); those without get one. It is an administrator's
// action: no access control applies.
func Import(ctx context.Context, st Store, r io.Reader, opts ImportOptions) (ImportResult, error) {
	s := New(Config{AccessControlOff: true, Registry: opts.Registry}, st, nil)
	return s.importFrom(ctx, r, opts)
}

func (s *Server) importFrom(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	cr := &countingReader{r: r}
	dec := json.NewDecoder(bufio.NewReaderSize(cr, 1<<20))
	dec.UseNumber()
	var res ImportResult
	p := allowAll{}
	var pending []*entry
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(ImportProgress{Resources: res.Resources, Bytes: cr.n})
		}
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := s.transaction(ctx, p, pending); err != nil {
			return err
		}
		res.Resources += len(pending)
		pending = pending[:0]
		progress()
		return nil
	}
	for n := 0; ; n++ {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("fhir: import: value %d: %w", n+1, err)
		}
		if m == nil {
			return res, fmt.Errorf("fhir: import: value %d is not a JSON object", n+1)
		}
		if rt, _ := m["resourceType"].(string); rt == "Bundle" {
			if t, _ := m["type"].(string); t == "transaction" || t == "batch" || t == "collection" {
				if err := flush(); err != nil {
					return res, err
				}
				_, entries, err := s.parseEntries(m, "")
				if err != nil {
					return res, fmt.Errorf("fhir: import: bundle %d: %w", n+1, err)
				}
				keepIDs(entries)
				if err := s.transaction(ctx, p, entries); err != nil {
					return res, fmt.Errorf("fhir: import: bundle %d: %w", n+1, err)
				}
				res.Bundles++
				res.Resources += len(entries)
				progress()
				continue
			}
		}
		if err := s.checkResource(m, ""); err != nil {
			return res, fmt.Errorf("fhir: import: value %d: %w", n+1, err)
		}
		e := &entry{index: len(pending)}
		e.op.res = m
		e.op.typ, _ = m["resourceType"].(string)
		e.op.method = http.MethodPost
		if id, _ := m["id"].(string); id != "" {
			e.op.method, e.op.id = http.MethodPut, id
		}
		pending = append(pending, e)
		if len(pending) >= opts.BatchSize {
			if err := flush(); err != nil {
				return res, fmt.Errorf("fhir: import: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return res, fmt.Errorf("fhir: import: %w", err)
	}
	return res, nil
}

// keepIDs makes an import keep the ids its resources carry, as it does for
// NDJSON: a plain create (POST without If-None-Exist) of a resource with a
// valid id becomes an update of that id. Data moved from another FHIR
// server keeps its identity, re-importing a file replaces rather than
// duplicates, and urn:uuid: references are still rewritten (to Type/id).
func keepIDs(entries []*entry) {
	for _, e := range entries {
		if e.op.method != http.MethodPost || e.op.ifNoneExist != "" || e.op.res == nil {
			continue
		}
		if id := e.givenID; id != "" && checkID(id) == nil {
			e.op.method, e.op.id = http.MethodPut, id
			e.op.res["id"] = id
		}
	}
}
