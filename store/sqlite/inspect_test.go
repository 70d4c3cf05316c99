package sqlite_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
)

// TestInspection: the inspection methods that other packages' tests rely on
// to prove what is not stored do find what is stored.
func TestInspection(t *testing.T) {
	ctx := context.Background()
	db := openFile(t)
	now := time.Now()
	if err := db.CreateClient(ctx, &authz.Client{ID: "app", Name: "needle-in-text", SecretHash: []byte("needle-in-bytes"),
		TokenEndpointAuthMethod: "none", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, authz.TokenRecord{Kind: authz.KindAccess, Signature: "s1", RequestID: "r", ClientID: "app",
		RequestedAt: now, ExpiresAt: now.Add(time.Hour), Data: []byte(`{"x":"needle-in-blob"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeAccessJTI(ctx, "j1", "app", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for needle, want := range map[string][]string{
		"needle-in-text":  {"oauth_clients"},
		"needle-in-bytes": {"oauth_clients"},
		"needle-in-blob":  {"oauth_tokens"},
		"app":             {"oauth_clients", "oauth_revoked_access", "oauth_tokens"},
		"absent":          nil,
		"":                nil,
	} {
		got, err := db.TablesHolding(ctx, needle)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("TablesHolding(%q) = %v, %v; want %v", needle, got, err, want)
		}
	}
	for client, want := range map[string]int{"app": 1, "": 1, "other": 0} {
		if n, err := db.CountTokens(ctx, client); err != nil || n != want {
			t.Errorf("CountTokens(%q) = %d, %v; want %d", client, n, err, want)
		}
	}
	if n, err := db.CountRevokedAccessJTIs(ctx); err != nil || n != 1 {
		t.Errorf("CountRevokedAccessJTIs = %d, %v; want 1", n, err)
	}
}
