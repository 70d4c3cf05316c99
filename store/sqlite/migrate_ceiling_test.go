package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSec9D4_MigrationGivesExistingClientsTheirCeiling: a database written
// before migration 8 keeps its clients; each gets its current scopes, grant
// types and method as its ceiling, and a registration access token it held
// lives one more day (it never expired before).
func TestSec9D4_MigrationGivesExistingClientsTheirCeiling(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range loadMigrations()[:7] {
		if _, err := raw.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("migration %d: %v", m.version, err)
		}
		raw.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?,?,?)", m.version, m.name, "2026-01-01T00:00:00Z")
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO oauth_clients (id, grant_types, scopes, token_endpoint_auth_method, created_at, registration_token_hash, policy)
		VALUES ('old', '["authorization_code"]', '["openid","patient/Observation.rs"]', 'none', '2026-01-01T00:00:00.000000000Z', x'0102', 'admin')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.GetClient(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Ceiling.Scopes, []string{"openid", "patient/Observation.rs"}) || !slices.Equal(c.Ceiling.GrantTypes, []string{"authorization_code"}) ||
		c.Ceiling.AuthMethod != "none" || c.IntrospectAll {
		t.Fatalf("migrated client %+v", c)
	}
	if d := time.Until(c.RegistrationTokenExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("registration token expires in %v, want about a day", d)
	}
}
