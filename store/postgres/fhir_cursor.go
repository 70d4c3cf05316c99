package postgres

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/smartgate/smartgate/fhir"
)

// This backend's fhir.Cursor: base64url (no padding) of a format byte, a
// kind byte and the kind's unsigned varints, nothing after them. It carries
// row and sequence numbers only, no access decision: a forged cursor moves
// a listing or ends it, and every page applies the request's restriction
// again (see fhir.Cursor), so no MAC is needed.
const cursorFormat = 1

// Kinds of listing a cursor continues; a cursor of one kind is refused by
// the others.
const (
	cursorKeyset  = 'k' // search in the default order: snapshot, last rid shown
	cursorOffset  = 'o' // sorted search: snapshot, matches already shown
	cursorHistory = 'h' // history: the oldest seq shown
)

// maxCursorOffset bounds the OFFSET of a sorted search's later pages.
const maxCursorOffset = 1_000_000

// searchPos is where a search page starts: rows after rid after (default
// order) or after offset matches (sorted), among rows up to snapshot.
// The zero value is the first page (no snapshot yet).
type searchPos struct {
	snapshot int64
	after    int64
	offset   int64
}

func encodeCursor(kind byte, vals ...int64) fhir.Cursor {
	b := []byte{cursorFormat, kind}
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(v))
	}
	return fhir.Cursor(base64.RawURLEncoding.EncodeToString(b))
}

// decodeCursor reads a cursor of kind with n values, each in [0, max[i]].
func decodeCursor(c fhir.Cursor, kind byte, max ...int64) ([]int64, error) {
	bad := func(why string) error { return fmt.Errorf("postgres: cursor: %s: %w", why, fhir.ErrInvalidCursor) }
	b, err := base64.RawURLEncoding.Strict().DecodeString(string(c))
	if err != nil {
		return nil, bad("not base64url")
	}
	if len(b) < 2 || b[0] != cursorFormat || b[1] != kind {
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

// searchCursor decodes a search's cursor ("": the first page).
func searchCursor(c fhir.Cursor, sorted bool) (searchPos, error) {
	if c == "" {
		return searchPos{}, nil
	}
	const maxRow = 1<<63 - 1
	if sorted {
		v, err := decodeCursor(c, cursorOffset, maxRow, maxCursorOffset)
		if err != nil {
			return searchPos{}, err
		}
		return searchPos{snapshot: v[0], offset: v[1]}, nil
	}
	v, err := decodeCursor(c, cursorKeyset, maxRow, maxRow)
	if err != nil {
		return searchPos{}, err
	}
	return searchPos{snapshot: v[0], after: v[1]}, nil
}

// next is the cursor of the page after one that ended at rid last and
// held count matches. (A sorted search deeper than maxCursorOffset gets a
// next link that is refused when followed.)
func (p searchPos) next(sorted bool, last int64, count int) fhir.Cursor {
	if sorted {
		return encodeCursor(cursorOffset, p.snapshot, p.offset+int64(count))
	}
	return encodeCursor(cursorKeyset, p.snapshot, last)
}

// historyCursor decodes a history listing's cursor: the seq the next page
// ends below (0: start at the newest).
func historyCursor(c fhir.Cursor) (int64, error) {
	if c == "" {
		return 0, nil
	}
	v, err := decodeCursor(c, cursorHistory, 1<<63-1)
	if err != nil {
		return 0, err
	}
	if v[0] == 0 {
		return 0, fmt.Errorf("postgres: cursor: no version is older than seq 0: %w", fhir.ErrInvalidCursor)
	}
	return v[0], nil
}
