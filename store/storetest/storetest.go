// Package storetest is the one conformance suite that every storage backend
// must pass: a table of named subtests, each on a fresh store (the dex
// storage/conformance pattern). A backend's test file calls Run with a
// function that opens an empty store.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/store"
)

// Backend is everything a complete backend provides. Each domain adds its
// interface here as it lands (the consumer packages declare them).
type Backend interface {
	Ping(ctx context.Context) error
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
	SettingOrCreate(ctx context.Context, key string, create func() ([]byte, error)) ([]byte, error)
	InsertAudit(ctx context.Context, evs []audit.Event) error
	AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error)
	account.Users
	account.Consents
	account.Sessions
	account.Pendings
	account.SecondFactorStore
	authz.Store
	fhir.Store
	launch.Store
}

// Run runs every conformance test against fresh stores made by open.
func Run(t *testing.T, open func(t *testing.T) Backend) {
	tests := []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"Ping", testPing},
		{"Settings", testSettings},
		{"SettingOrCreateConcurrent", testSettingOrCreateConcurrent},
		{"Audit", testAudit},
		{"UsersCRUD", testUsersCRUD},
		{"UserNameCaseInsensitiveUnique", testUserNameUnique},
		{"UserUpdateVersionConflict", testUserUpdateConflict},
		{"UserDeactivateEndsSessions", testDeactivateEndsSessions},
		{"UsersListAndCount", testUsersList},
		{"Consents", testConsents},
		{"Sessions", testSessions},
		{"PendingSingleUse", testPendingSingleUse},
		{"BootstrapAdminOnlyWhenEmpty", testBootstrap},
		{"OAuthClients", testOAuthClients},
		{"OAuthTokens", testOAuthTokens},
		{"OAuthJTI", testOAuthJTI},
		{"OAuthRevokedAccessJTI", testOAuthRevokedAccessJTI},
		{"OAuthKeys", testOAuthKeys},
		{"OAuthRevokeBySubjectAndSession", testOAuthRevokeBySubjectAndSession},
		{"OAuthClientRegistration", testOAuthClientRegistration},
		{"FHIRVersions", testFHIRVersions},
		{"FHIRRollback", testFHIRRollback},
		{"FHIRHistory", testFHIRHistory},
		{"FHIRSearch", testFHIRSearch},
		{"LaunchRoundTrip", testLaunchRoundTrip},
		{"LaunchUseOnce", testLaunchUseOnce},
		{"LaunchDeleteExpired", testLaunchDeleteExpired},
		// Each domain adds its rows here (tests in users.go, oauth.go, fhir.go…).
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
	t.Run("SecondFactors", func(t *testing.T) {
		SecondFactors(t, func(t *testing.T) SecondFactorBackend { return open(t) })
	})
}

func testPing(t *testing.T, b Backend) {
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("Ping on a fresh store: %v", err)
	}
}

func testSettings(t *testing.T, b Backend) {
	ctx := context.Background()
	if _, err := b.Setting(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Setting(missing) = %v, want ErrNotFound", err)
	}
	if err := b.PutSetting(ctx, "a", []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutSetting(ctx, "a", []byte("second")); err != nil {
		t.Fatal(err)
	}
	got, err := b.Setting(ctx, "a")
	if err != nil || string(got) != "second" {
		t.Fatalf("Setting(a) = %q, %v; want second", got, err)
	}
}

func testSettingOrCreateConcurrent(t *testing.T, b Backend) {
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := b.SettingOrCreate(ctx, "key", func() ([]byte, error) {
				return []byte{byte('a' + i)}, nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = string(v)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r != results[0] {
			t.Fatalf("concurrent SettingOrCreate disagreed: %q", results)
		}
	}
}

func testAudit(t *testing.T, b Backend) {
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute)
	evs := []audit.Event{
		{At: t0, Kind: "login", Actor: "alice", Outcome: audit.Success, Address: "127.0.0.1"},
		{At: t0.Add(time.Second), Kind: "token", Actor: "alice", ClientID: "app", Scopes: "openid", Outcome: audit.Success},
		{At: t0.Add(2 * time.Second), Kind: "login", Actor: "bob", Outcome: audit.Failure},
	}
	if err := b.InsertAudit(ctx, evs); err != nil {
		t.Fatal(err)
	}
	all, err := b.AuditEvents(ctx, audit.Filter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("AuditEvents = %d, %v; want 3", len(all), err)
	}
	if all[0].Actor != "bob" {
		t.Errorf("newest first: got %q", all[0].Actor)
	}
	logins, _ := b.AuditEvents(ctx, audit.Filter{Kind: "login", Actor: "alice"})
	if len(logins) != 1 || logins[0].Address != "127.0.0.1" || !logins[0].At.Equal(t0) {
		t.Fatalf("filtered = %+v", logins)
	}
}
