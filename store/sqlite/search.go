package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/smartgate/smartgate/account"
)

// searchSQL is the SQL of a search on the resource of schema s (selecting
// cols FROM from): the count of all matches and one page, both taking args
// (the page then its LIMIT and OFFSET).
func (s *schema) searchSQL(cols, from string, q account.Query) (count, page string, args []any, err error) {
	where, args, err := s.where(q.Filter)
	if err != nil {
		return "", "", nil, err
	}
	order, err := s.orderBy(q.SortBy, q.Descending)
	if err != nil {
		return "", "", nil, err
	}
	return "SELECT COUNT(*) FROM " + from + " WHERE " + where,
		"SELECT " + cols + " FROM " + from + " WHERE " + where + " ORDER BY " + order + " LIMIT ? OFFSET ?", args, nil
}

// search runs one page of a query on the resource of schema s (scanned by
// scan, unless q.Limit is 0) and counts all matches, in one read
// transaction so that both see the same data. The filter compiles to SQL
// (filter.go); nothing is filtered in Go.
func (db *DB) search(ctx context.Context, s *schema, cols, from string, q account.Query, scan func(tx *sql.Tx, rows *sql.Rows) error) (int, error) {
	count, page, args, err := s.searchSQL(cols, from, q)
	if err != nil {
		return 0, err
	}
	offset, limit := max(q.Offset, 0), max(q.Limit, 0)
	var total int
	err = db.read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, count, args...).Scan(&total); err != nil {
			return err
		}
		if limit == 0 || offset >= total {
			return nil
		}
		rows, err := tx.QueryContext(ctx, page, append(args, limit, offset)...)
		if err != nil {
			return err
		}
		return scan(tx, rows)
	})
	return total, err
}

// SearchUsers returns one page of the users matching q and their number.
func (db *DB) SearchUsers(ctx context.Context, q account.Query) ([]account.User, int, error) {
	var out []account.User
	total, err := db.search(ctx, &usersSchema, userColumns, "users u", q, func(tx *sql.Tx, rows *sql.Rows) error {
		var err error
		out, err = scanUsers(ctx, tx, rows)
		return err
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
	total, err := db.search(ctx, &groupsSchema, groupColumns, "groups g", q, func(tx *sql.Tx, rows *sql.Rows) error {
		var err error
		out, err = scanGroups(ctx, tx, rows, withMembers)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: search groups: %w", err)
	}
	return out, total, nil
}
