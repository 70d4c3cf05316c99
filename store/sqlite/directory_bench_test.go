package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
)

// The directory's speed on 100,000 people, next to its floors: a bare
// INSERT INTO users (one autocommit statement on the writer) for
// CreateUser, and a bare indexed SELECT … WHERE user_name = ? for a
// userName filter. The goals are ratios to these floors:
//
//	go test -run '^$' -bench 'Directory' -benchtime 3s ./store/sqlite/

const benchPeople = 100_000

// seedUsers adds n users named user-0 … user-(n-1), each with a work
// e-mail and an externalId, in one transaction (seconds, not the minutes
// n CreateUser calls would take); the rows are what CreateUser writes.
func seedUsers(tb testing.TB, db *DB, n int) {
	tb.Helper()
	ctx := context.Background()
	now := encodeTime(time.Now())
	err := db.write(ctx, func(tx *sql.Tx) error {
		user, err := tx.PrepareContext(ctx, `INSERT INTO users (id, user_name, display_name, active, roles, external_id,
			created, last_modified, version) VALUES (?,?,?,1,'patient',?,?,?,1)`)
		if err != nil {
			return err
		}
		defer user.Close()
		email, err := tx.PrepareContext(ctx, `INSERT INTO user_emails (user_id, position, value, type, is_primary) VALUES (?,0,?,'work',1)`)
		if err != nil {
			return err
		}
		defer email.Close()
		for i := range n {
			id := account.NewID()
			name := fmt.Sprintf("user-%d", i)
			if _, err := user.ExecContext(ctx, id, name, "User "+name, "ext-"+name, now+int64(i), now+int64(i)); err != nil {
				return err
			}
			if _, err := email.ExecContext(ctx, id, name+"@example.org"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seed %d users: %v", n, err)
	}
}

func openSeeded(b *testing.B) *DB {
	b.Helper()
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	seedUsers(b, db, benchPeople)
	return db
}

func BenchmarkDirectorySearchUserNameEq(b *testing.B) {
	db := openSeeded(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		name := fmt.Sprintf("USER-%d", rand.IntN(benchPeople))
		us, total, err := db.SearchUsers(ctx, account.Query{
			Filter: account.Compare{Attr: "userName", Op: account.OpEq, Value: name}, Limit: 100})
		if err != nil || len(us) != 1 || total != 1 {
			b.Fatalf("SearchUsers(%s) = %d users, total %d, %v", name, len(us), total, err)
		}
	}
}

func BenchmarkDirectoryFloorSelect(b *testing.B) {
	db := openSeeded(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		var id string
		name := fmt.Sprintf("user-%d", rand.IntN(benchPeople))
		if err := db.r.QueryRowContext(ctx, "SELECT id FROM users WHERE user_name = ?", name).Scan(&id); err != nil {
			b.Fatal(err)
		}
	}
}

var benchSeq atomic.Int64

func BenchmarkDirectoryCreateUser(b *testing.B) {
	db := openSeeded(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		name := fmt.Sprintf("new-%d", benchSeq.Add(1))
		u := &account.User{UserName: name, DisplayName: "New " + name, Active: true, ExternalID: "ext-" + name,
			Emails: []account.Email{{Value: name + "@example.org", Type: "work", Primary: true}}, Roles: []string{account.RolePatient}}
		if err := db.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDirectoryFloorInsert(b *testing.B) {
	db := openSeeded(b)
	ctx := context.Background()
	now := encodeTime(time.Now())
	b.ResetTimer()
	for b.Loop() {
		name := fmt.Sprintf("floor-%d", benchSeq.Add(1))
		if _, err := db.w.ExecContext(ctx, "INSERT INTO users (id, user_name, created, last_modified) VALUES (?,?,?,?)",
			account.NewID(), name, now, now); err != nil {
			b.Fatal(err)
		}
	}
}
