// Package fhirsql is the FHIR search SQL of smartgate's SQL backends
// (store/sqlite, store/postgres): one translation of a search (clauses,
// chains, access limits, sort, paging, includes) into SQL over the
// fhir_resources, fhir_index and fhir_compartment tables, and one run of
// it, so that both backends keep one rule. What differs between the
// databases is a Dialect; what runs the statements is a Querier, a
// backend's read transaction.
//
// The SQL is built with ? marks; a backend whose database numbers its
// parameters rebinds the whole statement in its Querier.
package fhirsql

import (
	"context"
	"strings"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store/internal/dbtime"
)

// Dialect is what the search SQL of one database differs in. Its fields
// are SQL text (or functions building it) that carry no parameter value.
type Dialect struct {
	// True and False are the boolean literals ("1", "0" in SQLite).
	True, False string
	// TypeHint prefixes the outer type condition when a clause selects
	// rows through the value indexes ("+" keeps SQLite from scanning
	// the type index; "" to let the planner choose).
	TypeHint string
	// RidIndex follows "fhir_index x" in the per-candidate checks of the
	// other plain clauses: with the outer row fixed, (rid, param) finds
	// the few rows of one resource, and " INDEXED BY fhir_index_rid"
	// keeps SQLite from scanning every row of the parameter instead.
	RidIndex string
	// MillisCast follows the integer milliseconds of last_updated that
	// _lastUpdated compares ("::float8" in PostgreSQL, the type of the
	// range bounds).
	MillisCast string
	// TextArg is a ? for a text argument where the database cannot infer
	// its type ("?::text" in PostgreSQL).
	TextArg string
	// Like is the condition that column col matches the ? LIKE pattern
	// (escape character \), folding ASCII case as SQLite's LIKE does.
	Like func(col string) string
	// PrefixEnd is the least string above every string that starts with
	// prefix, in the order of the text column; false when there is none.
	PrefixEnd func(prefix string) (string, bool)
	// Valid, when set, reports whether a search value can be passed as
	// parameters at all; an invalid value matches no row.
	Valid func(v search.Value) bool
	// Asc and Desc are the sort directions, ordering NULL as the least
	// value (as SQLite does).
	Asc, Desc string
	// Distinct selects the included rows once each ("DISTINCT" or
	// "DISTINCT ON (t.rid)").
	Distinct string
}

// Scanner is a row, or a result that is one row.
type Scanner interface{ Scan(dest ...any) error }

// Rows is the result of a query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements with ? marks in a backend's transaction.
type Querier interface {
	QueryRow(ctx context.Context, query string, args ...any) Scanner
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// ResourceCols are the columns of a fhir_resources row that ScanRow reads.
const ResourceCols = "rid, type, id, version, last_updated, deleted, json"

// Row is a resource with its row number (rid), which the backends page
// and include by; the row number never leaves them.
type Row struct {
	RID int64
	fhir.Resource
}

// ScanRow reads the ResourceCols of a fhir_resources row (or the same
// columns of fhir_history, seq for rid).
func ScanRow(sc Scanner) (Row, error) {
	var r Row
	var us, deleted int64
	if err := sc.Scan(&r.RID, &r.Type, &r.ID, &r.Version, &us, &deleted, &r.JSON); err != nil {
		return Row{}, err
	}
	r.LastUpdated = dbtime.Decode(us)
	r.Deleted = deleted != 0
	return r, nil
}

// ScanResource is ScanRow without the row number.
func ScanResource(sc Scanner) (*fhir.Resource, error) {
	r, err := ScanRow(sc)
	if err != nil {
		return nil, err
	}
	return &r.Resource, nil
}

// placeholders is n comma-separated ? marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}
