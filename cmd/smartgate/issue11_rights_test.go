package main

// Issue 11 items 4 and 5 on the whole server (newApp, the real pages and
// endpoints, real tokens): a person's rights (roles and scope ceilings from
// groups) at consent, in the tokens, at refresh and in OWin tokens; and
// deactivation and deletion ending a person's tokens at once.

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
)

var reUnavailable = regexp.MustCompile(`data-scope="([^"]*)"`)

// rightsClient registers a confidential client that may introspect every
// token (a resource server's view).
func (h *harness) rightsClient() flowClient {
	h.t.Helper()
	c, secret, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "Rights app",
		RedirectURIs: []string{redirectURI}, TokenEndpointAuthMethod: authz.AuthClientSecretBasic, IntrospectAll: true}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return flowClient{id: c.ID, secret: secret, redirect: redirectURI}
}

// person creates an account through People, a member of groups.
func (h *harness) person(name string, roles []string, fhirUser string, groups ...*account.Group) *account.User {
	h.t.Helper()
	ctx := context.Background()
	u := &account.User{UserName: name, Active: true, Roles: roles, FHIRUser: fhirUser}
	if err := h.app.people.Create(ctx, u, userPassword); err != nil {
		h.t.Fatal(err)
	}
	for _, g := range groups {
		if _, err := h.app.people.ChangeMembers(ctx, g.ID, 0, []string{u.ID}, nil); err != nil {
			h.t.Fatal(err)
		}
	}
	return u
}

// unlinkPatient clears the fhirUser of the account linked to ref when ref
// is a Patient, which links one account only (account.ErrPatientLinked).
func (h *harness) unlinkPatient(ref string) {
	h.t.Helper()
	if _, ok := account.PatientOf(ref); !ok {
		return
	}
	ctx := context.Background()
	us, _, err := h.db.SearchUsers(ctx, account.Query{Limit: 2,
		Filter: account.Compare{Attr: "smartgate.fhirUser", Op: account.OpEq, Value: ref, CaseExact: true}})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, u := range us {
		u.FHIRUser = ""
		if err := h.app.people.Replace(ctx, &u, ""); err != nil {
			h.t.Fatal(err)
		}
	}
}

// rightsGroup creates a group through People.
func (h *harness) rightsGroup(name string, roles, ceiling []string) *account.Group {
	h.t.Helper()
	g := &account.Group{DisplayName: name, Roles: roles, Ceiling: ceiling}
	if err := h.app.people.CreateGroup(context.Background(), g); err != nil {
		h.t.Fatal(err)
	}
	return g
}

// introspect asks as app about tok: its scopes, and whether it is active.
func (h *harness) introspectAs(app flowClient, tok string) (active bool, scope string, in tokenResponse) {
	h.t.Helper()
	in, st := h.clientPost(app, "/oauth/introspect", url.Values{"token": {tok}})
	if st != http.StatusOK {
		h.t.Fatalf("introspection: %d %v", st, in)
	}
	return in["active"] == true, in.str("scope"), in
}

func sameScopes(got, want string) bool {
	g, w := strings.Fields(got), strings.Fields(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

func pageValues(re *regexp.Regexp, body []byte) string {
	var out []string
	for _, m := range re.FindAllSubmatch(body, -1) {
		out = append(out, string(m[1]))
	}
	return strings.Join(out, " ")
}

// TestIssue11RightsTable: roles × groups (none, one with a ceiling, two
// with ceilings, one granting practitioner) × path (what the consent page
// offers and names as not available, the token's scopes after consent, a
// refresh, an OWin token).
func TestIssue11RightsTable(t *testing.T) {
	h := newHarness(t)
	app := h.rightsClient()
	nurses := h.rightsGroup("nurses", nil, []string{"user/*.rs"})
	lab := h.rightsGroup("lab", nil, []string{"user/Observation.cruds"})
	clinicians := h.rightsGroup("clinicians", []string{account.RolePractitioner}, nil)
	lind := "Patient/" + h.patients["Lind"]
	const request = "openid fhirUser offline_access user/*.cruds user/Observation.rs"
	for _, tc := range []struct {
		name                 string
		roles                []string
		fhirUser             string
		groups               []*account.Group
		offered, unavailable string
		owin                 string
		owinPatient          string
	}{
		{name: "practitioner", roles: []string{"practitioner"}, fhirUser: "Practitioner/r1",
			offered: request, owin: "user/*.cruds"},
		{name: "practitioner in nurses", roles: []string{"practitioner"}, groups: []*account.Group{nurses},
			offered: "openid fhirUser offline_access user/*.rs user/Observation.rs", unavailable: "user/*.cruds", owin: "user/*.rs"},
		{name: "practitioner in nurses and lab", roles: []string{"practitioner"}, groups: []*account.Group{nurses, lab},
			offered:     "openid fhirUser offline_access user/*.rs user/Observation.cruds user/Observation.rs",
			unavailable: "user/*.cruds", owin: "user/*.rs user/Observation.cruds"},
		{name: "no role, group grants practitioner", groups: []*account.Group{clinicians}, offered: request, owin: "user/*.cruds"},
		{name: "patient", roles: []string{"patient"}, fhirUser: lind, offered: request, owin: "patient/*.cruds",
			owinPatient: h.patients["Lind"]},
		{name: "patient in nurses", roles: []string{"patient"}, fhirUser: lind, groups: []*account.Group{nurses},
			offered: "openid fhirUser offline_access user/*.rs user/Observation.rs", unavailable: "user/*.cruds", owin: "",
			owinPatient: h.patients["Lind"]},
		{name: "admin in lab", roles: []string{"admin"}, groups: []*account.Group{lab},
			offered: "openid fhirUser offline_access user/Observation.cruds user/Observation.rs", unavailable: "user/*.cruds",
			owin: "user/Observation.cruds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "r-" + strings.ReplaceAll(tc.name, " ", "-")
			h.unlinkPatient(tc.fhirUser)
			h.person(name, tc.roles, tc.fhirUser, tc.groups...)
			b := h.browser()
			r := b.request(app, request, "")
			back, err := b.authorize(r, name, userPassword)
			if err != nil {
				t.Fatal(err)
			}
			if got := pageValues(reScope, b.consent); !sameScopes(got, tc.offered) {
				t.Errorf("consent page offers %q, want %q", got, tc.offered)
			}
			if got := pageValues(reUnavailable, b.consent); !sameScopes(got, tc.unavailable) {
				t.Errorf("consent page names as not available %q, want %q", got, tc.unavailable)
			}
			tr := b.exchange(r, back)
			if !sameScopes(tr.str("scope"), tc.offered) {
				t.Errorf("token scope %q, want %q", tr.str("scope"), tc.offered)
			}
			if active, scope, _ := h.introspectAs(app, tr.str("access_token")); !active || !sameScopes(scope, tc.offered) {
				t.Errorf("access token: active %v scope %q", active, scope)
			}
			rt, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}})
			if st != http.StatusOK || !sameScopes(rt.str("scope"), tc.offered) {
				t.Errorf("refresh: %d scope %q, want %q", st, rt.str("scope"), tc.offered)
			}
			o := h.owinGrant(name, userPassword, "")
			if o.status != http.StatusOK {
				t.Fatalf("OWin: %d %s", o.status, o.body)
			}
			active, scope, in := h.introspectAs(app, o.json["access_token"].(string))
			if !active || !sameScopes(scope, tc.owin) || in.str("patient") != tc.owinPatient {
				t.Errorf("OWin token: active %v scope %q patient %q, want %q %q", active, scope, in.str("patient"), tc.owin, tc.owinPatient)
			}
		})
	}
}

// TestIssue11RefreshFollowsRights: a refresh after a group narrowed the
// person's ceiling carries only what the ceiling allows now; the FHIR
// endpoint then refuses a write the old grant allowed.
func TestIssue11RefreshFollowsRights(t *testing.T) {
	h := newHarness(t)
	app := h.rightsClient()
	nurses := h.rightsGroup("nurses", nil, []string{"user/*.rs"})
	u := h.person("r-nurse", []string{account.RolePractitioner}, "Practitioner/n1")
	b := h.browser()
	r := b.request(app, "openid offline_access user/*.cruds", "")
	back, err := b.authorize(r, "r-nurse", userPassword)
	if err != nil {
		t.Fatal(err)
	}
	tr := b.exchange(r, back)
	if !sameScopes(tr.str("scope"), "openid offline_access user/*.cruds") {
		t.Fatalf("scope before the group: %q", tr.str("scope"))
	}
	if _, err := h.app.people.ChangeMembers(context.Background(), nurses.ID, 0, []string{u.ID}, nil); err != nil {
		t.Fatal(err)
	}
	rt, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}})
	if st != http.StatusOK || !sameScopes(rt.str("scope"), "openid offline_access user/*.rs") {
		t.Fatalf("refresh after joining nurses: %d %v", st, rt)
	}
	obs := map[string]any{"resourceType": "Observation", "status": "final",
		"code":    map[string]any{"text": "test"},
		"subject": map[string]any{"reference": "Patient/" + h.patients["Lind"]}}
	if st := h.do("POST", "Observation", rt.str("access_token"), obs).status; st != http.StatusForbidden {
		t.Errorf("write with the narrowed token: %d, want 403", st)
	}
	if st := h.do("GET", "Patient/"+h.patients["Lind"], rt.str("access_token"), nil).status; st != http.StatusOK {
		t.Errorf("read with the narrowed token: %d, want 200", st)
	}
}

// TestIssue11GroupGrantsPicker: an account with no role of its own, in a
// group that grants practitioner, gets the patient picker (interface.md:
// "a group that grants it").
func TestIssue11GroupGrantsPicker(t *testing.T) {
	h := newHarness(t)
	app := h.rightsClient()
	clinicians := h.rightsGroup("clinicians", []string{account.RolePractitioner}, nil)
	h.person("r-clinician", nil, "", clinicians)
	b := h.browser()
	b.pick = h.patients["Yundt"]
	r := b.request(app, "openid launch/patient patient/*.rs", "")
	back, err := b.authorize(r, "r-clinician", userPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(b.visited, "/pick-patient") {
		t.Errorf("no patient picker: visited %v", b.visited)
	}
	if tr := b.exchange(r, back); tr.str("patient") != h.patients["Yundt"] {
		t.Errorf("patient in context %q, want %q", tr.str("patient"), h.patients["Yundt"])
	}
}

// TestIssue11DeactivateEndsTokensAtOnce: deactivating or deleting a person
// (through People, as SCIM and the pages do) makes their access, refresh
// and OWin tokens inactive at introspection and refused by /fhir on the
// very next request, though the FHIR endpoint had just trusted them.
func TestIssue11DeactivateEndsTokensAtOnce(t *testing.T) {
	h := newHarness(t)
	app := h.rightsClient()
	ctx := context.Background()
	for _, end := range []struct {
		name string
		do   func(u *account.User) error
	}{
		{"deactivate", func(u *account.User) error {
			cur, err := h.db.User(ctx, u.ID)
			if err != nil {
				return err
			}
			cur.Active = false
			return h.app.people.Replace(ctx, cur, "")
		}},
		{"delete", func(u *account.User) error { return h.app.people.Delete(ctx, u.ID, 0) }},
	} {
		t.Run(end.name, func(t *testing.T) {
			name := "r-" + end.name
			u := h.person(name, []string{account.RolePractitioner}, "Practitioner/"+end.name)
			b := h.browser()
			r := b.request(app, "openid offline_access user/Patient.rs", "")
			back, err := b.authorize(r, name, userPassword)
			if err != nil {
				t.Fatal(err)
			}
			tr := b.exchange(r, back)
			o := h.owinGrant(name, userPassword, "")
			owin, _ := o.json["access_token"].(string)
			read := "Patient/" + h.patients["Lind"]
			for what, tok := range map[string]string{"access": tr.str("access_token"), "OWin": owin} {
				if st := h.do("GET", read, tok, nil).status; st != http.StatusOK {
					t.Fatalf("%s token before: %d", what, st)
				}
			}
			if err := end.do(u); err != nil {
				t.Fatal(err)
			}
			for what, tok := range map[string]string{"access": tr.str("access_token"), "refresh": tr.str("refresh_token"), "OWin": owin} {
				if active, _, in := h.introspectAs(app, tok); active {
					t.Errorf("%s token after %s: introspection %v", what, end.name, in)
				}
			}
			for what, tok := range map[string]string{"access": tr.str("access_token"), "OWin": owin} {
				if st := h.do("GET", read, tok, nil).status; st != http.StatusUnauthorized {
					t.Errorf("%s token on /fhir right after %s: %d, want 401", what, end.name, st)
				}
			}
			rt, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}})
			if st != http.StatusBadRequest || rt["error"] != "invalid_grant" {
				t.Errorf("refresh after %s: %d %v", end.name, st, rt)
			}
			if o := h.owinGrant(name, userPassword, ""); o.status == http.StatusOK {
				t.Errorf("OWin log-in after %s: %d", end.name, o.status)
			}
		})
	}
}

// TestIssue11GroupAdmin: the admin role through a group opens the
// administrators' pages, and makes the second factor required when
// --admin-second-factor=required asks it of administrators.
func TestIssue11GroupAdmin(t *testing.T) {
	h := newHarness(t)
	admins := h.rightsGroup("administrators", []string{account.RoleAdmin}, nil)
	h.person("r-groupadmin", nil, "", admins)
	h.person("r-plain", []string{account.RolePractitioner}, "")
	if st := h.page(h.pageSession("r-groupadmin", userPassword), "GET", h.baseA+"/admin/launch", nil).status; st != http.StatusOK {
		t.Errorf("group administrator on /admin/launch: %d, want 200", st)
	}
	if st := h.page(h.pageSession("r-plain", userPassword), "GET", h.baseA+"/admin/launch", nil).status; st != http.StatusForbidden {
		t.Errorf("practitioner on /admin/launch: %d, want 403", st)
	}

	h2 := newHarness(t, "--admin-second-factor", "required")
	admins2 := h2.rightsGroup("administrators", []string{account.RoleAdmin}, nil)
	h2.person("r-groupadmin", nil, "", admins2)
	if o := h2.owinGrant("r-groupadmin", userPassword, ""); o.status != http.StatusBadRequest ||
		!strings.Contains(o.json["error_description"].(string), "must use a second factor") {
		t.Errorf("OWin of a group administrator without the required second factor: %d %s", o.status, o.body)
	}
}
