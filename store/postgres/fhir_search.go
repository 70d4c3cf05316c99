package postgres

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store/internal/fhirsql"
)

// fhirSQL is PostgreSQL's dialect of the FHIR search SQL, which package
// fhirsql builds (as store/sqlite's, with ? marks, which querier rebinds)
// and runs for both SQL backends.
var fhirSQL = &fhirsql.Dialect{
	True:  "TRUE",
	False: "FALSE",
	// No planner hints: PostgreSQL weighs the candidates' subquery itself
	// (store/sqlite writes +type and INDEXED BY fhir_index_rid).
	// _lastUpdated: integer milliseconds (as in SQLite), compared as the
	// float8 the range bounds are.
	MillisCast: "::float8",
	TextArg:    "?::text",
	// SQLite's LIKE folds ASCII case; so does lower() in "C".
	Like: func(col string) string { return "lower(" + col + `) LIKE lower(?::text COLLATE "C") ESCAPE '\'` },
	// text is COLLATE "C" (byte order, which is code point order in
	// UTF-8), and the strings with a prefix are exactly those from it up
	// to, not including, its successor. (store/sqlite bounds it by
	// prefix+"\xff", which PostgreSQL refuses as not UTF-8.)
	PrefixEnd: successor,
	// The index holds valid UTF-8 only (from JSON), so an invalid value
	// matches no row, as in store/sqlite; PostgreSQL would refuse it as a
	// parameter.
	Valid: validUTF8,
	// NULLs as SQLite orders them: the least value.
	Asc:      " ASC NULLS FIRST",
	Desc:     " DESC NULLS LAST",
	Distinct: "DISTINCT ON (t.rid)",
}

// successor is the least string above every string that starts with s:
// s with its last code point incremented, after dropping trailing
// U+10FFFF; false when there is none (s is empty or all U+10FFFF). Invalid
// UTF-8 has none either.
func successor(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	for s != "" {
		r, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
		if r == utf8.MaxRune {
			continue
		}
		r++
		if r >= 0xD800 && r <= 0xDFFF { // surrogates are not code points of UTF-8
			r = 0xE000
		}
		return s + string(r), true
	}
	return "", false
}

// validUTF8 reports whether the strings of v that valueSQL passes are
// valid UTF-8 (a query's %FF is not).
func validUTF8(v search.Value) bool {
	for _, s := range []string{v.Code, v.Text, v.System, v.RefType, v.RefID} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// querier runs package fhirsql's statements in a transaction, their ?
// marks numbered.
type querier struct{ tx pgx.Tx }

func (q querier) QueryRow(ctx context.Context, query string, args ...any) fhirsql.Scanner {
	return q.tx.QueryRow(ctx, rebind(query), args...)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (fhirsql.Rows, error) {
	rows, err := q.tx.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// SearchResources runs a search (see fhir.Searcher).
func (db *DB) SearchResources(ctx context.Context, req fhir.SearchRequest) (*fhir.SearchResult, error) {
	s, err := fhirSQL.NewSearch(req)
	if err != nil {
		return nil, err
	}
	var res *fhir.SearchResult
	err = db.read(ctx, func(tx pgx.Tx) error {
		res, err = s.Run(ctx, querier{tx})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: search %s: %w", req.Query.Type, err)
	}
	return res, nil
}
