package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/store"
)

// LaunchBackend is what RunLaunch needs: the EHR launch records.
type LaunchBackend interface {
	launch.Store
}

// RunLaunch tests the EHR launch records: round trip, single use, expiry.
func RunLaunch[B LaunchBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"RoundTrip", func(t *testing.T, b B) { testLaunchRoundTrip(t, b) }},
		{"UseOnce", func(t *testing.T, b B) { testLaunchUseOnce(t, b) }},
		{"DeleteExpired", func(t *testing.T, b B) { testLaunchDeleteExpired(t, b) }},
	})
}

func launchHash(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

func testLaunchRoundTrip(t *testing.T, b LaunchBackend) {
	ctx := context.Background()
	banner := true
	r := &launch.Record{Hash: launchHash("L1"), ClientID: "app", Issuer: "https://x.example/fhir",
		Context: authz.LaunchContext{Patient: "p1", Encounter: "e1", Intent: "reconcile", NeedPatientBanner: &banner,
			SmartStyleURL: "https://x.example/static/smart-style.json?v=1",
			FHIRContext:   []map[string]any{{"reference": "Observation/o1"}}},
		CreatedBy: "admin-id", CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	if err := b.CreateLaunch(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateLaunch(ctx, r); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate CreateLaunch = %v, want ErrConflict", err)
	}
	got, err := b.Launch(ctx, launchHash("L1"))
	if err != nil {
		t.Fatal(err)
	}
	c := got.Context
	if got.ClientID != "app" || got.Issuer != r.Issuer || got.CreatedBy != "admin-id" || !SameInstant(got.CreatedAt, t0) ||
		!SameInstant(got.ExpiresAt, r.ExpiresAt) || !got.UsedAt.IsZero() || c.Patient != "p1" || c.Encounter != "e1" ||
		c.Intent != "reconcile" || c.NeedPatientBanner == nil || !*c.NeedPatientBanner || c.SmartStyleURL != r.Context.SmartStyleURL ||
		len(c.FHIRContext) != 1 || c.FHIRContext[0]["reference"] != "Observation/o1" {
		t.Fatalf("Launch = %+v", got)
	}
	if _, err := b.Launch(ctx, launchHash("L2")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Launch(missing) = %v, want ErrNotFound", err)
	}
}

func testLaunchUseOnce(t *testing.T, b LaunchBackend) {
	ctx := context.Background()
	r := &launch.Record{Hash: launchHash("L1"), ClientID: "app", Issuer: "https://x.example/fhir",
		Context: authz.LaunchContext{Patient: "p1"}, CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	if err := b.CreateLaunch(ctx, r); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	for _, tc := range []struct {
		name   string
		client string
		at     time.Time
	}{
		{"other client", "other", now},
		{"expired", "app", t0.Add(5 * time.Minute)},
	} {
		if err := b.UseLaunch(ctx, r.Hash, tc.client, tc.at); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UseLaunch(%s) = %v, want ErrNotFound", tc.name, err)
		}
	}
	if err := b.UseLaunch(ctx, r.Hash, "app", now); err != nil {
		t.Fatal(err)
	}
	if err := b.UseLaunch(ctx, r.Hash, "app", now.Add(time.Second)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second UseLaunch = %v, want ErrNotFound", err)
	}
	got, err := b.Launch(ctx, r.Hash)
	if err != nil || !SameInstant(got.UsedAt, now) {
		t.Fatalf("after use: %+v, %v", got, err)
	}
	if err := b.UseLaunch(ctx, launchHash("nope"), "app", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UseLaunch(unknown) = %v", err)
	}
}

func testLaunchDeleteExpired(t *testing.T, b LaunchBackend) {
	ctx := context.Background()
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		r := &launch.Record{Hash: launchHash(string(rune('a' + i))), ClientID: "app", CreatedAt: t0, ExpiresAt: t0.Add(exp)}
		if err := b.CreateLaunch(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := b.DeleteExpiredLaunches(ctx, t0.Add(10*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredLaunches = %d, %v; want 1", n, err)
	}
	if _, err := b.Launch(ctx, launchHash("a")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired launch still there: %v", err)
	}
	if _, err := b.Launch(ctx, launchHash("b")); err != nil {
		t.Fatalf("live launch gone: %v", err)
	}
}
