// Package dbtime is the one representation of instants in smartgate's SQL
// backends: Unix microseconds UTC (the precision of PostgreSQL's
// timestamptz, so that both backends store the same instants) in an
// integer column, and 0 for "unset" (the zero time.Time: a session not
// ended, a launch not used, a key not retired). store/sqlite and
// store/postgres convert only through it, and SQL compares the integers.
package dbtime

import "time"

// Encode is the stored form of t: Unix microseconds, or 0 for the zero
// time. Precision below a microsecond is dropped.
func Encode(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Decode is the time a stored value stands for, in UTC; 0 is the zero time.
func Decode(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// Stored is t as it reads back from the database.
func Stored(t time.Time) time.Time { return Decode(Encode(t)) }
