package postgres

import (
	"strconv"
	"strings"

	"github.com/smartgate/smartgate/store/internal/scimsql"
)

// dialect is PostgreSQL's spelling of the SCIM filter compiler
// (store/internal/scimsql), with store/sqlite's semantics: typed $n
// placeholders (text for a string, bigint for an integer, so that no
// parameter's type is left for the server to guess); SQLite's NOCASE, and
// its LIKE, as lower(x COLLATE "C") on both sides (ASCII folding only, the
// expression of the user_emails_value and groups_display_name indexes);
// attrs::jsonb #>> path for json_extract; unnest(string_to_array) for the
// roles; strpos/left/right for instr/substr; and COLLATE "C" on case-exact
// orderings so that they are bytewise whatever the database's locale.
var dialect = scimsql.Dialect{
	Param: func(n int, v any) string {
		if _, ok := v.(string); ok {
			return "$" + strconv.Itoa(n) + "::text"
		}
		return "$" + strconv.Itoa(n) + "::bigint"
	},
	True:  "TRUE",
	False: "false",
	Bool:  func(b bool) any { return flag01(b) },
	JSON: func(col, path string) string {
		return col + "::jsonb #>> '{" + strings.ReplaceAll(path, ".", ",") + "}'"
	},
	Words:    func(col string) string { return `unnest(string_to_array(` + col + `, ' ')) AS e(value)` },
	Fold:     func(x string) string { return "lower(" + x + ` COLLATE "C")` },
	Bytes:    ` COLLATE "C"`,
	Contains: func(x string, p func() string) string { return "strpos(" + x + ", " + p() + ") > 0" },
	HasPrefix: func(x string, p func() string) string {
		v := p()
		return "left(" + x + ", length(" + v + ")) = " + v
	},
	HasSuffix: func(x string, p func() string) string {
		v := p()
		return "right(" + x + ", length(" + v + ")) = " + v
	},
}

var (
	usersSchema  = scimsql.Users(&dialect)
	groupsSchema = scimsql.Groups(&dialect)
)
