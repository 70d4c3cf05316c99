package sqlite

import (
	"context"
	"fmt"
)

// ExportTables lists the data tables (not SQLite's own, not
// schema_migrations), for `smartgate migrate`.
func (db *DB) ExportTables(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tables: %w", mapErr(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sqlite: tables: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// ExportRows calls fn with every row of table, in one read snapshot, as
// the driver returns its values (int64, float64, string, []byte, nil).
// table must be one of ExportTables'.
func (db *DB) ExportRows(ctx context.Context, table string, fn func(cols []string, vals []any) error) error {
	tables, err := db.ExportTables(ctx)
	if err != nil {
		return err
	}
	known := false
	for _, t := range tables {
		known = known || t == table
	}
	if !known {
		return fmt.Errorf("sqlite: export: no table %q", table)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
	if err != nil {
		return fmt.Errorf("sqlite: export %s: %w", table, mapErr(err))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("sqlite: export %s: %w", table, err)
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	return rows.Err()
}
