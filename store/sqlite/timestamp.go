package sqlite

import (
	"time"

	"github.com/smartgate/smartgate/store/internal/dbtime"
)

// Every timestamp column holds INTEGER Unix microseconds in UTC, 0 for
// "unset": package dbtime is the one conversion, shared with
// store/postgres. Migration 0010 moved the older text and millisecond
// columns to this form.

func encodeTime(t time.Time) int64     { return dbtime.Encode(t) }
func decodeTime(us int64) time.Time    { return dbtime.Decode(us) }
func storedTime(t time.Time) time.Time { return dbtime.Stored(t) }
