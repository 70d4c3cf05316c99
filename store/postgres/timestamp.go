package postgres

import (
	"time"

	"github.com/smartgate/smartgate/store/internal/dbtime"
)

// Instants are BIGINT Unix microseconds UTC, 0 for unset: package dbtime,
// shared with store/sqlite.

func encodeTime(t time.Time) int64     { return dbtime.Encode(t) }
func decodeTime(us int64) time.Time    { return dbtime.Decode(us) }
func storedTime(t time.Time) time.Time { return dbtime.Stored(t) }
