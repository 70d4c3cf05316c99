package authz_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/testhook"
)

// TestIssue10D5_DisableDuringRegistrationUpdateStays: an RFC 7592 PUT reads
// the client (to check its registration access token), and an
// administrator's disable lands before the PUT writes (here through a second
// connection to the same database, as another process would). The update is
// stored, and the client stays disabled.
func TestIssue10D5_DisableDuringRegistrationUpdateStays(t *testing.T) {
	ctx := context.Background()
	db, other := sqliteWithPeer(t)
	st := &testhook.AfterGetClient{DB: db}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	as, err := authz.New(authz.Config{BaseURLs: []string{srv.URL}, FHIRBaseURLs: []string{srv.URL + "/fhir"},
		RegistrationPath: "/oauth/register", OpenRegistration: true},
		st, &approver{}, throttledUsers{testUsers(), account.NewThrottle(account.ThrottleConfig{})}, recorder{db}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	as.Register(mux)
	e := &env{t: t, srv: srv, base: srv.URL, db: db, as: as}

	m := e.mustRegister("", map[string]any{"client_name": "Before", "redirect_uris": []string{"http://127.0.0.1:9/cb"}})
	id, rat := m["client_id"].(string), m["registration_access_token"].(string)
	disabled := func() bool {
		t.Helper()
		var d int
		if err := other.QueryRowContext(ctx, `SELECT disabled FROM oauth_clients WHERE id = ?`, id).Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d != 0
	}
	disable := func() {
		if _, err := other.ExecContext(ctx, `UPDATE oauth_clients SET disabled = 1 WHERE id = ?`, id); err != nil {
			t.Error(err)
		}
	}
	st.Arm(disable)
	resp, got, _ := e.put(id, rat, map[string]any{"client_name": "After", "redirect_uris": []string{"http://127.0.0.1:9/cb"}})
	if resp.StatusCode != http.StatusOK || got["client_name"] != "After" {
		t.Fatalf("update: %d %v", resp.StatusCode, got)
	}
	if !st.Fired() {
		t.Fatal("the update never read the client: the competing write did not run")
	}
	var name string
	if err := other.QueryRowContext(ctx, `SELECT name FROM oauth_clients WHERE id = ?`, id).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "After" || !disabled() {
		t.Fatalf("after the update: name %q, disabled %v; want After, still disabled", name, disabled())
	}
}
