package people_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
)

var groupIDAttr = regexp.MustCompile(`data-group-id="([^"]+)"`)

// createGroup fills /admin/groups/new and returns the new group's id.
func (b *browser) createGroup(form url.Values) string {
	b.e.t.Helper()
	r := b.submit("/admin/groups/new", "/admin/groups/new", form)
	wantStatus(b.e.t, r, http.StatusSeeOther)
	page := b.get(r.loc)
	wantStatus(b.e.t, page, http.StatusOK)
	m := groupIDAttr.FindStringSubmatch(page.body)
	if m == nil {
		b.e.t.Fatalf("no data-group-id on %s:\n%s", r.loc, page.body)
	}
	return m[1]
}

func (e *env) group(id string) *account.Group {
	e.t.Helper()
	g, err := e.db.Group(context.Background(), id)
	if err != nil {
		e.t.Fatalf("group %s: %v", id, err)
	}
	return g
}

func TestGroupsRefuseAnyoneButAdministrators(t *testing.T) {
	e := newEnv(t)
	gid := e.login("root").createGroup(url.Values{"displayName": {"nurses"}})
	for _, who := range []string{"doc", "pat"} {
		b := e.login(who)
		token := csrfOf(t, b.get("/logout").body)
		for _, p := range []string{"/admin/groups", "/admin/groups/new", "/admin/groups/" + gid, "/admin/groups/" + gid + "/delete"} {
			if r := b.get(p); r.status != http.StatusForbidden {
				t.Errorf("%s GET %s: %d", who, p, r.status)
			}
		}
		for _, p := range []string{"/admin/groups/new", "/admin/groups/" + gid, "/admin/groups/" + gid + "/members", "/admin/groups/" + gid + "/delete"} {
			r := b.post(p, url.Values{"csrf_token": {token}, "displayName": {"x"}, "roles": {"admin"}, "add": {who}, "version": {"1"}})
			if r.status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d", who, p, r.status)
			}
		}
	}
	if g := e.group(gid); g.DisplayName != "nurses" || len(g.Members) != 0 || len(g.Roles) != 0 {
		t.Errorf("a non-administrator changed the group: %+v", g)
	}
	r := e.browser().get("/admin/groups/" + gid)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
		t.Errorf("anonymous: %d %q", r.status, r.loc)
	}
}

func TestAGroupWithACeilingAndMembers(t *testing.T) {
	e := newEnv(t)
	b := e.login("root")
	// A ceiling that is not a resource scope is refused next to the field.
	r := b.submit("/admin/groups/new", "/admin/groups/new", url.Values{"displayName": {"nurses"}, "ceiling": {"user/*.rs\nopenid"}})
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `data-error-for="ceiling"`) {
		t.Errorf("no message next to the ceiling:\n%s", r.body)
	}
	gid := b.createGroup(url.Values{"displayName": {"nurses"}, "roles": {"practitioner"}, "ceiling": {"user/*.rs\r\n\r\npatient/Observation.rs\n"}})
	g := e.group(gid)
	if g.DisplayName != "nurses" || !slices.Equal(g.Roles, []string{"practitioner"}) || !slices.Equal(g.Ceiling, []string{"user/*.rs", "patient/Observation.rs"}) {
		t.Errorf("stored %+v", g)
	}
	path := "/admin/groups/" + gid
	page := b.get(path)
	if !strings.Contains(page.body, "get at most these scopes") {
		t.Error("the page does not say what the ceiling means")
	}
	// A taken name.
	r = b.submit("/admin/groups/new", "/admin/groups/new", url.Values{"displayName": {"NURSES"}})
	wantStatus(t, r, http.StatusConflict)
	// Members by user name; an unknown one is refused and nothing changes.
	r = b.submit(path, path+"/members", url.Values{"add": {"pat nobody"}})
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, "nobody") || len(e.group(gid).Members) != 0 {
		t.Errorf("unknown member: %s", r.body)
	}
	r = b.submit(path, path+"/members", url.Values{"add": {"Pat, doc"}})
	wantStatus(t, r, http.StatusSeeOther)
	pat, doc := e.user("pat"), e.user("doc")
	members := func() []string {
		var ids []string
		for _, m := range e.group(gid).Members {
			ids = append(ids, m.Value)
		}
		slices.Sort(ids)
		return ids
	}
	want := []string{pat.ID, doc.ID}
	slices.Sort(want)
	if got := members(); !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	// The person's page links the group.
	if p := b.get("/admin/users/" + pat.ID); !strings.Contains(p.body, `href="/admin/groups/`+gid+`"`) {
		t.Errorf("pat's page does not link the group:\n%s", p.body)
	}
	r = b.submit(path, path+"/members", url.Values{"remove": {doc.ID}})
	wantStatus(t, r, http.StatusSeeOther)
	if got := members(); !slices.Equal(got, []string{pat.ID}) {
		t.Errorf("members after removing doc %v", got)
	}
	// Edit: the ceiling emptied (no ceiling), the name changed; a stale form is refused.
	page = b.get(path)
	token, version := csrfOf(t, page.body), versionIn(page.body, path)
	wantStatus(t, b.post(path, url.Values{"csrf_token": {token}, "version": {version}, "displayName": {"ward 3"}, "ceiling": {""}}), http.StatusSeeOther)
	if g := e.group(gid); g.DisplayName != "ward 3" || len(g.Ceiling) != 0 || len(g.Members) != 1 {
		t.Errorf("after edit %+v", g)
	}
	r = b.post(path, url.Values{"csrf_token": {token}, "version": {version}, "displayName": {"stale"}})
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "changed by someone else") || e.group(gid).DisplayName != "ward 3" {
		t.Errorf("stale edit: %s", r.body)
	}
	// Search and list.
	if l := b.get("/admin/groups?q=WARD"); !strings.Contains(l.body, `data-group-name="ward 3"`) {
		t.Errorf("search does not find the group:\n%s", l.body)
	}
	if l := b.get("/admin/groups?q=none-such"); strings.Contains(l.body, "data-group-row") {
		t.Error("search finds an unrelated group")
	}
	// Delete after confirming.
	wantStatus(t, b.get(path+"/delete"), http.StatusOK)
	r = b.submit(path+"/delete", path+"/delete", url.Values{})
	wantStatus(t, r, http.StatusSeeOther)
	wantStatus(t, b.get(path), http.StatusNotFound)
	got := e.auditActions("group")
	for _, a := range []string{"create", "add members", "remove members", "update", "delete"} {
		if !slices.Contains(got, a+" Group/"+gid) {
			t.Errorf("audit lacks %q: %v", a, got)
		}
	}
}
