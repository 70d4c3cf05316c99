package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/storetest"
)

// The text forms written before migration 10: oauth.go and launch.go wrote
// nine fraction digits, users.go and core.go RFC 3339 with 0 to 9 (trailing
// zeros dropped).
const (
	oldFixed = "2026-01-02T03:04:05.123456789Z"
	oldShort = "2026-01-02T03:04:05.5Z"
	oldWhole = "2026-01-02T03:04:05Z"
	oldNano  = "2026-01-02T03:04:05.1234567Z"
	oldLate  = "2099-01-02T03:04:05.000000000Z" // not yet expired
	oldMs    = int64(1767323045123)             // FHIR last_updated, Unix ms
)

func oldTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// timestampColumns lists every timestamp column after migration 10, and
// those of the tables added since (17: identity_links; 18: signin_codes; 20: trusted_certificates).
var timestampColumns = map[string][]string{
	"settings":               {"updated_at"},
	"audit_events":           {"at"},
	"users":                  {"created", "last_modified"},
	"consents":               {"created", "updated"},
	"web_sessions":           {"auth_time", "created", "expires_at", "ended_at"},
	"pending_authorizations": {"created", "expires_at"},
	"oauth_clients":          {"created_at", "registration_token_expires_at"},
	"oauth_tokens":           {"state_at", "requested_at", "expires_at"},
	"oauth_jti":              {"expires_at"},
	"oauth_keys":             {"created_at", "retired_at"},
	"smart_launches":         {"created_at", "expires_at", "used_at"},
	"oauth_revoked_access":   {"expires_at"},
	"fhir_resources":         {"last_updated"},
	"fhir_history":           {"last_updated"},
	"identity_links":         {"created", "last_login"},
	"signin_codes":           {"created", "expires"},
	"trusted_certificates":   {"not_before", "not_after", "added_at"},
}

// TestMigrationToMicrosecondTimestamps builds a database at schema version 9
// with rows in every table that has a timestamp, in every text form that was
// written (and the empty "unset" sentinel, and FHIR milliseconds), opens it
// (migration 10 runs) and reads everything back through the store's
// methods: each instant survives at microsecond precision, unset stays
// unset, rows of tables that reference a rebuilt table survive (no cascade),
// expiry comparisons still work, and every timestamp column holds integers.
func TestMigrationToMicrosecondTimestamps(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	indexesBefore := buildVersion9(t, path)

	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	same := func(what string, got time.Time, want string) {
		t.Helper()
		if want == "" {
			if !got.IsZero() {
				t.Errorf("%s = %v, want unset", what, got)
			}
			return
		}
		if w := oldTime(t, want); !storetest.SameInstant(got, w) || got.Nanosecond()%1000 != 0 {
			t.Errorf("%s = %v, want %v at microsecond precision", what, got, w)
		}
	}

	evs, err := db.AuditEvents(ctx, audit.Filter{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("audit events %v, %v", evs, err)
	}
	same("audit at", evs[0].At, oldNano)
	// The rebuilt audit table goes on numbering after the copied rows.
	if err := db.InsertAudit(ctx, []audit.Event{{Kind: "logout", Outcome: "success"}}); err != nil {
		t.Fatal(err)
	}
	if evs, err := db.AuditEvents(ctx, audit.Filter{}); err != nil || len(evs) != 2 || evs[0].Kind != "logout" {
		t.Fatalf("audit events after a new one: %+v, %v", evs, err)
	}

	u, err := db.User(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	same("user created", u.Meta.Created, oldWhole)
	same("user last modified", u.Meta.LastModified, oldNano)
	if len(u.Emails) != 1 || u.Emails[0].Value != "ada@example.org" {
		t.Errorf("user e-mails after the users rebuild: %+v (cascaded?)", u.Emails)
	}
	c, err := db.Consent(ctx, "u1", "app")
	if err != nil {
		t.Fatalf("consent after the users rebuild: %v", err)
	}
	same("consent created", c.Created, oldShort)
	same("consent updated", c.Updated, oldNano)

	for id, ended := range map[string]string{"s-live": "", "s-ended": oldShort} {
		s, err := db.Session(ctx, id)
		if err != nil {
			t.Fatalf("session %s: %v", id, err)
		}
		same(id+" auth time", s.AuthTime, oldNano)
		same(id+" created", s.Created, oldWhole)
		same(id+" expires", s.ExpiresAt, oldLate)
		same(id+" ended", s.EndedAt, ended)
	}
	// Only a session that has not ended can be extended (ended_at = 0).
	if err := db.ExtendSession(ctx, "s-live", oldTime(t, oldLate)); err != nil {
		t.Errorf("extend live session: %v", err)
	}
	if err := db.ExtendSession(ctx, "s-ended", oldTime(t, oldLate)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("extend ended session: %v, want ErrNotFound", err)
	}

	p, err := db.Pending(ctx, "b1", "r1")
	if err != nil {
		t.Fatalf("pending request: %v", err)
	}
	same("pending created", p.Created, oldNano)
	same("pending expires", p.ExpiresAt, oldLate)

	for id, exp := range map[string]string{"c-plain": "", "c-dcr": oldLate} {
		cl, err := db.GetClient(ctx, id)
		if err != nil {
			t.Fatalf("client %s: %v", id, err)
		}
		same(id+" created", cl.CreatedAt, oldFixed)
		same(id+" registration token expires", cl.RegistrationTokenExpiresAt, exp)
	}

	for sig, stateAt := range map[string]string{"t-active": "", "t-used": oldFixed} {
		rec, err := db.GetToken(ctx, authz.KindCode, sig)
		if err != nil {
			t.Fatalf("token %s: %v", sig, err)
		}
		same(sig+" state at", rec.StateAt, stateAt)
		same(sig+" requested", rec.RequestedAt, oldFixed)
		same(sig+" expires", rec.ExpiresAt, oldLate)
	}

	now := oldTime(t, oldFixed).Add(time.Hour)
	if err := db.UseJTI(ctx, "j-live", oldTime(t, oldLate), now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("replay of an unexpired jti: %v, want ErrConflict", err)
	}
	if err := db.UseJTI(ctx, "j-old", oldTime(t, oldLate), now); err != nil {
		t.Errorf("reuse of an expired jti: %v", err)
	}

	keys, err := db.SigningKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("signing keys %+v, %v", keys, err)
	}
	for _, k := range keys {
		same(k.ID+" created", k.CreatedAt, oldFixed)
		want := ""
		if k.ID == "k-retired" {
			want = oldFixed
		}
		same(k.ID+" retired", k.RetiredAt, want)
	}

	for v, used := range map[string]string{"L-unused": "", "L-used": oldFixed} {
		l, err := db.Launch(ctx, []byte(v))
		if err != nil {
			t.Fatalf("launch %s: %v", v, err)
		}
		same(v+" created", l.CreatedAt, oldFixed)
		same(v+" expires", l.ExpiresAt, oldLate)
		same(v+" used", l.UsedAt, used)
	}
	if err := db.UseLaunch(ctx, []byte("L-unused"), "app", now); err != nil {
		t.Errorf("use of an unused launch: %v", err)
	}
	if err := db.UseLaunch(ctx, []byte("L-used"), "app", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("use of a used launch: %v, want ErrNotFound", err)
	}

	for jti, want := range map[string]bool{"cc-live": true, "cc-old": true} {
		if r, err := db.AccessJTIRevoked(ctx, jti); err != nil || r != want {
			t.Errorf("AccessJTIRevoked(%s) = %v, %v", jti, r, err)
		}
	}
	if _, err := db.DeleteExpiredTokens(ctx, now); err != nil {
		t.Fatal(err)
	}
	if r, _ := db.AccessJTIRevoked(ctx, "cc-old"); r {
		t.Error("expired revocation entry kept by the cleanup")
	}
	if r, _ := db.AccessJTIRevoked(ctx, "cc-live"); !r {
		t.Error("unexpired revocation entry dropped by the cleanup")
	}

	res, err := db.ReadResource(ctx, "Patient", "p1")
	if err != nil || !res.LastUpdated.Equal(time.UnixMilli(oldMs)) {
		t.Fatalf("FHIR resource %+v, %v; want last updated %v", res, err, time.UnixMilli(oldMs).UTC())
	}
	old, err := db.ReadResourceVersion(ctx, "Patient", "p1", 1)
	if err != nil || !old.LastUpdated.Equal(time.UnixMilli(oldMs)) {
		t.Fatalf("FHIR version %+v, %v", old, err)
	}
	h, err := db.ResourceHistory(ctx, fhir.HistoryQuery{Since: time.UnixMilli(oldMs)})
	if err != nil || h.Total != 1 {
		t.Fatalf("history since its own time: %+v, %v", h, err)
	}
	if h, err := db.ResourceHistory(ctx, fhir.HistoryQuery{Since: time.UnixMilli(oldMs + 1)}); err != nil || h.Total != 0 {
		t.Fatalf("history since a millisecond later: %+v, %v", h, err)
	}

	if v, err := db.Setting(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("setting after the rebuild: %q, %v", v, err)
	}
	for table, cols := range timestampColumns {
		for _, col := range cols {
			var n int
			if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE typeof("+col+") <> 'integer'").Scan(&n); err != nil || n != 0 {
				t.Errorf("%s.%s: %d values that are not integers (%v)", table, col, n, err)
			}
		}
	}
	checkTimestampsDeclaredInteger(t, db.r)
	// Migration 10 rebuilds tables and must keep every index; later
	// migrations add their own (11: fhir_history_instance; 12 and 13: the
	// SCIM directory's; 14: provisioning_tokens_client; 16: users_fhir_user;
	// 17: identity_links_user; 18: signin_codes_user; 19: oauth_clients_cert_auth; 22: the audit filters).
	want := append(slices.Clone(indexesBefore), "fhir_history_instance",
		"users_external_id", "users_created", "groups_display_name", "groups_external_id", "groups_created", "group_members_user",
		"provisioning_tokens_client", "users_fhir_user", "identity_links_user", "signin_codes_user", "oauth_clients_cert_auth",
		"audit_events_client", "audit_events_patient", "audit_events_resource", "audit_events_kind")
	slices.Sort(want)
	if got := indexes(t, db.r); !slices.Equal(got, want) {
		t.Errorf("indexes after migrating: %v, want %v", got, want)
	}
	var fk int
	if err := db.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign keys after migrating: %d, %v; want on", fk, err)
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
}

// buildVersion9 writes a database at schema version 9 with old-format rows
// and returns its index names.
func buildVersion9(t *testing.T, path string) []string {
	t.Helper()
	ctx := context.Background()
	raw, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range loadMigrations()[:9] {
		if _, err := raw.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("migration %d: %v", m.version, err)
		}
		if _, err := raw.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?,?,?)", m.version, m.name, "2026-01-01T00:00:00Z"); err != nil {
			t.Fatal(err)
		}
	}
	rows := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', ?)`, []any{oldNano}},
		{`INSERT INTO audit_events (at, kind, outcome) VALUES (?, 'login', 'success')`, []any{oldNano}},
		{`INSERT INTO users (id, user_name, created, last_modified) VALUES ('u1', 'ada', ?, ?)`, []any{oldWhole, oldNano}},
		{`INSERT INTO user_emails (user_id, position, value) VALUES ('u1', 0, 'ada@example.org')`, nil},
		{`INSERT INTO consents (user_id, client_id, scopes, created, updated) VALUES ('u1', 'app', 'openid', ?, ?)`, []any{oldShort, oldNano}},
		{`INSERT INTO web_sessions (id, user_id, auth_time, created, expires_at, ended_at) VALUES ('s-live', 'u1', ?, ?, ?, '')`,
			[]any{oldNano, oldWhole, oldLate}},
		{`INSERT INTO web_sessions (id, user_id, auth_time, created, expires_at, ended_at) VALUES ('s-ended', 'u1', ?, ?, ?, ?)`,
			[]any{oldNano, oldWhole, oldLate, oldShort}},
		{`INSERT INTO pending_authorizations (browser_id, request_id, request, created, expires_at) VALUES ('b1', 'r1', x'7b7d', ?, ?)`,
			[]any{oldNano, oldLate}},
		{`INSERT INTO oauth_clients (id, token_endpoint_auth_method, created_at) VALUES ('c-plain', 'none', ?)`, []any{oldFixed}},
		{`INSERT INTO oauth_clients (id, token_endpoint_auth_method, created_at, registration_token_hash, registration_token_expires_at)
			VALUES ('c-dcr', 'none', ?, x'01', ?)`, []any{oldFixed, oldLate}},
		{`INSERT INTO oauth_tokens (kind, signature, request_id, client_id, state, state_at, requested_at, expires_at, data)
			VALUES ('code', 't-active', 'q1', 'c-plain', 'active', '', ?, ?, x'7b7d')`, []any{oldFixed, oldLate}},
		{`INSERT INTO oauth_tokens (kind, signature, request_id, client_id, state, state_at, requested_at, expires_at, data)
			VALUES ('code', 't-used', 'q2', 'c-plain', 'used', ?, ?, ?, x'7b7d')`, []any{oldFixed, oldFixed, oldLate}},
		{`INSERT INTO oauth_jti (jti, expires_at) VALUES ('j-live', ?), ('j-old', ?)`, []any{oldLate, oldFixed}},
		{`INSERT INTO oauth_keys (kid, alg, private_key, created_at, retired_at) VALUES ('k-live', 'ES256', x'01', ?, '')`, []any{oldFixed}},
		{`INSERT INTO oauth_keys (kid, alg, private_key, created_at, retired_at) VALUES ('k-retired', 'ES256', x'02', ?, ?)`, []any{oldFixed, oldFixed}},
		{`INSERT INTO smart_launches (hash, client_id, issuer, context, created_at, expires_at, used_at)
			VALUES (CAST('L-unused' AS BLOB), 'app', 'https://x.example/fhir', '{}', ?, ?, '')`, []any{oldFixed, oldLate}},
		{`INSERT INTO smart_launches (hash, client_id, issuer, context, created_at, expires_at, used_at)
			VALUES (CAST('L-used' AS BLOB), 'app', 'https://x.example/fhir', '{}', ?, ?, ?)`, []any{oldFixed, oldLate, oldFixed}},
		{`INSERT INTO oauth_revoked_access (jti, client_id, expires_at) VALUES ('cc-live', 'c-plain', ?), ('cc-old', 'c-plain', ?)`,
			[]any{oldLate, oldFixed}},
		{`INSERT INTO fhir_resources (type, id, version, last_updated, json) VALUES ('Patient', 'p1', 1, ?, '{}')`, []any{oldMs}},
		{`INSERT INTO fhir_history (type, id, version, last_updated, method, json) VALUES ('Patient', 'p1', 1, ?, 'PUT', '{}')`, []any{oldMs}},
	}
	for _, r := range rows {
		if _, err := raw.ExecContext(ctx, r.q, r.args...); err != nil {
			t.Fatalf("%s: %v", r.q, err)
		}
	}
	return indexes(t, raw)
}

func indexes(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkTimestampsDeclaredInteger: every column whose name says it holds a
// time (…_at, created, updated, last_…, auth_time, expires) is declared
// INTEGER, in every table, including those added after migration 10.
func checkTimestampsDeclaredInteger(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT m.name, c.name, c.type FROM sqlite_schema m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'schema_migrations'
		AND (c.name LIKE '%\_at' ESCAPE '\' OR c.name IN ('at', 'created', 'updated', 'last_modified', 'last_updated', 'last_login', 'auth_time', 'expires'))`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var table, col, typ string
		if err := rows.Scan(&table, &col, &typ); err != nil {
			t.Fatal(err)
		}
		seen++
		if typ != "INTEGER" {
			t.Errorf("%s.%s is declared %s, want INTEGER (Unix microseconds)", table, col, typ)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("no timestamp columns found")
	}
}
