package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Source is a database to copy from (store/sqlite's export methods), at
// the same schema version as this one.
type Source interface {
	SchemaVersion(ctx context.Context) (int, error)
	ExportTables(ctx context.Context) ([]string, error)
	ExportRows(ctx context.Context, table string, fn func(cols []string, vals []any) error) error
}

// ErrNotEmpty is returned by Import for a target that holds data.
var ErrNotEmpty = errors.New("postgres: the target database is not empty")

// Import copies every table of src into this database, which must be
// empty and at src's schema version, in one transaction: parents before
// the tables that reference them, each value converted to its column's
// type, the identity sequences moved past the copied ids, and every
// table's row count compared with the source's. It returns the counts.
func (db *DB) Import(ctx context.Context, src Source) (map[string]int64, error) {
	sv, err := src.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != sv {
		return nil, fmt.Errorf("postgres: import: schema version %d here, %d in the source (%v); open the source with this smartgate first", v, sv, err)
	}
	tables, err := src.ExportTables(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	err = db.write(ctx, func(tx pgx.Tx) error {
		order, err := tableOrder(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			if !slices.Contains(order, t) {
				return fmt.Errorf("postgres: import: the source has a table %q this schema lacks", t)
			}
		}
		for _, t := range order {
			var n int64
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: table %s has %d rows", ErrNotEmpty, t, n)
			}
		}
		for _, t := range order {
			if !slices.Contains(tables, t) {
				continue
			}
			n, err := copyTable(ctx, tx, src, t)
			if err != nil {
				return fmt.Errorf("postgres: import %s: %w", t, err)
			}
			counts[t] = n
		}
		return resetSequences(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	for t, want := range counts {
		var got int64
		if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&got); err != nil || got != want {
			return nil, fmt.Errorf("postgres: import: table %s has %d rows after the copy, the source %d (%v)", t, got, want, err)
		}
	}
	return counts, nil
}

// tableOrder lists the public tables (but schema_migrations), each after
// the tables its foreign keys reference.
func tableOrder(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname, COALESCE(array_agg(p.relname) FILTER (WHERE p.relname IS NOT NULL AND p.relname <> c.relname), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'f'
		LEFT JOIN pg_class p ON p.oid = k.confrelid
		WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
		GROUP BY c.relname ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	var names []string
	for rows.Next() {
		var name string
		var parents []string
		if err := rows.Scan(&name, &parents); err != nil {
			rows.Close()
			return nil, err
		}
		names, deps[name] = append(names, name), parents
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var order []string
	done := map[string]bool{}
	for len(order) < len(names) {
		progress := false
		for _, n := range names {
			if done[n] || slices.ContainsFunc(deps[n], func(p string) bool { return !done[p] }) {
				continue
			}
			order, done[n], progress = append(order, n), true, true
		}
		if !progress {
			return nil, errors.New("postgres: import: the foreign keys form a cycle")
		}
	}
	return order, nil
}

// copyTable copies table's rows with COPY, converting each value to its
// column's type.
func copyTable(ctx context.Context, tx pgx.Tx, src Source, table string) (int64, error) {
	types, err := columnTypes(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	// The column list comes from the source's first row; rows stream from
	// the export into COPY through a channel, never all in memory.
	type item struct {
		row []any
		err error
	}
	ch := make(chan item, 256)
	colsCh := make(chan []string, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(ch)
		first := true
		err := src.ExportRows(ctx, table, func(c []string, vals []any) error {
			if first {
				colsCh <- c
				first = false
			}
			row := make([]any, len(vals))
			for i, v := range vals {
				typ, ok := types[c[i]]
				if !ok {
					return fmt.Errorf("column %s is not in this schema", c[i])
				}
				cv, err := convert(v, typ)
				if err != nil {
					return fmt.Errorf("column %s: %w", c[i], err)
				}
				row[i] = cv
			}
			select {
			case ch <- item{row: row}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if first {
			close(colsCh)
		}
		if err != nil {
			select {
			case ch <- item{err: err}:
			case <-ctx.Done():
			}
		}
	}()
	cols, ok := <-colsCh
	if !ok {
		// No rows (or an error before the first): nothing to copy.
		for it := range ch {
			if it.err != nil {
				return 0, it.err
			}
		}
		return 0, nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		it, ok := <-ch
		if !ok {
			return nil, nil
		}
		if it.err != nil {
			return nil, it.err
		}
		return it.row, nil
	}))
	return n, err
}

func columnTypes(ctx context.Context, tx pgx.Tx, table string) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		var c, t string
		if err := rows.Scan(&c, &t); err != nil {
			rows.Close()
			return nil, err
		}
		out[c] = t
	}
	return out, rows.Err()
}

// convert is v, as the SQLite driver returned it, for a column of type
// typ (information_schema's data_type).
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		case string:
			return strconv.ParseInt(x, 10, 64)
		case []byte:
			return strconv.ParseInt(string(x), 10, 64)
		}
	case "double precision", "real", "numeric":
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			return strconv.ParseFloat(x, 64)
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "text", "character varying":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
	}
	return nil, fmt.Errorf("a %T value for a %s column", v, typ)
}

// resetSequences moves every identity column's sequence past the largest
// id copied, so that new rows do not collide with copied ones.
func resetSequences(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return err
	}
	var pairs [][2]string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return err
		}
		pairs = append(pairs, [2]string{t, c})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range pairs {
		table, col := pgx.Identifier{p[0]}.Sanitize(), pgx.Identifier{p[1]}.Sanitize()
		q := "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(" + col + ") FROM " + table + "), 0) + 1, false)"
		if _, err := tx.Exec(ctx, q, table, p[1]); err != nil {
			return fmt.Errorf("postgres: import: sequence of %s.%s: %w", p[0], p[1], err)
		}
	}
	return nil
}
