package fhirview

import (
	"net/url"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
)

func TestParseQuery(t *testing.T) {
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		q       string
		ok      bool
		since   time.Time
		until   time.Time
		count   int
		patient string
		outcome string
	}{
		{"", true, time.Time{}, time.Time{}, DefaultCount, "", ""},
		{"date=2026-12-03", true, day, day.AddDate(0, 0, 1), DefaultCount, "", ""},
		{"date=ge2026-12-03&date=lt2026-12-04", true, day, day.AddDate(0, 0, 1), DefaultCount, "", ""},
		{"date=gt2026-12", true, day.AddDate(0, 1, -2), time.Time{}, DefaultCount, "", ""},
		{"date=le2026", true, time.Time{}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), DefaultCount, "", ""},
		{"date=ge2026-12-03T10:00:00%2B02:00", true, day.Add(8 * time.Hour), time.Time{}, DefaultCount, "", ""},
		{"_count=100000", true, time.Time{}, time.Time{}, MaxCount, "", ""},
		{"patient=Patient/p1&outcome=4", true, time.Time{}, time.Time{}, DefaultCount, "p1", audit.Denied},
		{"date=yesterday", false, time.Time{}, time.Time{}, 0, "", ""},
		{"date=2026-13-01", false, time.Time{}, time.Time{}, 0, "", ""},
		{"date=ne2026", false, time.Time{}, time.Time{}, 0, "", ""},
		{"_count=0", false, time.Time{}, time.Time{}, 0, "", ""},
		{"_count=x", false, time.Time{}, time.Time{}, 0, "", ""},
		{"outcome=2", false, time.Time{}, time.Time{}, 0, "", ""},
		{"action=X", false, time.Time{}, time.Time{}, 0, "", ""},
		{"entity=nope", false, time.Time{}, time.Time{}, 0, "", ""},
		{"_include=AuditEvent:entity", false, time.Time{}, time.Time{}, 0, "", ""},
		{"_cursor=-1", false, time.Time{}, time.Time{}, 0, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.q, func(t *testing.T) {
			v, _ := url.ParseQuery(tc.q)
			q, err := ParseQuery(v)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if !q.Filter.Since.Equal(tc.since) || !q.Filter.Until.Equal(tc.until) || q.Count != tc.count ||
				q.Filter.Patient != tc.patient || q.Filter.Outcome != tc.outcome {
				t.Errorf("got %+v", q)
			}
		})
	}
}

func TestQueryMatch(t *testing.T) {
	login := audit.Event{Kind: "login", Outcome: audit.Success}
	read := audit.Event{Kind: "fhir", Action: "read", Outcome: audit.Success}
	cases := []struct {
		q           string
		login, read bool
	}{
		{"type=110114", true, false},
		{"type=" + url.QueryEscape(DICOM+"|110114"), true, false},
		{"type=" + url.QueryEscape(EventType+"|rest"), false, true},
		{"type=" + url.QueryEscape("http://other|rest"), false, false},
		{"subtype=read,110122", true, true},
		{"action=R", false, true},
		{"action=E", true, false},
	}
	for _, tc := range cases {
		v, _ := url.ParseQuery(tc.q)
		q, err := ParseQuery(v)
		if err != nil {
			t.Fatal(err)
		}
		if q.Match(login) != tc.login || q.Match(read) != tc.read {
			t.Errorf("%s: login %v read %v", tc.q, q.Match(login), q.Match(read))
		}
	}
}

// FuzzParseQuery: any query parses or is refused, never panics, and a
// parsed date range is never inverted by a single eq value.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"date=2026", "date=ge2026-01-02T03:04:05.123Z", "_count=5&type=rest", "date=lt2026-02", "patient=Patient/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			return
		}
		if q.Count < 1 || q.Count > MaxCount {
			t.Fatalf("count %d", q.Count)
		}
	})
}

func FuzzParseDateTime(f *testing.F) {
	for _, s := range []string{"2026", "2026-12", "2026-12-03", "2026-12-03T10:00:00Z", "2026-12-03T10:00:00.5+01:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParseDateTime(s)
		if err == nil && !lo.Before(hi) {
			t.Fatalf("%q: [%v, %v) is empty", s, lo, hi)
		}
	})
}
