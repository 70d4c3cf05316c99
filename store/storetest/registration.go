package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
)

// RunClients tests the OAuth client records: create, read, update, list,
// and the RFC 7591/7592 registration metadata and deletion.
func RunClients(t *testing.T, open func(t *testing.T) Backend) {
	run(t, open, []test{
		{"Clients", testOAuthClients},
		{"Registration", testOAuthClientRegistration},
	})
}

// testOAuthClientRegistration: the RFC 7591/7592 metadata round-trips, and
// DeleteClient removes the client, revokes its tokens and drops its codes.
func testOAuthClientRegistration(t *testing.T, b Backend) {
	ctx := context.Background()
	c := &authz.Client{ID: "dcr1", Name: "Registered", TokenEndpointAuthMethod: authz.AuthNone, Public: true,
		RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Contacts: []string{"ops@a.example"}, TOSURI: "https://a.example/tos", PolicyURI: "https://a.example/policy",
		PostLogoutRedirectURIs: []string{"https://a.example/bye"}, SoftwareID: "sw", SoftwareVersion: "1.2",
		RegistrationTokenHash: []byte{9, 8, 7}, Policy: authz.PolicySelf, Owner: "u1", Pending: true, Disabled: true, CreatedAt: t0,
		RegistrationTokenExpiresAt: t0.Add(24 * time.Hour), IntrospectAll: true,
		Ceiling: authz.Ceiling{Scopes: []string{"openid", "patient/*.rs"}, GrantTypes: []string{"authorization_code"}, AuthMethod: authz.AuthNone}}
	if err := b.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetClient(ctx, "dcr1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Contacts, c.Contacts) || got.TOSURI != c.TOSURI || got.PolicyURI != c.PolicyURI ||
		!slices.Equal(got.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs) || got.SoftwareID != "sw" || got.SoftwareVersion != "1.2" ||
		string(got.RegistrationTokenHash) != string(c.RegistrationTokenHash) || got.Policy != authz.PolicySelf || got.Owner != "u1" ||
		!got.Pending || !got.Disabled || !SameInstant(got.RegistrationTokenExpiresAt, c.RegistrationTokenExpiresAt) || !got.IntrospectAll ||
		!slices.Equal(got.Ceiling.Scopes, c.Ceiling.Scopes) || !slices.Equal(got.Ceiling.GrantTypes, c.Ceiling.GrantTypes) ||
		got.Ceiling.AuthMethod != authz.AuthNone {
		t.Fatalf("GetClient = %+v", got)
	}
	got.Pending, got.Disabled, got.RegistrationTokenHash, got.IntrospectAll = false, false, nil, false
	got.Ceiling = authz.Ceiling{Scopes: []string{"openid"}, GrantTypes: []string{"authorization_code"}, AuthMethod: authz.AuthNone}
	if err := b.UpdateClient(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.GetClient(ctx, "dcr1"); again.Pending || again.Disabled || again.RegistrationTokenHash != nil || again.IntrospectAll ||
		!slices.Equal(again.Ceiling.Scopes, []string{"openid"}) {
		t.Fatalf("update lost: %+v", again)
	}
	// The conditional update (RFC 7592 token rotation) wins only once.
	again, _ := b.GetClient(ctx, "dcr1")
	again.RegistrationTokenHash, again.Name = []byte{1, 1}, "Rotated"
	if err := b.UpdateClientIfRegistrationToken(ctx, again, []byte{5, 5}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conditional update with a stale hash = %v, want ErrConflict", err)
	}
	if err := b.UpdateClientIfRegistrationToken(ctx, &authz.Client{ID: "nope", TokenEndpointAuthMethod: "none"}, []byte{1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("conditional update of a missing client = %v, want ErrNotFound", err)
	}
	got.RegistrationTokenHash = []byte{2, 2}
	if err := b.UpdateClient(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateClientIfRegistrationToken(ctx, again, []byte{2, 2}); err != nil {
		t.Fatalf("conditional update with the stored hash = %v", err)
	}
	if err := b.UpdateClientIfRegistrationToken(ctx, again, []byte{2, 2}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second conditional update with the old hash = %v, want ErrConflict", err)
	}
	if c, _ := b.GetClient(ctx, "dcr1"); c.Name != "Rotated" || string(c.RegistrationTokenHash) != string([]byte{1, 1}) {
		t.Fatalf("after the conditional update: %+v", c)
	}
	if err := b.CreateClient(ctx, &authz.Client{ID: "plain", TokenEndpointAuthMethod: authz.AuthNone, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if p, _ := b.GetClient(ctx, "plain"); p.Policy != authz.PolicyAdmin {
		t.Fatalf("default policy = %q, want admin", p.Policy)
	}

	for _, r := range []authz.TokenRecord{
		{Kind: authz.KindAccess, Signature: "dcr-a", RequestID: "q", ClientID: "dcr1", Subject: "u1", RequestedAt: t0, ExpiresAt: t0.Add(time.Hour), Data: []byte("{}")},
		{Kind: authz.KindRefresh, Signature: "dcr-r", RequestID: "q", ClientID: "dcr1", Subject: "u1", RequestedAt: t0, ExpiresAt: t0.Add(time.Hour), Data: []byte("{}")},
		{Kind: authz.KindCode, Signature: "dcr-c", RequestID: "q2", ClientID: "dcr1", Subject: "u1", RequestedAt: t0, ExpiresAt: t0.Add(time.Minute), Data: []byte("{}")},
		{Kind: authz.KindAccess, Signature: "other-a", RequestID: "q3", ClientID: "plain", Subject: "u1", RequestedAt: t0, ExpiresAt: t0.Add(time.Hour), Data: []byte("{}")},
	} {
		if err := b.CreateToken(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	at := t0.Add(time.Minute)
	if err := b.DeleteClient(ctx, "dcr1", at); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetClient(ctx, "dcr1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetClient after delete = %v, want ErrNotFound", err)
	}
	for _, sig := range []struct {
		kind authz.TokenKind
		sig  string
	}{{authz.KindAccess, "dcr-a"}, {authz.KindRefresh, "dcr-r"}} {
		rec, err := b.GetToken(ctx, sig.kind, sig.sig)
		if err != nil || rec.State != authz.StateRevoked || !SameInstant(rec.StateAt, at) {
			t.Fatalf("%s after delete = %+v, %v; want revoked", sig.sig, rec, err)
		}
	}
	if _, err := b.GetToken(ctx, authz.KindCode, "dcr-c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("code of a deleted client = %v, want ErrNotFound", err)
	}
	if rec, _ := b.GetToken(ctx, authz.KindAccess, "other-a"); rec.State != authz.StateActive {
		t.Fatalf("another client's token = %q, want active", rec.State)
	}
	if err := b.DeleteClient(ctx, "dcr1", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteClient = %v, want ErrNotFound", err)
	}
}
