package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
)

// ClientsBackend is what RunClients needs: the OAuth client records, and
// the token records that DeleteClient revokes or drops.
type ClientsBackend interface {
	CreateClient(ctx context.Context, c *authz.Client) error
	GetClient(ctx context.Context, id string) (*authz.Client, error)
	UpdateClient(ctx context.Context, id string, update func(old authz.Client) (authz.Client, error)) error
	ListClients(ctx context.Context) ([]*authz.Client, error)
	DeleteClient(ctx context.Context, id string, at time.Time) error
	ClientsByCertificateAuth(ctx context.Context) ([]*authz.Client, error)
	CreateToken(ctx context.Context, rec authz.TokenRecord) error
	GetToken(ctx context.Context, kind authz.TokenKind, signature string) (authz.TokenRecord, error)
}

// RunClients tests the OAuth client records: create, read, update, list,
// the RFC 7591/7592 registration metadata and deletion, and the RFC 8705
// certificate-authenticated clients.
func RunClients[B ClientsBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"Clients", func(t *testing.T, b B) { testOAuthClients(t, b) }},
		{"Registration", func(t *testing.T, b B) { testOAuthClientRegistration(t, b) }},
		{"Update", func(t *testing.T, b B) { testOAuthClientUpdate(t, b) }},
		{"CertificateAuth", func(t *testing.T, b B) { testOAuthClientsByCertificateAuth(t, b) }},
	})
}

// testOAuthClientRegistration: the RFC 7591/7592 metadata round-trips, and
// DeleteClient removes the client, revokes its tokens and drops its codes.
func testOAuthClientRegistration(t *testing.T, b ClientsBackend) {
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
	if err := replaceClient(ctx, b, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.GetClient(ctx, "dcr1"); again.Pending || again.Disabled || again.RegistrationTokenHash != nil || again.IntrospectAll ||
		!slices.Equal(again.Ceiling.Scopes, []string{"openid"}) {
		t.Fatalf("update lost: %+v", again)
	}
	// The conditional update (RFC 7592 token rotation) wins only once.
	again, _ := b.GetClient(ctx, "dcr1")
	again.RegistrationTokenHash, again.Name = []byte{1, 1}, "Rotated"
	if err := updateIfToken(ctx, b, again, []byte{5, 5}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conditional update with a stale hash = %v, want ErrConflict", err)
	}
	if err := updateIfToken(ctx, b, &authz.Client{ID: "nope", TokenEndpointAuthMethod: "none"}, []byte{1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("conditional update of a missing client = %v, want ErrNotFound", err)
	}
	got.RegistrationTokenHash = []byte{2, 2}
	if err := replaceClient(ctx, b, got); err != nil {
		t.Fatal(err)
	}
	if err := updateIfToken(ctx, b, again, []byte{2, 2}); err != nil {
		t.Fatalf("conditional update with the stored hash = %v", err)
	}
	if err := updateIfToken(ctx, b, again, []byte{2, 2}); !errors.Is(err, store.ErrConflict) {
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

// replaceClient stores c over the client of its id (UpdateClient with an
// update that returns c).
func replaceClient(ctx context.Context, b ClientsBackend, c *authz.Client) error {
	return b.UpdateClient(ctx, c.ID, func(authz.Client) (authz.Client, error) { return *c, nil })
}

// updateIfToken is replaceClient only while the stored registration token
// hash is old (the RFC 7592 compare-and-swap): store.ErrConflict otherwise.
func updateIfToken(ctx context.Context, b ClientsBackend, c *authz.Client, old []byte) error {
	return b.UpdateClient(ctx, c.ID, func(cur authz.Client) (authz.Client, error) {
		if string(cur.RegistrationTokenHash) != string(old) {
			return cur, store.ErrConflict
		}
		return *c, nil
	})
}

// testOAuthClientUpdate: UpdateClient hands update the stored record and
// stores what it returns, as one compare-and-swap: concurrent updates of
// different fields all survive (none writes back a stale copy), an error
// from update changes nothing and comes back, the id cannot change, and a
// missing client is store.ErrNotFound without calling update.
func testOAuthClientUpdate(t *testing.T, b ClientsBackend) {
	ctx := context.Background()
	if err := b.CreateClient(ctx, &authz.Client{ID: "u1", Name: "n", TokenEndpointAuthMethod: authz.AuthNone, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.UpdateClient(ctx, "u1", func(old authz.Client) (authz.Client, error) {
				old.Contacts = append(old.Contacts, fmt.Sprintf("c%02d@x.example", i))
				return old, nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.GetClient(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Contacts) != n {
		t.Fatalf("%d of %d concurrent updates survived: %v", len(got.Contacts), n, got.Contacts)
	}
	refuse := errors.New("refused")
	err = b.UpdateClient(ctx, "u1", func(old authz.Client) (authz.Client, error) {
		old.Disabled = true
		return old, refuse
	})
	if !errors.Is(err, refuse) {
		t.Fatalf("UpdateClient with a failing update = %v, want its error", err)
	}
	if err := b.UpdateClient(ctx, "u1", func(old authz.Client) (authz.Client, error) {
		old.ID = "other"
		return old, nil
	}); err == nil {
		t.Fatal("UpdateClient changed the client id")
	}
	if c, _ := b.GetClient(ctx, "u1"); c.Disabled || c.ID != "u1" {
		t.Fatalf("a refused update was stored: %+v", c)
	}
	called := false
	err = b.UpdateClient(ctx, "nope", func(old authz.Client) (authz.Client, error) { called = true; return old, nil })
	if !errors.Is(err, store.ErrNotFound) || called {
		t.Fatalf("UpdateClient(missing) = %v (update called: %v), want store.ErrNotFound", err, called)
	}
}

// testOAuthClientsByCertificateAuth: the enabled clients of the two RFC
// 8705 methods, by id, with their certificate metadata; no other method,
// no disabled client.
func testOAuthClientsByCertificateAuth(t *testing.T, b ClientsBackend) {
	ctx := context.Background()
	for _, c := range []*authz.Client{
		{ID: "m2", TokenEndpointAuthMethod: authz.AuthSelfSignedTLSClientAuth, JWKS: `{"keys":[]}`, CertBoundAccessTokens: true, CreatedAt: t0},
		{ID: "m1", TokenEndpointAuthMethod: authz.AuthTLSClientAuth, CreatedAt: t0,
			TLSClientAuth: authz.TLSClientAuth{SubjectDN: "CN=app,O=Example", SANDNS: "d.example", SANURI: "https://u.example",
				SANIP: "192.0.2.1", SANEmail: "app@x.example"}},
		{ID: "m0", TokenEndpointAuthMethod: authz.AuthTLSClientAuth, Disabled: true, CreatedAt: t0,
			TLSClientAuth: authz.TLSClientAuth{SANDNS: "off.example"}},
		{ID: "s1", TokenEndpointAuthMethod: authz.AuthClientSecretBasic, SecretHash: []byte{1}, CreatedAt: t0},
	} {
		if err := b.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.ClientsByCertificateAuth(ctx)
	if err != nil || len(got) != 2 || got[0].ID != "m1" || got[1].ID != "m2" {
		t.Fatalf("ClientsByCertificateAuth = %+v, %v; want m1, m2", got, err)
	}
	want := authz.TLSClientAuth{SubjectDN: "CN=app,O=Example", SANDNS: "d.example", SANURI: "https://u.example",
		SANIP: "192.0.2.1", SANEmail: "app@x.example"}
	if got[0].TLSClientAuth != want || got[0].CertBoundAccessTokens || !got[1].CertBoundAccessTokens || got[1].JWKS != `{"keys":[]}` {
		t.Fatalf("certificate metadata: %+v / %+v", got[0], got[1])
	}
}
