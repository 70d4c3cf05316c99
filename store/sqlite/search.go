package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store/internal/scimsql"
)

// searchSQL is the SQL of a search on the resource of schema s (selecting
// cols FROM from): the count of all matches and one page, both taking args
// (the page then its LIMIT and OFFSET).
func searchSQL(s *scimsql.Schema, cols, from string, q account.Query) (count, page string, args []any, err error) {
	where, args, err := s.Where(q.Filter)
	if err != nil {
		return "", "", nil, err
	}
	order, err := s.OrderBy(q.SortBy, q.Descending)
	if err != nil {
		return "", "", nil, err
	}
	return "SELECT COUNT(*) FROM " + from + " WHERE " + where,
		"SELECT " + cols + " FROM " + from + " WHERE " + where + " ORDER BY " + order + " LIMIT ? OFFSET ?", args, nil
}

// search runs one page of a query on the resource of schema s (scanned by
// scan, which returns the number of rows) and counts all matches, in one
// read transaction so that both see the same data. The filter compiles to
// SQL (store/internal/scimsql); nothing is filtered in Go. The page is
// read first: when it is the first and not full, its length is the total
// and the count is not run.
func (db *DB) search(ctx context.Context, s *scimsql.Schema, cols, from string, q account.Query,
	scan func(tx *sql.Tx, rows *sql.Rows) (int, error)) (int, error) {
	count, page, args, err := searchSQL(s, cols, from, q)
	if err != nil {
		return 0, err
	}
	countStmt, err := db.searchStmt(ctx, count)
	if err != nil {
		return 0, mapErr(err)
	}
	pageStmt, err := db.searchStmt(ctx, page)
	if err != nil {
		return 0, mapErr(err)
	}
	offset, limit := max(q.Offset, 0), max(q.Limit, 0)
	var total int
	err = db.read(ctx, func(tx *sql.Tx) error {
		if limit > 0 {
			st, err := txStmt(ctx, tx, pageStmt, page)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.QueryContext(ctx, append(args, limit, offset)...)
			if err != nil {
				return err
			}
			n, err := scan(tx, rows)
			if err != nil {
				return err
			}
			if offset == 0 && n < limit {
				total = n
				return nil
			}
		}
		st, err := txStmt(ctx, tx, countStmt, count)
		if err != nil {
			return err
		}
		defer st.Close()
		return st.QueryRowContext(ctx, args...).Scan(&total)
	})
	return total, err
}

// txStmt is kept (when not nil) for use in tx, else query prepared in tx.
func txStmt(ctx context.Context, tx *sql.Tx, kept *sql.Stmt, query string) (*sql.Stmt, error) {
	if kept != nil {
		return tx.StmtContext(ctx, kept), nil
	}
	return tx.PrepareContext(ctx, query)
}

// SearchUsers returns one page of the users matching q and their number.
func (db *DB) SearchUsers(ctx context.Context, q account.Query) ([]account.User, int, error) {
	var out []account.User
	total, err := db.search(ctx, usersSchema, userColumns, "users u", q, func(tx *sql.Tx, rows *sql.Rows) (int, error) {
		var err error
		out, err = db.scanUsers(ctx, tx, rows)
		return len(out), err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: search users: %w", err)
	}
	return out, total, nil
}

// SearchGroups returns one page of the groups matching q and their number,
// with their members when withMembers is set.
func (db *DB) SearchGroups(ctx context.Context, q account.Query, withMembers bool) ([]account.Group, int, error) {
	var out []account.Group
	total, err := db.search(ctx, groupsSchema, groupColumns, "groups g", q, func(tx *sql.Tx, rows *sql.Rows) (int, error) {
		var err error
		out, err = scanGroups(ctx, tx, rows, withMembers)
		return len(out), err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: search groups: %w", err)
	}
	return out, total, nil
}
