package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store/sqlite"
)

// TestUserDirectoryMapsAccountErrors: the adapter between the accounts code
// and authz turns a wrong password into authz.ErrInvalidCredentials (which
// counts towards the OWin lockout) and the accounts throttle into
// authz.ErrAccountLocked (which does not count again).
func TestUserDirectoryMapsAccountErrors(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := account.NewHasher(account.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	u, err := account.NewLocalUser(ctx, h, "carol", "carol's long password", []string{account.RolePractitioner}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	throttle := account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 2, Now: func() time.Time { return now }})
	d := userDirectory{db: db, passwords: account.NewAuthenticator(db, h, throttle)}
	if c, err := d.Authenticate(ctx, "carol", "carol's long password", "192.0.2.1"); err != nil || c.Subject != u.ID {
		t.Fatalf("right password: %+v %v", c, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := d.Authenticate(ctx, "carol", "wrong", "192.0.2.1"); !errors.Is(err, authz.ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v, want ErrInvalidCredentials", err)
		}
	}
	if _, err := d.Authenticate(ctx, "carol", "carol's long password", "192.0.2.1"); !errors.Is(err, authz.ErrAccountLocked) {
		t.Fatalf("throttled account: %v, want ErrAccountLocked", err)
	}
	if _, err := d.Authenticate(ctx, "nobody", "x", "192.0.2.1"); !errors.Is(err, authz.ErrInvalidCredentials) {
		t.Fatalf("unknown user: %v, want ErrInvalidCredentials", err)
	}
}
