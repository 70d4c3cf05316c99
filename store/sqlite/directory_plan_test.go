package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store/internal/scimsql"
)

// queryPlan is EXPLAIN QUERY PLAN of query, its details joined by "; ".
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN %s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

// The filters provisioning clients send on every sync (Entra ID and Okta
// look people up by userName and externalId, and by e-mail) are answered
// from an index, never by a scan of every user: the count and the page of
// the very SQL that SearchUsers runs, and the same for groups by
// displayName and members.value.
func TestDirectorySearchesUseAnIndex(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "plan.db"), Options{})
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
		{"userName eq", usersSchema, account.Compare{Attr: "userName", Op: account.OpEq, Value: "Alice"},
			"INDEX sqlite_autoindex_users_2 (user_name=?)"},
		{"externalId eq", usersSchema, account.Compare{Attr: "externalId", Op: account.OpEq, Value: "x", CaseExact: true},
			"INDEX users_external_id (external_id=?)"},
		{"smartgate.fhirUser eq", usersSchema, account.Compare{Attr: "smartgate.fhirUser", Op: account.OpEq, Value: "Patient/1", CaseExact: true},
			"INDEX users_fhir_user (fhir_user=?)"},
		{"emails.value eq", usersSchema, account.Compare{Attr: "emails.value", Op: account.OpEq, Value: "a@example.org"},
			"INDEX user_emails_value (value=?)"},
		{"emails bracket", usersSchema, account.ValuePath{Attr: "emails", Filter: account.And{
			Left:  account.Compare{Attr: "emails.value", Op: account.OpEq, Value: "a@example.org"},
			Right: account.Compare{Attr: "emails.type", Op: account.OpEq, Value: "work"}}},
			"INDEX user_emails_value (value=?)"},
		{"groups displayName eq", groupsSchema, account.Compare{Attr: "displayName", Op: account.OpEq, Value: "Nurses"},
			"INDEX groups_display_name (display_name=?)"},
		{"groups members.value eq", groupsSchema, account.Compare{Attr: "members.value", Op: account.OpEq, Value: "u1", CaseExact: true},
			"INDEX group_members_user (user_id=?)"},
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
			if !strings.Contains(got, tc.index) || strings.Contains(got, "SCAN u") || strings.Contains(got, "SCAN g") ||
				strings.Contains(got, "SCAN e") {
				t.Errorf("%s %s: plan %q, want %s and no scan", tc.name, q.what, got, tc.index)
			}
		}
	}
}
