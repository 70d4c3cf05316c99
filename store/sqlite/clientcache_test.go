package sqlite_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
)

func TestGetClientSeesEveryChangeAtOnce(t *testing.T) {
	db := openFile(t)
	ctx := context.Background()
	c := &authz.Client{ID: "c1", Name: "one", SecretHash: authz.HashSecret("first-secret-0123456789abcdefghij"),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"},
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic, CreatedAt: time.Now()}
	if err := db.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetClient(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	// Every slice of the returned client is the caller's own: changing it
	// does not change what the next caller gets.
	v := reflect.ValueOf(got).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Slice {
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
		}
	}
	got.Name = "changed"
	again, err := db.GetClient(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Name != "one" || !reflect.DeepEqual(again.Scopes, []string{"system/*.rs"}) ||
		!reflect.DeepEqual(again.SecretHash, c.SecretHash) || len(again.RedirectURIs) != 0 {
		t.Fatalf("a caller's change leaked into the next read: %+v", again)
	}

	// Secret rotation and disabling take effect for the very next read.
	again.SecretHash = authz.HashSecret("second-secret-0123456789abcdefghij")
	again.Disabled = true
	if err := db.UpdateClient(ctx, again); err != nil {
		t.Fatal(err)
	}
	after, err := db.GetClient(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !after.Disabled || !reflect.DeepEqual(after.SecretHash, again.SecretHash) {
		t.Fatalf("read after update: disabled %v, secret changed %v", after.Disabled,
			reflect.DeepEqual(after.SecretHash, again.SecretHash))
	}

	if err := db.DeleteClient(ctx, "c1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetClient(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read after delete: %v, want store.ErrNotFound", err)
	}
	// A client created again under the same id is read fresh.
	c.Name = "reborn"
	if err := db.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetClient(ctx, "c1"); err != nil || got.Name != "reborn" {
		t.Fatalf("read after re-create: %v, %v", got, err)
	}
}
