// Package rowmap is what store/sqlite and store/postgres write into and read
// out of a row the same way: the column lists, the arguments in their
// order and the scans of the tables whose columns both schemas declare
// alike, and the JSON forms kept in a column. The scans take a Scanner,
// which *sql.Row, *sql.Rows, pgx.Row and pgx.Rows all are; each store
// keeps its SQL (placeholders differ) and runs it. (Not "rows": that is
// the name of the stores' result variables.)
package rowmap

import (
	"encoding/json"
	"strings"

	"github.com/smartgate/smartgate/store/internal/dbtime"
)

// Scanner is one row to scan.
type Scanner interface{ Scan(dest ...any) error }

// jsonList is a list column's stored form: a JSON array, [] for none.
func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// boolInt is a flag column's stored form, 0 or 1.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

var (
	encodeTime = dbtime.Encode
	decodeTime = dbtime.Decode
)

// SplitSpace reads a space-separated column (roles, scopes): nil for ”.
func SplitSpace(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}
