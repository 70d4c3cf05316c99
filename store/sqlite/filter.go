package sqlite

import "github.com/smartgate/smartgate/store/internal/scimsql"

// dialect is SQLite's spelling of the SCIM filter compiler
// (store/internal/scimsql): ? placeholders, COLLATE NOCASE and LIKE (which
// fold ASCII letters only), json_extract, json_each over the roles column
// made a JSON array, and instr/substr for the case-exact substring tests;
// BINARY is the default collation.
var dialect = scimsql.Dialect{
	Param: func(int, any) string { return "?" },
	True:  "1",
	False: "0",
	Bool:  func(b bool) any { return b },
	JSON:  func(col, path string) string { return "json_extract(" + col + ", '$." + path + "')" },
	Words: func(col string) string {
		return `json_each(CASE WHEN ` + col + ` = '' THEN '[]' ELSE '["' || replace(` + col + `, ' ', '","') || '"]' END) e`
	},
	Fold:     func(x string) string { return x },
	NoCase:   " COLLATE NOCASE",
	Contains: func(x string, p func() string) string { return "instr(" + x + ", " + p() + ") > 0" },
	HasPrefix: func(x string, p func() string) string {
		return "substr(" + x + ", 1, length(" + p() + ")) = " + p()
	},
	HasSuffix: func(x string, p func() string) string {
		return "substr(" + x + ", -length(" + p() + ")) = " + p()
	},
}

var (
	usersSchema  = scimsql.Users(&dialect)
	groupsSchema = scimsql.Groups(&dialect)
)
