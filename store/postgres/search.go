package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store/internal/scimsql"
)

// searchSQL is the SQL of a search on the resource of schema s (selecting
// cols FROM from): the count of all matches, taking args, and one page,
// taking args then its LIMIT and OFFSET. pgx prepares and keeps each
// statement per connection (store/sqlite keeps its own cache of search
// statements): a filter's SQL depends only on its shape.
func searchSQL(s *scimsql.Schema, cols, from string, q account.Query) (count, page string, args []any, err error) {
	where, args, err := s.Where(q.Filter)
	if err != nil {
		return "", "", nil, err
	}
	order, err := s.OrderBy(q.SortBy, q.Descending)
	if err != nil {
		return "", "", nil, err
	}
	n := len(args)
	return "SELECT COUNT(*) FROM " + from + " WHERE " + where,
		"SELECT " + cols + " FROM " + from + " WHERE " + where + " ORDER BY " + order +
			" LIMIT $" + strconv.Itoa(n+1) + " OFFSET $" + strconv.Itoa(n+2), args, nil
}

// search runs one page of a query on the resource of schema s (scanned by
// scan, which returns the number of rows and closes them) and counts all
// matches, in one read transaction so that both see the same data. The
// filter compiles to SQL (store/internal/scimsql); nothing is filtered in
// Go. The page is read first: when it is the first and not full, its
// length is the total and the count is not run.
func (db *DB) search(ctx context.Context, s *scimsql.Schema, cols, from string, q account.Query,
	scan func(tx pgx.Tx, rows pgx.Rows) (int, error)) (int, error) {
	count, page, args, err := searchSQL(s, cols, from, q)
	if err != nil {
		return 0, err
	}
	offset, limit := max(q.Offset, 0), max(q.Limit, 0)
	var total int
	err = db.read(ctx, func(tx pgx.Tx) error {
		if limit > 0 {
			rows, err := tx.Query(ctx, page, append(args, limit, offset)...)
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
		return tx.QueryRow(ctx, count, args...).Scan(&total)
	})
	return total, err
}

// SearchUsers returns one page of the users matching q and their number.
func (db *DB) SearchUsers(ctx context.Context, q account.Query) ([]account.User, int, error) {
	var out []account.User
	total, err := db.search(ctx, usersSchema, userColumns, "users u", q, func(_ pgx.Tx, rows pgx.Rows) (int, error) {
		var err error
		out, err = scanUsers(rows)
		return len(out), err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: search users: %w", err)
	}
	return out, total, nil
}

// SearchGroups returns one page of the groups matching q and their number,
// with their members when withMembers is set.
func (db *DB) SearchGroups(ctx context.Context, q account.Query, withMembers bool) ([]account.Group, int, error) {
	var out []account.Group
	total, err := db.search(ctx, groupsSchema, groupColumns, "groups g", q, func(tx pgx.Tx, rows pgx.Rows) (int, error) {
		var err error
		out, err = scanGroups(ctx, tx, rows, withMembers)
		return len(out), err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: search groups: %w", err)
	}
	return out, total, nil
}
