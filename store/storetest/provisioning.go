package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/store"
)

// RunProvisioningTokens tests the provisioning tokens of SCIM clients and
// the administrator-only client flags that go with them.
func RunProvisioningTokens[B ProvisioningBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"ClientFlags", func(t *testing.T, b B) { testProvisioningClientFlags(t, b) }},
		{"Tokens", func(t *testing.T, b B) { testProvisioningTokens(t, b) }},
		{"DeleteClient", func(t *testing.T, b B) { testProvisioningDeleteClient(t, b) }},
	})
}

// ProvisioningBackend is what RunProvisioningTokens needs: the SCIM
// provisioning tokens and the client records they belong to.
type ProvisioningBackend interface {
	scimauth.TokenStore
	CreateClient(ctx context.Context, c *authz.Client) error
	GetClient(ctx context.Context, id string) (*authz.Client, error)
	UpdateClient(ctx context.Context, id string, update func(old authz.Client) (authz.Client, error)) error
	ListClients(ctx context.Context) ([]*authz.Client, error)
	DeleteClient(ctx context.Context, id string, at time.Time) error
}

func provisioningClient(t *testing.T, b ProvisioningBackend, id string) {
	t.Helper()
	c := &authz.Client{ID: id, Name: "Entra ID", SecretHash: []byte{1}, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"scim"}, TokenEndpointAuthMethod: authz.AuthClientSecretBasic, CreatedAt: t0, AllowSCIM: true}
	if err := b.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// testProvisioningClientFlags: AllowSCIM, AllowSystemScopes and
// AllowLaunchCreate round-trip through create, update and list.
func testProvisioningClientFlags(t *testing.T, b ProvisioningBackend) {
	ctx := context.Background()
	provisioningClient(t, b, "p1")
	got, err := b.GetClient(ctx, "p1")
	if err != nil || !got.AllowSCIM || got.AllowSystemScopes || got.AllowLaunchCreate {
		t.Fatalf("GetClient = %+v, %v; want AllowSCIM only", got, err)
	}
	err = b.UpdateClient(ctx, "p1", func(old authz.Client) (authz.Client, error) {
		old.AllowSCIM, old.AllowSystemScopes, old.AllowLaunchCreate = false, true, true
		return old, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := b.ListClients(ctx)
	if err != nil || len(list) != 1 || list[0].AllowSCIM || !list[0].AllowSystemScopes || !list[0].AllowLaunchCreate {
		t.Fatalf("ListClients = %+v, %v; want AllowSystemScopes and AllowLaunchCreate", list, err)
	}
}

func testProvisioningTokens(t *testing.T, b ProvisioningBackend) {
	ctx := context.Background()
	provisioningClient(t, b, "p1")
	provisioningClient(t, b, "p2")
	mk := func(id, client string, hash byte, at time.Time) scimauth.Token {
		return scimauth.Token{ID: id, ClientID: client, Label: "label " + id, Hash: bytes.Repeat([]byte{hash}, 32), CreatedBy: "admin1", CreatedAt: at}
	}
	for _, tk := range []scimauth.Token{mk("a", "p1", 1, t0), mk("b", "p1", 2, t0.Add(time.Hour)), mk("c", "p2", 3, t0)} {
		if err := b.CreateProvisioningToken(ctx, tk); err != nil {
			t.Fatalf("CreateProvisioningToken(%s) = %v", tk.ID, err)
		}
	}
	if err := b.CreateProvisioningToken(ctx, mk("d", "p1", 1, t0)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate hash = %v, want ErrConflict", err)
	}
	if err := b.CreateProvisioningToken(ctx, mk("a", "p1", 9, t0)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id = %v, want ErrConflict", err)
	}
	if err := b.CreateProvisioningToken(ctx, mk("e", "nope", 8, t0)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token of a missing client = %v, want ErrNotFound", err)
	}

	got, err := b.ProvisioningTokenByHash(ctx, bytes.Repeat([]byte{2}, 32))
	if err != nil || got.ID != "b" || got.ClientID != "p1" || got.Label != "label b" || got.CreatedBy != "admin1" ||
		!SameInstant(got.CreatedAt, t0.Add(time.Hour)) || !got.LastUsedAt.IsZero() || got.Revoked() {
		t.Fatalf("ProvisioningTokenByHash = %+v, %v", got, err)
	}
	if _, err := b.ProvisioningTokenByHash(ctx, bytes.Repeat([]byte{7}, 32)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash = %v, want ErrNotFound", err)
	}

	list, err := b.ProvisioningTokens(ctx, "p1")
	if err != nil || len(list) != 2 || list[0].ID != "b" || list[1].ID != "a" {
		t.Fatalf("ProvisioningTokens(p1) = %+v, %v; want b, a", list, err)
	}

	// Touch: recorded, never moved back.
	if err := b.TouchProvisioningToken(ctx, "a", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.TouchProvisioningToken(ctx, "a", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.ProvisioningTokenByHash(ctx, bytes.Repeat([]byte{1}, 32)); !SameInstant(got.LastUsedAt, t0.Add(2*time.Hour)) {
		t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, t0.Add(2*time.Hour))
	}

	// Revoke: only the client's own token; the first time stays.
	if err := b.RevokeProvisioningToken(ctx, "p2", "a", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke another client's token = %v, want ErrNotFound", err)
	}
	if err := b.RevokeProvisioningToken(ctx, "p1", "a", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.RevokeProvisioningToken(ctx, "p1", "a", t0.Add(4*time.Hour)); err != nil {
		t.Fatalf("revoking twice = %v", err)
	}
	got, err = b.ProvisioningTokenByHash(ctx, bytes.Repeat([]byte{1}, 32))
	if err != nil || !got.Revoked() || !SameInstant(got.RevokedAt, t0.Add(3*time.Hour)) {
		t.Fatalf("after revoke = %+v, %v", got, err)
	}
	if other, _ := b.ProvisioningTokenByHash(ctx, bytes.Repeat([]byte{3}, 32)); other.Revoked() {
		t.Fatal("revoking p1's token revoked p2's")
	}
}

// testProvisioningDeleteClient: a deleted client's tokens are gone (and a
// client reusing the id inherits none).
func testProvisioningDeleteClient(t *testing.T, b ProvisioningBackend) {
	ctx := context.Background()
	provisioningClient(t, b, "p1")
	tk := scimauth.Token{ID: "a", ClientID: "p1", Label: "x", Hash: bytes.Repeat([]byte{1}, 32), CreatedAt: t0}
	if err := b.CreateProvisioningToken(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteClient(ctx, "p1", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ProvisioningTokenByHash(ctx, tk.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token of a deleted client = %v, want ErrNotFound", err)
	}
	provisioningClient(t, b, "p1")
	if list, err := b.ProvisioningTokens(ctx, "p1"); err != nil || len(list) != 0 {
		t.Fatalf("reused id inherits %+v, %v", list, err)
	}
}
