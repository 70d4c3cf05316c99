package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/listener"
)

func TestC19_CSRFRejected(t *testing.T) {
	e := newEnv(t)
	page := e.get("/login")
	token := csrfOf(t, page.body)
	good := url.Values{"csrf_token": {token}, "username": {"pat"}, "password": {testPassword}}
	cases := []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"missing token", url.Values{"username": {"pat"}, "password": {testPassword}}, map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"wrong token", url.Values{"csrf_token": {"x" + token}, "username": {"pat"}, "password": {testPassword}}, map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"cross-site Sec-Fetch-Site", good, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"cross-origin Origin", good, map[string]string{"Origin": "https://evil.example"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postWith(e.client, "/login", tc.form, tc.headers)
			wantStatus(t, r, http.StatusForbidden)
			if at := location(t, e.get("/account/apps")); !strings.HasPrefix(at, "/login?") {
				t.Fatal("a refused form logged in")
			}
		})
	}
	// The same form, same-origin with the token, works.
	location(t, e.postWith(e.client, "/login", good, map[string]string{"Sec-Fetch-Site": "same-origin"}))

	// Every other state-changing form refuses a missing token.
	for _, path := range []string{"/consent", "/logout", "/account/apps/revoke"} {
		r := e.post(path, url.Values{"req": {"x"}, "decision": {"approve"}, "client_id": {"app"}})
		wantStatus(t, r, http.StatusForbidden)
		r = e.postWith(e.client, path, url.Values{"csrf_token": {token}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
		wantStatus(t, r, http.StatusForbidden)
	}
}

func TestCSRFTokenRotatesAtLogin(t *testing.T) {
	e := newEnv(t)
	before := csrfOf(t, e.get("/login").body)
	e.login("pat", "/")
	after := csrfOf(t, e.get("/logout").body)
	if before == after {
		t.Fatal("CSRF token unchanged by log-in")
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	e.srv.Register(mux)
	for _, tc := range []struct {
		secure bool
		name   string
	}{{false, "smartgate"}, {true, "__Host-smartgate"}} {
		req := httptest.NewRequest("GET", "/login", nil)
		req = req.WithContext(listener.With(req.Context(), listener.Info{Name: "x", Secure: tc.secure}))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 {
			t.Fatalf("secure=%v: %d cookies", tc.secure, len(cookies))
		}
		c := cookies[0]
		if c.Name != tc.name || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure || c.Path != "/" ||
			c.Domain != "" || c.MaxAge != 0 {
			t.Errorf("secure=%v: cookie %+v", tc.secure, c)
		}
		if strings.Contains(c.Value, "csrf") || len(c.Value) < 40 {
			t.Errorf("cookie value does not look encrypted: %q", c.Value)
		}
	}
}

func TestC17_S9_S15_PageHeaders(t *testing.T) {
	e := newEnv(t)
	e.login("pat", "/")
	start := authorizeURL("app", "openid")
	consentAt := location(t, e.get(start))
	for _, path := range []string{"/login", consentAt, "/logout", "/account/apps", "/consent?req=unknown", start} {
		r := e.get(path)
		h := r.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
}

func TestConsentEscapesClientName(t *testing.T) {
	e := newEnv(t)
	evil := `<script>alert(1)</script><img src=x onerror="alert(2)">`
	start := authorizeURL("app", "openid", "client_name", evil)
	e.login("pat", start)
	r := e.get(location(t, e.get(start)))
	wantStatus(t, r, 200)
	if strings.Contains(r.body, "<script") || strings.Contains(r.body, "<img src=x") {
		t.Fatalf("client_name markup rendered live:\n%s", r.body)
	}
	if !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&#34;alert(2)&#34;&gt;") {
		t.Fatalf("client_name not shown escaped:\n%s", r.body)
	}
}

func TestS4_ReturnToNoOpenRedirect(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ returnTo, want string }{
		{"https://evil.example/", defaultLanding},
		{"//evil.example/x", defaultLanding},
		{"/\\evil.example", defaultLanding},
		{"\\\\evil.example", defaultLanding},
		{"javascript:alert(1)", defaultLanding},
		{"http:/evil.example", defaultLanding},
		{"/a\r\nb", defaultLanding},
		{"evil.example", defaultLanding},
		{" /x", defaultLanding},
		{"", defaultLanding},
		{"/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"}, // an odd but same-origin path
		{"/oauth/authorize?client_id=a&scope=openid", "/oauth/authorize?client_id=a&scope=openid"},
	} {
		e.client = e.newClient()
		if got := e.login("pat", tc.returnTo); got != tc.want {
			t.Errorf("return_to %q sent the browser to %q, want %q", tc.returnTo, got, tc.want)
		}
	}
}

func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//x", "/\\x", "https://x", "/a/../..//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeReturnTo(s)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") ||
			strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeReturnTo(%q) = %q is not a same-origin path", s, got)
		}
		// A browser resolves it against our origin and stays there.
		base, _ := url.Parse("https://gate.example/")
		if r := base.ResolveReference(u); r.Host != "gate.example" {
			t.Fatalf("safeReturnTo(%q) = %q leaves the origin", s, got)
		}
	})
}

func TestLoginFailuresThrottledWithLockout(t *testing.T) {
	e := newEnv(t)
	try := func(pw string) resp {
		page := e.get("/login")
		return e.post("/login", url.Values{"csrf_token": {csrfOf(t, page.body)}, "username": {"pat"}, "password": {pw}})
	}
	for range 3 {
		r := try("wrong password!")
		wantStatus(t, r, http.StatusUnauthorized)
		if !strings.Contains(r.body, msgBadLogin) {
			t.Fatalf("failure page lacks the generic message:\n%s", r.body)
		}
	}
	// Unknown users get the same answer.
	page := e.get("/login")
	r := e.post("/login", url.Values{"csrf_token": {csrfOf(t, page.body)}, "username": {"nobody"}, "password": {"x"}})
	wantStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(r.body, msgBadLogin) {
		t.Fatal("unknown user answered differently")
	}
	// Locked: even the right password is refused.
	r = try(testPassword)
	wantStatus(t, r, http.StatusTooManyRequests)
	if ev := e.audit.find("login", audit.Failure); len(ev) != 4 || ev[0].Actor != "pat" || ev[0].Address == "" {
		t.Fatalf("failure audit = %+v", ev)
	}
	if len(e.audit.find("login", audit.Denied)) != 1 {
		t.Fatal("no audit record for the throttled attempt")
	}
	e.clock.Advance(10*time.Minute + time.Second)
	location(t, try(testPassword))
	if len(e.audit.find("login", audit.Success)) != 1 {
		t.Fatal("no audit record for the log-in")
	}
}

func TestR9_LogoutEndsServerSession(t *testing.T) {
	e := newEnv(t)
	start := authorizeURL("app", "openid online_access")
	e.login("pat", start)
	e.approveAll(start)
	d := decodeDecision(t, e.get(start))
	ctx := context.Background()
	if s, err := e.db.Session(ctx, d.SessionID); err != nil || !s.Active(e.clock.Now()) {
		t.Fatalf("session %q before logout: %+v, %v", d.SessionID, s, err)
	}
	// GET only asks.
	page := e.get("/logout")
	wantStatus(t, page, 200)
	if s, _ := e.db.Session(ctx, d.SessionID); !s.EndedAt.IsZero() {
		t.Fatal("GET /logout ended the session")
	}
	r := e.post("/logout", url.Values{"csrf_token": {csrfOf(t, page.body)}})
	wantStatus(t, r, 200)
	if !strings.Contains(r.body, "You are logged out") {
		t.Fatalf("logout page:\n%s", r.body)
	}
	if s, _ := e.db.Session(ctx, d.SessionID); s.Active(e.clock.Now()) {
		t.Fatal("session still active after logout")
	}
	if at := location(t, e.get(authorizeURL("app", "openid", "state", "after"))); !strings.HasPrefix(at, "/login?") {
		t.Fatalf("after logout the authorize request went to %q, want /login", at)
	}
	if len(e.audit.find("logout", audit.Success)) != 1 {
		t.Fatal("no logout audit record")
	}
}

func TestLogoutPostLogoutRedirectOnlyWhenRegistered(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		client, uri, want string
	}{
		{"app", "https://app.example/bye", "https://app.example/bye?state=s1"},
		{"app", "https://evil.example/", ""},
		{"other", "https://app.example/bye", ""},
	} {
		e.login("pat", "/")
		q := url.Values{"post_logout_redirect_uri": {tc.uri}, "state": {"s1"}, "client_id": {tc.client}}
		page := e.get("/logout?" + q.Encode())
		wantStatus(t, page, 200)
		form := url.Values{"csrf_token": {csrfOf(t, page.body)}, "post_logout_redirect_uri": {hiddenValue(page.body, "post_logout_redirect_uri")},
			"state": {hiddenValue(page.body, "state")}, "client_id": {hiddenValue(page.body, "client_id")}}
		r := e.post("/logout", form)
		if tc.want == "" {
			wantStatus(t, r, 200)
		} else if got := location(t, r); got != tc.want {
			t.Errorf("%s %s: redirect %q, want %q", tc.client, tc.uri, got, tc.want)
		}
	}
}

func TestV7_AppsPageListsAndWithdraws(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ClientName = func(_ context.Context, id string) string { return "Name of " + id }
	})
	if at := location(t, e.get("/account/apps")); !strings.HasPrefix(at, "/login?") {
		t.Fatalf("logged-out apps page went to %q", at)
	}
	e.login("pat", "/")
	e.approveAll(authorizeURL("app", "openid patient/Observation.rs"))
	e.approveAll(authorizeURL("other", "openid"))
	page := e.get("/account/apps")
	wantStatus(t, page, 200)
	for _, s := range []string{`data-client-id="app"`, `data-client-id="other"`, "Name of app", "patient/Observation.rs",
		"Read and search your Observation records"} {
		if !strings.Contains(page.body, s) {
			t.Fatalf("apps page lacks %q:\n%s", s, page.body)
		}
	}
	r := e.post("/account/apps/revoke", url.Values{"csrf_token": {csrfOf(t, page.body)}, "client_id": {"app"}})
	if loc := location(t, r); loc != "/account/apps" {
		t.Fatalf("withdraw went to %q", loc)
	}
	pat := e.users["pat"].ID
	if _, err := e.db.Consent(context.Background(), pat, "app"); err == nil {
		t.Fatal("consent still stored after withdrawal")
	}
	if len(e.revoked.list) != 1 || e.revoked.list[0] != (revocation{pat, "app"}) {
		t.Fatalf("revocations = %+v", e.revoked.list)
	}
	page = e.get("/account/apps")
	if strings.Contains(page.body, `data-client-id="app"`) || !strings.Contains(page.body, `data-client-id="other"`) {
		t.Fatalf("after withdrawal:\n%s", page.body)
	}
	// Withdrawn: the next request asks again.
	if at := location(t, e.get(authorizeURL("app", "openid"))); !strings.HasPrefix(at, "/consent?") {
		t.Fatalf("after withdrawal the request went to %q", at)
	}
}

func TestS10_C18_RedirectsAfterPostAre303(t *testing.T) {
	e := newEnv(t)
	start := authorizeURL("app", "openid")
	page := e.get("/login?return_to=" + url.QueryEscape(start))
	r := e.post("/login", url.Values{"csrf_token": {csrfOf(t, page.body)}, "username": {"pat"}, "password": {testPassword},
		"return_to": {start}})
	wantStatus(t, r, http.StatusSeeOther)
	cp := e.get(location(t, e.get(start)))
	r = e.post("/consent", url.Values{"csrf_token": {csrfOf(t, cp.body)}, "req": {hiddenValue(cp.body, "req")}, "rev": {hiddenValue(cp.body, "rev")}, "decision": {"approve"}})
	wantStatus(t, r, http.StatusSeeOther)
}

func TestSessionKeysRotateKeepingSessions(t *testing.T) {
	e := newEnv(t)
	e.login("pat", "/")
	wantStatus(t, e.get("/account/apps"), 200)
	if err := RotateSessionKeys(context.Background(), e.db, 2); err != nil {
		t.Fatal(err)
	}
	// A server started after the rotation still reads the old cookie.
	srv2, err := New(context.Background(), e.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv2
	mux := http.NewServeMux()
	srv2.Register(mux)
	e.ts.Config.Handler = mux
	wantStatus(t, e.get("/account/apps"), 200)
	// After two more rotations the old key is gone: the cookie is ignored.
	RotateSessionKeys(context.Background(), e.db, 2)
	RotateSessionKeys(context.Background(), e.db, 2)
	srv3, _ := New(context.Background(), e.srv.cfg)
	mux3 := http.NewServeMux()
	srv3.Register(mux3)
	e.ts.Config.Handler = mux3
	if at := location(t, e.get("/account/apps")); !strings.HasPrefix(at, "/login?") {
		t.Fatalf("a cookie under a dropped key still worked: %q", at)
	}
}

func TestInactiveAccountLosesSession(t *testing.T) {
	e := newEnv(t)
	e.login("pat", "/")
	if err := e.db.DeactivateUser(context.Background(), e.users["pat"].ID); err != nil {
		t.Fatal(err)
	}
	if at := location(t, e.get("/account/apps")); !strings.HasPrefix(at, "/login?") {
		t.Fatalf("deactivated user still logged in: %q", at)
	}
}
