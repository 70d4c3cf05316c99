package authz_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
)

// sqliteWithPeer opens a real SQLite file and a second connection to it
// (another process's writes).
func sqliteWithPeer(t *testing.T) (*sqlite.DB, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smartgate.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return db, other
}

// cacheOnFile is a ClientCache over sqliteWithPeer, the peer connection and
// the cache's clock.
func cacheOnFile(t *testing.T) (*authz.ClientCache, *sql.DB, *testclock.Clock) {
	t.Helper()
	db, other := sqliteWithPeer(t)
	clock := testclock.New(time.Time{})
	return authz.NewClientCache(db, clock.Now), other, clock
}

func setDisabled(t *testing.T, cc *authz.ClientCache, id string, d bool) {
	t.Helper()
	if err := cc.UpdateClient(context.Background(), id, func(old authz.Client) (authz.Client, error) {
		old.Disabled = d
		return old, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestClientCacheSeesEveryChangeAtOnce(t *testing.T) {
	cc, _, _ := cacheOnFile(t)
	ctx := context.Background()
	c := &authz.Client{ID: "c1", Name: "one", SecretHash: authz.HashSecret("first-secret-0123456789abcdefghij"),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"},
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic, CreatedAt: time.Now(),
		Ceiling: authz.Ceiling{Scopes: []string{"system/*.rs"}, GrantTypes: []string{"client_credentials"}, AuthMethod: authz.AuthClientSecretBasic}}
	if err := cc.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := cc.GetClient(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	// Every slice of the returned client is the caller's own: changing it
	// does not change what the next caller gets.
	var grow func(v reflect.Value)
	grow = func(v reflect.Value) {
		for i := range v.NumField() {
			switch f := v.Field(i); f.Kind() {
			case reflect.Slice:
				f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
			case reflect.Struct:
				if f.Type() != reflect.TypeFor[time.Time]() {
					grow(f)
				}
			}
		}
	}
	grow(reflect.ValueOf(got).Elem())
	got.Name = "changed"
	again, err := cc.GetClient(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Name != "one" || !reflect.DeepEqual(again.Scopes, []string{"system/*.rs"}) ||
		!reflect.DeepEqual(again.SecretHash, c.SecretHash) || len(again.RedirectURIs) != 0 ||
		!reflect.DeepEqual(again.Ceiling.Scopes, []string{"system/*.rs"}) {
		t.Fatalf("a caller's change leaked into the next read: %+v", again)
	}

	// Secret rotation and disabling take effect for the very next read.
	secret, err := authz.ResetClientSecret(ctx, cc, "c1")
	if err != nil {
		t.Fatal(err)
	}
	setDisabled(t, cc, "c1", true)
	after, err := cc.GetClient(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !after.Disabled || !reflect.DeepEqual(after.SecretHash, authz.HashSecret(secret)) {
		t.Fatalf("read after update: disabled %v, secret changed %v", after.Disabled,
			reflect.DeepEqual(after.SecretHash, authz.HashSecret(secret)))
	}

	if err := cc.DeleteClient(ctx, "c1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.GetClient(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read after delete: %v, want store.ErrNotFound", err)
	}
	// A client created again under the same id is read fresh.
	c.Name = "reborn"
	if err := cc.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err := cc.GetClient(ctx, "c1"); err != nil || got.Name != "reborn" {
		t.Fatalf("read after re-create: %v, %v", got, err)
	}
}

// TestClientCacheOriginsFollowChanges: the registered origins (of enabled
// clients' redirect URIs, compared without case) follow every change made
// through the cache at once, and a change by another process within
// OriginCacheTTL (the clients themselves within ClientCacheTTL).
func TestClientCacheOriginsFollowChanges(t *testing.T) {
	cc, other, clock := cacheOnFile(t)
	ctx := context.Background()
	if cc.OriginAllowed(ctx, "https://app.example") {
		t.Fatal("an origin allowed with no clients")
	}
	c := &authz.Client{ID: "spa", TokenEndpointAuthMethod: authz.AuthNone, CreatedAt: time.Now(),
		RedirectURIs: []string{"https://App.Example/cb", "com.example.app:/cb", "http://127.0.0.1:9000/cb"}}
	if err := cc.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	for o, want := range map[string]bool{"https://app.example": true, "HTTPS://APP.EXAMPLE": true, "http://127.0.0.1:9000": true,
		"http://127.0.0.1": false, "https://app.example:8443": false, "com.example.app:": false, "https://other.example": false} {
		if got := cc.OriginAllowed(ctx, o); got != want {
			t.Errorf("OriginAllowed(%q) = %v, want %v", o, got, want)
		}
	}
	setDisabled(t, cc, "spa", true)
	if cc.OriginAllowed(ctx, "https://app.example") {
		t.Fatal("the origin of a disabled client is allowed")
	}
	setDisabled(t, cc, "spa", false)
	if !cc.OriginAllowed(ctx, "https://app.example") {
		t.Fatal("the origin of a re-enabled client is refused")
	}
	if _, err := cc.GetClient(ctx, "spa"); err != nil { // cached now
		t.Fatal(err)
	}

	// Another process disables the client: seen within the bounds.
	if _, err := other.ExecContext(ctx, `UPDATE oauth_clients SET disabled = 1 WHERE id = 'spa'`); err != nil {
		t.Fatal(err)
	}
	clock.Advance(authz.ClientCacheTTL + time.Millisecond)
	if c, err := cc.GetClient(ctx, "spa"); err != nil || !c.Disabled {
		t.Fatalf("after ClientCacheTTL: %+v, %v; want the other process's disable", c, err)
	}
	if !cc.OriginAllowed(ctx, "https://app.example") {
		t.Fatal("the origin list was reloaded before OriginCacheTTL (the test's bound is wrong)")
	}
	clock.Advance(authz.OriginCacheTTL)
	if cc.OriginAllowed(ctx, "https://app.example") {
		t.Fatal("after OriginCacheTTL the other process's disable is still not seen")
	}

	if err := cc.DeleteClient(ctx, "spa", time.Now()); err != nil {
		t.Fatal(err)
	}
	if cc.OriginAllowed(ctx, "http://127.0.0.1:9000") {
		t.Fatal("the origin of a deleted client is allowed")
	}
}

// BenchmarkClientCacheHit is the token and introspection endpoints' read
// of their client.
func BenchmarkClientCacheHit(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	cc := authz.NewClientCache(db, nil)
	ctx := context.Background()
	if err := cc.CreateClient(ctx, &authz.Client{ID: "bench", TokenEndpointAuthMethod: authz.AuthClientSecretBasic,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cc.GetClient(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestS13_CertificateClientsCached: the list ClientOfCertificate matches
// against is cached, dropped by every change through the cache (a disable
// is seen at once) and reread after ClientCacheTTL for another process's
// changes.
func TestS13_CertificateClientsCached(t *testing.T) {
	cc, other, clock := cacheOnFile(t)
	ctx := context.Background()
	clock.Advance(0)
	mk := func(id string) {
		if err := cc.CreateClient(ctx, &authz.Client{ID: id, Name: id, GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"},
			TokenEndpointAuthMethod: authz.AuthTLSClientAuth, TLSClientAuth: authz.TLSClientAuth{SANDNS: id + ".example"}, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string {
		list, err := cc.ClientsByCertificateAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range list {
			out = append(out, c.ID)
		}
		return out
	}
	mk("a")
	mk("b")
	if got := ids(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("list %v", got)
	}
	setDisabled(t, cc, "a", true)
	if got := ids(); !reflect.DeepEqual(got, []string{"b"}) {
		t.Fatalf("after disabling a: %v", got)
	}
	if _, err := other.Exec(`UPDATE oauth_clients SET disabled = 1 WHERE id = 'b'`); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !reflect.DeepEqual(got, []string{"b"}) {
		t.Fatalf("another process's change within the TTL: %v (cached list expected)", got)
	}
	clock.Advance(authz.ClientCacheTTL)
	if got := ids(); len(got) != 0 {
		t.Fatalf("after the TTL: %v", got)
	}
	// Callers get copies.
	setDisabled(t, cc, "a", false)
	list, _ := cc.ClientsByCertificateAuth(ctx)
	list[0].TLSClientAuth.SANDNS = "changed.example"
	if again, _ := cc.ClientsByCertificateAuth(ctx); again[0].TLSClientAuth.SANDNS != "a.example" {
		t.Fatalf("cached client changed through a returned copy: %+v", again[0])
	}
}
