package scimauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

// The authorizer's HTTP-level behaviour with real tokens is tested in
// cmd/smartgate (issue11_scimauth_test.go); these tests cover what needs a
// clock or a failing store.

// noVerifier fails the test when an access token reaches the verifier (a
// provisioning token must never be sent there).
type noVerifier struct{ t *testing.T }

func (v noVerifier) VerifyAccessToken(context.Context, string) (*authz.TokenInfo, error) {
	v.t.Error("a provisioning token reached the access-token verifier")
	return nil, authz.ErrInactiveToken
}

type noAccounts struct{}

func (noAccounts) Claims(context.Context, string) (authz.UserClaims, error) {
	return authz.UserClaims{}, store.ErrNotFound
}

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// issue stores a client allowed SCIM and a provisioning token for it.
func issue(t *testing.T, db *sqlite.DB, now time.Time) (string, scimauth.Token) {
	t.Helper()
	ctx := context.Background()
	c, _, err := authz.CreateClient(ctx, db, authz.NewClient{Name: "Entra ID", GrantTypes: []string{"client_credentials"},
		Scopes: []string{authz.ScopeSCIM}, AllowSCIM: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	secret, id, hash, err := scimauth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	tk := scimauth.Token{ID: id, ClientID: c.ID, Label: "l", Hash: hash, CreatedAt: now}
	if err := db.CreateProvisioningToken(ctx, tk); err != nil {
		t.Fatal(err)
	}
	return secret, tk
}

func authorize(a *scimauth.Authorizer, token string) (*scim.Caller, error) {
	r := httptest.NewRequest("GET", "/scim/v2/Users", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return a.AuthorizeSCIM(r)
}

func TestNewToken(t *testing.T) {
	a, id, hash, err := scimauth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, _ := scimauth.NewToken()
	if !scimauth.IsProvisioningToken(a) || len(a) != len("sgp_")+43 || a == b || id == "" ||
		string(hash) != string(scimauth.HashToken(a)) || len(hash) != 32 {
		t.Fatalf("NewToken = %q, %q, %x", a, id, hash)
	}
	if scimauth.IsProvisioningToken("eyJhbGciOi.x.y") {
		t.Error("a JWT is taken for a provisioning token")
	}
}

// TestLastUseWrittenAtMostOncePerInterval: the last use is recorded on the
// first use and then only when the recorded one is TouchInterval old.
func TestLastUseWrittenAtMostOncePerInterval(t *testing.T) {
	db := openDB(t)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	secret, tk := issue(t, db, t0)
	a, err := scimauth.New(scimauth.Config{Tokens: db, Clients: db, Verifier: noVerifier{t}, Accounts: noAccounts{}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	lastUse := func() time.Time {
		got, err := db.ProvisioningTokenByHash(context.Background(), tk.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsedAt
	}
	for _, step := range []struct {
		advance time.Duration
		want    time.Time
	}{
		{0, t0},
		{30 * time.Second, t0},
		{29 * time.Second, t0},
		{time.Second, t0.Add(time.Minute)},
		{59 * time.Second, t0.Add(time.Minute)},
	} {
		clock.Advance(step.advance)
		if c, err := authorize(a, secret); err != nil || c.Kind != scim.CallerProvisioning || c.ClientID != tk.ClientID {
			t.Fatalf("AuthorizeSCIM = %+v, %v", c, err)
		}
		if got := lastUse(); !got.Equal(step.want) {
			t.Fatalf("at %v: last use %v, want %v", clock.Now(), got, step.want)
		}
	}
}

// failing wraps the real store, failing one method with store.ErrUnavailable.
type failing struct {
	*sqlite.DB
	tokens, clients bool
}

func (f failing) ProvisioningTokenByHash(ctx context.Context, h []byte) (scimauth.Token, error) {
	if f.tokens {
		return scimauth.Token{}, fmt.Errorf("disk gone: %w", store.ErrUnavailable)
	}
	return f.DB.ProvisioningTokenByHash(ctx, h)
}

func (f failing) GetClient(ctx context.Context, id string) (*authz.Client, error) {
	if f.clients {
		return nil, fmt.Errorf("disk gone: %w", store.ErrUnavailable)
	}
	return f.DB.GetClient(ctx, id)
}

type downVerifier struct{}

func (downVerifier) VerifyAccessToken(context.Context, string) (*authz.TokenInfo, error) {
	return nil, fmt.Errorf("authz: verify access token: %w", store.ErrUnavailable)
}

// TestStoreDown: the store's unavailability is an error wrapping
// store.ErrUnavailable (503), never a 401 or 403.
func TestStoreDown(t *testing.T) {
	db := openDB(t)
	secret, _ := issue(t, db, time.Now())
	for name, cfg := range map[string]scimauth.Config{
		"Tokens":   {Tokens: failing{DB: db, tokens: true}, Clients: db, Verifier: noVerifier{t}},
		"Clients":  {Tokens: db, Clients: failing{DB: db, clients: true}, Verifier: noVerifier{t}},
		"Verifier": {Tokens: db, Clients: db, Verifier: downVerifier{}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Accounts = noAccounts{}
			a, err := scimauth.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tok := secret
			if name == "Verifier" {
				tok = "eyJhbGciOiJFUzI1NiJ9.e30.sig"
			}
			c, err := authorize(a, tok)
			if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, scim.ErrNoCredentials) || errors.Is(err, scim.ErrForbidden) || c != nil {
				t.Fatalf("AuthorizeSCIM = %+v, %v; want a store.ErrUnavailable error", c, err)
			}
		})
	}
}

func TestNewNeedsItsParts(t *testing.T) {
	if _, err := scimauth.New(scimauth.Config{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
}

// TestProvisioningTokenFollowsClientFlag: a provisioning token of a client
// whose SCIM permission an administrator withdrew is valid but forbidden,
// and works again when it is given back.
func TestProvisioningTokenFollowsClientFlag(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	secret, tk := issue(t, db, time.Now())
	a, err := scimauth.New(scimauth.Config{Tokens: db, Clients: db, Verifier: noVerifier{t}, Accounts: noAccounts{}})
	if err != nil {
		t.Fatal(err)
	}
	set := func(allowed bool) {
		t.Helper()
		if err := db.UpdateClient(ctx, tk.ClientID, func(c authz.Client) (authz.Client, error) { c.AllowSCIM = allowed; return c, nil }); err != nil {
			t.Fatal(err)
		}
	}
	set(false)
	if c, err := authorize(a, secret); !errors.Is(err, scim.ErrForbidden) {
		t.Fatalf("client no longer allowed SCIM: %+v, %v; want ErrForbidden", c, err)
	}
	set(true)
	if c, err := authorize(a, secret); err != nil || c.Kind != scim.CallerProvisioning {
		t.Fatalf("allowed again: %+v, %v", c, err)
	}
}
