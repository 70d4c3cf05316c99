package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// SecondFactorBackend is what RunSecondFactors needs: a way to make the
// accounts that enrolments hang on, and the second-factor store.
type SecondFactorBackend interface {
	CreateUser(ctx context.Context, u *account.User) error
	account.SecondFactorStore
}

// RunSecondFactors tests the second-factor records (account.SecondFactorStore:
// TOTP secrets, used steps single-use, recovery codes single-use, also
// under concurrent callers).
func RunSecondFactors[B SecondFactorBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"BeginReplacesUnconfirmedOnly", func(t *testing.T, b B) { testSecondFactorBegin(t, b) }},
		{"ConfirmNeedsTheSameSecret", func(t *testing.T, b B) { testSecondFactorConfirm(t, b) }},
		{"StepsOnlyForward", func(t *testing.T, b B) { testSecondFactorSteps(t, b) }},
		{"StepUsedOnceUnderConcurrency", func(t *testing.T, b B) { testSecondFactorStepConcurrent(t, b) }},
		{"RecoveryCodesUsedOnce", func(t *testing.T, b B) { testRecoveryCodes(t, b) }},
		{"RecoveryCodeUsedOnceUnderConcurrency", func(t *testing.T, b B) { testRecoveryCodeConcurrent(t, b) }},
		{"ReplaceRecoveryCodes", func(t *testing.T, b B) { testReplaceRecoveryCodes(t, b) }},
		{"DeleteSecondFactor", func(t *testing.T, b B) { testDeleteSecondFactor(t, b) }},
	})
}

// enrolled creates a user named name with a confirmed enrolment (secret,
// last step 100, recovery hashes r1, r2, r3) and returns its id.
func enrolled(t *testing.T, b SecondFactorBackend, name string) string {
	t.Helper()
	ctx := context.Background()
	u := newUser(name)
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: u.ID, Secret: []byte("secret-" + name), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.ConfirmSecondFactor(ctx, u.ID, []byte("secret-"+name), 100, time.Now(), hashes("r1", "r2", "r3")); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func hashes(s ...string) [][]byte {
	var out [][]byte
	for _, x := range s {
		out = append(out, []byte(x))
	}
	return out
}

func sortedHashes(t *testing.T, b SecondFactorBackend, userID string) []string {
	t.Helper()
	hs, err := b.RecoveryCodes(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range hs {
		out = append(out, string(h))
	}
	slices.Sort(out)
	return out
}

func testSecondFactorBegin(t *testing.T, b SecondFactorBackend) {
	ctx := context.Background()
	if _, err := b.SecondFactor(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SecondFactor(unknown) = %v, want ErrNotFound", err)
	}
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: "nobody", Secret: []byte("s"), Created: time.Now()}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BeginSecondFactor(unknown user) = %v, want ErrNotFound", err)
	}
	u := newUser("ann")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: u.ID, Secret: []byte("first"), Created: created, LastStep: 7, Confirmed: created}); err != nil {
		t.Fatal(err)
	}
	f, err := b.SecondFactor(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.UserID != u.ID || string(f.Secret) != "first" || !f.Created.Equal(created.Truncate(time.Microsecond)) ||
		!f.Confirmed.IsZero() || f.LastStep != 0 {
		t.Fatalf("after Begin: %+v (want unconfirmed, last step 0, created at µs precision)", f)
	}
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: u.ID, Secret: []byte("second"), Created: created}); err != nil {
		t.Fatalf("Begin over an unconfirmed enrolment: %v", err)
	}
	if f, _ := b.SecondFactor(ctx, u.ID); f == nil || string(f.Secret) != "second" {
		t.Fatalf("Begin did not replace the unconfirmed enrolment: %+v", f)
	}
	id := enrolled(t, b, "bob")
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: id, Secret: []byte("evil"), Created: time.Now()}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Begin over a confirmed enrolment = %v, want ErrConflict", err)
	}
	if f, _ := b.SecondFactor(ctx, id); f == nil || string(f.Secret) != "secret-bob" || f.Confirmed.IsZero() {
		t.Fatalf("the confirmed enrolment changed: %+v", f)
	}
}

func testSecondFactorConfirm(t *testing.T, b SecondFactorBackend) {
	ctx := context.Background()
	u := newUser("ann")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := b.ConfirmSecondFactor(ctx, u.ID, []byte("s"), 5, time.Now(), nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Confirm with no enrolment = %v, want ErrNotFound", err)
	}
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: u.ID, Secret: []byte("s"), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.ConfirmSecondFactor(ctx, u.ID, []byte("other"), 5, time.Now(), hashes("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Confirm with another secret = %v, want ErrNotFound", err)
	}
	if got := sortedHashes(t, b, u.ID); got != nil {
		t.Fatalf("a refused Confirm stored recovery codes %q", got)
	}
	at := time.Date(2026, 12, 1, 11, 0, 0, 999999999, time.UTC)
	if err := b.ConfirmSecondFactor(ctx, u.ID, []byte("s"), 5, at, hashes("r2", "r1")); err != nil {
		t.Fatal(err)
	}
	f, err := b.SecondFactor(ctx, u.ID)
	if err != nil || !f.Confirmed.Equal(at.Truncate(time.Microsecond)) || f.LastStep != 5 {
		t.Fatalf("after Confirm: %+v, %v; want confirmed at µs precision, last step 5", f, err)
	}
	if got := sortedHashes(t, b, u.ID); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Fatalf("recovery codes %q, want r1 r2", got)
	}
	if err := b.ConfirmSecondFactor(ctx, u.ID, []byte("s"), 6, time.Now(), hashes("r9")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Confirm = %v, want ErrNotFound", err)
	}
	if got := sortedHashes(t, b, u.ID); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Fatalf("a refused Confirm changed the recovery codes: %q", got)
	}
}

func testSecondFactorSteps(t *testing.T, b SecondFactorBackend) {
	ctx := context.Background()
	u := newUser("ann")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: u.ID, Secret: []byte("s"), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.UseSecondFactorStep(ctx, u.ID, 50); ok || err != nil {
		t.Fatalf("UseSecondFactorStep on an unconfirmed enrolment = %v, %v; want false", ok, err)
	}
	id := enrolled(t, b, "bob") // last step 100
	for _, tc := range []struct {
		step uint64
		want bool
	}{{99, false}, {100, false}, {101, true}, {101, false}, {100, false}, {103, true}} {
		ok, err := b.UseSecondFactorStep(ctx, id, tc.step)
		if err != nil || ok != tc.want {
			t.Fatalf("UseSecondFactorStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.want)
		}
	}
	if f, _ := b.SecondFactor(ctx, id); f == nil || f.LastStep != 103 {
		t.Fatalf("last step %+v, want 103", f)
	}
	if ok, err := b.UseSecondFactorStep(ctx, "nobody", 1); ok || err != nil {
		t.Fatalf("UseSecondFactorStep(unknown) = %v, %v; want false, nil", ok, err)
	}
}

// concurrently runs f n times at once and counts the true results.
func concurrently(t *testing.T, n int, f func() (bool, error)) int {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := f()
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	return int(wins.Load())
}

func testSecondFactorStepConcurrent(t *testing.T, b SecondFactorBackend) {
	id := enrolled(t, b, "ann")
	n := concurrently(t, 16, func() (bool, error) { return b.UseSecondFactorStep(context.Background(), id, 101) })
	if n != 1 {
		t.Fatalf("step 101 used %d times by 16 concurrent calls, want once", n)
	}
}

func testRecoveryCodes(t *testing.T, b SecondFactorBackend) {
	ctx := context.Background()
	ann, bob := enrolled(t, b, "ann"), enrolled(t, b, "bob")
	if ok, err := b.UseRecoveryCode(ctx, ann, []byte("r2")); !ok || err != nil {
		t.Fatalf("UseRecoveryCode(r2) = %v, %v; want true", ok, err)
	}
	if ok, err := b.UseRecoveryCode(ctx, ann, []byte("r2")); ok || err != nil {
		t.Fatalf("UseRecoveryCode(r2) again = %v, %v; want false", ok, err)
	}
	if ok, err := b.UseRecoveryCode(ctx, ann, []byte("nope")); ok || err != nil {
		t.Fatalf("UseRecoveryCode(unknown) = %v, %v; want false", ok, err)
	}
	if got := sortedHashes(t, b, ann); !slices.Equal(got, []string{"r1", "r3"}) {
		t.Fatalf("ann's codes %q, want r1 r3", got)
	}
	if got := sortedHashes(t, b, bob); !slices.Equal(got, []string{"r1", "r2", "r3"}) {
		t.Fatalf("bob's codes %q changed with ann's, want r1 r2 r3", got)
	}
}

func testRecoveryCodeConcurrent(t *testing.T, b SecondFactorBackend) {
	id := enrolled(t, b, "ann")
	n := concurrently(t, 16, func() (bool, error) { return b.UseRecoveryCode(context.Background(), id, []byte("r1")) })
	if n != 1 {
		t.Fatalf("recovery code used %d times by 16 concurrent calls, want once", n)
	}
}

func testReplaceRecoveryCodes(t *testing.T, b SecondFactorBackend) {
	ctx := context.Background()
	if err := b.ReplaceRecoveryCodes(ctx, "nobody", hashes("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReplaceRecoveryCodes(unknown) = %v, want ErrNotFound", err)
	}
	u := newUser("carl")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: u.ID, Secret: []byte("s"), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.ReplaceRecoveryCodes(ctx, u.ID, hashes("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReplaceRecoveryCodes(unconfirmed) = %v, want ErrNotFound", err)
	}
	id := enrolled(t, b, "ann")
	if err := b.ReplaceRecoveryCodes(ctx, id, hashes("n1", "n2")); err != nil {
		t.Fatal(err)
	}
	if got := sortedHashes(t, b, id); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("codes after replace %q, want n1 n2", got)
	}
	if ok, _ := b.UseRecoveryCode(ctx, id, []byte("r1")); ok {
		t.Fatal("an old recovery code worked after ReplaceRecoveryCodes")
	}
}

func testDeleteSecondFactor(t *testing.T, b SecondFactorBackend) {
	ctx := context.Background()
	ann, bob := enrolled(t, b, "ann"), enrolled(t, b, "bob")
	if err := b.DeleteSecondFactor(ctx, ann); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SecondFactor(ctx, ann); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SecondFactor after delete = %v, want ErrNotFound", err)
	}
	if got := sortedHashes(t, b, ann); got != nil {
		t.Fatalf("recovery codes %q survived the delete", got)
	}
	if err := b.DeleteSecondFactor(ctx, ann); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
	if f, err := b.SecondFactor(ctx, bob); err != nil || !bytes.Equal(f.Secret, []byte("secret-bob")) {
		t.Fatalf("bob's enrolment after ann's delete: %+v, %v", f, err)
	}
	// A new enrolment starts clean.
	if err := b.BeginSecondFactor(ctx, &account.SecondFactor{UserID: ann, Secret: []byte("new"), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if f, _ := b.SecondFactor(ctx, ann); f == nil || !f.Confirmed.IsZero() || f.LastStep != 0 {
		t.Fatalf("a new enrolment after delete: %+v", f)
	}
}
