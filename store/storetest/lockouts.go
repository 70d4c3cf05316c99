package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
)

// LockoutsBackend is what RunLockouts needs.
type LockoutsBackend interface {
	account.Lockouts
}

// RunLockouts tests the recorded log-in lockouts (account.Lockouts): put,
// replace, look up, delete, the running ones, the pruning of ended ones,
// and concurrent callers (replicas locking keys at once) all succeeding.
func RunLockouts[B LockoutsBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"PutLookupDelete", func(t *testing.T, b B) { testLockoutPutLookupDelete(t, b) }},
		{"ActiveOnly", func(t *testing.T, b B) { testLockoutsActive(t, b) }},
		{"EndedPrunedOnPut", func(t *testing.T, b B) { testLockoutsPruned(t, b) }},
		{"ConcurrentPuts", func(t *testing.T, b B) { testLockoutsConcurrent(t, b) }},
	})
}

func testLockoutPutLookupDelete(t *testing.T, b LockoutsBackend) {
	ctx := context.Background()
	until := time.Now().Add(10 * time.Minute).Add(123 * time.Nanosecond)
	if got, err := b.Lockout(ctx, "u:ann"); err != nil || !got.IsZero() {
		t.Fatalf("Lockout(none) = %v, %v; want the zero time", got, err)
	}
	if err := b.PutLockout(ctx, "u:ann", until); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Lockout(ctx, "u:ann"); err != nil || !SameInstant(got, until) {
		t.Fatalf("Lockout = %v, %v; want %v", got, err, until)
	}
	later := until.Add(time.Hour)
	if err := b.PutLockout(ctx, "u:ann", later); err != nil {
		t.Fatalf("PutLockout again (replace): %v", err)
	}
	if got, err := b.Lockout(ctx, "u:ann"); err != nil || !SameInstant(got, later) {
		t.Fatalf("Lockout after replace = %v, %v; want %v", got, err, later)
	}
	if err := b.PutLockout(ctx, "f:id-1", until); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteLockout(ctx, "u:ann"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Lockout(ctx, "u:ann"); err != nil || !got.IsZero() {
		t.Fatalf("Lockout after delete = %v, %v; want the zero time", got, err)
	}
	if err := b.DeleteLockout(ctx, "u:ann"); err != nil {
		t.Fatalf("DeleteLockout of none: %v, want nil", err)
	}
	if got, err := b.Lockout(ctx, "f:id-1"); err != nil || !SameInstant(got, until) {
		t.Fatalf("other key after delete = %v, %v; want %v (untouched)", got, err, until)
	}
}

func testLockoutsActive(t *testing.T, b LockoutsBackend) {
	ctx := context.Background()
	now := time.Now()
	for key, until := range map[string]time.Time{
		"u:running": now.Add(time.Minute), "f:running": now.Add(2 * time.Minute), "u:ends-now": now,
	} {
		if err := b.PutLockout(ctx, key, until); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.ActiveLockouts(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !SameInstant(got["u:running"], now.Add(time.Minute)) || !SameInstant(got["f:running"], now.Add(2*time.Minute)) {
		t.Fatalf("ActiveLockouts = %v, want u:running and f:running", got)
	}
	if got, err := b.ActiveLockouts(ctx, now.Add(90*time.Second)); err != nil || len(got) != 1 {
		t.Fatalf("ActiveLockouts later = %v, %v; want f:running only", got, err)
	}
}

func testLockoutsPruned(t *testing.T, b LockoutsBackend) {
	ctx := context.Background()
	if err := b.PutLockout(ctx, "u:old", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Lockout(ctx, "u:old"); err != nil || got.IsZero() {
		t.Fatalf("Lockout(ended, before a prune) = %v, %v; want it stored as put", got, err)
	}
	if err := b.PutLockout(ctx, "u:new", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Lockout(ctx, "u:old"); err != nil || !got.IsZero() {
		t.Fatalf("ended lockout after the next put = %v, %v; want it pruned", got, err)
	}
	if got, err := b.Lockout(ctx, "u:new"); err != nil || got.IsZero() {
		t.Fatalf("running lockout = %v, %v; want it kept", got, err)
	}
}

// testLockoutsConcurrent: callers locking keys at once (the same key, and
// each its own, while the prune of ended records runs in every put) all
// succeed, and every key ends up locked (the shared one until one of the
// times put).
func testLockoutsConcurrent(t *testing.T, b LockoutsBackend) {
	ctx := context.Background()
	now := time.Now()
	if err := b.PutLockout(ctx, "u:ended", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	const n = 12
	until := func(i int) time.Time { return now.Add(time.Duration(i+1) * time.Minute) }
	wins := race(t, n, nil, func(i int) error {
		if err := b.PutLockout(ctx, fmt.Sprintf("u:own-%d", i), until(i)); err != nil {
			return err
		}
		return b.PutLockout(ctx, "u:shared", until(i))
	})
	if wins != n {
		t.Fatalf("%d of %d concurrent PutLockout callers succeeded, want all", wins, n)
	}
	got, err := b.ActiveLockouts(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n+1 {
		t.Fatalf("ActiveLockouts = %d keys %v, want %d", len(got), got, n+1)
	}
	for i := range n {
		if k := fmt.Sprintf("u:own-%d", i); !SameInstant(got[k], until(i)) {
			t.Errorf("%s until %v, want %v", k, got[k], until(i))
		}
	}
	shared := false
	for i := range n {
		shared = shared || SameInstant(got["u:shared"], until(i))
	}
	if !shared {
		t.Errorf("u:shared until %v, want one of the times put", got["u:shared"])
	}
	if u, err := b.Lockout(ctx, "u:ended"); err != nil || !u.IsZero() {
		t.Errorf("ended lockout after the puts = %v, %v; want it pruned", u, err)
	}
}
