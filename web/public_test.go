package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
)

// newEnvWithExtras adds an admin page (RequireRole) to the test server.
func newEnvWithExtras(t *testing.T) *env {
	e := newEnv(t)
	mux := http.NewServeMux()
	e.srv.Register(mux)
	mux.HandleFunc("GET /oauth/authorize", e.authorize)
	mux.Handle("/admin/thing", e.srv.RequireRole(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		fmt.Fprintf(w, "%s %s", r.Method, u.UserName)
	}), account.RolePractitioner, account.RoleAdmin))
	e.ts.Config.Handler = mux
	return e
}

func TestRequireRole(t *testing.T) {
	e := newEnvWithExtras(t)
	if at := location(t, e.get("/admin/thing")); at != "/login?return_to=%2Fadmin%2Fthing" {
		t.Fatalf("logged out: %q", at)
	}
	e.login("pat", "/")
	wantStatus(t, e.get("/admin/thing"), http.StatusForbidden)
	e.client = e.newClient()
	e.login("doc", "/")
	r := e.get("/admin/thing")
	wantStatus(t, r, 200)
	if r.body != "GET doc" || r.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("admin page: %q %v", r.body, r.Header)
	}
	wantStatus(t, e.post("/admin/thing", url.Values{}), http.StatusForbidden)
	token := csrfOf(t, e.get("/logout").body)
	r = e.post("/admin/thing", url.Values{"csrf_token": {token}})
	if r.StatusCode != 200 || r.body != "POST doc" {
		t.Fatalf("POST with token: %d %q", r.StatusCode, r.body)
	}
	r = e.postWith(e.client, "/admin/thing", url.Values{"csrf_token": {token}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	wantStatus(t, r, http.StatusForbidden)
}

// TestG6_GranularScopesInsteadOfResourceLevel: the app asks for resource-
// level and category-level scopes; the person keeps only the granular ones
// (and Patient), and the decision carries exactly those.
func TestG6_GranularScopesInsteadOfResourceLevel(t *testing.T) {
	e := newEnv(t)
	granular := []string{
		"patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis",
		"patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern",
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
	}
	all := append([]string{"launch/patient", "openid", "fhirUser", "patient/Patient.rs", "patient/Condition.rs", "patient/Observation.rs"}, granular...)
	start := authorizeURL("app", strings.Join(all, " "))
	e.login("pat", start)
	cp := e.get(location(t, e.get(start)))
	wantStatus(t, cp, 200)
	var shown []string
	for _, m := range checkboxRE.FindAllStringSubmatch(cp.body, -1) {
		shown = append(shown, htmlUnescape(m[1]))
	}
	if !slices.Equal(shown, all) {
		t.Fatalf("checkboxes %q, want %q", shown, all)
	}
	keep := append([]string{"launch/patient", "openid", "fhirUser", "patient/Patient.rs"}, granular...)
	resume := location(t, e.post("/consent", url.Values{"csrf_token": {csrfOf(t, cp.body)}, "req": {hiddenValue(cp.body, "req")}, "rev": {hiddenValue(cp.body, "rev")},
		"decision": {"approve"}, "scope": keep}))
	d := decodeDecision(t, e.get(resume))
	if !slices.Equal(d.Scopes, keep) {
		t.Fatalf("decision scopes %q, want %q", d.Scopes, keep)
	}
}

func TestFormBodyLimit(t *testing.T) {
	e := newEnv(t)
	page := e.get("/login")
	r := e.post("/login", url.Values{"csrf_token": {csrfOf(t, page.body)}, "username": {"pat"},
		"password": {strings.Repeat("x", maxForm)}})
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `class="request-id"`) {
		t.Fatalf("error page without request id:\n%s", r.body)
	}
}

func TestSessionLiveForOnlineAccess(t *testing.T) {
	e := newEnv(t)
	start := authorizeURL("app", "openid online_access")
	e.login("pat", start)
	e.approveAll(start)
	d := decodeDecision(t, e.get(start))
	ctx := context.Background()
	if live, err := account.SessionLive(ctx, e.db, d.SessionID, e.clock.Now()); !live || err != nil {
		t.Fatalf("SessionLive before logout = %v, %v", live, err)
	}
	page := e.get("/logout")
	e.post("/logout", url.Values{"csrf_token": {csrfOf(t, page.body)}})
	if live, err := account.SessionLive(ctx, e.db, d.SessionID, e.clock.Now()); live || err != nil {
		t.Fatalf("SessionLive after logout = %v, %v", live, err)
	}
	if live, _ := account.SessionLive(ctx, e.db, "unknown", e.clock.Now()); live {
		t.Fatal("unknown session live")
	}
}

type ridKey struct{}

func TestErrorPageUsesServerRequestID(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.RequestID = func(ctx context.Context) string { s, _ := ctx.Value(ridKey{}).(string); return s }
	})
	mux := http.NewServeMux()
	e.srv.Register(mux)
	e.ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ridKey{}, "req-42")))
	})
	e.login("pat", "/")
	r := e.get("/consent?req=nope")
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `<code class="request-id">req-42</code>`) {
		t.Fatalf("error page does not show the server's request id:\n%s", r.body)
	}
}
