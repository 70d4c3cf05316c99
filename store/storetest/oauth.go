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

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)

// RunTokens tests what fosite's grants store: token records and their
// states, the client-assertion jti replay cache, the revocation list of
// stateless access tokens, the signing keys, and revocation by subject and
// by log-in session.
func RunTokens[B TokensBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"Tokens", func(t *testing.T, b B) { testOAuthTokens(t, b) }},
		{"JTI", func(t *testing.T, b B) { testOAuthJTI(t, b) }},
		{"RevokedAccessJTI", func(t *testing.T, b B) { testOAuthRevokedAccessJTI(t, b) }},
		{"Keys", func(t *testing.T, b B) { testOAuthKeys(t, b) }},
		{"RevokeBySubjectAndSession", func(t *testing.T, b B) { testOAuthRevokeBySubjectAndSession(t, b) }},
		{"RefreshFamilies", func(t *testing.T, b B) { testOAuthRefreshFamilies(t, b) }},
	})
}

// TokensBackend is what RunTokens needs: the token records, the jti
// cache, the revoked access-token jtis, the signing keys and the refresh
// families of the grants page.
type TokensBackend interface {
	authz.TokenStore
	authz.JTIStore
	authz.KeyStore
	authz.FamilyStore
}

func testOAuthClients(t *testing.T, b ClientsBackend) {
	ctx := context.Background()
	c := &authz.Client{ID: "c1", Name: "App", SecretHash: []byte{1, 2, 3}, RedirectURIs: []string{"https://a.example/cb"},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid", "patient/Observation.rs?category=http://x|y"},
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic, LaunchURI: "https://a.example/launch", RequirePKCE: true, CreatedAt: t0}
	if err := b.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate CreateClient = %v, want ErrConflict", err)
	}
	got, err := b.GetClient(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != c.Name || string(got.SecretHash) != string(c.SecretHash) || !slices.Equal(got.Scopes, c.Scopes) ||
		!slices.Equal(got.RedirectURIs, c.RedirectURIs) || !got.RequirePKCE || got.Public || !SameInstant(got.CreatedAt, t0) || got.LaunchURI != c.LaunchURI {
		t.Fatalf("GetClient = %+v", got)
	}
	if _, err := b.GetClient(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetClient(missing) = %v", err)
	}
	got.Disabled = true
	if err := replaceClient(ctx, b, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.GetClient(ctx, "c1"); !again.Disabled {
		t.Fatal("update lost")
	}
	if err := replaceClient(ctx, b, &authz.Client{ID: "nope", TokenEndpointAuthMethod: "none"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateClient(missing) = %v", err)
	}
	b.CreateClient(ctx, &authz.Client{ID: "a0", TokenEndpointAuthMethod: "none", CreatedAt: t0})
	list, err := b.ListClients(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "a0" {
		t.Fatalf("ListClients = %v, %v", list, err)
	}
}

func testOAuthTokens(t *testing.T, b TokensBackend) {
	ctx := context.Background()
	rec := func(kind authz.TokenKind, sig, req string, exp time.Time) authz.TokenRecord {
		return authz.TokenRecord{Kind: kind, Signature: sig, RequestID: req, ClientID: "c1", Subject: "u1",
			RequestedAt: t0, ExpiresAt: exp, Data: []byte(`{"x":1}`)}
	}
	for _, r := range []authz.TokenRecord{
		rec(authz.KindAccess, "a1", "r1", t0.Add(time.Hour)),
		rec(authz.KindAccess, "a2", "r1", t0.Add(time.Hour)),
		rec(authz.KindRefresh, "f1", "r1", t0.Add(720*time.Hour)),
		rec(authz.KindRefresh, "f2", "r1", t0.Add(720*time.Hour)),
		rec(authz.KindCode, "c1", "r2", t0.Add(time.Minute)),
	} {
		if err := b.CreateToken(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CreateToken(ctx, rec(authz.KindAccess, "a1", "rX", t0)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate CreateToken = %v", err)
	}
	got, err := b.GetToken(ctx, authz.KindAccess, "a1")
	if err != nil || got.State != authz.StateActive || got.RequestID != "r1" || !SameInstant(got.ExpiresAt, t0.Add(time.Hour)) || string(got.Data) != `{"x":1}` {
		t.Fatalf("GetToken = %+v, %v", got, err)
	}
	if _, err := b.GetToken(ctx, authz.KindRefresh, "a1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetToken(wrong kind) = %v", err)
	}
	if err := b.SetTokenState(ctx, authz.KindCode, "c1", authz.StateActive, authz.StateUsed, t0); err != nil {
		t.Fatal(err)
	}
	if err := b.SetTokenState(ctx, authz.KindCode, "c1", authz.StateActive, authz.StateUsed, t0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second compare-and-set = %v, want ErrConflict", err)
	}
	if err := b.SetTokenState(ctx, authz.KindCode, "zz", "", authz.StateUsed, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetTokenState(missing) = %v", err)
	}
	// Rotation: f1 presented → rotated; f2 (another active one) → revoked.
	if err := b.RotateRefreshToken(ctx, "r1", "f1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	f1, _ := b.GetToken(ctx, authz.KindRefresh, "f1")
	f2, _ := b.GetToken(ctx, authz.KindRefresh, "f2")
	if f1.State != authz.StateRotated || !SameInstant(f1.StateAt, t0.Add(time.Second)) || f2.State != authz.StateRevoked {
		t.Fatalf("after rotation f1=%s f2=%s", f1.State, f2.State)
	}
	// Rotating an already rotated token keeps its first rotation time.
	b.RotateRefreshToken(ctx, "r1", "f1", t0.Add(time.Minute))
	if f1, _ = b.GetToken(ctx, authz.KindRefresh, "f1"); !SameInstant(f1.StateAt, t0.Add(time.Second)) {
		t.Fatalf("re-rotation moved StateAt to %v", f1.StateAt)
	}
	if err := b.RevokeTokens(ctx, authz.KindAccess, "r1", t0); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []string{"a1", "a2"} {
		if a, _ := b.GetToken(ctx, authz.KindAccess, sig); a.State != authz.StateRevoked {
			t.Fatalf("%s state %s after RevokeTokens", sig, a.State)
		}
	}
	if err := b.DeleteToken(ctx, authz.KindAccess, "a2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetToken(ctx, authz.KindAccess, "a2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted token: %v", err)
	}
	n, err := b.DeleteExpiredTokens(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 2 { // a1 and the code
		t.Fatalf("DeleteExpiredTokens = %d, %v; want 2", n, err)
	}
	if _, err := b.GetToken(ctx, authz.KindRefresh, "f1"); err != nil {
		t.Fatalf("unexpired refresh token deleted: %v", err)
	}
}

func testOAuthJTI(t *testing.T, b TokensBackend) {
	ctx := context.Background()
	if err := b.UseJTI(ctx, "j1", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if err := b.UseJTI(ctx, "j1", t0.Add(time.Minute), t0.Add(time.Second)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("replayed jti = %v, want ErrConflict", err)
	}
	// After expiry the jti is forgotten.
	if err := b.UseJTI(ctx, "j1", t0.Add(time.Hour), t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("jti after expiry = %v", err)
	}

}

// testOAuthRevokedAccessJTI: the revocation list of stateless
// (client_credentials) access tokens.
func testOAuthRevokedAccessJTI(t *testing.T, b TokensBackend) {
	ctx := context.Background()
	if r, err := b.AccessJTIRevoked(ctx, "cc.a"); err != nil || r {
		t.Fatalf("AccessJTIRevoked(unknown) = %v, %v", r, err)
	}
	if err := b.RevokeAccessJTI(ctx, "cc.a", "c1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.RevokeAccessJTI(ctx, "cc.a", "c1", t0.Add(time.Hour)); err != nil {
		t.Fatalf("revoking twice = %v", err)
	}
	if err := b.RevokeAccessJTI(ctx, "cc.b", "c1", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, jti := range []string{"cc.a", "cc.b"} {
		if r, err := b.AccessJTIRevoked(ctx, jti); err != nil || !r {
			t.Fatalf("AccessJTIRevoked(%s) = %v, %v", jti, r, err)
		}
	}
	if r, _ := b.AccessJTIRevoked(ctx, "cc.c"); r {
		t.Fatal("unrevoked jti reported revoked")
	}
	// The cleanup drops entries of tokens that have expired anyway.
	n, err := b.DeleteExpiredTokens(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredTokens = %d, %v; want 1", n, err)
	}
	if r, _ := b.AccessJTIRevoked(ctx, "cc.a"); r {
		t.Fatal("expired revocation entry kept")
	}
	if r, _ := b.AccessJTIRevoked(ctx, "cc.b"); !r {
		t.Fatal("unexpired revocation entry deleted")
	}
}

func testOAuthKeys(t *testing.T, b TokensBackend) {
	ctx := context.Background()
	k1 := authz.SigningKey{ID: "k1", Alg: "ES256", PrivateDER: []byte{1}, CreatedAt: t0}
	if err := b.AddSigningKey(ctx, k1, true); err != nil {
		t.Fatal(err)
	}
	if err := b.AddSigningKey(ctx, authz.SigningKey{ID: "k1b", Alg: "ES256", PrivateDER: []byte{2}, CreatedAt: t0}, true); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("onlyIfNone with an active key = %v", err)
	}
	b.AddSigningKey(ctx, authz.SigningKey{ID: "r1", Alg: "RS256", PrivateDER: []byte{3}, CreatedAt: t0}, true)
	if err := b.AddSigningKey(ctx, authz.SigningKey{ID: "k2", Alg: "ES256", PrivateDER: []byte{4}, CreatedAt: t0.Add(time.Hour)}, false); err != nil {
		t.Fatal(err)
	}
	keys, err := b.SigningKeys(ctx)
	if err != nil || len(keys) != 3 || keys[0].ID != "k2" {
		t.Fatalf("SigningKeys = %+v, %v", keys, err)
	}
	for _, k := range keys {
		retired := !k.RetiredAt.IsZero()
		if retired != (k.ID == "k1") {
			t.Fatalf("key %s retired=%v", k.ID, retired)
		}
	}
	if err := b.DeleteSigningKeys(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if keys, _ := b.SigningKeys(ctx); len(keys) != 2 {
		t.Fatalf("after DeleteSigningKeys: %+v", keys)
	}
}

func testOAuthRevokeBySubjectAndSession(t *testing.T, b TokensBackend) {
	ctx := context.Background()
	mk := func(kind authz.TokenKind, sig, subject, client, sid string) {
		err := b.CreateToken(ctx, authz.TokenRecord{Kind: kind, Signature: sig, RequestID: "r-" + sig, ClientID: client,
			Subject: subject, SessionID: sid, RequestedAt: t0, ExpiresAt: t0.Add(time.Hour), Data: []byte("{}")})
		if err != nil {
			t.Fatal(err)
		}
	}
	mk(authz.KindAccess, "a1", "u1", "c1", "s1")
	mk(authz.KindRefresh, "f1", "u1", "c1", "s1")
	mk(authz.KindAccess, "a2", "u1", "c2", "")
	mk(authz.KindAccess, "a3", "u2", "c1", "")
	mk(authz.KindCode, "k1", "u1", "c1", "s1")
	state := func(kind authz.TokenKind, sig string) authz.TokenState {
		r, err := b.GetToken(ctx, kind, sig)
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}
	if r, _ := b.GetToken(ctx, authz.KindAccess, "a1"); r.SessionID != "s1" {
		t.Fatalf("SessionID not stored: %+v", r)
	}
	if err := b.RevokeSessionTokens(ctx, "s1", t0); err != nil {
		t.Fatal(err)
	}
	if state(authz.KindAccess, "a1") != authz.StateRevoked || state(authz.KindRefresh, "f1") != authz.StateRevoked ||
		state(authz.KindAccess, "a2") != authz.StateActive || state(authz.KindCode, "k1") != authz.StateActive {
		t.Fatal("RevokeSessionTokens revoked the wrong tokens")
	}
	if err := b.RevokeSubjectTokens(ctx, "u1", "c1", t0); err != nil {
		t.Fatal(err)
	}
	if state(authz.KindAccess, "a2") != authz.StateActive {
		t.Fatal("RevokeSubjectTokens with a client revoked another client's token")
	}
	b.RevokeSubjectTokens(ctx, "u1", "", t0)
	if state(authz.KindAccess, "a2") != authz.StateRevoked || state(authz.KindAccess, "a3") != authz.StateActive {
		t.Fatal("RevokeSubjectTokens without a client revoked the wrong tokens")
	}
}
