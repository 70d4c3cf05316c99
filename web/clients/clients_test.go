package clients_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/clients"
)

const password = "correct horse battery"

type env struct {
	t  *testing.T
	db *sqlite.DB
	ts *httptest.Server
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with the pages' client store wrapped by wrap (nil:
// the database itself).
func newEnvWith(t *testing.T, wrap func(*sqlite.DB) clients.Store) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hasher := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 4)
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*account.User{
		{UserName: "root", DisplayName: "Root", Roles: []string{account.RoleAdmin}},
		{UserName: "doc", DisplayName: "Dr. Doc", FHIRUser: "Practitioner/d1", Roles: []string{account.RolePractitioner}},
		{UserName: "pat", DisplayName: "Pat", FHIRUser: "Patient/p1", Roles: []string{account.RolePatient}},
	} {
		u.Active, u.PasswordHash = true, hash
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	assets := smartgate.Assets("")
	pages, err := web.New(ctx, web.Config{Assets: assets, Store: db,
		Passwords: account.NewAuthenticator(db, hasher, account.NewThrottle(account.ThrottleConfig{}))})
	if err != nil {
		t.Fatal(err)
	}
	var st clients.Store = db
	if wrap != nil {
		st = wrap(db)
	}
	cp, err := clients.New(clients.Config{Pages: pages, Store: st, Assets: assets})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	cp.Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &env{t: t, db: db, ts: ts}
}

type browser struct {
	e *env
	c *http.Client
}

type resp struct {
	status int
	loc    string
	body   string
	h      http.Header
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) resp {
	b.e.t.Helper()
	r, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, loc: r.Header.Get("Location"), body: string(body), h: r.Header}
}

func (b *browser) get(path string) resp {
	req, _ := http.NewRequest(http.MethodGet, b.e.ts.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) resp {
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

func (e *env) login(user string) *browser {
	e.t.Helper()
	b := e.browser()
	page := b.get("/login")
	r := b.post("/login", url.Values{"csrf_token": {csrfOf(e.t, page.body)}, "username": {user}, "password": {password}})
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return b
}

// submit loads page (for its CSRF token) and posts form to action.
func (b *browser) submit(page, action string, form url.Values) resp {
	b.e.t.Helper()
	p := b.get(page)
	if p.status != http.StatusOK {
		b.e.t.Fatalf("GET %s: %d", page, p.status)
	}
	form.Set("csrf_token", csrfOf(b.e.t, p.body))
	return b.post(action, form)
}

var (
	idAttr     = regexp.MustCompile(`data-client-id="([^"]+)"`)
	secretAttr = regexp.MustCompile(`data-client-secret="([^"]+)"`)
)

func attr(re *regexp.Regexp, body string) string {
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// register fills /admin/clients/new and follows the 303 to the result page.
func (b *browser) register(form url.Values) (resp, string, string) {
	b.e.t.Helper()
	r := b.submit("/admin/clients/new", "/admin/clients/new", form)
	if r.status != http.StatusSeeOther {
		return r, "", ""
	}
	res := b.get(r.loc)
	if res.status != http.StatusOK {
		b.e.t.Fatalf("result page %s: %d", r.loc, res.status)
	}
	return res, attr(idAttr, res.body), attr(secretAttr, res.body)
}

func TestDCR8_AdminRegistersClientSecretShownOnce(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	res, id, secret := b.register(url.Values{"client_name": {"Chart viewer"}, "redirect_uris": {"https://app.example/cb\r\nhttps://app.example/cb2\n"},
		"scope": {"openid launch patient/*.rs"}, "token_endpoint_auth_method": {"client_secret_basic"},
		"grant_types": {"authorization_code", "refresh_token"}, "launch_uri": {"https://app.example/launch"}, "introspect_all": {"1"}})
	if id == "" || len(secret) < 43 {
		t.Fatalf("result page lacks data-client-id / data-client-secret:\n%s", res.body)
	}
	if cc := res.h.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("result page Cache-Control %q", cc)
	}
	c, err := e.db.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(secret))
	if string(c.SecretHash) != string(h[:]) || c.Name != "Chart viewer" || c.LaunchURI != "https://app.example/launch" ||
		!slices.Equal(c.RedirectURIs, []string{"https://app.example/cb", "https://app.example/cb2"}) ||
		!slices.Equal(c.Scopes, []string{"openid", "launch", "patient/*.rs"}) || c.Policy != authz.PolicyAdmin {
		t.Fatalf("stored %+v", c)
	}
	// The administrator's values are the client's ceiling, and the
	// introspect_all checkbox is kept (issue 9 D4 and "Also tighten").
	if !slices.Equal(c.Ceiling.Scopes, c.Scopes) || !slices.Equal(c.Ceiling.GrantTypes, c.GrantTypes) ||
		c.Ceiling.AuthMethod != authz.AuthClientSecretBasic || !c.IntrospectAll {
		t.Fatalf("ceiling %+v, introspect_all %v", c.Ceiling, c.IntrospectAll)
	}
	// Reloading the result page does not show the secret again.
	again := b.get("/admin/clients/" + id)
	if attr(secretAttr, again.body) != "" || strings.Contains(again.body, secret) {
		t.Fatal("the secret was shown a second time")
	}
	// The list shows it.
	list := b.get("/admin/clients")
	if !strings.Contains(list.body, id) || !strings.Contains(list.body, "Chart viewer") || !strings.Contains(list.body, "https://app.example/cb2") {
		t.Fatalf("list lacks the client:\n%s", list.body)
	}

	// The e2e form: a public client, one grant type.
	_, pid, psecret := b.register(url.Values{"client_name": {"EHR app"}, "redirect_uris": {"http://127.0.0.1:9999/cb"},
		"launch_uri": {"http://127.0.0.1:9999/launch"}, "scope": {"launch openid fhirUser patient/*.rs"},
		"token_endpoint_auth_method": {"none"}, "grant_types": {"authorization_code"}})
	if pid == "" || psecret != "" {
		t.Fatalf("public client: id %q secret %q", pid, psecret)
	}
}

func TestDCR8_AdminPagesNeedAdminRoleAndCSRF(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"client_name": {"X"}, "redirect_uris": {"https://x.example/cb"}}
	// Not logged in: to the log-in page, nothing registered.
	anon := e.browser()
	if r := anon.get("/admin/clients/new"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
		t.Fatalf("anonymous GET: %d %s", r.status, r.loc)
	}
	if r := anon.post("/admin/clients/new", form); r.status == http.StatusSeeOther && !strings.HasPrefix(r.loc, "/login") {
		t.Fatalf("anonymous POST: %d %s", r.status, r.loc)
	}
	// A practitioner: 403 on every admin page and action.
	doc := e.login("doc")
	for _, p := range []string{"/admin/clients", "/admin/clients/new"} {
		if r := doc.get(p); r.status != http.StatusForbidden {
			t.Errorf("practitioner GET %s: %d", p, r.status)
		}
	}
	mine := doc.get("/account/my-apps")
	if r := doc.post("/admin/clients/new", url.Values{"csrf_token": {csrfOf(t, mine.body)}, "client_name": {"X"}, "redirect_uris": {"https://x.example/cb"}}); r.status != http.StatusForbidden {
		t.Errorf("practitioner POST: %d", r.status)
	}
	// An administrator without or with a wrong CSRF token, or cross-site: refused.
	root := e.login("root")
	if r := root.post("/admin/clients/new", form); r.status != http.StatusForbidden {
		t.Errorf("POST without csrf_token: %d", r.status)
	}
	bad := url.Values{"csrf_token": {"forged"}}
	for k, v := range form {
		bad[k] = v
	}
	if r := root.post("/admin/clients/new", bad); r.status != http.StatusForbidden {
		t.Errorf("POST with a forged csrf_token: %d", r.status)
	}
	page := root.get("/admin/clients/new")
	good := url.Values{"csrf_token": {csrfOf(t, page.body)}}
	for k, v := range form {
		good[k] = v
	}
	if r := root.post("/admin/clients/new", good, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", r.status)
	}
	if list, _ := e.db.ListClients(context.Background()); len(list) != 0 {
		t.Fatalf("refused posts registered %d clients", len(list))
	}
	// The same post, same-origin with the token: 303.
	if r := root.post("/admin/clients/new", good); r.status != http.StatusSeeOther {
		t.Fatalf("valid POST: %d %s", r.status, r.body)
	}
}

func TestDCR8_MarkupAndJavascriptInertOrRefused(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	evil := `<script>alert(1)</script><img src=x onerror=alert(1)>`
	_, id, _ := b.register(url.Values{"client_name": {evil}, "redirect_uris": {"https://app.example/cb"}, "token_endpoint_auth_method": {"none"}})
	if id == "" {
		t.Fatal("a name with markup is kept as text and must register")
	}
	for _, p := range []string{"/admin/clients", "/admin/clients/" + id} {
		r := b.get(p)
		if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<img src=x") {
			t.Fatalf("%s renders client_name as markup:\n%s", p, r.body)
		}
		if !strings.Contains(r.body, "&lt;script&gt;") {
			t.Errorf("%s does not show the escaped name", p)
		}
		if csp := r.h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s CSP %q", p, csp)
		}
	}
	for name, f := range map[string]url.Values{
		"javascript logo":     {"logo_uri": {"javascript:alert(1)"}},
		"data logo":           {"logo_uri": {"data:image/svg+xml,<svg onload=alert(1)>"}},
		"javascript launch":   {"launch_uri": {"javascript:alert(1)"}},
		"javascript redirect": {"redirect_uris": {"javascript:alert(1)"}},
		"http launch":         {"launch_uri": {"http://app.example/launch"}},
	} {
		if f.Get("redirect_uris") == "" {
			f.Set("redirect_uris", "https://app.example/cb")
		}
		f.Set("client_name", "N")
		r, id, _ := b.register(f)
		if id != "" || r.status != http.StatusBadRequest {
			t.Errorf("%s: %d, id %q; want 400 and nothing registered", name, r.status, id)
		}
		if strings.Contains(r.body, `href="javascript:`) || strings.Contains(r.body, `src="javascript:`) {
			t.Errorf("%s: a javascript: URL became active markup", name)
		}
	}
}

func TestDCR8_EditRotateDisableDelete(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	_, id, secret := b.register(url.Values{"client_name": {"Before"}, "redirect_uris": {"https://app.example/cb"}})
	ctx := context.Background()

	r := b.submit("/admin/clients/"+id, "/admin/clients/"+id, url.Values{"client_name": {"After"}, "redirect_uris": {"https://app.example/new"},
		"token_endpoint_auth_method": {"client_secret_basic"}, "grant_types": {"authorization_code"}, "scope": {"openid"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	c, _ := e.db.GetClient(ctx, id)
	if c.Name != "After" || !slices.Equal(c.RedirectURIs, []string{"https://app.example/new"}) {
		t.Fatalf("edit not stored: %+v", c)
	}
	h := sha256.Sum256([]byte(secret))
	if string(c.SecretHash) != string(h[:]) {
		t.Fatal("an edit that keeps the method changed the secret")
	}
	// An invalid edit is refused with the form and a message.
	r = b.submit("/admin/clients/"+id, "/admin/clients/"+id, url.Values{"redirect_uris": {"http://evil.example/cb"}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "https") {
		t.Fatalf("invalid edit: %d", r.status)
	}

	// Rotate: a new secret, shown once.
	r = b.submit("/admin/clients/"+id, "/admin/clients/"+id+"/secret", url.Values{})
	if r.status != http.StatusSeeOther {
		t.Fatalf("rotate: %d", r.status)
	}
	shown := attr(secretAttr, b.get(r.loc).body)
	if shown == "" || shown == secret {
		t.Fatalf("rotated secret %q", shown)
	}
	c, _ = e.db.GetClient(ctx, id)
	if h := sha256.Sum256([]byte(shown)); string(c.SecretHash) != string(h[:]) {
		t.Fatal("rotated secret not stored")
	}
	// Another administrator session cannot take the reveal handle.
	other := e.login("root")
	if attr(secretAttr, other.get(r.loc).body) != "" {
		t.Fatal("the one-time secret was shown again")
	}

	// Disable and enable.
	if r := b.submit("/admin/clients", "/admin/clients/"+id+"/disable", url.Values{}); r.status != http.StatusSeeOther || r.loc != "/admin/clients" {
		t.Fatalf("disable: %d %s", r.status, r.loc)
	}
	if c, _ := e.db.GetClient(ctx, id); !c.Disabled {
		t.Fatal("not disabled")
	}
	if !strings.Contains(b.get("/admin/clients").body, "disabled") {
		t.Error("list does not show the disabled state")
	}
	b.submit("/admin/clients", "/admin/clients/"+id+"/enable", url.Values{})
	if c, _ := e.db.GetClient(ctx, id); c.Disabled {
		t.Fatal("not enabled")
	}
	// Delete.
	if r := b.submit("/admin/clients", "/admin/clients/"+id+"/delete", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	if _, err := e.db.GetClient(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted client: %v", err)
	}
	if r := b.get("/admin/clients/" + id); r.status != http.StatusNotFound {
		t.Fatalf("page of a deleted client: %d", r.status)
	}
}

func TestMyAppsCappedAndPendingUntilApproved(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	root := e.login("root")
	if r := root.submit("/admin/clients", "/admin/clients/policy", url.Values{"scopes": {"openid patient/*.rs launch/patient"}, "needs_approval": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("policy: %d %s", r.status, r.body)
	}
	pat := e.login("pat")
	r := pat.submit("/account/my-apps", "/account/my-apps", url.Values{"client_name": {"My tracker"}, "redirect_uris": {"https://tracker.example/cb"},
		"scope": {"openid patient/*.cruds user/*.rs"}, "token_endpoint_auth_method": {"client_secret_basic"}, "grant_types": {"authorization_code"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("my app: %d %s", r.status, r.body)
	}
	page := pat.get(r.loc)
	id, secret := attr(idAttr, page.body), attr(secretAttr, page.body)
	if id == "" || secret == "" {
		t.Fatalf("My apps result lacks id/secret:\n%s", page.body)
	}
	c, err := e.db.GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Scopes, []string{"openid", "patient/*.rs"}) {
		t.Errorf("scopes %v, want narrowed to the ceiling", c.Scopes)
	}
	if !c.Pending || !c.Disabled || c.Policy != authz.PolicySelf {
		t.Fatalf("self-registered app not pending: %+v", c)
	}
	// Its ceiling (issue 9 D4) is the self-service policy it was registered
	// under, not the administrator's.
	if !slices.Equal(c.Ceiling.Scopes, []string{"openid", "patient/*.rs", "launch/patient"}) || c.Ceiling.AuthMethod != authz.AuthClientSecretBasic ||
		!slices.Equal(c.Ceiling.GrantTypes, []string{"authorization_code", "refresh_token"}) || c.IntrospectAll {
		t.Errorf("self-registered app's ceiling %+v", c.Ceiling)
	}
	if !strings.Contains(pat.get("/account/my-apps").body, "awaiting approval") {
		t.Error("My apps does not show the pending state")
	}
	// Backend grants and other people's apps are not available here.
	r = pat.submit("/account/my-apps", "/account/my-apps", url.Values{"client_name": {"B"}, "grant_types": {"client_credentials"},
		"token_endpoint_auth_method": {"private_key_jwt"}, "jwks_uri": {"https://k.example/jwks"}})
	if r.status != http.StatusBadRequest {
		t.Errorf("backend app on My apps: %d", r.status)
	}
	doc := e.login("doc")
	if strings.Contains(doc.get("/account/my-apps").body, id) {
		t.Error("another person sees the app")
	}
	// The administrator approves.
	if !strings.Contains(root.get("/admin/clients").body, "awaiting approval") {
		t.Error("admin list does not show the pending app")
	}
	if r := root.submit("/admin/clients", "/admin/clients/"+id+"/approve", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("approve: %d", r.status)
	}
	if c, _ := e.db.GetClient(ctx, id); c.Pending || c.Disabled {
		t.Fatalf("approved app %+v", c)
	}
	// Without the approval switch, new apps are active at once.
	root.submit("/admin/clients", "/admin/clients/policy", url.Values{"scopes": {"openid"}})
	r = pat.submit("/account/my-apps", "/account/my-apps", url.Values{"client_name": {"Second"}, "redirect_uris": {"https://tracker.example/cb"},
		"token_endpoint_auth_method": {"none"}})
	c2, _ := e.db.GetClient(ctx, attr(idAttr, pat.get(r.loc).body))
	if c2 == nil || c2.Pending || c2.Disabled || !slices.Equal(c2.Scopes, []string{"openid"}) {
		t.Fatalf("second app %+v", c2)
	}
}
