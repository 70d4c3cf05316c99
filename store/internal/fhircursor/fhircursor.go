// Package fhircursor is the fhir.Cursor of smartgate's SQL backends
// (store/sqlite, store/postgres): one encoding, so that both read each
// other's cursors and keep one rule.
package fhircursor

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/smartgate/smartgate/fhir"
)

// The cursor: base64url (no padding) of a format byte, a
// kind byte and the kind's unsigned varints, nothing after them. It carries
// row and sequence numbers only, no access decision: a forged cursor moves
// a listing or ends it, and every page applies the request's restriction
// again (see fhir.Cursor), so no MAC is needed.
const format = 1

// Kinds of listing a cursor continues; a cursor of one kind is refused by
// the others.
const (
	KindKeyset  = 'k' // search in the default order: snapshot, last rid shown
	KindOffset  = 'o' // sorted search: snapshot, matches already shown
	KindHistory = 'h' // history: the oldest seq shown
)

// MaxOffset bounds the OFFSET of a sorted search's later pages.
const MaxOffset = 1_000_000

// Pos is where a search page starts: rows after rid after (default
// order) or after offset matches (sorted), among rows up to snapshot.
// The zero value is the first page (no snapshot yet).
type Pos struct {
	Snapshot int64
	After    int64
	Offset   int64
}

// Encode is the cursor of kind with vals.
func Encode(kind byte, vals ...int64) fhir.Cursor {
	b := []byte{format, kind}
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(v))
	}
	return fhir.Cursor(base64.RawURLEncoding.EncodeToString(b))
}

// decode reads a cursor of kind with n values, each in [0, max[i]].
func decode(c fhir.Cursor, kind byte, max ...int64) ([]int64, error) {
	bad := func(why string) error { return fmt.Errorf("store: cursor: %s: %w", why, fhir.ErrInvalidCursor) }
	b, err := base64.RawURLEncoding.Strict().DecodeString(string(c))
	if err != nil {
		return nil, bad("not base64url")
	}
	if len(b) < 2 || b[0] != format || b[1] != kind {
		return nil, bad("not a cursor of this listing")
	}
	b = b[2:]
	vals := make([]int64, len(max))
	for i, m := range max {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > uint64(m) {
			return nil, bad("value out of range")
		}
		// A non-minimal varint would give one position two spellings.
		if n != len(binary.AppendUvarint(nil, v)) {
			return nil, bad("value not minimally encoded")
		}
		vals[i], b = int64(v), b[n:]
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	return vals, nil
}

// Search decodes a search's cursor ("": the first page).
func Search(c fhir.Cursor, sorted bool) (Pos, error) {
	if c == "" {
		return Pos{}, nil
	}
	const maxRow = 1<<63 - 1
	if sorted {
		v, err := decode(c, KindOffset, maxRow, MaxOffset)
		if err != nil {
			return Pos{}, err
		}
		return Pos{Snapshot: v[0], Offset: v[1]}, nil
	}
	v, err := decode(c, KindKeyset, maxRow, maxRow)
	if err != nil {
		return Pos{}, err
	}
	return Pos{Snapshot: v[0], After: v[1]}, nil
}

// Next is the cursor of the page after one that ended at rid last and
// held count matches. (A sorted search deeper than MaxOffset gets a
// next link that is refused when followed.)
func (p Pos) Next(sorted bool, last int64, count int) fhir.Cursor {
	if sorted {
		return Encode(KindOffset, p.Snapshot, p.Offset+int64(count))
	}
	return Encode(KindKeyset, p.Snapshot, last)
}

// History decodes a history listing's cursor: the seq the next page
// ends below (0: start at the newest).
func History(c fhir.Cursor) (int64, error) {
	if c == "" {
		return 0, nil
	}
	v, err := decode(c, KindHistory, 1<<63-1)
	if err != nil {
		return 0, err
	}
	if v[0] == 0 {
		return 0, fmt.Errorf("store: cursor: no version is older than seq 0: %w", fhir.ErrInvalidCursor)
	}
	return v[0], nil
}
