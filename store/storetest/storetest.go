// Package storetest is the one conformance suite that every storage backend
// must pass (the dex storage/conformance pattern). It has one entry point per
// domain — RunSettings, RunAudit, RunAccounts, RunSessions, RunClients,
// RunTokens, RunLaunch, RunFHIR, RunDirectory, RunSecondFactors, RunLockouts,
// RunProvisioningTokens, RunLinks, RunSignInCodes, RunGrants, RunCertificates
// — each a table of named subtests run on a
// fresh store, and a separate entry point, RunTransactions, for the tests
// that race goroutines against one store (lock and transaction behaviour,
// the part where backends differ most and fail worst). A backend's test file
// calls every entry point with a function that opens an empty store; see
// store/sqlite/sqlite_test.go.
//
// Times are compared with SameInstant, at microsecond precision: the
// storage contract keeps instants to the microsecond (PostgreSQL's
// timestamptz), so a backend may drop anything finer.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/store"
)

// Backend is everything a complete backend provides. Each domain adds its
// interface here as it lands (the consumer packages declare them).
type Backend interface {
	SettingsBackend
	AuditBackend
	// The consumers' interfaces, and each domain's (the methods its
	// tests call).
	account.Directory // includes account.Users
	account.Consents
	account.Sessions
	account.Pendings
	account.SecondFactorStore
	account.Lockouts
	account.Links
	account.SignInCodeStore
	AccountsBackend
	SessionsBackend
	DirectoryBackend
	SecondFactorBackend
	LockoutsBackend
	LinksBackend
	SignInCodesBackend
	CertificatesBackend
	authz.Store
	authz.FamilyStore
	ClientsBackend
	TokensBackend
	LaunchBackend
	ProvisioningBackend
	GrantsBackend
	// ConsentsOf lists the consents of a person and of an app (either ""
	// for any), newest first, at most limit: the console's grants page.
	ConsentsOf(ctx context.Context, userID, clientID string, limit int) ([]account.Consent, error)
	FHIRBackend
	launch.Store
	scimauth.TokenStore
}

// SettingsBackend is what RunSettings needs: a domain's own interface, so
// that a new backend can be built and checked one domain at a time (the
// entry points that take one are generic over it).
type SettingsBackend interface {
	Ping(ctx context.Context) error
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
	SettingOrCreate(ctx context.Context, key string, create func() ([]byte, error)) ([]byte, error)
}

// AuditBackend is what RunAudit needs.
type AuditBackend interface {
	InsertAudit(ctx context.Context, evs []audit.Event) error
	AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error)
	// AuditEvent returns one record by its ID, or store.ErrNotFound.
	AuditEvent(ctx context.Context, id int64) (audit.Event, error)
	DeleteAuditBefore(ctx context.Context, t time.Time, batch int) (int64, error)
}

// testOf is one named subtest of an entry point over a domain's backend.
type testOf[B any] struct {
	name string
	run  func(t *testing.T, b B)
}

// runOf runs each test as a subtest on a fresh store made by open.
func runOf[B any](t *testing.T, open func(t *testing.T) B, tests []testOf[B]) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// test is one named subtest of an entry point.
type test struct {
	name string
	run  func(t *testing.T, b Backend)
}

// run runs each test as a subtest on a fresh store made by open.
func run(t *testing.T, open func(t *testing.T) Backend, tests []test) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// SameInstant reports whether a and b are the same instant at microsecond
// precision, the precision every backend keeps (see package store). Zero
// times are equal only to each other.
func SameInstant(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

// RunSettings tests liveness and the key/value settings.
func RunSettings[B SettingsBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"Ping", func(t *testing.T, b B) { testPing(t, b) }},
		{"Settings", func(t *testing.T, b B) { testSettings(t, b) }},
	})
}

// RunAudit tests the audit log.
func RunAudit[B AuditBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"Audit", func(t *testing.T, b B) { testAudit(t, b) }},
		{"AuditFilter", func(t *testing.T, b B) { testAuditFilter(t, b) }},
		{"AuditPaging", func(t *testing.T, b B) { testAuditPaging(t, b) }},
		{"AuditRetention", func(t *testing.T, b B) { testAuditRetention(t, b) }},
	})
}

func testPing(t *testing.T, b SettingsBackend) {
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("Ping on a fresh store: %v", err)
	}
}

func testSettings(t *testing.T, b SettingsBackend) {
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

func testAudit(t *testing.T, b AuditBackend) {
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute)
	evs := []audit.Event{
		{At: t0, Kind: "login", Actor: "alice", Outcome: audit.Success, Address: "127.0.0.1"},
		{At: t0.Add(time.Second), Kind: "token", Actor: "alice", ClientID: "app", Scopes: "openid", Outcome: audit.Success},
		{At: t0.Add(2 * time.Second), Kind: "fhir", Actor: "bob", Outcome: audit.Denied, Trace: `{"steps":[]}`},
	}
	if err := b.InsertAudit(ctx, evs); err != nil {
		t.Fatal(err)
	}
	all, err := b.AuditEvents(ctx, audit.Filter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("AuditEvents = %d, %v; want 3", len(all), err)
	}
	if all[0].Actor != "bob" || all[0].Trace != `{"steps":[]}` {
		t.Errorf("newest first, trace kept: got %q %q", all[0].Actor, all[0].Trace)
	}
	if all[0].ID <= all[1].ID || all[1].ID <= all[2].ID || all[2].ID <= 0 {
		t.Errorf("ids = %d %d %d; want increasing in insertion order", all[2].ID, all[1].ID, all[0].ID)
	}
	one, err := b.AuditEvent(ctx, all[0].ID)
	if err != nil || one.ID != all[0].ID || one.Trace != all[0].Trace || one.Outcome != audit.Denied || !SameInstant(one.At, all[0].At) {
		t.Errorf("AuditEvent(%d) = %+v, %v", all[0].ID, one, err)
	}
	if _, err := b.AuditEvent(ctx, all[0].ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AuditEvent(unknown) = %v; want store.ErrNotFound", err)
	}
	logins, _ := b.AuditEvents(ctx, audit.Filter{Kind: "login", Actor: "alice"})
	if len(logins) != 1 || logins[0].Address != "127.0.0.1" || !SameInstant(logins[0].At, t0) {
		t.Fatalf("filtered = %+v", logins)
	}
}
