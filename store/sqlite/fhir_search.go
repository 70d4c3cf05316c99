package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store/internal/fhirsql"
)

// fhirSQL is SQLite's dialect of the FHIR search SQL, which package
// fhirsql builds and runs for both SQL backends.
var fhirSQL = &fhirsql.Dialect{
	True:  "1",
	False: "0",
	// The unary + keeps SQLite from scanning the type index when a
	// clause can drive the query through the value indexes.
	TypeHint: "+",
	// With the outer row fixed, (rid, param) finds the few rows of one
	// resource; the value indexes would scan every row of the parameter.
	RidIndex: " INDEXED BY fhir_index_rid",
	TextArg:  "?",
	// LIKE folds ASCII case.
	Like: func(col string) string { return col + ` LIKE ? ESCAPE '\'` },
	// In valid UTF-8 no byte is 0xFF, so every string with the prefix
	// sorts below prefix+"\xff" (text compares as bytes).
	PrefixEnd: func(prefix string) (string, bool) { return prefix + "\xff", true },
	Asc:       " ASC",
	Desc:      " DESC",
	Distinct:  "DISTINCT",
}

// querier runs package fhirsql's statements in a read transaction.
type querier struct{ tx *sql.Tx }

func (q querier) QueryRow(ctx context.Context, query string, args ...any) fhirsql.Scanner {
	return q.tx.QueryRowContext(ctx, query, args...)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (fhirsql.Rows, error) {
	rows, err := q.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// SearchResources runs a search (see fhir.Searcher).
func (db *DB) SearchResources(ctx context.Context, req fhir.SearchRequest) (*fhir.SearchResult, error) {
	s, err := fhirSQL.NewSearch(req)
	if err != nil {
		return nil, err
	}
	var res *fhir.SearchResult
	err = db.read(ctx, func(tx *sql.Tx) error {
		res, err = s.Run(ctx, querier{tx})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: search %s: %w", req.Query.Type, err)
	}
	return res, nil
}
