package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/store"
)

// RunTransactions tests what the storage contract promises about
// transactions and concurrent callers: a failed transaction leaves nothing
// behind, and of several concurrent callers racing for one single-use thing
// (a setting's first value, a jti, a launch, a pending request, a code, a
// user's version, a FHIR version) exactly one wins and the others get the
// sentinel error. These are a separate entry point, as in dex, because they
// are where backends differ most (locks, isolation levels, deadlocks) and a
// failure here can hang rather than fail.
func RunTransactions(t *testing.T, open func(t *testing.T) Backend) {
	run(t, open, []test{
		{"SettingOrCreateConcurrent", testSettingOrCreateConcurrent},
		{"FHIRRollback", testFHIRRollback[Backend]},
		{"FHIRSameVersionConcurrent", testFHIRSameVersionConcurrent[Backend]},
		{"JTIConcurrentFirstUse", testJTIConcurrent},
		{"LaunchConcurrentUse", testLaunchConcurrentUse},
		{"PendingConcurrentTake", testPendingConcurrentTake},
		{"TokenStateConcurrentChange", testTokenStateConcurrent},
		{"UserUpdateConcurrentSameVersion", testUserUpdateConcurrent},
	})
}

// race runs fn in n goroutines at once and returns how many returned nil;
// every other result must match want (errors.Is), else the test fails.
func race(t *testing.T, n int, want error, fn func(i int) error) int {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch err := fn(i); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, want):
				t.Errorf("racer %d: %v, want %v", i, err, want)
			}
		}()
	}
	close(start)
	wg.Wait()
	return int(wins.Load())
}

func testSettingOrCreateConcurrent(t *testing.T, b Backend) {
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := b.SettingOrCreate(ctx, "key", func() ([]byte, error) {
				return []byte{byte('a' + i)}, nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = string(v)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r != results[0] {
			t.Fatalf("concurrent SettingOrCreate disagreed: %q", results)
		}
	}
}

func testFHIRSameVersionConcurrent[B FHIRBackend](t *testing.T, b B) {
	ctx := context.Background()
	put(t, b, fhirWrite("Patient", "p1", 1, `{"resourceType":"Patient","id":"p1"}`, nil, "p1"))
	wins := race(t, 8, store.ErrConflict, func(i int) error {
		return b.TransactResources(ctx, func(tx fhir.Tx) error {
			return tx.Put(ctx, fhirWrite("Patient", "p1", 2, `{"resourceType":"Patient","id":"p1"}`, nil, "p1"))
		})
	})
	if wins != 1 {
		t.Fatalf("%d concurrent writes of version 2 succeeded, want 1", wins)
	}
	h, err := b.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Patient", ID: "p1"})
	if err != nil || h.Total != 2 {
		t.Fatalf("history after the race: %+v, %v; want 2 versions", h, err)
	}
}

func testJTIConcurrent(t *testing.T, b Backend) {
	ctx := context.Background()
	wins := race(t, 8, store.ErrConflict, func(int) error { return b.UseJTI(ctx, "race", t0.Add(time.Hour), t0) })
	if wins != 1 {
		t.Fatalf("%d concurrent uses of one jti succeeded", wins)
	}
}

func testLaunchConcurrentUse(t *testing.T, b Backend) {
	ctx := context.Background()
	r := &launch.Record{Hash: launchHash("L1"), ClientID: "app", Issuer: "https://x.example/fhir",
		Context: authz.LaunchContext{Patient: "p1"}, CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	if err := b.CreateLaunch(ctx, r); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	if wins := race(t, 8, store.ErrNotFound, func(int) error { return b.UseLaunch(ctx, r.Hash, "app", now) }); wins != 1 {
		t.Fatalf("%d concurrent UseLaunch calls succeeded, want 1", wins)
	}
}

func testPendingConcurrentTake(t *testing.T, b Backend) {
	ctx := context.Background()
	p := &account.Pending{BrowserID: "b1", RequestID: "r1", Request: []byte(`{}`), ExpiresAt: time.Now().Add(time.Hour)}
	if err := b.PutPending(ctx, p); err != nil {
		t.Fatal(err)
	}
	wins := race(t, 8, store.ErrNotFound, func(int) error {
		_, err := b.TakePending(ctx, "b1", "r1")
		return err
	})
	if wins != 1 {
		t.Fatalf("%d concurrent TakePending calls succeeded, want 1", wins)
	}
}

// testTokenStateConcurrent: an authorization code is redeemed once.
func testTokenStateConcurrent(t *testing.T, b Backend) {
	ctx := context.Background()
	rec := authz.TokenRecord{Kind: authz.KindCode, Signature: "c1", RequestID: "r1", ClientID: "c1", Subject: "u1",
		RequestedAt: t0, ExpiresAt: t0.Add(time.Minute), Data: []byte("{}")}
	if err := b.CreateToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	wins := race(t, 8, store.ErrConflict, func(int) error {
		return b.SetTokenState(ctx, authz.KindCode, "c1", authz.StateActive, authz.StateUsed, t0.Add(time.Second))
	})
	if wins != 1 {
		t.Fatalf("%d concurrent redemptions of one code succeeded, want 1", wins)
	}
	got, err := b.GetToken(ctx, authz.KindCode, "c1")
	if err != nil || got.State != authz.StateUsed || !SameInstant(got.StateAt, t0.Add(time.Second)) {
		t.Fatalf("code after the race: %+v, %v", got, err)
	}
}

func testUserUpdateConcurrent(t *testing.T, b Backend) {
	ctx := context.Background()
	u := newUser("hal")
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	wins := race(t, 8, store.ErrConflict, func(i int) error {
		c := *u
		c.DisplayName = string(rune('A' + i))
		return b.UpdateUser(ctx, &c)
	})
	if wins != 1 {
		t.Fatalf("%d concurrent updates of version 1 succeeded, want 1", wins)
	}
	if got, err := b.User(ctx, u.ID); err != nil || got.Meta.Version != 2 {
		t.Fatalf("user after the race: %+v, %v; want version 2", got, err)
	}
}
