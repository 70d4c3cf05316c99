package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/console"
)

// fakePages lets everyone through RequireRole and answers Visit with
// visitor.
type fakePages struct{ visitor web.Visitor }

func (p *fakePages) RequireRole(next http.Handler, _ ...string) http.Handler { return next }
func (p *fakePages) Public(next http.Handler) http.Handler                   { return next }
func (p *fakePages) Visit(http.ResponseWriter, *http.Request) (web.Visitor, error) {
	return p.visitor, nil
}
func (p *fakePages) CSRFToken(http.ResponseWriter, *http.Request) (string, error) { return "tok", nil }
func (p *fakePages) Fail(w http.ResponseWriter, _ *http.Request, status int, msg string, _ error) {
	http.Error(w, msg, status)
}

type fakeStore struct{ err error }

func (f fakeStore) CountClients(context.Context) (int, error)  { return 3, f.err }
func (f fakeStore) CountUsers(context.Context) (int, error)    { return 7, f.err }
func (f fakeStore) CountConsents(context.Context) (int, error) { return 2, f.err }
func (f fakeStore) CountRefreshFamilies(context.Context, time.Time) (int, error) {
	return 4, f.err
}
func (f fakeStore) CountAudit(_ context.Context, kind, outcome string, _ time.Time) (int, error) {
	switch {
	case kind == "token" && outcome == audit.Success:
		return 10, f.err
	case kind == "owin" && outcome == audit.Success:
		return 1, f.err
	case kind == "login" && outcome == audit.Failure:
		return 5, f.err
	}
	return 0, f.err
}
func (f fakeStore) DatabaseSize(context.Context) (int64, error) { return 3 << 20, f.err }

type fakeKeys struct {
	keys    []authz.KeyInfo
	rotated int
}

func (k *fakeKeys) Keys(context.Context) ([]authz.KeyInfo, error) { return k.keys, nil }
func (k *fakeKeys) RotateKeys(context.Context) error              { k.rotated++; return nil }

// failingProvider is a connector whose last discovery fetch failed with
// markup in its error.
type failingProvider struct{ idp.CallbackConnector }

func (failingProvider) Status() idp.Status {
	return idp.Status{Checked: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Err: `<script>alert(1)</script> unreachable`}
}

type recorder struct{ events []audit.Event }

func (r *recorder) Record(_ context.Context, ev audit.Event) { r.events = append(r.events, ev) }

func newServer(t *testing.T, p *fakePages, k *fakeKeys, rec audit.Recorder, st fakeStore) *http.ServeMux {
	t.Helper()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s, err := console.New(console.Config{Pages: p, Counts: st, Activity: st, Keys: k,
		Providers: []idp.Provider{{ID: "acme", Name: `<b>Acme</b> IdP`, Connector: failingProvider{}}},
		Listeners: []console.Listener{{Name: "HTTPS", Base: "https://gate.example"}},
		Settings:  []console.Setting{{Flag: "tls-key", Value: "set", Source: "flag", Secret: true}},
		Assets:    smartgate.Assets(""), Audit: rec, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

func get(mux http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w
}

func TestIssue15HomeMarkupInert(t *testing.T) {
	u := &account.User{ID: "u1", UserName: "mallory", DisplayName: `<img src=x onerror=alert(1)>`}
	mux := newServer(t, &fakePages{visitor: web.Visitor{User: u, CSRF: "tok", Security: true}}, &fakeKeys{}, nil, fakeStore{})
	w := get(mux, "/")
	body := w.Body.String()
	if w.Code != http.StatusOK || strings.Contains(body, "<img src=x") {
		t.Fatalf("%d: markup not inert: %s", w.Code, body)
	}
	for _, want := range []string{`href="/account/security"`, `name="csrf_token" value="tok"`, "https://gate.example/fhir/metadata"} {
		if !strings.Contains(body, want) {
			t.Errorf("home lacks %q", want)
		}
	}
	if strings.Contains(body, `href="/admin"`) {
		t.Error("console link for a non-administrator")
	}
	admin := newServer(t, &fakePages{visitor: web.Visitor{User: u, Rights: account.Rights{Roles: []string{account.RoleAdmin}}}}, &fakeKeys{}, nil, fakeStore{})
	if !strings.Contains(get(admin, "/").Body.String(), `href="/admin" data-console`) {
		t.Error("no console link for an administrator (a role through a group counts)")
	}
	if w := get(mux, "/other"); w.Code != http.StatusNotFound {
		t.Errorf("GET /other: %d", w.Code)
	}
}

func TestIssue15DashboardCounts(t *testing.T) {
	k := &fakeKeys{keys: []authz.KeyInfo{
		{ID: "new", Alg: "ES256", CreatedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)},
		{ID: "old", Alg: "ES256", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), RetiredAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)},
	}}
	w := get(newServer(t, &fakePages{}, k, nil, fakeStore{}), "/admin")
	body := w.Body.String()
	for _, want := range []string{`data-count="clients">3<`, `data-count="users">7<`, `2 consents, 4 refresh-token families`,
		`data-count="tokens">11<`, `data-count="failed-logins">5<`, "3.0 MiB", "3 days", `data-provider-error`} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "<b>Acme") {
		t.Error("markup in a provider's name or error is not inert")
	}
	if w := get(newServer(t, &fakePages{}, k, nil, fakeStore{err: errors.New("disk")}), "/admin"); w.Code != http.StatusInternalServerError {
		t.Errorf("store failure: %d", w.Code)
	}
}

func TestIssue15RotateAudited(t *testing.T) {
	k := &fakeKeys{}
	rec := &recorder{}
	mux := newServer(t, &fakePages{}, k, rec, fakeStore{})
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/admin/keys/rotate", strings.NewReader(url.Values{"csrf_token": {"tok"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/keys?rotated=1" || k.rotated != 1 {
		t.Fatalf("rotate: %d %q, rotated %d", w.Code, w.Header().Get("Location"), k.rotated)
	}
	if len(rec.events) != 1 || rec.events[0].Kind != "admin" || rec.events[0].Action != "keys.rotate" || rec.events[0].Outcome != audit.Success {
		t.Errorf("audit: %+v", rec.events)
	}
	if w := get(mux, "/admin/keys/rotate"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET rotate: %d", w.Code)
	}
	if body := get(mux, "/admin/keys?rotated=1").Body.String(); !strings.Contains(body, "data-message") {
		t.Error("no message after the rotation")
	}
}

func TestIssue15SettingsSecretShownAsSet(t *testing.T) {
	body := get(newServer(t, &fakePages{}, &fakeKeys{}, nil, fakeStore{}), "/admin/settings").Body.String()
	if !strings.Contains(body, `data-setting="tls-key" data-secret>`) || !strings.Contains(body, "<em>set</em>") {
		t.Errorf("settings page: %s", body)
	}
}
