package fhircursor

import (
	"errors"
	"testing"

	"github.com/smartgate/smartgate/fhir"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted bool
		pos    Pos
		last   int64
		count  int
		want   Pos
	}{
		{"keyset", false, Pos{Snapshot: 90}, 17, 3, Pos{Snapshot: 90, After: 17}},
		{"keyset, large rows", false, Pos{Snapshot: 1<<62 + 5, After: 1 << 40}, 1<<62 + 1, 50, Pos{Snapshot: 1<<62 + 5, After: 1<<62 + 1}},
		{"offset", true, Pos{Snapshot: 12, Offset: 40}, 3, 20, Pos{Snapshot: 12, Offset: 60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.pos.Next(tc.sorted, tc.last, tc.count)
			got, err := Search(c, tc.sorted)
			if err != nil || got != tc.want {
				t.Fatalf("Search(%q) = %+v, %v; want %+v", c, got, err, tc.want)
			}
			if _, err := Search(c, !tc.sorted); !errors.Is(err, fhir.ErrInvalidCursor) {
				t.Fatalf("the cursor of one search order read by the other: %v, want ErrInvalidCursor", err)
			}
			if _, err := History(c); !errors.Is(err, fhir.ErrInvalidCursor) {
				t.Fatalf("a search cursor read as a history's: %v, want ErrInvalidCursor", err)
			}
		})
	}
	h := Encode(KindHistory, 77)
	if seq, err := History(h); err != nil || seq != 77 {
		t.Fatalf("History(%q) = %d, %v", h, seq, err)
	}
	if _, err := Search(h, false); !errors.Is(err, fhir.ErrInvalidCursor) {
		t.Fatalf("a history cursor read as a search's: %v", err)
	}
	deep := Pos{Snapshot: 1, Offset: MaxOffset}.Next(true, 0, 1)
	if _, err := Search(deep, true); !errors.Is(err, fhir.ErrInvalidCursor) {
		t.Fatalf("a sorted search past %d: %v, want ErrInvalidCursor", MaxOffset, err)
	}
	for _, bad := range []fhir.Cursor{"x", "AQ", "AWg", "AWgA", Encode(KindHistory, 1, 2), "AWiBAA", "AWc=", "!!!!"} {
		if _, err := History(bad); !errors.Is(err, fhir.ErrInvalidCursor) {
			t.Errorf("History(%q) = %v, want ErrInvalidCursor", bad, err)
		}
	}
}

// FuzzCursor: a client's _cursor never panics the decoders, and one they
// accept is the only spelling of its position.
func FuzzCursor(f *testing.F) {
	f.Add(string(Pos{Snapshot: 9}.Next(false, 3, 1)))
	f.Add(string(Pos{Snapshot: 9}.Next(true, 3, 1)))
	f.Add(string(Encode(KindHistory, 5)))
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		c := fhir.Cursor(s)
		if p, err := Search(c, false); err == nil && c != "" {
			if again := Encode(KindKeyset, p.Snapshot, p.After); again != c {
				t.Fatalf("keyset cursor %q re-encodes as %q", c, again)
			}
		}
		if p, err := Search(c, true); err == nil && c != "" {
			if again := Encode(KindOffset, p.Snapshot, p.Offset); again != c || p.Offset > MaxOffset {
				t.Fatalf("offset cursor %q re-encodes as %q (%+v)", c, again, p)
			}
		}
		if seq, err := History(c); err == nil && c != "" {
			if again := Encode(KindHistory, seq); again != c || seq <= 0 {
				t.Fatalf("history cursor %q re-encodes as %q (%d)", c, again, seq)
			}
		}
	})
}
