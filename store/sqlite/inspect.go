package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Inspection: read-only questions about what the database holds that no
// domain method answers, for tests (in this and the consuming packages)
// that prove what is, and is not, stored. They are not part of any storage
// interface; a second backend's tests answer them with their own SQL.

// TablesHolding names the tables that have a row in which some column holds
// needle, as text or as bytes (a raw secret, token or launch value must never
// be stored, only its hash). An empty needle matches nothing.
func (db *DB) TablesHolding(ctx context.Context, needle string) ([]string, error) {
	if needle == "" {
		return nil, nil
	}
	var found []string
	err := db.read(ctx, func(tx *sql.Tx) error {
		tables, err := stringColumn(ctx, tx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
		if err != nil {
			return err
		}
		for _, t := range tables {
			cols, err := stringColumn(ctx, tx, `SELECT name FROM pragma_table_info(?)`, t)
			if err != nil {
				return err
			}
			var terms []string
			for _, c := range cols {
				terms = append(terms, "instr(CAST("+quoteIdent(c)+" AS BLOB), ?) > 0")
			}
			args := make([]any, len(cols))
			for i := range args {
				args[i] = []byte(needle)
			}
			var one int
			err = tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+quoteIdent(t)+" WHERE "+strings.Join(terms, " OR ")+")", args...).Scan(&one)
			if err != nil {
				return err
			}
			if one == 1 {
				found = append(found, t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: tables holding a value: %w", err)
	}
	return found, nil
}

// CountTokens reports how many token records (any kind or state) are stored
// for clientID, or for every client when clientID is "".
func (db *DB) CountTokens(ctx context.Context, clientID string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM oauth_tokens WHERE ? = '' OR client_id = ?`, clientID, clientID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count tokens: %w", mapErr(err))
	}
	return n, nil
}

// CountRevokedAccessJTIs reports how many RevokeAccessJTI entries are kept
// (maintenance drops those whose token has expired).
func (db *DB) CountRevokedAccessJTIs(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM oauth_revoked_access`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count revoked access jtis: %w", mapErr(err))
	}
	return n, nil
}

func stringColumn(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// quoteIdent quotes a table or column name read from the schema.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
