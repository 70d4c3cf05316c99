package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/smartgate/smartgate/fhir/search"
)

// bundleReader decodes a batch or transaction Bundle from a request body
// entry by entry (issue 9, defect 8): each entry's request is decided by
// admitEntry as soon as it is read, and the resource of a refused entry is
// skipped, not kept. A refused entry of a transaction ends the reading (the
// whole Bundle fails). Only the entries to be processed are held in memory,
// each decoded once.
type bundleReader struct {
	s    *Server
	ctx  context.Context
	p    Principal
	dec  *json.Decoder
	base string
	kind string
}

// readBundle reads the Bundle of r (within Config.MaxBodyBytes). Entries
// refused by admitEntry carry the refusal in err.
func (s *Server) readBundle(w http.ResponseWriter, r *http.Request, p Principal, base string) (string, []*entry, error) {
	if err := checkContentType(r); err != nil {
		return "", nil, err
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	dec.UseNumber()
	br := &bundleReader{s: s, ctx: r.Context(), p: p, dec: dec, base: base}
	entries, err := br.read()
	if err != nil {
		return "", nil, s.bodyError(err)
	}
	switch br.kind {
	case "transaction", "batch":
		return br.kind, entries, nil
	case "collection":
		return "", nil, errorf(http.StatusBadRequest, "invalid", "the server accepts transaction and batch Bundles, not %q", br.kind)
	}
	return "", nil, errorf(http.StatusBadRequest, "invalid", "Bundle.type must be transaction, batch or collection, not %q", br.kind)
}

// bodyError turns a body read or JSON syntax error into its answer.
func (s *Server) bodyError(err error) error {
	var mbe *http.MaxBytesError
	var he *httpError
	switch {
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "too-costly", "request body larger than %d bytes", s.cfg.MaxBodyBytes)
	case errors.As(err, &he), errors.Is(err, ErrInsufficientScope), errors.Is(err, ErrHidden):
		return err
	}
	return errorf(http.StatusBadRequest, "structure", "the body is not a JSON Bundle: %v", err)
}

func (br *bundleReader) delim(want json.Delim) error {
	tok, err := br.dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", want, tok)
	}
	return nil
}

// keys calls fn for each member of the object that comes next.
func (br *bundleReader) keys(fn func(key string) error) error {
	if err := br.delim('{'); err != nil {
		return err
	}
	for br.dec.More() {
		tok, err := br.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if err := fn(key); err != nil {
			return err
		}
	}
	return br.delim('}')
}

// skip reads past the next value without keeping it.
func (br *bundleReader) skip() error {
	depth := 0
	for {
		tok, err := br.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func (br *bundleReader) read() ([]*entry, error) {
	var entries []*entry
	var rt string
	err := br.keys(func(key string) error {
		switch key {
		case "resourceType":
			if err := br.dec.Decode(&rt); err != nil || rt != "Bundle" {
				return errorf(http.StatusBadRequest, "invalid", "expected a Bundle, got %q", rt)
			}
		case "type":
			if err := br.dec.Decode(&br.kind); err != nil {
				return err
			}
			if br.kind == "collection" {
				return errorf(http.StatusBadRequest, "invalid", "the server accepts transaction and batch Bundles, not %q", br.kind)
			}
		case "entry":
			if err := br.delim('['); err != nil {
				return errorf(http.StatusBadRequest, "structure", "Bundle.entry must be an array")
			}
			for br.dec.More() {
				e, err := br.entry(len(entries))
				if err != nil {
					return err
				}
				entries = append(entries, e)
			}
			return br.delim(']')
		default:
			return br.skip()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rt != "Bundle" {
		return nil, errorf(http.StatusBadRequest, "invalid", "expected a Bundle, got %q", rt)
	}
	if _, err := br.dec.Token(); err != io.EOF {
		return nil, errorf(http.StatusBadRequest, "structure", "data after the Bundle")
	}
	return entries, nil
}

// entry reads entry i. Its resource is decoded only once its request is
// known to be admitted (kept as raw JSON in the meantime when the resource
// comes first).
func (br *bundleReader) entry(i int) (*entry, error) {
	m := map[string]any{}
	var refused error
	var raw json.RawMessage
	err := br.keys(func(key string) error {
		switch key {
		case "fullUrl":
			var u string
			err := br.dec.Decode(&u)
			m["fullUrl"] = u
			return err
		case "request":
			var req map[string]any
			if err := br.dec.Decode(&req); err != nil {
				return err
			}
			m["request"] = req
			var err error
			if refused, err = br.admit(i, req); err != nil {
				return err
			}
			if refused != nil && br.kind == "transaction" {
				return entryErr(i, refused) // the whole transaction fails: stop reading
			}
		case "resource":
			_, seen := m["request"]
			switch {
			case refused != nil:
				return br.skip()
			case !seen:
				return br.dec.Decode(&raw)
			}
			var res map[string]any
			err := br.dec.Decode(&res)
			m["resource"] = res
			return err
		default:
			return br.skip()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refused == nil && raw != nil {
		if m["resource"], err = search.Decode(raw); err != nil {
			return nil, errorf(http.StatusBadRequest, "structure", "entry %d: %v", i, err)
		}
	}
	if refused != nil {
		// Answered with refused; processed by no method (see processOrder).
		return &entry{index: i, err: refused, op: writeOp{method: "refused"}}, nil
	}
	return br.s.parseEntry("", i, m, br.base)
}

// admit decides an entry's request: refused is the entry's answer (an
// access refusal, or a condition or search the entry cannot run), err a
// malformed request (the whole Bundle is refused, as parseEntries does).
func (br *bundleReader) admit(i int, req map[string]any) (refused, err error) {
	if req == nil {
		return nil, errorf(http.StatusBadRequest, "invalid", "entry %d has no request", i)
	}
	e := &entry{index: i}
	method, _ := req["method"].(string)
	rawURL, _ := req["url"].(string)
	if err := br.s.parseEntryRequest(e, method, rawURL, br.base, req); err != nil {
		return nil, entryErr(i, err)
	}
	return br.s.admitEntry(br.ctx, br.p, e), nil
}
