package fhir

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

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
	Source    int   // index of the source (ImportAll; 0 for Import)
	Resources int   // resources of the source stored so far
	Bytes     int64 // input bytes of the source read so far
}

// ImportResult summarises an import.
type ImportResult struct {
	Resources int
	Bundles   int
}

// ImportSource is one input of ImportAll.
type ImportSource struct {
	Name string
	Open func() (io.ReadCloser, error)
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
//
// Each Bundle and each batch of NDJSON resources is one transaction; the
// next one is parsed and prepared (validated, encoded, indexed) while the
// previous one is being stored. On an error, what was stored before the
// failing Bundle or batch stays stored, nothing of it or after it is.
func Import(ctx context.Context, st Store, r io.Reader, opts ImportOptions) (ImportResult, error) {
	s := New(Config{AccessControlOff: true, Registry: opts.Registry}, st, nil)
	src := ImportSource{Open: func() (io.ReadCloser, error) { return io.NopCloser(r), nil }}
	var res ImportResult
	cur, err := s.importAll(ctx, []ImportSource{src}, opts, func(_ int, r ImportResult) { res = r })
	if err != nil {
		var se *sourceError
		if errors.As(err, &se) {
			err = se.err
		}
		return cur, err
	}
	return res, nil
}

// ImportAll imports the sources one after another, as Import does each, but
// in one pipeline: the next source is read and prepared while the previous
// one is stored. done (and Progress) are called on the calling goroutine,
// done after each source is fully stored. An error
// names the failing source; the sources before it stay stored, and so do
// the Bundles and batches of the failing one before the failing one.
func ImportAll(ctx context.Context, st Store, srcs []ImportSource, opts ImportOptions, done func(i int, res ImportResult)) error {
	s := New(Config{AccessControlOff: true, Registry: opts.Registry}, st, nil)
	_, err := s.importAll(ctx, srcs, opts, func(i int, res ImportResult) {
		if done != nil {
			done(i, res)
		}
	})
	if err != nil && len(srcs) > 0 {
		var se *sourceError
		if errors.As(err, &se) {
			return fmt.Errorf("%s: %w", srcs[se.src].Name, se.err)
		}
	}
	return err
}

type sourceError struct {
	src int
	err error
}

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// importItem is one unit of the import pipeline, in input order: a Bundle
// or batch to store in one transaction, the end of a source, or the error
// that stops the reading.
type importItem struct {
	src     int
	entries []*entry
	now     time.Time
	bundle  bool
	// label names the unit in errors ("bundle 3"; empty for a batch).
	label string
	bytes int64
	end   bool
	err   error
}

// importAll runs the pipeline: one goroutine reads, parses and prepares
// the units (CPU only), the caller's goroutine stores them in order, each
// in its own transaction. At most a few prepared units wait in between.
// It returns the partial result of the source that failed.
func (s *Server) importAll(ctx context.Context, srcs []ImportSource, opts ImportOptions, done func(int, ImportResult)) (ImportResult, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	ctx, cancel := context.WithCancel(ctx)
	items := make(chan importItem, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(items)
		s.readSources(ctx, srcs, opts.BatchSize, items)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	var res ImportResult
	for it := range items {
		if it.err != nil {
			return res, &sourceError{it.src, it.err}
		}
		if it.end {
			done(it.src, res)
			res = ImportResult{}
			continue
		}
		if err := s.transactionAt(ctx, allowAll{}, it.entries, it.now); err != nil {
			if it.label != "" {
				err = fmt.Errorf("%s: %w", it.label, err)
			}
			return res, &sourceError{it.src, fmt.Errorf("fhir: import: %w", err)}
		}
		if it.bundle {
			res.Bundles++
		}
		res.Resources += len(it.entries)
		if opts.Progress != nil {
			opts.Progress(ImportProgress{Source: it.src, Resources: res.Resources, Bytes: it.bytes})
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("fhir: import: %w", err)
	}
	return res, nil
}

// readSources is the reading side of importAll: it sends the units of
// every source in order and stops at the first error (sent as an item) or
// when ctx is done.
func (s *Server) readSources(ctx context.Context, srcs []ImportSource, batch int, items chan<- importItem) {
	send := func(it importItem) bool {
		if ctx.Err() != nil {
			return false
		}
		select {
		case items <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for i, src := range srcs {
		rc, err := src.Open()
		if err != nil {
			send(importItem{src: i, err: fmt.Errorf("fhir: import: %w", err)})
			return
		}
		n, err := s.readSource(ctx, i, rc, batch, send)
		rc.Close()
		if err != nil {
			send(importItem{src: i, err: err})
			return
		}
		if !send(importItem{src: i, end: true, bytes: n}) {
			return
		}
	}
}

// readSource sends the units of one source and returns the bytes read. A
// false from send (the import stopped) ends it without an error.
func (s *Server) readSource(ctx context.Context, src int, r io.Reader, batch int, send func(importItem) bool) (int64, error) {
	cr := &countingReader{r: r}
	dec := json.NewDecoder(bufio.NewReaderSize(cr, 1<<20))
	dec.UseNumber()
	var pending []*entry
	flush := func() bool {
		if len(pending) == 0 {
			return true
		}
		now := s.writeTime()
		s.prepareEntries(pending, now)
		ok := send(importItem{src: src, entries: pending, now: now, bytes: cr.n})
		pending = nil
		return ok
	}
	for n := 0; ; n++ {
		if ctx.Err() != nil {
			return cr.n, nil
		}
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cr.n, fmt.Errorf("fhir: import: value %d: %w", n+1, err)
		}
		if m == nil {
			return cr.n, fmt.Errorf("fhir: import: value %d is not a JSON object", n+1)
		}
		if rt, _ := m["resourceType"].(string); rt == "Bundle" {
			if t, _ := m["type"].(string); t == "transaction" || t == "batch" || t == "collection" {
				if !flush() {
					return cr.n, nil
				}
				_, entries, err := s.parseEntries(m, "")
				if err != nil {
					return cr.n, fmt.Errorf("fhir: import: bundle %d: %w", n+1, err)
				}
				keepIDs(entries)
				now := s.writeTime()
				s.prepareEntries(entries, now)
				if !send(importItem{src: src, entries: entries, now: now, bundle: true,
					label: fmt.Sprintf("bundle %d", n+1), bytes: cr.n}) {
					return cr.n, nil
				}
				continue
			}
		}
		if err := s.checkResource(m, ""); err != nil {
			return cr.n, fmt.Errorf("fhir: import: value %d: %w", n+1, err)
		}
		e := &entry{index: len(pending)}
		e.op.res = m
		e.op.typ, _ = m["resourceType"].(string)
		e.op.method = http.MethodPost
		if id, _ := m["id"].(string); id != "" {
			e.op.method, e.op.id = http.MethodPut, id
		}
		pending = append(pending, e)
		if len(pending) >= batch {
			if !flush() {
				return cr.n, nil
			}
		}
	}
	if !flush() {
		return cr.n, nil
	}
	return cr.n, nil
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
