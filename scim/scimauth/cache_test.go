package scimauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/scim/scimauth"
)

// TestTokenCacheRevocation: a token revoked through the cache (the client
// pages of this process) is refused on the next request; one revoked
// behind its back (another process) within CacheTTL.
func TestTokenCacheRevocation(t *testing.T) {
	db := openDB(t)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	ctx := context.Background()
	cache := scimauth.NewTokenCache(db, clock.Now)
	a, err := scimauth.New(scimauth.Config{Tokens: cache, Clients: db, Verifier: noVerifier{t}, Accounts: noAccounts{}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(secret string) {
		t.Helper()
		if c, err := authorize(a, secret); err != nil || c.Kind != scim.CallerProvisioning {
			t.Fatalf("AuthorizeSCIM = %+v, %v; want a provisioning caller", c, err)
		}
	}
	refused := func(secret string) {
		t.Helper()
		if c, err := authorize(a, secret); !errors.Is(err, scim.ErrNoCredentials) {
			t.Fatalf("AuthorizeSCIM = %+v, %v; want ErrNoCredentials", c, err)
		}
	}

	// Through the cache: refused at once.
	secret, tk := issue(t, db, t0)
	ok(secret)
	ok(secret)
	if err := cache.RevokeProvisioningToken(ctx, tk.ClientID, tk.ID, clock.Now()); err != nil {
		t.Fatal(err)
	}
	refused(secret)

	// Behind the cache's back: refused once CacheTTL has passed.
	secret, tk = issue(t, db, t0)
	ok(secret) // records the first use, which empties the cache
	ok(secret) // cached from here on
	if err := db.RevokeProvisioningToken(ctx, tk.ClientID, tk.ID, clock.Now()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(scimauth.CacheTTL - time.Millisecond)
	ok(secret) // the documented bound: still cached
	clock.Advance(time.Millisecond)
	refused(secret)

	// A token that does not exist is never cached: one issued later works.
	if _, err := cache.ProvisioningTokenByHash(ctx, []byte("no such hash")); err == nil {
		t.Fatal("an unknown hash was found")
	}
	secret, _ = issue(t, db, clock.Now())
	ok(secret)
}

// TestTokenCacheClientChecked: the cache keeps tokens, not their client's
// state: a client no longer allowed SCIM is refused on the next request.
func TestTokenCacheClientChecked(t *testing.T) {
	db := openDB(t)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	ctx := context.Background()
	a, err := scimauth.New(scimauth.Config{Tokens: scimauth.NewTokenCache(db, clock.Now), Clients: db, Verifier: noVerifier{t},
		Accounts: noAccounts{}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	secret, tk := issue(t, db, t0)
	if _, err := authorize(a, secret); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateClient(ctx, tk.ClientID, func(old authz.Client) (authz.Client, error) {
		old.Disabled = true
		return old, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := authorize(a, secret); !errors.Is(err, scim.ErrNoCredentials) {
		t.Fatalf("token of a disabled client: AuthorizeSCIM = %+v, %v; want ErrNoCredentials", got, err)
	}
}
