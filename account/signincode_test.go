package account_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

type codeEnv struct {
	t     testing.TB
	ctx   context.Context
	path  string
	db    *sqlite.DB
	clock *testclock.Clock
	codes *account.SignInCodes
}

// newCodeEnv is the sign-in code service on a real SQLite file, with a
// clock that moves only when told and a throttle of maxFailures per
// address.
func newCodeEnv(t testing.TB, maxFailures int) *codeEnv {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "smartgate.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testclock.New(time.Now().Truncate(time.Second))
	th := account.NewThrottle(account.ThrottleConfig{MaxPerAccount: maxFailures, Now: clock.Now})
	codes := account.NewSignInCodes(account.SignInCodesConfig{Store: db, Users: db, Throttle: th, Now: clock.Now})
	return &codeEnv{t: t, ctx: ctx, path: path, db: db, clock: clock, codes: codes}
}

func (e *codeEnv) user(name string) *account.User {
	e.t.Helper()
	u := &account.User{UserName: name, Active: true, Roles: []string{account.RolePatient}}
	if err := e.db.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *codeEnv) issue(userID string) string {
	e.t.Helper()
	code, _, err := e.codes.Issue(e.ctx, userID, "admin-1")
	if err != nil {
		e.t.Fatalf("Issue(%s): %v", userID, err)
	}
	return code
}

var shownCode = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

func TestSignInCodeIssueAndRedeem(t *testing.T) {
	e := newCodeEnv(t, 10)
	ada := e.user("ada")
	code, expires, err := e.codes.Issue(e.ctx, ada.ID, "admin-1")
	if err != nil {
		t.Fatal(err)
	}
	if !shownCode.MatchString(code) {
		t.Fatalf("code %q is not three groups of four Crockford base32 characters", code)
	}
	if want := e.clock.Now().Add(account.SignInCodeTTL); !expires.Equal(want) {
		t.Fatalf("expires %v, want now + %v = %v", expires, account.SignInCodeTTL, want)
	}
	// What a person types: lower case, no dashes, spaces, O for 0, l for 1.
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	typed = strings.NewReplacer("0", "o", "1", "l").Replace(typed)
	e.clock.Advance(account.SignInCodeTTL - time.Second)
	u, err := e.codes.Redeem(e.ctx, " "+typed+" ", "192.0.2.1")
	if err != nil {
		t.Fatalf("Redeem(%q, typed as %q): %v", code, typed, err)
	}
	if u.ID != ada.ID || u.UserName != "ada" {
		t.Fatalf("Redeem gave %+v, want ada", u)
	}
	if _, err := e.codes.Redeem(e.ctx, code, "192.0.2.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("second Redeem of one code = %v, want ErrBadCredentials (single use)", err)
	}
}

func TestSignInCodesAreRandom(t *testing.T) {
	e := newCodeEnv(t, 10)
	ada := e.user("ada")
	seen := map[string]bool{}
	for range 50 {
		c := e.issue(ada.ID)
		if seen[c] {
			t.Fatalf("code %s issued twice", c)
		}
		seen[c] = true
	}
}

func TestSignInCodeExpired(t *testing.T) {
	e := newCodeEnv(t, 10)
	ada := e.user("ada")
	code := e.issue(ada.ID)
	e.clock.Advance(account.SignInCodeTTL)
	if _, err := e.codes.Redeem(e.ctx, code, "192.0.2.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Redeem at expiry = %v, want ErrBadCredentials", err)
	}
}

func TestSignInCodeTTLConfigured(t *testing.T) {
	e := newCodeEnv(t, 10)
	codes := account.NewSignInCodes(account.SignInCodesConfig{Store: e.db, Users: e.db, TTL: time.Minute, Now: e.clock.Now})
	ada := e.user("ada")
	code, expires, err := codes.Issue(e.ctx, ada.ID, "admin-1")
	if err != nil || !expires.Equal(e.clock.Now().Add(time.Minute)) {
		t.Fatalf("Issue = %v, %v; want expiry in a minute", expires, err)
	}
	e.clock.Advance(time.Minute)
	if _, err := codes.Redeem(e.ctx, code, ""); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Redeem after the configured TTL = %v, want ErrBadCredentials", err)
	}
}

func TestSignInCodeNewReplacesOld(t *testing.T) {
	e := newCodeEnv(t, 10)
	ada, bob := e.user("ada"), e.user("bob")
	old := e.issue(ada.ID)
	bobs := e.issue(bob.ID)
	fresh := e.issue(ada.ID)
	if _, err := e.codes.Redeem(e.ctx, old, "192.0.2.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Redeem of a replaced code = %v, want ErrBadCredentials", err)
	}
	if u, err := e.codes.Redeem(e.ctx, fresh, "192.0.2.1"); err != nil || u.ID != ada.ID {
		t.Fatalf("Redeem of the new code = %v, %v", u, err)
	}
	if u, err := e.codes.Redeem(e.ctx, bobs, "192.0.2.1"); err != nil || u.ID != bob.ID {
		t.Fatalf("another account's code after ada's new one = %v, %v; want it kept", u, err)
	}
}

func TestSignInCodeInactiveAccount(t *testing.T) {
	e := newCodeEnv(t, 10)
	ada := e.user("ada")
	code := e.issue(ada.ID)
	if err := e.db.DeactivateUser(e.ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.codes.Redeem(e.ctx, code, "192.0.2.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Redeem for a deactivated account = %v, want ErrBadCredentials", err)
	}
	if _, _, err := e.codes.Issue(e.ctx, ada.ID, "admin-1"); !errors.Is(err, account.ErrInactiveAccount) {
		t.Fatalf("Issue for a deactivated account = %v, want ErrInactiveAccount", err)
	}
	if _, _, err := e.codes.Issue(e.ctx, "nobody", "admin-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Issue for no account = %v, want ErrNotFound", err)
	}
	// Were a code of an inactive account still stored (the store drops
	// them on deactivation), Redeem would refuse it all the same.
	const typed = "ABCD-EFGH-JKMN"
	h := sha256.Sum256([]byte("ABCDEFGHJKMN"))
	now := e.clock.Now()
	if err := e.db.PutSignInCode(e.ctx, &account.SignInCode{Hash: h[:], UserID: ada.ID, Created: now, Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.codes.Redeem(e.ctx, typed, "192.0.2.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Redeem of a stored code of an inactive account = %v, want ErrBadCredentials", err)
	}
}

func TestSignInCodeThrottledPerAddress(t *testing.T) {
	e := newCodeEnv(t, 3)
	ada := e.user("ada")
	code := e.issue(ada.ID)
	for _, wrong := range []string{"0000-0000-0000", "not a code", ""} {
		if _, err := e.codes.Redeem(e.ctx, wrong, "198.51.100.7"); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("Redeem(%q) = %v, want ErrBadCredentials", wrong, err)
		}
	}
	if _, err := e.codes.Redeem(e.ctx, code, "198.51.100.7"); !errors.Is(err, account.ErrThrottled) {
		t.Fatalf("Redeem of the right code after 3 failures = %v, want ErrThrottled", err)
	}
	// The throttled attempt did not use the code up: from another address
	// it still works.
	if u, err := e.codes.Redeem(e.ctx, code, "203.0.113.9"); err != nil || u.ID != ada.ID {
		t.Fatalf("Redeem from another address = %v, %v; want ada", u, err)
	}
	// The lockout ends.
	e.clock.Advance(account.DefaultLockout + time.Second)
	code = e.issue(ada.ID)
	if u, err := e.codes.Redeem(e.ctx, code, "198.51.100.7"); err != nil || u.ID != ada.ID {
		t.Fatalf("Redeem after the lockout = %v, %v; want ada", u, err)
	}
}

// TestSignInCodeStoredOnlyAsHash reads the database: the code, in either
// form, is nowhere; its row holds the SHA-256 of the normal form.
func TestSignInCodeStoredOnlyAsHash(t *testing.T) {
	e := newCodeEnv(t, 10)
	ada := e.user("ada")
	code := e.issue(ada.ID)
	normal := strings.ReplaceAll(code, "-", "")
	for _, needle := range []string{code, normal, strings.ToLower(normal)} {
		if tables, err := e.db.TablesHolding(e.ctx, needle); err != nil || len(tables) != 0 {
			t.Fatalf("TablesHolding(%q) = %v, %v; want none", needle, tables, err)
		}
	}
	raw, err := sql.Open("sqlite", e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var hash []byte
	var userID, issuedBy string
	var n int
	if err := raw.QueryRowContext(e.ctx, `SELECT COUNT(*), hash, user_id, issued_by FROM signin_codes`).Scan(&n, &hash, &userID, &issuedBy); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte(normal))
	if n != 1 || string(hash) != string(want[:]) || userID != ada.ID || issuedBy != "admin-1" {
		t.Fatalf("stored row: %d rows, hash %x, user %s, issued by %s; want one with hash %x", n, hash, userID, issuedBy, want)
	}
}
