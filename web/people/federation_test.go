package people_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/idp/link"
	"github.com/smartgate/smartgate/web/people"
)

var fedTime = time.Date(2026, 5, 6, 7, 8, 0, 0, time.UTC)

// fedEnv is the pages with the real federation parts, as the program
// wires them: idp/link's Linker and account's SignInCodes on the env's
// SQLite store, both on a clock stopped at fedTime.
type fedEnv struct {
	*env
	codes *account.SignInCodes
}

// newFedEnv also stores three links: two of pat's (Google, logged in
// through an hour after linking; Facebook, with a hostile email, never
// logged in through) and one of doc's.
func newFedEnv(t *testing.T) *fedEnv {
	t.Helper()
	f := &fedEnv{}
	clock := func() time.Time { return fedTime }
	f.env = newEnv(t, func(e *env, c *people.Config) {
		f.codes = account.NewSignInCodes(account.SignInCodesConfig{Store: e.db, Users: e.db, Throttle: e.throttle, Now: clock})
		c.Links = link.New(link.Config{Store: e.db, People: c.People, Audit: c.Audit, Logger: slog.New(slog.NewTextHandler(tlog{t}, nil)), Now: clock})
		c.SignIn = f.codes
		c.Providers = []idp.Provider{{ID: "google", Name: "Google Workspace", Issuer: idp.GoogleIssuer}}
	})
	pat := f.user("pat")
	for _, l := range []account.Link{
		{Issuer: "https://accounts.google.com", Subject: "g-1", UserID: pat.ID, Provider: "google", Email: "pat@gmail.example",
			Created: fedTime, LastLogin: fedTime.Add(time.Hour)},
		{Issuer: "https://www.facebook.com", Subject: "f-2", UserID: pat.ID, Provider: "facebook", Email: "<script>x</script>",
			Created: fedTime},
		{Issuer: "https://accounts.google.com", Subject: "g-doc", UserID: f.user("doc").ID, Provider: "google"},
	} {
		if err := f.db.CreateLink(context.Background(), &l); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// links is what the store holds of userName's links: "issuer subject",
// oldest first.
func (f *fedEnv) links(userName string) []string {
	f.t.Helper()
	ls, err := f.db.LinksOf(context.Background(), f.user(userName).ID)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Issuer+" "+l.Subject)
	}
	return out
}

// wantRedeemOnce proves code a real sign-in code of userName: redeemed
// once it logs that person in, a second time it is refused.
func (f *fedEnv) wantRedeemOnce(code, userName string) {
	f.t.Helper()
	ctx := context.Background()
	u, err := f.codes.Redeem(ctx, code, "192.0.2.7")
	if err != nil || u.ID != f.user(userName).ID {
		f.t.Fatalf("Redeem(%q) = %v, %v; want %s", code, u, err, userName)
	}
	if u, err := f.codes.Redeem(ctx, code, "192.0.2.7"); !errors.Is(err, account.ErrBadCredentials) {
		f.t.Errorf("second Redeem(%q) = %v, %v; want ErrBadCredentials", code, u, err)
	}
}

// wantNoSignInCode: no page of rs shows a sign-in code.
func wantNoSignInCode(t *testing.T, rs ...resp) {
	t.Helper()
	for _, r := range rs {
		if signInCodeAttr.MatchString(r.body) {
			t.Errorf("a refused request shows a sign-in code:\n%s", r.body)
		}
	}
}

func TestAdministratorSeesAndUnlinksIdentities(t *testing.T) {
	e := newFedEnv(t)
	b := e.login("root")
	pat := e.user("pat")
	path := "/admin/users/" + pat.ID
	page := b.get(path)
	wantStatus(t, page, http.StatusOK)
	for _, want := range []string{"Linked identities", `data-link-issuer="https://accounts.google.com" data-link-subject="g-1"`,
		"<td>Google Workspace</td>", "<td>facebook</td>", "pat@gmail.example", "2026-05-06 07:08 UTC", "2026-05-06 08:08 UTC", "never",
		`data-link-issuer="https://www.facebook.com" data-link-subject="f-2"`, "&lt;script&gt;x&lt;/script&gt;",
		`action="` + path + `/links/delete"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("person's page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "<script>") || strings.Contains(page.body, "g-doc") {
		t.Error("the page shows an unescaped value or another person's link")
	}

	// Unlink one: 303, the link is gone from the store, and the linker
	// audited that the administrator did it.
	r := b.submit(path, path+"/links/delete", url.Values{"issuer": {"https://www.facebook.com"}, "subject": {"f-2"}})
	wantStatus(t, r, http.StatusSeeOther)
	if r.loc != path+"?done=unlinked" {
		t.Errorf("Location %q", r.loc)
	}
	if got, want := e.links("pat"), []string{"https://accounts.google.com g-1"}; !slices.Equal(got, want) {
		t.Errorf("pat's stored links %v, want %v", got, want)
	}
	if got, want := e.auditActions("link"), []string{"delete User/" + pat.ID}; !slices.Equal(got, want) {
		t.Errorf("link audit %v, want %v", got, want)
	}
	evs := must(e.db.AuditEvents(context.Background(), audit.Filter{Kind: "link", Limit: 10}))
	if len(evs) != 1 || evs[0].Detail != "provider=facebook" {
		t.Errorf("link audit events %+v, want one naming provider=facebook", evs)
	}
	page = b.get(r.loc)
	if strings.Contains(page.body, "f-2") || !strings.Contains(page.body, "g-1") || !strings.Contains(page.body, "is unlinked") {
		t.Errorf("page after unlinking:\n%s", page.body)
	}

	// Again, or another person's link through this person's page: 404.
	for _, id := range [][2]string{{"https://www.facebook.com", "f-2"}, {"https://accounts.google.com", "g-doc"}} {
		r = b.submit(path, path+"/links/delete", url.Values{"issuer": {id[0]}, "subject": {id[1]}})
		wantStatus(t, r, http.StatusNotFound)
		if !strings.Contains(r.body, "no such linked identity") {
			t.Errorf("unlink of %s:\n%s", id[1], r.body)
		}
	}
	wantStatus(t, b.submit(path, path+"/links/delete", url.Values{}), http.StatusBadRequest)
	if got, want := e.links("pat"), []string{"https://accounts.google.com g-1"}; !slices.Equal(got, want) {
		t.Errorf("pat's stored links %v, want %v", got, want)
	}
	if got, want := e.links("doc"), []string{"https://accounts.google.com g-doc"}; !slices.Equal(got, want) {
		t.Errorf("doc's stored links %v, want %v", got, want)
	}
	if got := e.auditActions("link"); len(got) != 1 {
		t.Errorf("link audit %v, want the one unlink", got)
	}
}

var signInCodeAttr = regexp.MustCompile(`data-signin-code="([^"]+)"`)

func TestIssueASignInCodeShowsItOnce(t *testing.T) {
	e := newFedEnv(t)
	b := e.login("root")
	pat := e.user("pat")
	path := "/admin/users/" + pat.ID
	if page := b.get(path); !strings.Contains(page.body, `action="`+path+`/signin-code"`) {
		t.Fatalf("no issue form on the person's page:\n%s", page.body)
	}
	r := b.submit(path, path+"/signin-code", url.Values{})
	wantStatus(t, r, http.StatusSeeOther)
	if !strings.HasPrefix(r.loc, path+"/signin-code?reveal=") {
		t.Errorf("Location %q", r.loc)
	}

	page := b.get(r.loc)
	wantStatus(t, page, http.StatusOK)
	m := signInCodeAttr.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no data-signin-code:\n%s", page.body)
	}
	code := html.UnescapeString(m[1])
	if normal := strings.ReplaceAll(code, "-", ""); strings.Contains(r.loc, code) || strings.Contains(r.loc, normal) {
		t.Errorf("Location %q holds the code %q", r.loc, code)
	}
	for _, want := range []string{e.ts.URL + "/login/code", "2026-05-06 07:23 UTC", "only this once"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("result page lacks %q:\n%s", want, page.body)
		}
	}
	if got := page.h.Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", got)
	}

	// A reload does not show it again.
	again := b.get(r.loc)
	wantStatus(t, again, http.StatusGone)
	if signInCodeAttr.MatchString(again.body) || strings.Contains(again.body, code) || !strings.Contains(again.body, "cannot be shown again") {
		t.Errorf("reload:\n%s", again.body)
	}

	// Audited as root's issue for pat, without the code; stored nowhere
	// as itself.
	if got, want := e.auditActions("signin_code"), []string{"issue User/" + pat.ID}; !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
	for _, ev := range must(e.db.AuditEvents(context.Background(), audit.Filter{Limit: 1000})) {
		if strings.Contains(fmt.Sprintf("%+v", ev), code) {
			t.Errorf("audit event holds the code: %+v", ev)
		}
	}
	for _, needle := range []string{code, strings.ReplaceAll(code, "-", "")} {
		if tables := must(e.db.TablesHolding(context.Background(), needle)); len(tables) != 0 {
			t.Errorf("the code is stored in %v", tables)
		}
	}

	// The code shown is the real one, for pat, and works once.
	e.wantRedeemOnce(code, "pat")
}

func TestNoSignInCodeForADisabledPerson(t *testing.T) {
	e := newFedEnv(t)
	b := e.login("root")
	pat := e.user("pat")
	path := "/admin/users/" + pat.ID
	page := b.get(path)
	token := csrfOf(t, page.body)
	wantStatus(t, b.submit(path, path+"/disable", url.Values{}), http.StatusSeeOther)
	page = b.get(path)
	if strings.Contains(page.body, `action="`+path+`/signin-code"`) || !strings.Contains(page.body, "a sign-in code cannot be issued") {
		t.Errorf("a disabled person's page offers a code:\n%s", page.body)
	}
	r := b.post(path+"/signin-code", url.Values{"csrf_token": {token}})
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "This person is disabled: a sign-in code cannot be issued") {
		t.Errorf("refusal page:\n%s", r.body)
	}
	wantNoSignInCode(t, r)
	if got := e.auditActions("signin_code"); len(got) != 0 {
		t.Errorf("audit %v", got)
	}
}

func TestFederationFormsNeedTheCSRFTokenAndAnAdministrator(t *testing.T) {
	e := newFedEnv(t)
	pat := e.user("pat")
	path := "/admin/users/" + pat.ID
	unlink := url.Values{"issuer": {"https://accounts.google.com"}, "subject": {"g-1"}}
	root := e.login("root")
	for _, token := range []string{"", "forged"} {
		for _, p := range []string{path + "/links/delete", path + "/signin-code"} {
			form := url.Values{"issuer": unlink["issuer"], "subject": unlink["subject"]}
			if token != "" {
				form.Set("csrf_token", token)
			}
			r := root.post(p, form)
			wantStatus(t, r, http.StatusForbidden)
			wantNoSignInCode(t, r)
		}
	}
	for _, who := range []string{"doc", "pat"} {
		b := e.login(who)
		token := csrfOf(t, b.get("/logout").body)
		for _, p := range []string{path + "/links/delete", path + "/signin-code"} {
			form := url.Values{"csrf_token": {token}, "issuer": unlink["issuer"], "subject": unlink["subject"]}
			r := b.post(p, form)
			wantStatus(t, r, http.StatusForbidden)
			wantNoSignInCode(t, r)
		}
		r := b.get(path + "/signin-code")
		wantStatus(t, r, http.StatusForbidden)
		wantNoSignInCode(t, r)
	}
	if r := e.browser().get(path + "/signin-code"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
		t.Errorf("anonymous: %d %q", r.status, r.loc)
	}
	want := []string{"https://accounts.google.com g-1", "https://www.facebook.com f-2"}
	if got := e.links("pat"); !slices.Equal(got, want) {
		t.Errorf("refused posts changed pat's links: %v, want %v", got, want)
	}
	if got := e.auditActions("link"); len(got) != 0 {
		t.Errorf("refused posts unlinked: link audit %v", got)
	}
	if got := e.auditActions("signin_code"); len(got) != 0 {
		t.Errorf("refused posts issued a code: audit %v", got)
	}
}

func TestWithoutLinksOrCodesThePageHidesThem(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	path := "/admin/users/" + e.user("pat").ID
	page := b.get(path)
	if strings.Contains(page.body, "Linked identities") || strings.Contains(page.body, "signin-code") {
		t.Errorf("features shown without Links or SignIn:\n%s", page.body)
	}
	token := csrfOf(t, page.body)
	wantStatus(t, b.post(path+"/signin-code", url.Values{"csrf_token": {token}}), http.StatusNotFound)
	wantStatus(t, b.post(path+"/links/delete", url.Values{"csrf_token": {token}, "issuer": {"i"}, "subject": {"s"}}), http.StatusNotFound)
}
