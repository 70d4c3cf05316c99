package people_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/web/people"
)

// fakeLinker stands in for idp/link's Linker (not built when these tests
// were written): an honest in-memory list of links, and a record of who
// unlinked what.
type fakeLinker struct {
	mu       sync.Mutex
	links    []account.Link
	unlinked []string // "actor user issuer subject"
}

func (f *fakeLinker) LinksOf(_ context.Context, userID string) ([]account.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []account.Link
	for _, l := range f.links {
		if l.UserID == userID {
			out = append(out, l)
		}
	}
	return out, nil
}

func (f *fakeLinker) Unlink(_ context.Context, actor, userID, issuer, subject string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.links, func(l account.Link) bool {
		return l.UserID == userID && l.Issuer == issuer && l.Subject == subject
	})
	if i < 0 {
		return store.ErrNotFound
	}
	f.links = slices.Delete(f.links, i, i+1)
	f.unlinked = append(f.unlinked, strings.Join([]string{actor, userID, issuer, subject}, " "))
	return nil
}

// fakeIssuer stands in for account.SignInCodes (a stub when these tests
// were written): a random code per call, and a record of the calls.
type fakeIssuer struct {
	mu     sync.Mutex
	issued []string // "user issuedBy code"
	now    time.Time
}

func (f *fakeIssuer) Issue(_ context.Context, userID, issuedBy string) (string, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	code := strings.ToUpper(rand.Text()[:12])
	f.issued = append(f.issued, userID+" "+issuedBy+" "+code)
	return code, f.now.Add(account.SignInCodeTTL), nil
}

func (f *fakeIssuer) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.issued)
}

var fedTime = time.Date(2026, 5, 6, 7, 8, 0, 0, time.UTC)

func newFedEnv(t *testing.T) (*env, *fakeLinker, *fakeIssuer) {
	t.Helper()
	fl, fi := &fakeLinker{}, &fakeIssuer{now: fedTime}
	e := newEnv(t, func(c *people.Config) {
		c.Links, c.SignIn = fl, fi
		c.Providers = []idp.Provider{{ID: "google", Name: "Google Workspace", Issuer: idp.GoogleIssuer}}
	})
	pat := e.user("pat")
	fl.links = []account.Link{
		{Issuer: "https://accounts.google.com", Subject: "g-1", UserID: pat.ID, Provider: "google", Email: "pat@gmail.example",
			Created: fedTime, LastLogin: fedTime.Add(time.Hour)},
		{Issuer: "https://www.facebook.com", Subject: "f-2", UserID: pat.ID, Provider: "facebook", Email: "<script>x</script>",
			Created: fedTime},
		{Issuer: "https://accounts.google.com", Subject: "g-doc", UserID: e.user("doc").ID, Provider: "google"},
	}
	return e, fl, fi
}

func TestAdministratorSeesAndUnlinksIdentities(t *testing.T) {
	e, fl, _ := newFedEnv(t)
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

	// Unlink one: 303, the linker is told the administrator did it.
	r := b.submit(path, path+"/links/delete", url.Values{"issuer": {"https://www.facebook.com"}, "subject": {"f-2"}})
	wantStatus(t, r, http.StatusSeeOther)
	if r.loc != path+"?done=unlinked" {
		t.Errorf("Location %q", r.loc)
	}
	if want := []string{e.user("root").ID + " " + pat.ID + " https://www.facebook.com f-2"}; !slices.Equal(fl.unlinked, want) {
		t.Errorf("unlinked %v, want %v", fl.unlinked, want)
	}
	page = b.get(r.loc)
	if strings.Contains(page.body, "f-2") || !strings.Contains(page.body, "g-1") || !strings.Contains(page.body, "is unlinked") {
		t.Errorf("page after unlinking:\n%s", page.body)
	}

	// Again, or another person's link through this person's page: 404.
	for _, sub := range []string{"f-2", "g-doc"} {
		r = b.submit(path, path+"/links/delete", url.Values{"issuer": {"https://www.facebook.com"}, "subject": {sub}})
		wantStatus(t, r, http.StatusNotFound)
		if !strings.Contains(r.body, "no such linked identity") {
			t.Errorf("unlink of %s twice:\n%s", sub, r.body)
		}
	}
	wantStatus(t, b.submit(path, path+"/links/delete", url.Values{}), http.StatusBadRequest)
	if len(fl.unlinked) != 1 || len(fl.links) != 2 {
		t.Errorf("links %v, unlinked %v", fl.links, fl.unlinked)
	}
}

var signInCodeAttr = regexp.MustCompile(`data-signin-code="([^"]+)"`)

func TestIssueASignInCodeShowsItOnce(t *testing.T) {
	e, _, fi := newFedEnv(t)
	b := e.login("root")
	pat, root := e.user("pat"), e.user("root")
	path := "/admin/users/" + pat.ID
	if page := b.get(path); !strings.Contains(page.body, `action="`+path+`/signin-code"`) {
		t.Fatalf("no issue form on the person's page:\n%s", page.body)
	}
	r := b.submit(path, path+"/signin-code", url.Values{})
	wantStatus(t, r, http.StatusSeeOther)
	calls := fi.calls()
	if len(calls) != 1 || !strings.HasPrefix(calls[0], pat.ID+" "+root.ID+" ") {
		t.Fatalf("Issue calls %v, want one for pat by root", calls)
	}
	code := strings.Fields(calls[0])[2]
	if !strings.HasPrefix(r.loc, path+"/signin-code?reveal=") || strings.Contains(r.loc, code) {
		t.Errorf("Location %q", r.loc)
	}

	page := b.get(r.loc)
	wantStatus(t, page, http.StatusOK)
	m := signInCodeAttr.FindStringSubmatch(page.body)
	if m == nil || html.UnescapeString(m[1]) != code {
		t.Fatalf("code %q not in data-signin-code:\n%s", code, page.body)
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

	// Audited, without the code.
	if got, want := e.auditActions("signin_code"), []string{"issue User/" + pat.ID}; !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
	for _, ev := range must(e.db.AuditEvents(context.Background(), audit.Filter{Limit: 1000})) {
		if strings.Contains(fmt.Sprintf("%+v", ev), code) {
			t.Errorf("audit event holds the code: %+v", ev)
		}
	}
}

func TestNoSignInCodeForADisabledPerson(t *testing.T) {
	e, _, fi := newFedEnv(t)
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
	if calls := fi.calls(); len(calls) != 0 {
		t.Errorf("a code was issued for a disabled person: %v", calls)
	}
	if got := e.auditActions("signin_code"); len(got) != 0 {
		t.Errorf("audit %v", got)
	}
}

func TestFederationFormsNeedTheCSRFTokenAndAnAdministrator(t *testing.T) {
	e, fl, fi := newFedEnv(t)
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
			wantStatus(t, root.post(p, form), http.StatusForbidden)
		}
	}
	for _, who := range []string{"doc", "pat"} {
		b := e.login(who)
		token := csrfOf(t, b.get("/logout").body)
		for _, p := range []string{path + "/links/delete", path + "/signin-code"} {
			form := url.Values{"csrf_token": {token}, "issuer": unlink["issuer"], "subject": unlink["subject"]}
			wantStatus(t, b.post(p, form), http.StatusForbidden)
		}
		wantStatus(t, b.get(path+"/signin-code"), http.StatusForbidden)
	}
	if r := e.browser().get(path + "/signin-code"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
		t.Errorf("anonymous: %d %q", r.status, r.loc)
	}
	if len(fl.unlinked) != 0 || len(fi.calls()) != 0 {
		t.Errorf("refused posts changed something: unlinked %v, issued %v", fl.unlinked, fi.calls())
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
