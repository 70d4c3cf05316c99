package local_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/idp/local"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
)

// The one local connector is what the log-in form and the OWin grant take.
var (
	_ web.PasswordChecker    = (*local.Connector)(nil)
	_ authz.AccountPasswords = (*local.Connector)(nil)
	_ idp.PasswordConnector  = (*local.Connector)(nil)
	_ local.Passwords        = (*account.Authenticator)(nil)
)

type env struct {
	db   *sqlite.DB
	conn *local.Connector
	ann  *account.User
}

// newEnv opens a SQLite file with the active "ann" (password "right
// password", two emails, the second primary) and the inactive "bob" (the
// same password), and the local connector over an Authenticator whose
// throttle locks an account after 3 failures.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	hash, err := h.Hash(ctx, "right password")
	if err != nil {
		t.Fatal(err)
	}
	ann := &account.User{UserName: "ann", DisplayName: "Ann Example", Active: true, PasswordHash: hash,
		Name:   account.Name{GivenName: "Ann", FamilyName: "Example"},
		Emails: []account.Email{{Value: "ann@home.example"}, {Value: "ann@work.example", Primary: true}}}
	bob := &account.User{UserName: "bob", Active: false, PasswordHash: hash}
	for _, u := range []*account.User{ann, bob} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	th := account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 3, MaxPerAddress: 100})
	return &env{db: db, conn: local.New(account.NewAuthenticator(db, h, th)), ann: ann}
}

func TestLoginGoodPassword(t *testing.T) {
	e := newEnv(t)
	id, err := e.conn.Login(context.Background(), "Ann", "right password", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if e.ann.ID == "" || id.Issuer != "" || id.Subject != e.ann.ID || id.Email != "ann@work.example" ||
		id.EmailVerified || id.Name != "Ann Example" || id.GivenName != "Ann" || id.FamilyName != "Example" ||
		id.PreferredUsername != "ann" || !slices.Equal(id.AMR, []string{"pwd"}) {
		t.Errorf("identity = %+v (account %s)", id, e.ann.ID)
	}
	u, err := e.conn.Authenticate(context.Background(), "ann", "right password", "10.0.0.1")
	if err != nil || u.ID != e.ann.ID {
		t.Errorf("Authenticate = %v, %v; want ann", u, err)
	}
}

func TestLoginRefusals(t *testing.T) {
	for _, tc := range []struct{ name, user, password string }{
		{"bad password", "ann", "wrong password"},
		{"unknown user", "nobody", "right password"},
		{"inactive account", "bob", "right password"},
		{"malformed user name", "a b", "right password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			id, err := e.conn.Login(context.Background(), tc.user, tc.password, "10.0.0.1")
			if !errors.Is(err, account.ErrBadCredentials) || id.Subject != "" {
				t.Errorf("Login = %+v, %v; want ErrBadCredentials", id, err)
			}
		})
	}
}

func TestLoginThrottled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for range 3 {
		if _, err := e.conn.Login(ctx, "ann", "wrong password", "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	// Locked: the right password from another address is refused too,
	// through both faces of the connector.
	if id, err := e.conn.Login(ctx, "ann", "right password", "10.0.0.2"); !errors.Is(err, account.ErrThrottled) || id.Subject != "" {
		t.Errorf("Login after 3 failures = %+v, %v; want ErrThrottled", id, err)
	}
	if u, err := e.conn.Authenticate(ctx, "ann", "right password", "10.0.0.2"); !errors.Is(err, account.ErrThrottled) || u != nil {
		t.Errorf("Authenticate after 3 failures = %v, %v; want ErrThrottled", u, err)
	}
}

func TestNoPasswordCheck(t *testing.T) {
	if _, err := local.New(nil).Login(context.Background(), "ann", "x", "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Errorf("no Passwords: %v, want ErrBadCredentials", err)
	}
}
