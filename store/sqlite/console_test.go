package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store/sqlite"
)

// TestIssue15ConsoleCounts checks the dashboard's counts against rows
// written through the store's own methods.
func TestIssue15ConsoleCounts(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	for _, id := range []string{"c1", "c2"} {
		if err := db.CreateClient(ctx, &authz.Client{ID: id, Name: id, Public: true, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	u := &account.User{UserName: "u1", Active: true}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.PutConsent(ctx, &account.Consent{UserID: u.ID, ClientID: "c1", Scopes: []string{"openid"}, Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
	tok := func(sig, req string, st authz.TokenState, exp time.Time) authz.TokenRecord {
		return authz.TokenRecord{Kind: authz.KindRefresh, Signature: sig, RequestID: req, ClientID: "c1", Subject: u.ID,
			State: st, RequestedAt: now, ExpiresAt: exp, Data: []byte("{}")}
	}
	for _, r := range []authz.TokenRecord{
		tok("a", "r1", authz.StateActive, now.Add(time.Hour)),
		tok("b", "r1", authz.StateActive, now.Add(time.Hour)),  // same family
		tok("c", "r2", authz.StateActive, now.Add(-time.Hour)), // expired
		tok("d", "r3", authz.StateRevoked, now.Add(time.Hour)),
		tok("e", "r4", authz.StateActive, time.Time{}), // never expires
	} {
		if err := db.CreateToken(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.InsertAudit(ctx, []audit.Event{
		{At: now, Kind: "token", Outcome: audit.Success},
		{At: now, Kind: "token", Outcome: audit.Failure},
		{At: now.Add(-48 * time.Hour), Kind: "token", Outcome: audit.Success},
		{At: now, Kind: "login", Outcome: audit.Failure},
	}); err != nil {
		t.Fatal(err)
	}
	since := now.Add(-24 * time.Hour)
	for _, c := range []struct {
		name string
		got  func() (int, error)
		want int
	}{
		{"clients", func() (int, error) { return db.CountClients(ctx) }, 2},
		{"consents", func() (int, error) { return db.CountConsents(ctx) }, 1},
		{"families", func() (int, error) { return db.CountRefreshFamilies(ctx, now) }, 2},
		{"tokens", func() (int, error) { return db.CountAudit(ctx, "token", audit.Success, since) }, 1},
		{"failed log-ins", func() (int, error) { return db.CountAudit(ctx, "login", audit.Failure, since) }, 1},
	} {
		n, err := c.got()
		if err != nil || n != c.want {
			t.Errorf("%s = %d, %v; want %d", c.name, n, err, c.want)
		}
	}
	if n, err := db.DatabaseSize(ctx); err != nil || n <= 0 {
		t.Errorf("DatabaseSize = %d, %v", n, err)
	}
}
