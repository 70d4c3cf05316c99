package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkAccountOfToken measures what a person's token costs the store
// on every introspection, FHIR request and refresh (authz.Accounts.Claims):
// the account read by id with its e-mails and phone numbers, then its
// groups, on 1,000 people.
//
//	go test -run '^$' -bench 'AccountOfToken' ./store/sqlite/
func BenchmarkAccountOfToken(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	seedUsers(b, db, 1000)
	ctx := context.Background()
	u, err := db.UserByName(ctx, "user-500")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := db.User(ctx, u.ID)
		if err != nil || got.ID != u.ID || len(got.Emails) != 1 {
			b.Fatalf("User(%s) = %+v, %v", u.ID, got, err)
		}
		if _, err := db.GroupsOf(ctx, u.ID); err != nil {
			b.Fatal(err)
		}
	}
}
