package micro

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// The SQLite floors of the federated log-in benchmarks beside the code
// (idp/link BenchmarkResolveLinked and BenchmarkResolveProvision, account
// BenchmarkSignInCodeRedeem): the same rows read and written on a bare
// database/sql file with the store's connection settings (one writer in
// WAL mode with immediate transactions, query_only readers, synchronous
// NORMAL as in those benchmarks), without smartgate's records, JSON or
// checks.

const floorSchema = `
CREATE TABLE users (id TEXT PRIMARY KEY, user_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
	json BLOB NOT NULL, created INTEGER NOT NULL);
CREATE TABLE links (issuer TEXT NOT NULL, subject TEXT NOT NULL,
	user_id TEXT NOT NULL REFERENCES users(id), provider TEXT NOT NULL,
	email TEXT NOT NULL, created INTEGER NOT NULL, last_login INTEGER NOT NULL,
	PRIMARY KEY (issuer, subject));
CREATE TABLE codes (hash BLOB PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
	expires INTEGER NOT NULL)`

// floorUser is about the size of a provisioned account's JSON.
const floorUser = `{"userName":"p@example.org","active":true,"roles":["patient"],` +
	`"name":{"formatted":"Bench Person"},"displayName":"Bench Person",` +
	`"emails":[{"value":"p@example.org","primary":true}]}`

type floorDB struct {
	w, r *sql.DB
}

func openFloor(b *testing.B) floorDB {
	b.Helper()
	path, err := filepath.Abs(filepath.Join(b.TempDir(), "floor.db"))
	if err != nil {
		b.Fatal(err)
	}
	dsn := func(pragmas ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_pragma", "foreign_keys(1)")
		for _, p := range pragmas {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		return (&url.URL{Scheme: "file", Path: path}).String() + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("journal_mode(WAL)", "synchronous(NORMAL)"))
	if err != nil {
		b.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(floorSchema); err != nil {
		b.Fatal(err)
	}
	r, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		b.Fatal(err)
	}
	r.SetMaxOpenConns(4)
	b.Cleanup(func() { r.Close(); w.Close() })
	if _, err := w.Exec(`INSERT INTO users VALUES ('u0', 'bench', ?, 0)`, floorUser); err != nil {
		b.Fatal(err)
	}
	return floorDB{w: w, r: r}
}

// BenchmarkFloorLinkedLogin: the floor of a linked identity's log-in: the
// link and its account in one indexed read, the log-in time in one
// autocommitted UPDATE.
func BenchmarkFloorLinkedLogin(b *testing.B) {
	db := openFloor(b)
	if _, err := db.w.Exec(`INSERT INTO links VALUES ('https://op.example', 'bench', 'u0', 'op', '', 0, 0)`); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var id string
		var js []byte
		if err := db.r.QueryRow(`SELECT u.id, u.json FROM links l JOIN users u ON u.id = l.user_id
			WHERE l.issuer = ? AND l.subject = ?`, "https://op.example", "bench").Scan(&id, &js); err != nil {
			b.Fatal(err)
		}
		if _, err := db.w.Exec(`UPDATE links SET last_login = ? WHERE issuer = ? AND subject = ?`,
			time.Now().UnixMicro(), "https://op.example", "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorProvision: the floor of a first log-in with provisioning
// auto: an account row and a link row inserted in one transaction.
func BenchmarkFloorProvision(b *testing.B) {
	db := openFloor(b)
	n := 0
	for b.Loop() {
		n++
		id, sub := fmt.Sprintf("u%d", n), fmt.Sprintf("bench-%d", n)
		now := time.Now().UnixMicro()
		tx, err := db.w.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO users VALUES (?, ?, ?, ?)`, id, sub+"@example.org", floorUser, now); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO links VALUES ('https://op.example', ?, ?, 'op', ?, ?, ?)`,
			sub, id, sub+"@example.org", now, now); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorTakeCode: the floor of a sign-in code's redemption: the
// code's SHA-256, the code row taken (DELETE … RETURNING) and the account
// read by id. Each code is inserted outside the timing.
func BenchmarkFloorTakeCode(b *testing.B) {
	db := openFloor(b)
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		code := fmt.Sprintf("CODE%08d", n)
		h := sha256.Sum256([]byte(code))
		if _, err := db.w.Exec(`INSERT INTO codes VALUES (?, 'u0', ?)`, h[:], time.Now().Add(time.Minute).UnixMicro()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		h = sha256.Sum256([]byte(code))
		var uid string
		if err := db.w.QueryRow(`DELETE FROM codes WHERE hash = ? AND expires > ? RETURNING user_id`,
			h[:], time.Now().UnixMicro()).Scan(&uid); err != nil {
			b.Fatal(err)
		}
		var js []byte
		if err := db.r.QueryRow(`SELECT json FROM users WHERE id = ?`, uid).Scan(&js); err != nil {
			b.Fatal(err)
		}
	}
}
