package sqlite

import "time"

// Every timestamp column holds INTEGER Unix microseconds in UTC (the
// precision of PostgreSQL's timestamptz, so that a second backend stores the
// same instants), and 0 for "unset" (the zero time.Time: a session not
// ended, a launch not used, a key not retired). encodeTime and decodeTime
// are the only conversions between time.Time and that column value; SQL
// compares the integers directly. Migration 0010 moved the older text and
// millisecond columns to this form.

// encodeTime is the stored form of t: Unix microseconds, or 0 for the zero
// time. Precision below a microsecond is dropped.
func encodeTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// decodeTime is the time a stored value stands for, in UTC; 0 is the zero
// time.
func decodeTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// storedTime is t as it reads back from the database, for values the store
// sets itself (creation and modification times) and returns to its caller.
func storedTime(t time.Time) time.Time { return decodeTime(encodeTime(t)) }
