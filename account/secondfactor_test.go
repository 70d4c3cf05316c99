package account_test

// The second factor against the real SQLite store (account cannot import
// store/sqlite, which imports account; this external test package can).

import (
	"context"
	"encoding/base32"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/account/totp"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/store/sqlite"
)

type sfEnv struct {
	db    *sqlite.DB
	clock *testclock.Clock
	f     *account.SecondFactors
}

func newSFEnv(t *testing.T, cfg account.ThrottleConfig) *sfEnv {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testclock.New(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	cfg.Now = clock.Now
	return &sfEnv{db: db, clock: clock, f: &account.SecondFactors{
		Store: db, Throttle: account.NewThrottle(cfg), Issuer: "Smart Gate", Now: clock.Now,
	}}
}

func (e *sfEnv) user(t *testing.T, name string) *account.User {
	t.Helper()
	u := &account.User{UserName: name, Active: true, Roles: []string{account.RoleAdmin}}
	if err := e.db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// code is the TOTP of the base32 secret at the clock's time plus steps.
func (e *sfEnv) code(t *testing.T, secret string, steps int) string {
	t.Helper()
	key, err := decodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return totp.Code(key, e.clock.Now().Add(time.Duration(steps)*30*time.Second), totp.Params{})
}

func decodeSecret(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// enrol begins and confirms a second factor for a new user, then moves the
// clock five minutes on (so that the confirmation's step is long past).
func (e *sfEnv) enrol(t *testing.T, name string) (*account.User, string, []string) {
	t.Helper()
	ctx := context.Background()
	u := e.user(t, name)
	en, err := e.f.Begin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.f.Confirm(ctx, u.ID, e.code(t, en.Secret, 0))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Minute)
	return u, en.Secret, rec
}

func TestSecondFactorEnrolAndConfirm(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{})
	u := e.user(t, "ann:admin")
	if ok, err := e.f.Enrolled(ctx, u.ID); ok || err != nil {
		t.Fatalf("Enrolled before Begin = %v, %v", ok, err)
	}
	first, err := e.f.Begin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.f.Begin(ctx, u) // replaces the unconfirmed first
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(en.Secret) || en.Secret == first.Secret {
		t.Fatalf("secrets %q, %q: want two different 20-byte base32 secrets without padding", first.Secret, en.Secret)
	}
	wantURI := "otpauth://totp/Smart%20Gate:ann%3Aadmin?secret=" + en.Secret + "&issuer=Smart%20Gate&algorithm=SHA1&digits=6&period=30"
	if en.URI != wantURI {
		t.Fatalf("URI = %s\nwant  %s", en.URI, wantURI)
	}
	if ok, _ := e.f.Enrolled(ctx, u.ID); ok {
		t.Fatal("Enrolled before Confirm")
	}
	if err := e.f.Verify(ctx, u.ID, e.code(t, en.Secret, 0), "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Verify before Confirm = %v, want ErrBadCredentials", err)
	}
	if _, err := e.f.Confirm(ctx, u.ID, e.code(t, first.Secret, 0)); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Confirm with the replaced secret's code = %v, want ErrBadCredentials", err)
	}
	if _, err := e.f.Confirm(ctx, u.ID, "12345"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Confirm with a malformed code = %v, want ErrBadCredentials", err)
	}
	c := e.code(t, en.Secret, 0)
	rec, err := e.f.Confirm(ctx, u.ID, c[:3]+" "+c[3:])
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(rec))
	}
	seen := map[string]bool{}
	for _, r := range rec {
		if !regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){3}$`).MatchString(r) || seen[r] {
			t.Fatalf("recovery codes %q: want 10 distinct xxxx-xxxx-xxxx-xxxx codes", rec)
		}
		seen[r] = true
	}
	if ok, err := e.f.Enrolled(ctx, u.ID); !ok || err != nil {
		t.Fatalf("Enrolled after Confirm = %v, %v", ok, err)
	}
	if _, err := e.f.Confirm(ctx, u.ID, e.code(t, en.Secret, 1)); !errors.Is(err, account.ErrNotEnrolled) {
		t.Fatalf("second Confirm = %v, want ErrNotEnrolled", err)
	}
	// A confirmed second factor is never replaced by Begin.
	if _, err := e.f.Begin(ctx, u); !errors.Is(err, account.ErrAlreadyEnrolled) {
		t.Fatalf("Begin when enrolled = %v, want ErrAlreadyEnrolled", err)
	}
	if err := e.f.Verify(ctx, u.ID, e.code(t, en.Secret, 1), ""); err != nil {
		t.Fatalf("the confirmed secret stopped working after a refused Begin: %v", err)
	}
	// Only hashes of the recovery codes are stored.
	hashes, err := e.db.RecoveryCodes(ctx, u.ID)
	if err != nil || len(hashes) != 10 {
		t.Fatalf("stored %d recovery codes, %v", len(hashes), err)
	}
	for _, h := range hashes {
		for _, r := range rec {
			if strings.Contains(string(h), strings.ReplaceAll(r, "-", "")) {
				t.Fatal("a recovery code is stored in the clear")
			}
		}
	}
}

func TestSecondFactorVerifyWindow(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		steps int
		ok    bool
	}{{-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
		e := newSFEnv(t, account.ThrottleConfig{})
		u, secret, _ := e.enrol(t, "ann")
		err := e.f.Verify(ctx, u.ID, e.code(t, secret, tc.steps), "10.0.0.1")
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, account.ErrBadCredentials) {
			t.Errorf("code %+d steps away: %v, want ok=%v", tc.steps, err, tc.ok)
		}
	}
}

func TestSecondFactorVerifyRefusesReplayAndWrongCodes(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{})
	u, secret, _ := e.enrol(t, "ann")
	c := e.code(t, secret, 0)
	if err := e.f.Verify(ctx, u.ID, " "+c+" ", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := e.f.Verify(ctx, u.ID, c, "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("the same code again = %v, want ErrBadCredentials", err)
	}
	if err := e.f.Verify(ctx, u.ID, e.code(t, secret, -1), "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("an earlier step after a later one = %v, want ErrBadCredentials", err)
	}
	e.clock.Advance(30 * time.Second)
	if err := e.f.Verify(ctx, u.ID, e.code(t, secret, 0), "10.0.0.1"); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
	wrong := "000000"
	if wrong == e.code(t, secret, 1) {
		wrong = "000001"
	}
	for _, bad := range []string{wrong, "", "12345", "1234567", "abcdef", "aaaa-bbbb-cccc-dddd"} {
		if err := e.f.Verify(ctx, u.ID, bad, "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
			t.Errorf("Verify(%q) = %v, want ErrBadCredentials", bad, err)
		}
	}
	other := e.user(t, "bob")
	if err := e.f.Verify(ctx, other.ID, e.code(t, secret, 1), "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("another account with ann's code = %v, want ErrBadCredentials", err)
	}
}

func TestSecondFactorConfirmationCodeCannotLogIn(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{})
	u := e.user(t, "ann")
	en, err := e.f.Begin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	c := e.code(t, en.Secret, 0)
	if _, err := e.f.Confirm(ctx, u.ID, c); err != nil {
		t.Fatal(err)
	}
	if err := e.f.Verify(ctx, u.ID, c, ""); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("the confirmation's code as a log-in = %v, want ErrBadCredentials", err)
	}
}

func TestSecondFactorRecoveryCodeOnce(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{})
	u, _, rec := e.enrol(t, "ann")
	if err := e.f.Verify(ctx, u.ID, rec[0], "10.0.0.1"); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if err := e.f.Verify(ctx, u.ID, rec[0], "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("recovery code again = %v, want ErrBadCredentials", err)
	}
	// Typed in other forms: upper case, spaces, no separators.
	for i, form := range []func(string) string{
		strings.ToUpper,
		func(s string) string { return strings.ReplaceAll(s, "-", " ") },
		func(s string) string { return strings.ReplaceAll(s, "-", "") },
	} {
		if err := e.f.Verify(ctx, u.ID, form(rec[i+1]), "10.0.0.1"); err != nil {
			t.Errorf("recovery code %q: %v", form(rec[i+1]), err)
		}
	}
	other, _, _ := e.enrol(t, "bob")
	if err := e.f.Verify(ctx, other.ID, rec[5], "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("ann's recovery code for bob = %v, want ErrBadCredentials", err)
	}
	if hs, _ := e.db.RecoveryCodes(ctx, u.ID); len(hs) != 6 {
		t.Fatalf("%d recovery codes left, want 6", len(hs))
	}
}

func TestSecondFactorRegenerateRecovery(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{MaxPerAccount: 100}) // ten old codes are ten failures
	u, _, old := e.enrol(t, "ann")
	fresh, err := e.f.RegenerateRecovery(ctx, u.ID)
	if err != nil || len(fresh) != 10 {
		t.Fatalf("RegenerateRecovery = %d codes, %v", len(fresh), err)
	}
	for _, r := range old {
		if err := e.f.Verify(ctx, u.ID, r, "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("old recovery code after regenerating = %v, want ErrBadCredentials", err)
		}
	}
	if err := e.f.Verify(ctx, u.ID, fresh[9], "10.0.0.1"); err != nil {
		t.Fatalf("new recovery code: %v", err)
	}
	if _, err := e.f.RegenerateRecovery(ctx, e.user(t, "bob").ID); !errors.Is(err, account.ErrNotEnrolled) {
		t.Fatalf("RegenerateRecovery without a second factor = %v, want ErrNotEnrolled", err)
	}
}

func TestSecondFactorDisable(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{})
	u, secret, rec := e.enrol(t, "ann")
	if err := e.f.Disable(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.f.Enrolled(ctx, u.ID); ok || err != nil {
		t.Fatalf("Enrolled after Disable = %v, %v", ok, err)
	}
	for _, c := range []string{e.code(t, secret, 0), rec[0]} {
		if err := e.f.Verify(ctx, u.ID, c, ""); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("Verify(%q) after Disable = %v, want ErrBadCredentials", c, err)
		}
	}
	if err := e.f.Disable(ctx, u.ID); !errors.Is(err, account.ErrNotEnrolled) {
		t.Fatalf("second Disable = %v, want ErrNotEnrolled", err)
	}
	if _, err := e.f.Begin(ctx, u); err != nil {
		t.Fatalf("Begin after Disable: %v", err)
	}
}

// Code guessing is limited like password guessing: the account's limit,
// then ErrThrottled even for the right code; and a right password (which
// forgets the account's password failures) does not forget code failures.
func TestSecondFactorThrottlePerAccount(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{MaxPerAccount: 3, MaxPerAddress: 100})
	u, secret, rec := e.enrol(t, "ann")
	h := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 1)
	hash, err := h.Hash(ctx, "right password")
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash = hash
	if err := e.db.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	auth := account.NewAuthenticator(e.db, h, e.f.Throttle)
	wrong := "000000"
	if wrong == e.code(t, secret, -1) || wrong == e.code(t, secret, 0) || wrong == e.code(t, secret, 1) {
		wrong = "999999"
	}
	for i := range 3 {
		if _, err := auth.Authenticate(ctx, "ann", "right password", "10.0.0.1"); err != nil {
			t.Fatalf("password %d: %v", i, err)
		}
		if err := e.f.Verify(ctx, u.ID, wrong, "10.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("wrong code %d = %v, want ErrBadCredentials", i, err)
		}
	}
	for _, c := range []string{e.code(t, secret, 0), rec[0]} {
		if err := e.f.Verify(ctx, u.ID, c, "10.0.0.2"); !errors.Is(err, account.ErrThrottled) {
			t.Fatalf("right code %q after 3 failures = %v, want ErrThrottled", c, err)
		}
	}
	if _, err := auth.Authenticate(ctx, "ann", "right password", "10.0.0.1"); err != nil {
		t.Fatalf("the password throttle took the code failures: %v", err)
	}
	e.clock.Advance(account.DefaultLockout + time.Second)
	if err := e.f.Verify(ctx, u.ID, e.code(t, secret, 0), "10.0.0.1"); err != nil {
		t.Fatalf("right code after the lockout: %v", err)
	}
}

func TestSecondFactorThrottlePerAddress(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{MaxPerAccount: 100, MaxPerAddress: 3})
	var users []*account.User
	var secrets []string
	for _, n := range []string{"ann", "bob", "cat", "dan"} {
		u, s, _ := e.enrol(t, n)
		users, secrets = append(users, u), append(secrets, s)
	}
	for i := range 3 {
		if err := e.f.Verify(ctx, users[i].ID, "abcdef", "2001:db8::1"); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("wrong code = %v", err)
		}
	}
	if err := e.f.Verify(ctx, users[3].ID, e.code(t, secrets[3], 0), "2001:db8::2"); !errors.Is(err, account.ErrThrottled) {
		t.Fatalf("right code from the same /64 after its limit = %v, want ErrThrottled", err)
	}
	if err := e.f.Verify(ctx, users[3].ID, e.code(t, secrets[3], 0), "10.0.0.9"); err != nil {
		t.Fatalf("right code from another address: %v", err)
	}
}

func TestSecondFactorConcurrentVerifyUsesACodeOnce(t *testing.T) {
	ctx := context.Background()
	e := newSFEnv(t, account.ThrottleConfig{MaxPerAccount: 1000, MaxPerAddress: 1000})
	u, secret, rec := e.enrol(t, "ann")
	for _, c := range []string{rec[0], e.code(t, secret, 0)} {
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = e.f.Verify(ctx, u.ID, c, "10.0.0.1")
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, account.ErrBadCredentials):
				t.Fatalf("concurrent Verify: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("code %q accepted %d times by %d concurrent Verify calls, want once", c, ok, n)
		}
	}
}

func TestSecondFactorNeedsThrottle(t *testing.T) {
	e := newSFEnv(t, account.ThrottleConfig{})
	u, secret, _ := e.enrol(t, "ann")
	f := *e.f
	f.Throttle = nil
	err := f.Verify(context.Background(), u.ID, e.code(t, secret, 0), "")
	if err == nil || errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("Verify without a throttle = %v, want a configuration error", err)
	}
}
