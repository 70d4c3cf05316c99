package authz_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

func accountsDB(t *testing.T) (*sqlite.DB, *account.Hasher) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, account.NewHasher(account.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
}

// createAccount stores a new local account; change adjusts it first.
func createAccount(t *testing.T, db *sqlite.DB, h *account.Hasher, name, role, fhirUser string, change func(*account.User)) *account.User {
	t.Helper()
	u, err := account.NewLocalUser(context.Background(), h, name, name+"'s long password", []string{role}, fhirUser)
	if err != nil {
		t.Fatal(err)
	}
	change(u)
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAccountsMapsAccountErrors (was cmd/smartgate's
// TestUserDirectoryMapsAccountErrors): the adapter between the accounts
// code and authz turns a wrong password into authz.ErrInvalidCredentials
// (which counts towards the OWin lockout) and the accounts throttle into
// authz.ErrAccountLocked (which does not count again).
func TestAccountsMapsAccountErrors(t *testing.T) {
	ctx := context.Background()
	db, h := accountsDB(t)
	u := createAccount(t, db, h, "carol", account.RolePractitioner, "", func(*account.User) {})
	now := time.Now()
	throttle := account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 2, Now: func() time.Time { return now }})
	d := authz.Accounts{Store: db, Passwords: account.NewAuthenticator(db, h, throttle)}
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
	if _, err := (authz.Accounts{Store: db}).Authenticate(ctx, "carol", "carol's long password", "192.0.2.1"); !errors.Is(err, authz.ErrInvalidCredentials) {
		t.Fatalf("no password checker: %v, want ErrInvalidCredentials", err)
	}
}

// TestAccountsClaims: the claims follow the stored account (label, the
// primary e-mail, fhirUser, roles) and a deactivated or unknown account is
// not found.
func TestAccountsClaims(t *testing.T) {
	ctx := context.Background()
	db, h := accountsDB(t)
	u := createAccount(t, db, h, "dana", account.RolePatient, "Patient/p1", func(u *account.User) {
		u.DisplayName = "Dana D."
		u.Emails = []account.Email{{Value: "first@example.org"}, {Value: "primary@example.org", Primary: true}, {Value: "last@example.org"}}
	})
	d := authz.Accounts{Store: db}
	c, err := d.Claims(ctx, u.ID)
	want := authz.UserClaims{Subject: u.ID, Username: "dana", Name: "Dana D.", Email: "primary@example.org", FHIRUser: "Patient/p1"}
	if err != nil || c.Subject != want.Subject || c.Username != want.Username || c.Name != want.Name || c.Email != want.Email ||
		c.FHIRUser != want.FHIRUser || !slices.Equal(c.Roles, []string{account.RolePatient}) {
		t.Fatalf("Claims = %+v, %v; want %+v with roles [patient]", c, err, want)
	}

	stored, err := db.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Active = false
	if err := db.UpdateUser(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Claims(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deactivated account: %v, want store.ErrNotFound", err)
	}
	if _, err := d.Claims(ctx, "no-such-id"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown account: %v, want store.ErrNotFound", err)
	}
}
