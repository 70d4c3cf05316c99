package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
)

// testOAuthRefreshFamilies: a family is listed once, by its active refresh
// token, with its first issue and latest rotation; revoked, expired and
// other kinds are not; the subject and client filters hold; RefreshFamily
// finds one active family by its request id, and no other.
func testOAuthRefreshFamilies(t *testing.T, b TokensBackend) {
	ctx := context.Background()
	mk := func(sig, req, subject, client string, at, exp time.Time) {
		t.Helper()
		err := b.CreateToken(ctx, authz.TokenRecord{Kind: authz.KindRefresh, Signature: sig, RequestID: req, ClientID: client,
			Subject: subject, RequestedAt: at, ExpiresAt: exp, Data: []byte(`{"id":"` + req + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(time.Hour)
	mk("f1", "r1", "u1", "c1", t0, now.Add(time.Hour))
	if err := b.RotateRefreshToken(ctx, "r1", "f1", t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	mk("f2", "r1", "u1", "c1", t0.Add(10*time.Minute), now.Add(time.Hour))
	mk("g1", "r2", "u2", "c1", t0.Add(time.Minute), now.Add(time.Hour))
	mk("h1", "r3", "u1", "c2", t0.Add(2*time.Minute), now.Add(-time.Minute)) // expired
	mk("k1", "r4", "u1", "c2", t0.Add(3*time.Minute), now.Add(time.Hour))
	if err := b.RevokeTokens(ctx, authz.KindRefresh, "r4", t0); err != nil {
		t.Fatal(err)
	}
	all, err := b.RefreshFamilies(ctx, "", "", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Record.RequestID != "r1" || all[1].Record.RequestID != "r2" {
		t.Fatalf("families = %+v; want r1, r2", all)
	}
	f := all[0]
	if f.Record.Signature != "f2" || f.Record.Subject != "u1" || f.Record.ClientID != "c1" || string(f.Record.Data) != `{"id":"r1"}` ||
		!SameInstant(f.Created, t0) || !SameInstant(f.LastUsed, t0.Add(10*time.Minute)) {
		t.Fatalf("family r1 = %+v", f)
	}
	if !all[1].LastUsed.IsZero() {
		t.Fatalf("never refreshed: LastUsed = %v", all[1].LastUsed)
	}
	if got, _ := b.RefreshFamilies(ctx, "u2", "", now, 0); len(got) != 1 || got[0].Record.RequestID != "r2" {
		t.Fatalf("of u2 = %+v", got)
	}
	if got, _ := b.RefreshFamilies(ctx, "u1", "c2", now, 0); len(got) != 0 {
		t.Fatalf("of u1 at c2 = %+v; want none", got)
	}
	if got, _ := b.RefreshFamilies(ctx, "", "", now, 1); len(got) != 1 {
		t.Fatalf("limit 1: %d families", len(got))
	}
	one, err := b.RefreshFamily(ctx, "r1", now)
	if err != nil || one.Record.Signature != "f2" || one.Record.Subject != "u1" || one.Record.ClientID != "c1" ||
		!SameInstant(one.Created, t0) || !SameInstant(one.LastUsed, t0.Add(10*time.Minute)) {
		t.Fatalf("RefreshFamily r1 = %+v, %v", one, err)
	}
	for _, id := range []string{"r3", "r4", "nope", ""} { // expired, revoked, unknown, none
		if f, err := b.RefreshFamily(ctx, id, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RefreshFamily %q = %+v, %v; want store.ErrNotFound", id, f, err)
		}
	}
}

// GrantsBackend is what RunGrants needs: the consents of the grants page
// (ConsentsOf) and what makes them (a person, a consent).
type GrantsBackend interface {
	CreateUser(ctx context.Context, u *account.User) error
	PutConsent(ctx context.Context, c *account.Consent) error
	// ConsentsOf lists the consents of a person and of an app (either ""
	// for any), newest first, at most limit: the console's grants page.
	ConsentsOf(ctx context.Context, userID, clientID string, limit int) ([]account.Consent, error)
}

// RunGrants tests the consents the console's grants page lists beside the
// refresh families (RunTokens tests those).
func RunGrants[B GrantsBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"ConsentsOf", func(t *testing.T, b B) { testConsentsOf(t, b) }},
	})
}

func testConsentsOf(t *testing.T, b GrantsBackend) {
	ctx := context.Background()
	var u1, u2 string
	for _, p := range []struct {
		id   *string
		name string
	}{{&u1, "una"}, {&u2, "ugo"}} {
		u := newUser(p.name)
		if err := b.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", p.name, err)
		}
		*p.id = u.ID
	}
	for _, c := range []account.Consent{{UserID: u1, ClientID: "c1", Scopes: []string{"openid"}},
		{UserID: u1, ClientID: "c2", Scopes: []string{"launch"}}, {UserID: u2, ClientID: "c1"}} {
		if err := b.PutConsent(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := b.ConsentsOf(ctx, "", "c1", 0); len(got) != 2 {
		t.Fatalf("consents for c1 = %+v", got)
	}
	got, err := b.ConsentsOf(ctx, u1, "c2", 0)
	if err != nil || len(got) != 1 || got[0].Scopes[0] != "launch" {
		t.Fatalf("consent of u1 for c2 = %+v, %v", got, err)
	}
	if got, _ := b.ConsentsOf(ctx, "", "", 2); len(got) != 2 {
		t.Fatalf("limit 2: %d", len(got))
	}
}
