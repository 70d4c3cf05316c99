package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store/internal/scimsql"
	"github.com/smartgate/smartgate/store/postgres/pgtest"
)

// queryPlan is EXPLAIN of query with sequential scans discouraged (an
// empty table would otherwise be scanned whatever its indexes), its lines
// joined by "; ". A sequential scan still shows when no index can answer.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	var plan []string
	err := db.read(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	return strings.Join(plan, "; ")
}

// The filters provisioning clients send on every sync (Entra ID and Okta
// look people up by userName and externalId, and by e-mail) are answered
// from an index, never by a scan of every user: the count and the page of
// the very SQL that SearchUsers runs, and the same for groups by
// displayName and members.value (store/sqlite's
// TestDirectorySearchesUseAnIndex). The case-insensitive ones prove that
// the compiler's lower(x COLLATE "C") is the indexes' expression.
func TestDirectorySearchesUseAnIndex(t *testing.T) {
	db, err := Open(context.Background(), pgtest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name   string
		s      *scimsql.Schema
		filter account.Filter
		index  string
	}{
		{"userName eq", usersSchema, account.Compare{Attr: "userName", Op: account.OpEq, Value: "Alice"}, "users_user_name_key"},
		{"externalId eq", usersSchema, account.Compare{Attr: "externalId", Op: account.OpEq, Value: "x", CaseExact: true},
			"users_external_id"},
		{"smartgate.fhirUser eq", usersSchema, account.Compare{Attr: "smartgate.fhirUser", Op: account.OpEq, Value: "Patient/1", CaseExact: true},
			"users_fhir_user"},
		{"emails.value eq", usersSchema, account.Compare{Attr: "emails.value", Op: account.OpEq, Value: "a@example.org"},
			"user_emails_value"},
		{"emails bracket", usersSchema, account.ValuePath{Attr: "emails", Filter: account.And{
			Left:  account.Compare{Attr: "emails.value", Op: account.OpEq, Value: "a@example.org"},
			Right: account.Compare{Attr: "emails.type", Op: account.OpEq, Value: "work"}}},
			"user_emails_value"},
		{"groups displayName eq", groupsSchema, account.Compare{Attr: "displayName", Op: account.OpEq, Value: "Nurses"},
			"groups_display_name"},
		{"groups members.value eq", groupsSchema, account.Compare{Attr: "members.value", Op: account.OpEq, Value: "u1", CaseExact: true},
			"group_members_user"},
	} {
		cols, from := userColumns, "users u"
		if tc.s == groupsSchema {
			cols, from = groupColumns, "groups g"
		}
		count, page, args, err := searchSQL(tc.s, cols, from, account.Query{Filter: tc.filter, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			what, sql string
			args      []any
		}{{"count", count, args}, {"page", page, append(args, 100, 0)}} {
			got := queryPlan(t, db, q.sql, q.args...)
			t.Logf("%s %s: %s", tc.name, q.what, got)
			if !strings.Contains(got, tc.index) || strings.Contains(got, "Seq Scan") {
				t.Errorf("%s %s: plan %q, want %s and no sequential scan", tc.name, q.what, got, tc.index)
			}
		}
	}
}
