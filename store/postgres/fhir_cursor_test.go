package postgres

import (
	"errors"
	"testing"

	"github.com/smartgate/smartgate/fhir"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted bool
		pos    searchPos
		last   int64
		count  int
		want   searchPos
	}{
		{"keyset", false, searchPos{snapshot: 90}, 17, 3, searchPos{snapshot: 90, after: 17}},
		{"keyset, large rows", false, searchPos{snapshot: 1<<62 + 5, after: 1 << 40}, 1<<62 + 1, 50, searchPos{snapshot: 1<<62 + 5, after: 1<<62 + 1}},
		{"offset", true, searchPos{snapshot: 12, offset: 40}, 3, 20, searchPos{snapshot: 12, offset: 60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.pos.next(tc.sorted, tc.last, tc.count)
			got, err := searchCursor(c, tc.sorted)
			if err != nil || got != tc.want {
				t.Fatalf("searchCursor(%q) = %+v, %v; want %+v", c, got, err, tc.want)
			}
			if _, err := searchCursor(c, !tc.sorted); !errors.Is(err, fhir.ErrInvalidCursor) {
				t.Fatalf("the cursor of one search order read by the other: %v, want ErrInvalidCursor", err)
			}
			if _, err := historyCursor(c); !errors.Is(err, fhir.ErrInvalidCursor) {
				t.Fatalf("a search cursor read as a history's: %v, want ErrInvalidCursor", err)
			}
		})
	}
	h := encodeCursor(cursorHistory, 77)
	if seq, err := historyCursor(h); err != nil || seq != 77 {
		t.Fatalf("historyCursor(%q) = %d, %v", h, seq, err)
	}
	if _, err := searchCursor(h, false); !errors.Is(err, fhir.ErrInvalidCursor) {
		t.Fatalf("a history cursor read as a search's: %v", err)
	}
	deep := searchPos{snapshot: 1, offset: maxCursorOffset}.next(true, 0, 1)
	if _, err := searchCursor(deep, true); !errors.Is(err, fhir.ErrInvalidCursor) {
		t.Fatalf("a sorted search past %d: %v, want ErrInvalidCursor", maxCursorOffset, err)
	}
	for _, bad := range []fhir.Cursor{"x", "AQ", "AWg", "AWgA", encodeCursor(cursorHistory, 1, 2), "AWiBAA", "AWc=", "!!!!"} {
		if _, err := historyCursor(bad); !errors.Is(err, fhir.ErrInvalidCursor) {
			t.Errorf("historyCursor(%q) = %v, want ErrInvalidCursor", bad, err)
		}
	}
}

// FuzzCursor: a client's _cursor never panics the decoders, and one they
// accept is the only spelling of its position.
func FuzzCursor(f *testing.F) {
	f.Add(string(searchPos{snapshot: 9}.next(false, 3, 1)))
	f.Add(string(searchPos{snapshot: 9}.next(true, 3, 1)))
	f.Add(string(encodeCursor(cursorHistory, 5)))
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		c := fhir.Cursor(s)
		if p, err := searchCursor(c, false); err == nil && c != "" {
			if again := encodeCursor(cursorKeyset, p.snapshot, p.after); again != c {
				t.Fatalf("keyset cursor %q re-encodes as %q", c, again)
			}
		}
		if p, err := searchCursor(c, true); err == nil && c != "" {
			if again := encodeCursor(cursorOffset, p.snapshot, p.offset); again != c || p.offset > maxCursorOffset {
				t.Fatalf("offset cursor %q re-encodes as %q (%+v)", c, again, p)
			}
		}
		if seq, err := historyCursor(c); err == nil && c != "" {
			if again := encodeCursor(cursorHistory, seq); again != c || seq <= 0 {
				t.Fatalf("history cursor %q re-encodes as %q (%d)", c, again, seq)
			}
		}
	})
}
