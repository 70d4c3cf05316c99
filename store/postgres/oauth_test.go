package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/postgres"
	"github.com/smartgate/smartgate/store/postgres/pgtest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) // whole microseconds: compared as stored

// replicas are two stores on one database, each with its own pool, as two
// smartgate processes would be.
func replicas(t *testing.T) [2]*postgres.DB {
	t.Helper()
	url := pgtest.URL(t)
	var dbs [2]*postgres.DB
	for i := range dbs {
		db, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs
}

// raceReplicas runs fn n times at once, alternating between the replicas,
// and returns how many calls returned nil; every other result must be
// want (errors.Is).
func raceReplicas(t *testing.T, dbs [2]*postgres.DB, n int, want error, fn func(db *postgres.DB, i int) error) int {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch err := fn(dbs[i%2], i); {
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

// TestSingleUseAcrossReplicas: of concurrent callers on two replicas
// exactly one uses a jti (a new one, and an expired one taken over), a
// launch, a code, and stores the first signing key of an algorithm.
func TestSingleUseAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dbs := replicas(t)
	const n = 12
	if wins := raceReplicas(t, dbs, n, store.ErrConflict, func(db *postgres.DB, _ int) error {
		return db.UseJTI(ctx, "race", t0.Add(time.Hour), t0)
	}); wins != 1 {
		t.Errorf("%d concurrent first uses of a jti succeeded, want 1", wins)
	}
	if err := dbs[0].UseJTI(ctx, "old", t0, t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if wins := raceReplicas(t, dbs, n, store.ErrConflict, func(db *postgres.DB, _ int) error {
		return db.UseJTI(ctx, "old", t0.Add(time.Hour), t0.Add(time.Second))
	}); wins != 1 {
		t.Errorf("%d concurrent uses of an expired jti succeeded, want 1", wins)
	}
	if err := dbs[1].UseJTI(ctx, "old", t0.Add(2*time.Hour), t0.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("replay of the taken-over jti = %v, want ErrConflict", err)
	}

	r := &launch.Record{Hash: []byte("launch-hash"), ClientID: "app", Issuer: "https://x.example/fhir",
		Context: authz.LaunchContext{Patient: "p1"}, CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	if err := dbs[0].CreateLaunch(ctx, r); err != nil {
		t.Fatal(err)
	}
	if wins := raceReplicas(t, dbs, n, store.ErrNotFound, func(db *postgres.DB, i int) error {
		return db.UseLaunch(ctx, r.Hash, "app", t0.Add(time.Duration(i+1)*time.Second))
	}); wins != 1 {
		t.Errorf("%d concurrent uses of a launch succeeded, want 1", wins)
	}

	code := authz.TokenRecord{Kind: authz.KindCode, Signature: "c1", RequestID: "r1", ClientID: "c1", Subject: "u1",
		RequestedAt: t0, ExpiresAt: t0.Add(time.Minute), Data: []byte("{}")}
	if err := dbs[0].CreateToken(ctx, code); err != nil {
		t.Fatal(err)
	}
	var winAt atomic.Int64
	if wins := raceReplicas(t, dbs, n, store.ErrConflict, func(db *postgres.DB, i int) error {
		at := t0.Add(time.Duration(i+1) * time.Second)
		err := db.SetTokenState(ctx, authz.KindCode, "c1", authz.StateActive, authz.StateUsed, at)
		if err == nil {
			winAt.Store(at.UnixMicro())
		}
		return err
	}); wins != 1 {
		t.Errorf("%d concurrent redemptions of a code succeeded, want 1", wins)
	}
	if got, err := dbs[1].GetToken(ctx, authz.KindCode, "c1"); err != nil || got.State != authz.StateUsed || got.StateAt.UnixMicro() != winAt.Load() {
		t.Errorf("code after the race: %+v, %v; want used at the winner's time", got, err)
	}

	if wins := raceReplicas(t, dbs, n, store.ErrConflict, func(db *postgres.DB, i int) error {
		return db.AddSigningKey(ctx, authz.SigningKey{ID: fmt.Sprintf("k%d", i), Alg: "ES256", PrivateDER: []byte{byte(i)}, CreatedAt: t0}, true)
	}); wins != 1 {
		t.Errorf("%d concurrent first signing keys stored, want 1", wins)
	}
	if keys, err := dbs[0].SigningKeys(ctx); err != nil || len(keys) != 1 {
		t.Errorf("signing keys after the race: %+v, %v", keys, err)
	}
}

// TestRotationAcrossReplicas: concurrent rotations of one refresh token
// on two replicas all succeed and leave what one rotation leaves: the
// token rotated at one caller's time, the grant's other active token
// revoked; and concurrent client updates on both replicas all survive.
func TestRotationAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dbs := replicas(t)
	for _, sig := range []string{"f1", "f2"} {
		if err := dbs[0].CreateToken(ctx, authz.TokenRecord{Kind: authz.KindRefresh, Signature: sig, RequestID: "r1", ClientID: "c1",
			Subject: "u1", RequestedAt: t0, ExpiresAt: t0.Add(time.Hour), Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 12
	if wins := raceReplicas(t, dbs, n, nil, func(db *postgres.DB, i int) error {
		return db.RotateRefreshToken(ctx, "r1", "f1", t0.Add(time.Duration(i+1)*time.Second))
	}); wins != n {
		t.Errorf("%d of %d concurrent rotations succeeded", wins, n)
	}
	f1, err1 := dbs[1].GetToken(ctx, authz.KindRefresh, "f1")
	f2, err2 := dbs[1].GetToken(ctx, authz.KindRefresh, "f2")
	if err1 != nil || err2 != nil || f1.State != authz.StateRotated || f2.State != authz.StateRevoked ||
		f1.StateAt.Before(t0.Add(time.Second)) || f1.StateAt.After(t0.Add(n*time.Second)) {
		t.Errorf("after the rotations f1 = %+v (%v), f2 = %+v (%v)", f1, err1, f2, err2)
	}

	if err := dbs[0].CreateClient(ctx, &authz.Client{ID: "u1", TokenEndpointAuthMethod: authz.AuthNone, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	if wins := raceReplicas(t, dbs, n, nil, func(db *postgres.DB, i int) error {
		return db.UpdateClient(ctx, "u1", func(old authz.Client) (authz.Client, error) {
			calls.Add(1)
			old.Contacts = append(old.Contacts, fmt.Sprintf("c%02d@x.example", i))
			return old, nil
		})
	}); wins != n {
		t.Errorf("%d of %d concurrent client updates succeeded", wins, n)
	}
	if c, err := dbs[1].GetClient(ctx, "u1"); err != nil || len(c.Contacts) != n {
		t.Errorf("client after the updates: %+v, %v; want %d contacts", c, err, n)
	}
	t.Logf("%d concurrent client updates called update %d times", n, calls.Load())
}

// TestConsentsOf checks ConsentsOf on rows written in SQL (storetest's
// RunGrants makes them with CreateUser and PutConsent, which this
// backend's accounts domain provides).
func TestConsentsOf(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO users (id, user_name, created, last_modified) VALUES ('u-b', 'una', 1, 1), ('u-a', 'ugo', 1, 1)`,
		`INSERT INTO consents (user_id, client_id, scopes, created, updated) VALUES
			('u-b', 'c1', 'openid launch', 10, 30), ('u-b', 'c2', '', 10, 20), ('u-a', 'c1', 'openid', 10, 30)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.ConsentsOf(ctx, "", "", 0)
	var order []string
	for _, c := range all {
		order = append(order, c.UserID+"/"+c.ClientID)
	}
	if err != nil || !slices.Equal(order, []string{"u-a/c1", "u-b/c1", "u-b/c2"}) {
		t.Fatalf("ConsentsOf = %v, %v; want newest first, then by user and client", order, err)
	}
	if c := all[1]; !slices.Equal(c.Scopes, []string{"openid", "launch"}) || c.Created.UnixMicro() != 10 || c.Updated.UnixMicro() != 30 {
		t.Errorf("consent = %+v", c)
	}
	if all[2].Scopes != nil {
		t.Errorf("no scopes = %#v, want nil", all[2].Scopes)
	}
	if got, _ := db.ConsentsOf(ctx, "u-b", "", 0); len(got) != 2 {
		t.Errorf("of u-b: %+v", got)
	}
	if got, _ := db.ConsentsOf(ctx, "", "c1", 1); len(got) != 1 || got[0].UserID != "u-a" {
		t.Errorf("of c1, limit 1: %+v", got)
	}
	if got, _ := db.ConsentsOf(ctx, "u-a", "c2", 0); len(got) != 0 {
		t.Errorf("of u-a at c2: %+v", got)
	}
}
