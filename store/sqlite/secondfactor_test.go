package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

// A user's second factor and recovery codes are deleted with the user (the
// schema's ON DELETE CASCADE; smartgate itself only deactivates accounts,
// but an operator's DELETE must not leave a credential behind).
func TestSecondFactorDeletedWithUser(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u := &account.User{UserName: "ann", Active: true}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.BeginSecondFactor(ctx, &account.SecondFactor{UserID: u.ID, Secret: []byte("s"), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := db.ConfirmSecondFactor(ctx, u.ID, []byte("s"), 1, time.Now(), [][]byte{[]byte("h1"), []byte("h2")}); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", u.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SecondFactor(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second factor after the user's delete: %v, want ErrNotFound", err)
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM second_factor_recovery").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d recovery codes left after the user's delete", n)
	}
}
