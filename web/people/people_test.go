package people_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
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
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/people"
)

const password = "correct horse battery"

type env struct {
	t        *testing.T
	db       *sqlite.DB
	ts       *httptest.Server
	hasher   *account.Hasher
	throttle *account.Throttle
	revoked  []string // user ids People revoked
}

// auditDB records audit events straight into the database (the batcher's
// target), so that tests read what was stored.
type auditDB struct{ db *sqlite.DB }

func (a auditDB) Record(ctx context.Context, ev audit.Event) {
	if err := a.db.InsertAudit(ctx, []audit.Event{ev}); err != nil {
		panic(err)
	}
}

// newEnv is the pages over a real SQLite store with root, doc and pat;
// opts may change the configuration (they see the env, for its store).
func newEnv(t *testing.T, opts ...func(*env, *people.Config)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, hasher: account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 4)}
	e.throttle = account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 3, Users: db, Lockouts: db})
	hash, err := e.hasher.Hash(ctx, password)
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
	pages, err := web.New(ctx, web.Config{Assets: assets, Store: db, Logger: slog.New(slog.NewTextHandler(tlog{t}, nil)),
		Passwords: account.NewAuthenticator(db, e.hasher, e.throttle)})
	if err != nil {
		t.Fatal(err)
	}
	pp := account.NewPeople(account.PeopleConfig{Store: db, Hasher: e.hasher, Revoke: func(_ context.Context, id string) error {
		e.revoked = append(e.revoked, id)
		return nil
	}})
	cfg := people.Config{Pages: pages, Directory: db, People: pp, Unlocker: e.throttle, Assets: assets, Audit: auditDB{db}}
	for _, o := range opts {
		o(e, &cfg)
	}
	srv, err := people.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	srv.Register(mux)
	e.ts = httptest.NewServer(mux)
	t.Cleanup(e.ts.Close)
	return e
}

// tlog sends the pages' log to the test's.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
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
	body, err := io.ReadAll(r.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return resp{status: r.StatusCode, loc: r.Header.Get("Location"), body: string(body), h: r.Header}
}

func (b *browser) get(path string) resp {
	req, _ := http.NewRequest(http.MethodGet, b.e.ts.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) resp {
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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

// loginAs logs user in with the shared password.
func (e *env) loginAs(user, pw string) (*browser, resp) {
	e.t.Helper()
	b := e.browser()
	page := b.get("/login")
	r := b.post("/login", url.Values{"csrf_token": {csrfOf(e.t, page.body)}, "username": {user}, "password": {pw}})
	return b, r
}

func (e *env) login(user string) *browser {
	e.t.Helper()
	b, r := e.loginAs(user, password)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return b
}

// submit loads page (for its CSRF token and, when the form posts to action
// with one, its version) and posts form to action.
func (b *browser) submit(page, action string, form url.Values) resp {
	b.e.t.Helper()
	p := b.get(page)
	if p.status != http.StatusOK {
		b.e.t.Fatalf("GET %s: %d\n%s", page, p.status, p.body)
	}
	form.Set("csrf_token", csrfOf(b.e.t, p.body))
	if !form.Has("version") {
		if v := versionIn(p.body, action); v != "" {
			form.Set("version", v)
		}
	}
	return b.post(action, form)
}

// versionIn finds the hidden version field of the form posting to action.
func versionIn(body, action string) string {
	i := strings.Index(body, `action="`+action+`"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	if end := strings.Index(rest, "</form>"); end >= 0 {
		rest = rest[:end]
	}
	m := regexp.MustCompile(`name="version" value="(\d+)"`).FindStringSubmatch(rest)
	if m == nil {
		return ""
	}
	return m[1]
}

func wantStatus(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
}

func (e *env) user(name string) *account.User {
	e.t.Helper()
	u, err := e.db.UserByName(context.Background(), name)
	if err != nil {
		e.t.Fatalf("user %s: %v", name, err)
	}
	return u
}

var userIDAttr = regexp.MustCompile(`data-user-id="([^"]+)"`)

// create fills /admin/users/new and returns the new person's id.
func (b *browser) create(form url.Values) string {
	b.e.t.Helper()
	r := b.submit(people.UsersPath+"/new", people.UsersPath+"/new", form)
	wantStatus(b.e.t, r, http.StatusSeeOther)
	page := b.get(r.loc)
	wantStatus(b.e.t, page, http.StatusOK)
	m := userIDAttr.FindStringSubmatch(page.body)
	if m == nil {
		b.e.t.Fatalf("no data-user-id on %s:\n%s", r.loc, page.body)
	}
	return m[1]
}

func (e *env) auditActions(kind string) []string {
	e.t.Helper()
	evs, err := e.db.AuditEvents(context.Background(), audit.Filter{Kind: kind, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Outcome != audit.Success || ev.Actor != e.user("root").ID {
			e.t.Errorf("audit event %+v: want a success by root", ev)
		}
		out = append(out, ev.Action+" "+ev.Resource)
	}
	slices.Sort(out)
	return out
}

func TestPeoplePagesRefuseAnyoneButAdministrators(t *testing.T) {
	e := newEnv(t)
	ada := e.login("root").create(url.Values{"userName": {"ada"}, "roles": {"patient"}, "active": {"1"}})
	gets := []string{"/admin/users", "/admin/users/new", "/admin/users/" + ada, "/admin/users/" + ada + "/delete",
		"/admin/groups", "/admin/groups/new"}
	posts := []string{"/admin/users/new", "/admin/users/" + ada, "/admin/users/" + ada + "/disable", "/admin/users/" + ada + "/enable",
		"/admin/users/" + ada + "/password", "/admin/users/" + ada + "/unlock", "/admin/users/" + ada + "/delete",
		"/admin/groups/new"}
	anon := e.browser()
	for _, p := range gets {
		r := anon.get(p)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
			t.Errorf("anonymous GET %s: %d %q, want 303 to /login", p, r.status, r.loc)
		}
	}
	for _, who := range []string{"doc", "pat"} {
		b := e.login(who)
		token := csrfOf(t, b.get("/logout").body)
		for _, p := range gets {
			if r := b.get(p); r.status != http.StatusForbidden {
				t.Errorf("%s GET %s: %d, want 403", who, p, r.status)
			}
		}
		for _, p := range posts {
			r := b.post(p, url.Values{"csrf_token": {token}, "userName": {"mallory"}, "roles": {"admin"}, "active": {"1"},
				"version": {"1"}, "generate": {"1"}})
			if r.status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", who, p, r.status)
			}
		}
	}
	if _, err := e.db.UserByName(context.Background(), "mallory"); err == nil {
		t.Error("a non-administrator created a person")
	}
	if u := e.user("ada"); !u.Active || u.PasswordHash != "" {
		t.Errorf("a non-administrator changed ada: %+v", u)
	}
}

func TestPeoplePagesRefusePostsWithoutTheCSRFToken(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	ada := b.create(url.Values{"userName": {"ada"}, "active": {"1"}})
	version := fmt.Sprint(e.user("ada").Meta.Version)
	for _, p := range []string{"/admin/users/new", "/admin/users/" + ada + "/disable", "/admin/users/" + ada + "/delete",
		"/admin/users/" + ada + "/password", "/admin/groups/new"} {
		for _, token := range []string{"", "forged"} {
			form := url.Values{"userName": {"eve"}, "version": {version}, "generate": {"1"}, "displayName": {"g"}}
			if token != "" {
				form.Set("csrf_token", token)
			}
			if r := b.post(p, form); r.status != http.StatusForbidden {
				t.Errorf("POST %s with csrf_token %q: %d, want 403", p, token, r.status)
			}
		}
	}
	if u := e.user("ada"); !u.Active || u.PasswordHash != "" {
		t.Errorf("ada changed without a CSRF token: %+v", u)
	}
	if _, err := e.db.UserByName(context.Background(), "eve"); err == nil {
		t.Error("eve was created without a CSRF token")
	}
}

func TestAdministratorCreatesAPerson(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	r := b.submit("/admin/users/new", "/admin/users/new", url.Values{"userName": {"Ada"}, "givenName": {"Ada"},
		"familyName": {"Lovelace"}, "displayName": {"Ada L."}, "email": {"ada@example.org"}, "password": {"analytical engine 1843"},
		"roles": {"practitioner", "patient"}, "fhirUser": {"Practitioner/ada-1"}, "active": {"1"}})
	wantStatus(t, r, http.StatusSeeOther)
	u := e.user("ada")
	if want := "/admin/users/" + u.ID + "?done=created"; r.loc != want {
		t.Errorf("Location %q, want %q", r.loc, want)
	}
	if u.Name.GivenName != "Ada" || u.Name.FamilyName != "Lovelace" || u.DisplayName != "Ada L." || !u.Active ||
		u.FHIRUser != "Practitioner/ada-1" || !slices.Equal(u.Roles, []string{"practitioner", "patient"}) ||
		len(u.Emails) != 1 || u.Emails[0].Value != "ada@example.org" || !u.Emails[0].Primary {
		t.Errorf("stored %+v", u)
	}
	if ok, err := e.hasher.Verify(context.Background(), "analytical engine 1843", u.PasswordHash); err != nil || !ok {
		t.Errorf("password not stored as its hash: %v %v", ok, err)
	}
	page := b.get(r.loc)
	wantStatus(t, page, http.StatusOK)
	if strings.Contains(page.body, "analytical engine") {
		t.Error("the password is shown")
	}
	for _, want := range []string{`value="ada@example.org"`, `value="Practitioner/ada-1"`, `role="status"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("person's page lacks %s", want)
		}
	}
	// A person without a password can be created too.
	b.create(url.Values{"userName": {"nopass"}, "active": {"1"}})
	if u := e.user("nopass"); u.PasswordHash != "" {
		t.Errorf("nopass has a password hash")
	}
	if got := e.auditActions("user"); len(got) != 2 || !strings.HasPrefix(got[0], "create User/") {
		t.Errorf("audit %v", got)
	}
}

func TestCreateShowsEachMistakeNextToItsField(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	for _, c := range []struct {
		name  string
		form  url.Values
		field string
		code  int
	}{
		{"weak password", url.Values{"userName": {"bob"}, "password": {"short"}}, "password", http.StatusBadRequest},
		{"password is the user name", url.Values{"userName": {"bobbybobbybob"}, "password": {"bobbybobbybob"}}, "password", http.StatusBadRequest},
		{"no user name", url.Values{"userName": {""}}, "userName", http.StatusBadRequest},
		{"space in user name", url.Values{"userName": {"bob smith"}}, "userName", http.StatusBadRequest},
		{"bad fhirUser", url.Values{"userName": {"bob"}, "fhirUser": {"Observation/1"}}, "fhirUser", http.StatusBadRequest},
		{"bad email", url.Values{"userName": {"bob"}, "email": {"not an address"}}, "email", http.StatusBadRequest},
		{"unknown role", url.Values{"userName": {"bob"}, "roles": {"superuser"}}, "roles", http.StatusBadRequest},
		{"taken user name", url.Values{"userName": {"DOC"}}, "userName", http.StatusConflict},
		{"patient linked to another account", url.Values{"userName": {"bob"}, "fhirUser": {"Patient/p1"}}, "fhirUser", http.StatusConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := b.submit("/admin/users/new", "/admin/users/new", c.form)
			wantStatus(t, r, c.code)
			if !strings.Contains(r.body, `data-error-for="`+c.field+`"`) {
				t.Errorf("no message next to %s:\n%s", c.field, r.body)
			}
			if regexp.MustCompile(`name="password"[^>]*value=`).MatchString(r.body) {
				t.Error("the password is put back into the page")
			}
		})
	}
	if _, err := e.db.UserByName(context.Background(), "bob"); err == nil {
		t.Error("a refused form stored bob")
	}
	if got := e.auditActions("user"); len(got) != 0 {
		t.Errorf("refused forms audited: %v", got)
	}
}

var rowRE = regexp.MustCompile(`data-user-name="([^"]+)"`)

func rowsOf(body string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

var nextRE = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

func TestSearchAndPagesOfPeople(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 120 {
		u := &account.User{UserName: fmt.Sprintf("nurse%03d", i), Active: true, DisplayName: fmt.Sprintf("Nurse %d", i)}
		if i%2 == 0 {
			u.Emails = []account.Email{{Value: fmt.Sprintf("n%d@ward.example", i), Primary: true}}
		}
		if err := e.db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.db.CreateUser(ctx, &account.User{UserName: "grace", Active: true, Name: account.Name{GivenName: "Grace", FamilyName: "Hopper"}}); err != nil {
		t.Fatal(err)
	}
	b := e.login("root")
	// By family name, case-insensitively; by two words; by e-mail.
	for q, want := range map[string][]string{
		"hopper":        {"grace"},
		"GRACE hop":     {"grace"},
		"n14@ward":      {"nurse014"},
		"dr. doc":       {"doc"},
		"nobody-at-all": nil,
	} {
		r := b.get("/admin/users?q=" + url.QueryEscape(q))
		wantStatus(t, r, http.StatusOK)
		if got := rowsOf(r.body); !slices.Equal(got, want) {
			t.Errorf("q=%q: rows %v, want %v", q, got, want)
		}
	}
	// A page number past the end, or absurd, shows no rows (one that is
	// not a number is the first page).
	for _, p := range []string{"99", "9223372036854775807"} {
		r := b.get("/admin/users?q=nurse&page=" + p)
		wantStatus(t, r, http.StatusOK)
		if got := rowsOf(r.body); len(got) != 0 {
			t.Errorf("page %s: rows %v", p, got)
		}
	}
	// 120 nurses: 50, 50, 20, with the search kept in the links.
	r := b.get("/admin/users?q=nurse")
	if got := rowsOf(r.body); len(got) != people.PageSize || got[0] != "nurse000" {
		t.Fatalf("page 1: %d rows %v", len(got), got)
	}
	if !strings.Contains(r.body, `data-total="120"`) || strings.Contains(r.body, `rel="prev"`) {
		t.Errorf("page 1: total or previous link wrong")
	}
	seen := rowsOf(r.body)
	for page := 2; page <= 3; page++ {
		m := nextRE.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("page %d: no next link", page-1)
		}
		next := html.UnescapeString(m[1])
		if want := fmt.Sprintf("/admin/users?page=%d&q=nurse", page); next != want {
			t.Errorf("next link %q, want %q", next, want)
		}
		r = b.get(next)
		wantStatus(t, r, http.StatusOK)
		seen = append(seen, rowsOf(r.body)...)
		if !strings.Contains(r.body, `rel="prev"`) {
			t.Errorf("page %d has no previous link", page)
		}
	}
	if len(seen) != 120 || nextRE.MatchString(r.body) || seen[119] != "nurse119" {
		t.Errorf("pages gave %d rows (last %v), next link on the last: %v", len(seen), seen[len(seen)-1], nextRE.MatchString(r.body))
	}
}

func TestEditAPersonUnderTheVersionShown(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	id := b.create(url.Values{"userName": {"ada"}, "email": {"ada@example.org"}, "roles": {"patient"}, "active": {"1"}})
	ctx := context.Background()
	// Another address the form does not show is kept.
	u := e.user("ada")
	u.Emails = append(u.Emails, account.Email{Value: "home@example.org", Type: "home"})
	if err := e.db.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	path := "/admin/users/" + id
	r := b.submit(path, path, url.Values{"userName": {"ada"}, "givenName": {"Ada"}, "email": {"ada@work.example"},
		"roles": {"practitioner"}, "fhirUser": {"Practitioner/7"}, "active": {"1"}})
	wantStatus(t, r, http.StatusSeeOther)
	if r.loc != path+"?done=saved" {
		t.Errorf("Location %q", r.loc)
	}
	u = e.user("ada")
	if u.Name.GivenName != "Ada" || u.FHIRUser != "Practitioner/7" || !slices.Equal(u.Roles, []string{"practitioner"}) ||
		len(u.Emails) != 2 || u.Emails[0].Value != "ada@work.example" || u.Emails[1].Value != "home@example.org" {
		t.Errorf("stored %+v", u)
	}
	// A form shown before someone else's change is refused, and nothing changes.
	page := b.get(path)
	token, version := csrfOf(t, page.body), versionIn(page.body, path)
	u.DisplayName = "changed meanwhile"
	if err := e.db.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	r = b.post(path, url.Values{"csrf_token": {token}, "version": {version}, "userName": {"ada"}, "givenName": {"Overwrite"}, "active": {"1"}})
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "changed by someone else") {
		t.Errorf("no stale message:\n%s", r.body)
	}
	if u := e.user("ada"); u.Name.GivenName != "Ada" || u.DisplayName != "changed meanwhile" {
		t.Errorf("a stale form changed %+v", u)
	}
	// Without a version: refused.
	r = b.post(path, url.Values{"csrf_token": {token}, "userName": {"ada"}, "active": {"1"}})
	wantStatus(t, r, http.StatusBadRequest)
	// Renaming onto a taken user name: the message is next to the field.
	r = b.submit(path, path, url.Values{"userName": {"doc"}, "active": {"1"}})
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, `data-error-for="userName"`) {
		t.Errorf("no message next to userName:\n%s", r.body)
	}
	// The last administrator keeps the role.
	root := e.user("root")
	r = b.submit("/admin/users/"+root.ID, "/admin/users/"+root.ID, url.Values{"userName": {"root"}, "roles": {"patient"}, "active": {"1"}})
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "last active administrator") {
		t.Errorf("no last-administrator message:\n%s", r.body)
	}
	if !e.user("root").HasRole(account.RoleAdmin) {
		t.Error("the last administrator lost the role")
	}
	r = b.get("/admin/users/no-such-id")
	wantStatus(t, r, http.StatusNotFound)
}

func TestDisableAndEnableAPerson(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	pat := e.user("pat")
	path := "/admin/users/" + pat.ID
	wantStatus(t, b.submit(path, path+"/disable", url.Values{}), http.StatusSeeOther)
	if e.user("pat").Active {
		t.Fatal("pat is still active")
	}
	if !slices.Contains(e.revoked, pat.ID) {
		t.Error("disabling did not revoke pat's tokens")
	}
	if _, r := e.loginAs("pat", password); r.status == http.StatusSeeOther {
		t.Error("a disabled person logged in")
	}
	page := b.get(path)
	if !strings.Contains(page.body, `data-active="false"`) || !strings.Contains(page.body, path+"/enable") {
		t.Errorf("page of a disabled person:\n%s", page.body)
	}
	wantStatus(t, b.submit(path, path+"/enable", url.Values{}), http.StatusSeeOther)
	if !e.user("pat").Active {
		t.Fatal("pat is not active again")
	}
	e.login("pat")
	// A stale button is refused.
	r := b.post(path+"/disable", url.Values{"csrf_token": {csrfOf(t, page.body)}, "version": {"1"}})
	wantStatus(t, r, http.StatusConflict)
	if !e.user("pat").Active {
		t.Error("a stale disable took effect")
	}
	// The last administrator cannot be disabled.
	root := e.user("root")
	r = b.submit("/admin/users/"+root.ID, "/admin/users/"+root.ID+"/disable", url.Values{})
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "last active administrator") || !e.user("root").Active {
		t.Errorf("last administrator disabled:\n%s", r.body)
	}
	want := []string{"disable User/" + pat.ID, "enable User/" + pat.ID}
	if got := e.auditActions("user"); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
}

var newPasswordAttr = regexp.MustCompile(`data-new-password="([^"]+)"`)

func TestResetAPassword(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	pat := e.user("pat")
	path := "/admin/users/" + pat.ID
	// Typed by the administrator: the policy's message next to the field.
	r := b.submit(path, path+"/password", url.Values{"new_password": {"tiny"}})
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `data-error-for="new_password"`) || strings.Contains(r.body, "tiny") {
		t.Errorf("weak password page:\n%s", r.body)
	}
	r = b.submit(path, path+"/password", url.Values{"new_password": {"a brand new secret"}})
	wantStatus(t, r, http.StatusSeeOther)
	if strings.Contains(r.loc, "secret") || r.loc != path+"?done=password" {
		t.Errorf("Location %q", r.loc)
	}
	if !slices.Contains(e.revoked, pat.ID) {
		t.Error("a reset did not revoke the person's tokens")
	}
	if _, r := e.loginAs("pat", password); r.status == http.StatusSeeOther {
		t.Error("the old password still logs in")
	}
	if _, r := e.loginAs("pat", "a brand new secret"); r.status != http.StatusSeeOther {
		t.Errorf("log-in with the new password: %d", r.status)
	}
	// Generated: shown once, to this administrator only.
	r = b.submit(path, path+"/password", url.Values{"generate": {"1"}})
	wantStatus(t, r, http.StatusSeeOther)
	page := b.get(r.loc)
	m := newPasswordAttr.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no generated password on %s:\n%s", r.loc, page.body)
	}
	generated := html.UnescapeString(m[1])
	if strings.Contains(r.loc, generated) || len(generated) < account.MinPasswordLength {
		t.Errorf("generated %q, Location %q", generated, r.loc)
	}
	if again := b.get(r.loc); newPasswordAttr.MatchString(again.body) {
		t.Error("the generated password is shown twice")
	}
	if _, r := e.loginAs("pat", generated); r.status != http.StatusSeeOther {
		t.Errorf("log-in with the generated password: %d", r.status)
	}
	for _, ev := range must(e.db.AuditEvents(context.Background(), audit.Filter{Kind: "user", Limit: 100})) {
		if strings.Contains(fmt.Sprintf("%+v", ev), generated) || strings.Contains(fmt.Sprintf("%+v", ev), "brand new") {
			t.Errorf("audit event holds a password: %+v", ev)
		}
	}
	want := []string{"generate password User/" + pat.ID, "set password User/" + pat.ID}
	if got := e.auditActions("user"); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestDeleteAPersonAfterConfirming(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	id := b.create(url.Values{"userName": {"ada"}, "active": {"1"}})
	path := "/admin/users/" + id
	confirm := b.get(path + "/delete")
	wantStatus(t, confirm, http.StatusOK)
	if !strings.Contains(confirm.body, "Delete the person ada?") {
		t.Errorf("confirmation page:\n%s", confirm.body)
	}
	// Without the version the confirmation step carries: refused.
	r := b.post(path+"/delete", url.Values{"csrf_token": {csrfOf(t, confirm.body)}})
	wantStatus(t, r, http.StatusBadRequest)
	r = b.submit(path+"/delete", path+"/delete", url.Values{})
	wantStatus(t, r, http.StatusSeeOther)
	if r.loc != "/admin/users?done=deleted" {
		t.Errorf("Location %q", r.loc)
	}
	if _, err := e.db.User(context.Background(), id); err == nil || !strings.Contains(err.Error(), store.ErrNotFound.Error()) {
		t.Errorf("ada still stored: %v", err)
	}
	root := e.user("root")
	r = b.submit("/admin/users/"+root.ID+"/delete", "/admin/users/"+root.ID+"/delete", url.Values{})
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "last active administrator") {
		t.Errorf("no last-administrator message:\n%s", r.body)
	}
	wantStatus(t, b.get(path), http.StatusNotFound)
}

func TestUnlockLiftsALockout(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		if _, r := e.loginAs("pat", "wrong password!!"); r.status == http.StatusSeeOther {
			t.Fatal("a wrong password logged in")
		}
	}
	if _, r := e.loginAs("pat", password); r.status == http.StatusSeeOther {
		t.Fatal("pat is not locked out after 3 failures")
	}
	b := e.login("root")
	pat := e.user("pat")
	path := "/admin/users/" + pat.ID
	if page := b.get(path); !strings.Contains(page.body, `data-locked="yes"`) {
		t.Errorf("the page does not show the lockout:\n%s", page.body)
	}
	r := b.submit(path, path+"/unlock", url.Values{})
	wantStatus(t, r, http.StatusSeeOther)
	e.login("pat")
	if got := e.auditActions("user"); !slices.Equal(got, []string{"unlock User/" + pat.ID}) {
		t.Errorf("audit %v", got)
	}
}

func TestHostileNamesAreEscaped(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	hostile := `<script>alert(1)</script>`
	id := b.create(url.Values{"userName": {"x"}, "displayName": {hostile}, "givenName": {`"><img src=x onerror=alert(1)>`}, "active": {"1"}})
	gid := b.createGroup(url.Values{"displayName": {hostile}})
	for _, p := range []string{"/admin/users", "/admin/users?q=" + url.QueryEscape(hostile), "/admin/users/" + id,
		"/admin/users/" + id + "/delete", "/admin/groups", "/admin/groups/" + gid, "/admin/groups?q=" + url.QueryEscape(hostile)} {
		r := b.get(p)
		wantStatus(t, r, http.StatusOK)
		if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<img") {
			t.Errorf("%s renders markup from a name:\n%s", p, r.body)
		}
	}
	if r := b.get("/admin/users"); !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the escaped name is not shown:\n%s", r.body)
	}
}
