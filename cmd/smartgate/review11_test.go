package main

// Security review of issue 11 (branch review11): attacks on the SCIM server,
// its authorisation, the rights of groups and deactivation, on the real
// server with real tokens. Each test names what it tries; a failing one is
// a finding of the review.

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
)

const review11Takeover = "a passphrase the attacker chose 0666"

// reviewUserID is the SCIM id of the account name.
func (h *harness) reviewUserID(name string) string {
	h.t.Helper()
	u, err := h.db.UserByName(context.Background(), name)
	if err != nil {
		h.t.Fatal(err)
	}
	return u.ID
}

// owinStatus is the status of an OWin password grant for user.
func (h *harness) owinStatus(user, password string) int {
	h.t.Helper()
	return h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {user},
		"password": {password}}, nil).status
}

// A provisioning client (a machine credential, which may not give or take
// the admin role) must not be able to set an administrator's password: it
// would log in as the administrator and hold every right, including SCIM
// as CallerAdmin.
func TestReview11ProvisioningCannotSetAdminPassword(t *testing.T) {
	for name, set := range map[string]func(h *harness, tok, id string) *response{
		"PUT": func(h *harness, tok, id string) *response {
			cur := h.scimDo("GET", "/Users/"+id, tok, nil)
			if cur.status != http.StatusOK {
				h.t.Fatalf("GET: %d %s", cur.status, cur.body)
			}
			cur.json["password"] = review11Takeover
			return h.scimDo("PUT", "/Users/"+id, tok, cur.json)
		},
		"PATCH_path": func(h *harness, tok, id string) *response {
			return h.scimDo("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{scimPatchOpURN},
				"Operations": []any{map[string]any{"op": "replace", "path": "password", "value": review11Takeover}}})
		},
		"PATCH_pathless": func(h *harness, tok, id string) *response {
			return h.scimDo("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{scimPatchOpURN},
				"Operations": []any{map[string]any{"op": "Replace", "value": map[string]any{"password": review11Takeover}}}})
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.provisioningToken("Okta")
			id := h.reviewUserID("admin")
			r := set(h, tok, id)
			if r.status != http.StatusForbidden {
				t.Errorf("provisioning token set the admin's password: %d %.300s, want 403", r.status, r.body)
			}
			if st := h.owinStatus("admin", review11Takeover); st == http.StatusOK {
				t.Errorf("the attacker's password logs in as admin (OWin 200): administrator taken over")
			}
			if st := h.owinStatus("admin", adminPassword); st != http.StatusOK {
				t.Errorf("the admin's own password no longer works: OWin %d", st)
			}
		})
	}
}

// A provisioning client must not take over an administrator by renaming
// them either: the userName is what the log-in asks for.
func TestReview11ProvisioningCannotRenameAdmin(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Okta")
	id := h.reviewUserID("admin")
	r := h.scimDo("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{scimPatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "path": "userName", "value": "not-the-admin-any-more"}}})
	if r.status != http.StatusForbidden {
		t.Errorf("provisioning token renamed the administrator: %d %.300s, want 403", r.status, r.body)
	}
}

// A password set over SCIM by a provisioning client is set by someone
// else (PeopleConfig.Revoke): what the person held must end, as with an
// administrator's reset on the pages.
func TestReview11SCIMPasswordSetRevokes(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Okta")
	id := h.scimCreatePerson(tok)
	app := h.confidentialClient("SCIM person's app")
	tr := h.scimLogin(app)
	r := h.scimDo("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{scimPatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "path": "password", "value": "a new passphrase from the IdP 77"}}})
	if r.status != http.StatusOK {
		t.Fatalf("PATCH password: %d %s", r.status, r.body)
	}
	if _, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}}); st == http.StatusOK {
		t.Errorf("the refresh token from before the SCIM password change still refreshes")
	}
	if r := h.do("GET", "Patient/"+h.patients["Gerhold"], tr.str("access_token"), nil); r.status != http.StatusUnauthorized {
		t.Errorf("FHIR with the access token from before the SCIM password change: %d, want 401", r.status)
	}
}

// untilConsent drives r through the log-in to the consent page and returns
// it, without approving.
func (b *flowBrowser) untilConsent(r *flowRequest, user, password string) *response {
	b.h.t.Helper()
	p := b.send("GET", r.url(b.h.baseA), nil)
	for range 12 {
		body := string(p.body)
		switch {
		case p.status == http.StatusSeeOther || p.status == http.StatusFound:
			loc := p.header.Get("Location")
			if strings.HasPrefix(loc, r.client.redirect) {
				b.h.t.Fatalf("left for the app before consent: %s", loc)
			}
			if !strings.HasPrefix(loc, "http") {
				loc = b.h.baseA + loc
			}
			p = b.send("GET", loc, nil)
		case p.status == http.StatusOK && strings.Contains(body, `action="/login"`):
			p = b.send("POST", "/login", url.Values{"csrf_token": {field(reCSRF, p.body)},
				"return_to": {field(reReturnTo, p.body)}, "username": {user}, "password": {password}})
		case p.status == http.StatusOK && strings.Contains(body, `action="/consent"`):
			return p
		default:
			b.h.t.Fatalf("unexpected answer %d: %.400s", p.status, p.body)
		}
	}
	b.h.t.Fatal("no consent page")
	return nil
}

func (h *harness) scimDeactivate(tok, id string) {
	h.t.Helper()
	r := h.scimDo("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{scimPatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}})
	if r.status != http.StatusOK {
		h.t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
}

// A deactivation in the middle of an authorization: a consent page
// submitted after it, and a code issued before it and redeemed after, must
// give the person nothing.
func TestReview11DeactivationMidFlow(t *testing.T) {
	t.Run("PendingConsent", func(t *testing.T) {
		h := newHarness(t)
		tok := h.provisioningToken("Okta")
		id := h.scimCreatePerson(tok)
		app := h.confidentialClient("app")
		b := h.browser()
		req := b.request(app, scimPersonScopes, "")
		consent := b.untilConsent(req, scimPersonName, scimPersonSecret)
		h.scimDeactivate(tok, id)
		r := b.approve(consent)
		loc, _ := url.Parse(r.header.Get("Location"))
		if loc != nil && loc.Query().Get("code") != "" {
			tr, st := h.tokenRequest(app, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
				"redirect_uri": {app.redirect}, "code_verifier": {req.verifier}})
			if st == http.StatusOK {
				t.Errorf("a consent submitted after deactivation gave tokens: %v", tr)
			}
		}
	})
	t.Run("CodeBeforeDeactivation", func(t *testing.T) {
		h := newHarness(t)
		tok := h.provisioningToken("Okta")
		id := h.scimCreatePerson(tok)
		app := h.confidentialClient("app")
		b := h.browser()
		req := b.request(app, scimPersonScopes, "")
		back, err := b.authorize(req, scimPersonName, scimPersonSecret)
		if err != nil {
			t.Fatal(err)
		}
		h.scimDeactivate(tok, id)
		tr, st := h.tokenRequest(app, url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
			"redirect_uri": {app.redirect}, "code_verifier": {req.verifier}})
		if st == http.StatusOK {
			t.Errorf("a code issued before deactivation, redeemed after, gave tokens: scope %q", tr.str("scope"))
			if r := h.do("GET", "Patient/"+h.patients["Gerhold"], tr.str("access_token"), nil); r.status == http.StatusOK {
				t.Errorf("and its access token reads the record at /fhir: %d", r.status)
			}
			if in, _ := h.clientPost(app, "/oauth/introspect", url.Values{"token": {tr.str("access_token")}}); in["active"] == true {
				t.Errorf("and introspection calls it active")
			}
		}
	})
}

// Re-activating a person does not bring their old tokens back.
func TestReview11ReactivationKeepsOldTokensDead(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Okta")
	id := h.scimCreatePerson(tok)
	app := h.confidentialClient("app")
	tr := h.scimLogin(app)
	owin := h.owin(scimPersonName, scimPersonSecret)
	h.scimDeactivate(tok, id)
	r := h.scimDo("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{scimPatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": "True"}}})
	if r.status != http.StatusOK {
		t.Fatalf("re-activate: %d %s", r.status, r.body)
	}
	own := "Patient/" + h.patients["Gerhold"]
	for kind, tk := range map[string]string{"access": tr.str("access_token"), "owin": owin} {
		if r := h.do("GET", own, tk, nil); r.status != http.StatusUnauthorized {
			t.Errorf("FHIR with the old %s token after re-activation: %d, want 401", kind, r.status)
		}
		if in, _ := h.clientPost(app, "/oauth/introspect", url.Values{"token": {tk}}); in["active"] != false {
			t.Errorf("introspection of the old %s token after re-activation: %v", kind, in)
		}
	}
	if _, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}}); st == http.StatusOK {
		t.Errorf("the old refresh token refreshes after re-activation")
	}
	if st := h.owinStatus(scimPersonName, scimPersonSecret); st != http.StatusOK {
		t.Errorf("the re-activated person cannot log in: OWin %d", st)
	}
}

// Renaming a person to a taken userName is 409 uniqueness, by PUT and by
// PATCH, with and without If-Match; a stale If-Match is 412 and nothing
// changes.
func TestReview11RenameToTakenName(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Okta")
	id := h.reviewUserID("lind")
	cur := h.scimDo("GET", "/Users/"+id, tok, nil)
	etag := cur.header.Get("ETag")
	cur.json["userName"] = "YUNDT"
	for name, r := range map[string]*response{
		"PUT": h.scimDo("PUT", "/Users/"+id, tok, cur.json),
		"PATCH": h.scimDo("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{scimPatchOpURN},
			"Operations": []any{map[string]any{"op": "replace", "path": "userName", "value": "yundt"}}}),
		"PATCH_IfMatch": h.fhirRequest(t, "PATCH", h.baseA+"/scim/v2/Users/"+id, tok, `{"schemas":["`+scimPatchOpURN+`"],"Operations":[{"op":"replace","path":"userName","value":"yundt"}]}`,
			http.Header{"Content-Type": {scimMediaType}, "If-Match": {etag}}),
	} {
		if r.status != http.StatusConflict || r.json["scimType"] != "uniqueness" || !strings.HasPrefix(r.header.Get("Content-Type"), scimMediaType) {
			t.Errorf("%s rename to a taken userName: %d %s %.300s, want 409 uniqueness", name, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	stale := h.fhirRequest(t, "PATCH", h.baseA+"/scim/v2/Users/"+id, tok, `{"schemas":["`+scimPatchOpURN+`"],"Operations":[{"op":"replace","path":"displayName","value":"changed"}]}`,
		http.Header{"Content-Type": {scimMediaType}, "If-Match": {`W/"999"`}})
	if stale.status != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: %d %.300s, want 412", stale.status, stale.body)
	}
	if u, _ := h.db.UserByName(context.Background(), "lind"); u == nil || u.DisplayName == "changed" {
		t.Errorf("a stale If-Match changed the person: %+v", u)
	}
}

const scimSmartGroupURN = "urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"

func patchOps(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{scimPatchOpURN}, "Operations": list}
}

// A provisioning client may not give or take the admin role (scim/admin.go):
// every way of giving it is refused, and nothing is stored.
func TestReview11ProvisioningCannotGiveAdmin(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Okta")
	admins := h.rightsGroup("administrators", []string{account.RoleAdmin}, nil)
	nurses := h.rightsGroup("nurses", []string{account.RolePractitioner}, []string{"user/*.rs"})
	doc := h.reviewUserID("doc")
	user := func(roles ...string) map[string]any {
		return map[string]any{"schemas": []string{scimCoreUserURN, scimSmartgateURN}, "userName": "mallory",
			scimSmartgateURN: map[string]any{"roles": roles}}
	}
	docJSON := h.scimDo("GET", "/Users/"+doc, tok, nil).json
	docJSON[scimSmartgateURN] = map[string]any{"roles": []string{"practitioner", "admin"}}
	nursesJSON := h.scimDo("GET", "/Groups/"+nurses.ID, tok, nil).json
	nursesJSON[scimSmartGroupURN] = map[string]any{"roles": []string{"admin"}}
	adminsJSON := h.scimDo("GET", "/Groups/"+admins.ID, tok, nil).json
	adminsJSON["members"] = []any{map[string]any{"value": doc}}
	for name, try := range map[string]func() *response{
		"CreateAdmin":          func() *response { return h.scimDo("POST", "/Users", tok, user("admin")) },
		"CreateAdminMixedCase": func() *response { return h.scimDo("POST", "/Users", tok, user("patient", "Admin")) },
		"PatchPathRoles": func() *response {
			return h.scimDo("PATCH", "/Users/"+doc, tok, patchOps(map[string]any{"op": "add", "path": scimSmartgateURN + ":roles", "value": []string{"admin"}}))
		},
		"PatchPathlessURN": func() *response {
			return h.scimDo("PATCH", "/Users/"+doc, tok, patchOps(map[string]any{"op": "Replace", "value": map[string]any{scimSmartgateURN + ":roles": []string{"admin"}}}))
		},
		"PatchPathlessNested": func() *response {
			return h.scimDo("PATCH", "/Users/"+doc, tok, patchOps(map[string]any{"op": "Replace", "value": map[string]any{scimSmartgateURN: map[string]any{"roles": []string{"admin"}}}}))
		},
		"PutUser": func() *response { return h.scimDo("PUT", "/Users/"+doc, tok, docJSON) },
		"CreateAdminGroup": func() *response {
			return h.scimDo("POST", "/Groups", tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group", scimSmartGroupURN}, "displayName": "evil", "members": []any{map[string]any{"value": doc}}, scimSmartGroupURN: map[string]any{"roles": []string{"admin"}}})
		},
		"PutGroupRolesAdmin": func() *response { return h.scimDo("PUT", "/Groups/"+nurses.ID, tok, nursesJSON) },
		"PatchGroupRoles": func() *response {
			return h.scimDo("PATCH", "/Groups/"+nurses.ID, tok, patchOps(map[string]any{"op": "add", "path": scimSmartGroupURN + ":roles", "value": []string{"admin"}}))
		},
		"PatchGroupPathless": func() *response {
			return h.scimDo("PATCH", "/Groups/"+nurses.ID, tok, patchOps(map[string]any{"op": "replace", "value": map[string]any{scimSmartGroupURN + ":roles": []string{"admin"}}}))
		},
		"AddMemberToAdminGroup": func() *response {
			return h.scimDo("PATCH", "/Groups/"+admins.ID, tok, patchOps(map[string]any{"op": "Add", "path": "members", "value": []any{map[string]any{"value": doc}}}))
		},
		"AddMemberToAdminGroupPathless": func() *response {
			return h.scimDo("PATCH", "/Groups/"+admins.ID, tok, patchOps(map[string]any{"op": "add", "value": map[string]any{"members": []any{map[string]any{"value": doc}}}}))
		},
		"PutAdminGroupMembers": func() *response { return h.scimDo("PUT", "/Groups/"+admins.ID, tok, adminsJSON) },
	} {
		t.Run(name, func(t *testing.T) {
			r := try()
			if r.status != http.StatusForbidden && r.status != http.StatusBadRequest {
				t.Errorf("%d %.300s, want 403 (or 400)", r.status, r.body)
			}
		})
	}
	ctx := context.Background()
	if _, err := h.db.UserByName(ctx, "mallory"); err == nil {
		t.Errorf("mallory was created")
	}
	u, err := h.db.User(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	if rights, err := h.app.people.Rights(ctx, u); err != nil || slices.Contains(rights.Roles, account.RoleAdmin) {
		t.Errorf("doc's rights after the attempts: %+v %v", rights, err)
	}
}

// A provisioning client may not take the admin role either: not by
// deleting the group that gives it, nor by setting the password of an
// administrator through a group. (That it may deactivate or delete an
// administrator who is not the last is a policy question, reported as an
// observation.)
func TestReview11ProvisioningCannotTakeAdmin(t *testing.T) {
	for name, try := range map[string]func(h *harness, tok, second string, admins *account.Group) *response{
		"DeleteAdminGroup": func(h *harness, tok, _ string, admins *account.Group) *response {
			return h.scimDo("DELETE", "/Groups/"+admins.ID, tok, nil)
		},
		"PasswordOfGroupAdmin": func(h *harness, tok, _ string, _ *account.Group) *response {
			return h.scimDo("PATCH", "/Users/"+h.reviewUserID("r-groupadmin"), tok, patchOps(map[string]any{"op": "replace", "path": "password", "value": review11Takeover}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.provisioningToken("Okta")
			admins := h.rightsGroup("administrators", []string{account.RoleAdmin}, nil)
			h.person("r-groupadmin", nil, "", admins)
			second := h.person("admin2", []string{account.RoleAdmin}, "")
			if r := try(h, tok, second.ID, admins); r.status != http.StatusForbidden {
				t.Errorf("%d %.300s, want 403", r.status, r.body)
			}
		})
	}
}

// The last active administrator survives every SCIM way of deactivating or
// deleting them, also two concurrent deactivations of the last two.
func TestReview11LastAdminOverSCIM(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Okta")
	id := h.reviewUserID("admin")
	cur := h.scimDo("GET", "/Users/"+id, tok, nil).json
	cur["active"] = false
	for name, r := range map[string]*response{
		"PATCH":         h.scimDo("PATCH", "/Users/"+id, tok, patchOps(map[string]any{"op": "replace", "path": "active", "value": "False"})),
		"PATCHPathless": h.scimDo("PATCH", "/Users/"+id, tok, patchOps(map[string]any{"op": "replace", "value": map[string]any{"active": false}})),
		"PUT":           h.scimDo("PUT", "/Users/"+id, tok, cur),
		"DELETE":        h.scimDo("DELETE", "/Users/"+id, tok, nil),
	} {
		if r.status < 400 || r.status >= 500 || !strings.HasPrefix(r.header.Get("Content-Type"), scimMediaType) {
			t.Errorf("%s of the last administrator: %d %s %.200s, want a 4xx SCIM error", name, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	second := h.person("admin2", []string{account.RoleAdmin}, "")
	done := make(chan int, 2)
	for _, u := range []string{id, second.ID} {
		go func() {
			done <- h.scimDo("PATCH", "/Users/"+u, tok, patchOps(map[string]any{"op": "replace", "path": "active", "value": false})).status
		}()
	}
	a, b := <-done, <-done
	if a == http.StatusOK && b == http.StatusOK {
		t.Errorf("two concurrent deactivations of the last two administrators both passed")
	}
	if st := h.owinStatus("admin", adminPassword); st != http.StatusOK && (a == http.StatusOK) == (b == http.StatusOK) {
		t.Errorf("no administrator left: %d %d", a, b)
	}
}

// Every SCIM path and method, unknown ones included, answers a caller
// without the right to SCIM 401 or 403 in the SCIM error format, before
// anything is read or changed.
func TestReview11SCIMRoutesAuthorizeFirst(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c, secret, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "Entra", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"scim", "system/*.rs"}, AllowSCIM: true, AllowSystemScopes: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]struct {
		tok  string
		want int
	}{
		"None":             {"", http.StatusUnauthorized},
		"Garbage":          {"garbage", http.StatusUnauthorized},
		"GarbageSGP":       {"sgp_" + strings.Repeat("A", 43), http.StatusUnauthorized},
		"PractitionerOWin": {h.owin("doc", userPassword), http.StatusForbidden},
		"PatientOWin":      {h.owin("lind", userPassword), http.StatusForbidden},
		"AdminCodeNoSCIM":  {h.code(codeLaunch{user: "admin", password: adminPassword, scope: "openid fhirUser user/*.rs"}).str("access_token"), http.StatusForbidden},
		"ClientNoSCIM":     {h.mustSecretToken(c.ID, secret, "system/*.rs"), http.StatusForbidden},
	}
	lind := h.reviewUserID("lind")
	paths := []string{"/Users", "/Users/" + lind, "/Users/.search", "/Groups", "/Groups/x", "/Groups/.search", "/.search", "/Me", "/Bulk", "/Users/" + lind + "/x", ""}
	body := `{"schemas":["` + scimCoreUserURN + `"],"userName":"created-without-right","Operations":[{"op":"replace","path":"active","value":false}]}`
	for name, tk := range tokens {
		for _, p := range paths {
			for _, m := range []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"} {
				var b any
				if m != "GET" && m != "HEAD" {
					b = body
				}
				r := h.fhirRequest(t, m, h.baseA+"/scim/v2"+p, tk.tok, b, http.Header{"Content-Type": {scimMediaType}})
				if r.status != tk.want {
					t.Errorf("%s %s %s: %d, want %d", name, m, p, r.status, tk.want)
					continue
				}
				if m != "HEAD" && (r.json["status"] != strconv.Itoa(tk.want) || !strings.HasPrefix(r.header.Get("Content-Type"), scimMediaType)) {
					t.Errorf("%s %s %s: not a SCIM error: %s %.200s", name, m, p, r.header.Get("Content-Type"), r.body)
				}
				if tk.want == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s %s: 401 without WWW-Authenticate", name, m, p)
				}
			}
		}
	}
	if _, err := h.db.UserByName(ctx, "created-without-right"); err == nil {
		t.Errorf("a user was created without the right to SCIM")
	}
	if u, err := h.db.User(ctx, lind); err != nil || !u.Active {
		t.Errorf("lind changed without the right to SCIM: %+v %v", u, err)
	}
	// A body over the limit, without a token: refused, and not read.
	big := `{"userName":"` + strings.Repeat("x", 2<<20) + `"}`
	if r := h.fhirRequest(t, "POST", h.baseA+"/scim/v2/Users", "", big, http.Header{"Content-Type": {scimMediaType}}); r.status != http.StatusUnauthorized && r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body without a token: %d", r.status)
	}
}

// reviewTooWide reports the scopes of granted that go beyond a user/*.rs
// ceiling: a write permission (c, u, d, v1 write or *), a system/ or
// patient/ scope with write, or scim.
func reviewTooWide(granted string) []string {
	var out []string
	for _, s := range strings.Fields(granted) {
		ctx, rest, ok := strings.Cut(s, "/")
		if !ok {
			if strings.EqualFold(s, "scim") {
				out = append(out, s)
			}
			continue
		}
		rest, _, _ = strings.Cut(rest, "?")
		_, perm, _ := strings.Cut(rest, ".")
		if perm == "read" {
			perm = "rs"
		}
		if strings.EqualFold(ctx, "system") || perm == "*" || perm == "write" || strings.ContainsAny(perm, "cudCUD") {
			out = append(out, s)
		}
	}
	return out
}

// A practitioner in a group with the ceiling user/*.rs asks for scopes in
// odd forms; whatever is granted, at consent, refresh and OWin, stays
// within user/*.rs, and a write is refused at /fhir.
func TestReview11CeilingOddScopes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	app, appSecret, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "SCIM-allowed app", RedirectURIs: []string{redirectURI},
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic, AllowSCIM: true, AllowSystemScopes: true,
		Scopes: []string{"openid", "fhirUser", "offline_access", "scim", "user/*.cruds", "patient/*.cruds", "system/*.cruds", "user/*.*", "user/Observation.write",
			"USER/*.CRUDS", "user/Observation.rs?category=" + labCategory, "launch/patient"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fc := flowClient{id: app.ID, secret: appSecret, redirect: redirectURI}
	nurses := h.rightsGroup("nurses", nil, []string{"user/*.rs"})
	h.person("r-nurse", []string{account.RolePractitioner}, "Practitioner/n1", nurses)
	obs := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "t"},
		"subject": map[string]any{"reference": "Patient/" + h.patients["Lind"]}}
	for _, odd := range []string{"user/*.*", "user/Observation.write", "USER/*.CRUDS", "user/*.cruds user/*.cruds",
		"patient/*.cruds", "system/*.rs", "system/*.cruds", "scim", "user/Observation.rs?category=" + labCategory, "user/Observation.cruds?category=" + labCategory} {
		t.Run(odd, func(t *testing.T) {
			b := h.browser()
			r := b.request(fc, "openid offline_access "+odd, "")
			back, err := b.authorize(r, "r-nurse", userPassword)
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			if back.Query().Get("code") == "" {
				t.Logf("refused: %s", back.Query().Get("error"))
				return
			}
			tr := b.exchange(r, back)
			if w := reviewTooWide(tr.str("scope")); len(w) > 0 {
				t.Errorf("consent granted %q beyond the ceiling user/*.rs (%q)", w, tr.str("scope"))
			}
			if st := h.do("POST", "Observation", tr.str("access_token"), obs).status; st != http.StatusForbidden && st != http.StatusUnauthorized {
				t.Errorf("write with the token: %d, want 403", st)
			}
			if tr.str("refresh_token") != "" {
				rt, st := h.tokenRequest(fc, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}})
				if w := reviewTooWide(rt.str("scope")); st == http.StatusOK && len(w) > 0 {
					t.Errorf("refresh granted %q", w)
				}
			}
		})
	}
	o := h.owinGrant("r-nurse", userPassword, "")
	if o.status != http.StatusOK {
		t.Fatalf("OWin: %d", o.status)
	}
	if st := h.do("POST", "Observation", o.json["access_token"].(string), obs).status; st != http.StatusForbidden {
		t.Errorf("OWin write of a nurse: %d, want 403", st)
	}
}

// A person who may act for other patients only through a group picks a
// patient; after leaving the group, a refresh must not keep that
// patient's record open to them, and the picker must not appear again.
func TestReview11PickedPatientAfterLeavingGroup(t *testing.T) {
	h := newHarness(t)
	app := h.rightsClient()
	clinicians := h.rightsGroup("clinicians", []string{account.RolePractitioner}, nil)
	u := h.person("r-locum", nil, "", clinicians)
	lind := h.patients["Lind"]
	b := h.browser()
	b.pick = lind
	const scope = "openid offline_access launch/patient patient/*.rs"
	r := b.request(app, scope, "")
	back, err := b.authorize(r, "r-locum", userPassword)
	if err != nil {
		t.Fatal(err)
	}
	tr := b.exchange(r, back)
	if tr.str("patient") != lind {
		t.Fatalf("token patient %q, want %q", tr.str("patient"), lind)
	}
	if _, err := h.app.people.ChangeMembers(context.Background(), clinicians.ID, 0, nil, []string{u.ID}); err != nil {
		t.Fatal(err)
	}
	rt, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}})
	if st == http.StatusOK {
		if r := h.do("GET", "Patient/"+lind, rt.str("access_token"), nil); r.status == http.StatusOK {
			t.Errorf("after leaving the group, the refreshed token (scope %q, patient %q) still reads the picked patient's record", rt.str("scope"), rt.str("patient"))
		}
	}
	b2 := h.browser()
	b2.pick = lind
	r2 := b2.request(app, scope, "")
	if back, err := b2.authorize(r2, "r-locum", userPassword); err == nil && back.Query().Get("code") != "" {
		if tr2 := b2.exchange(r2, back); tr2.str("patient") == lind {
			t.Errorf("after leaving the group, the picker still gave %q", lind)
		}
	}
}

// /account/password ends the person's earlier tokens at /fhir on the very
// next request, also those the FHIR endpoint verified (and cached) just
// before the change: whoever stole the old password may hold them.
func TestReview11PasswordPageEndsCachedTokens(t *testing.T) {
	h := newHarness(t)
	mine := h.pageSession("lind", userPassword)
	token := h.owin("lind", userPassword)
	own := "Patient/" + h.patients["Lind"]
	if r := h.do("GET", own, token, nil); r.status != http.StatusOK {
		t.Fatalf("FHIR before: %d", r.status)
	}
	page := h.page(mine, "GET", h.baseA+"/account/password", nil)
	const next = "lind's brand new password"
	r := h.page(mine, "POST", h.baseA+"/account/password", url.Values{"csrf_token": {field(reCSRF, page.body)},
		"current_password": {userPassword}, "new_password": {next}, "confirm_password": {next}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST /account/password: %d %.300s", r.status, r.body)
	}
	if r := h.do("GET", own, token, nil); r.status != http.StatusUnauthorized {
		t.Errorf("FHIR with the (verified, cached) token from before the change: %d, want 401", r.status)
	}
}

// /account/password without the current password, with a stolen session:
// refused, and the guesses are throttled like the log-in's. Without the
// form's CSRF token: refused.
func TestReview11PasswordPageStolenSession(t *testing.T) {
	h := newHarness(t)
	thief := h.pageSession("lind", userPassword)
	page := h.page(thief, "GET", h.baseA+"/account/password", nil)
	const next = "the thief's new password 1234"
	if r := h.page(thief, "POST", h.baseA+"/account/password", url.Values{"current_password": {userPassword},
		"new_password": {next}, "confirm_password": {next}}); r.status < 400 {
		t.Errorf("without the CSRF token: %d", r.status)
	}
	var statuses []int
	for i := range 12 {
		r := h.page(thief, "POST", h.baseA+"/account/password", url.Values{"csrf_token": {field(reCSRF, page.body)},
			"current_password": {"guess " + strconv.Itoa(i)}, "new_password": {next}, "confirm_password": {next}})
		statuses = append(statuses, r.status)
	}
	if !slices.Contains(statuses, http.StatusTooManyRequests) {
		t.Errorf("12 wrong current passwords were never throttled: %v", statuses)
	}
	if st := h.owinStatus("lind", next); st == http.StatusOK {
		t.Errorf("the thief's password works")
	}
}

// scimErr checks that r is an RFC 7644 §3.12 error of status want.
func scimErr(t *testing.T, what string, r *response, want int) {
	t.Helper()
	if r.status != want || r.json["status"] != strconv.Itoa(want) || !strings.HasPrefix(r.header.Get("Content-Type"), scimMediaType) {
		t.Errorf("%s: %d %s %.300s, want a %d SCIM error", what, r.status, r.header.Get("Content-Type"), r.body, want)
	}
}

// Hostile SCIM input: answered in the SCIM error format, never a 500 (the
// 70k e-mails are refused by the cap on multi-valued attributes).
func TestReview11SCIMHostileInput(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Okta")
	timed := func(what string, f func() *response) *response {
		t.Helper()
		r := f()
		if r.status >= 500 {
			t.Errorf("%s: %d %.300s", what, r.status, r.body)
		}
		return r
	}
	emails := strings.Repeat(`{"value":"a"},`, 70000)
	r := timed("70k emails", func() *response {
		return h.scimDo("POST", "/Users", tok, `{"schemas":["`+scimCoreUserURN+`"],"userName":"many-emails","emails":[`+emails+`{"value":"b"}]}`)
	})
	t.Logf("70k emails: %d", r.status)
	members := strings.Repeat(`{"value":"00000000-0000-0000-0000-000000000000"},`, 20000)
	r = timed("20k members", func() *response {
		return h.scimDo("POST", "/Groups", tok, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"many","members":[`+members+`{"value":"x"}]}`)
	})
	t.Logf("20k unknown members: %d %.200s", r.status, r.body)
	scimErr(t, "deep JSON", timed("deep JSON", func() *response {
		return h.scimDo("POST", "/Users", tok, strings.Repeat("[", 400000)+strings.Repeat("]", 400000))
	}), http.StatusBadRequest)
	or := strings.TrimSuffix(strings.Repeat(`userName eq "x" or `, 210), " or ")
	r = timed("210 ORs", func() *response {
		return h.scimDo("POST", "/Users/.search", tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": or})
	})
	t.Logf("210 ORs: %d %.200s", r.status, r.body)
	co := strings.TrimSuffix(strings.Repeat(`emails co "%_%" or `, 200), " or ")
	r = timed("200 co on emails", func() *response {
		return h.scimDo("POST", "/Users/.search", tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": co})
	})
	t.Logf("200 co: %d %.200s", r.status, r.body)
	nested := strings.Repeat("(", 2000) + `userName eq "x"` + strings.Repeat(")", 2000)
	r = timed("2000 parentheses", func() *response {
		return h.scimDo("POST", "/Users/.search", tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": nested})
	})
	t.Logf("2000 parentheses: %d %.200s", r.status, r.body)
	notnot := strings.Repeat("not (", 680) + `userName eq "x"` + strings.Repeat(")", 680)
	r = timed("680 nots", func() *response {
		return h.scimDo("POST", "/Users/.search", tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": notnot})
	})
	t.Logf("680 nots: %d %.200s", r.status, r.body)

	for _, f := range []string{`userName co "%"`, `userName sw "_"`, `userName ew "%"`, `emails.value co "%"`, `userName co "\\"`, `userName eq "' OR 1=1 --"`} {
		r := timed(f, func() *response { return h.scimDo("GET", "/Users?filter="+url.QueryEscape(f), tok, nil) })
		if r.status != http.StatusOK || r.json["totalResults"] != float64(0) {
			t.Errorf("filter %s: %d totalResults %v, want 200 and 0 (metacharacters taken literally)", f, r.status, r.json["totalResults"])
		}
	}
	scimErr(t, "filter on password", h.scimDo("GET", "/Users?filter="+url.QueryEscape(`password pr`), tok, nil), http.StatusBadRequest)
	scimErr(t, "filter on password sw", h.scimDo("GET", "/Users?filter="+url.QueryEscape(`password sw "$argon2id"`), tok, nil), http.StatusBadRequest)
	for _, q := range []string{"attributes=password", "attributes=password,userName", "excludedAttributes=id,userName,meta", "sortBy=password", "sortBy=emails", "sortBy=meta.version",
		"count=1000000", "startIndex=9223372036854775807", "startIndex=-5&count=-5", "count=1000000&startIndex=1"} {
		r := timed(q, func() *response { return h.scimDo("GET", "/Users?"+q, tok, nil) })
		if strings.Contains(string(r.body), "$argon2id") || strings.Contains(string(r.body), `"password"`) {
			t.Errorf("%s: the answer holds a password: %.300s", q, r.body)
		}
		if r.status == http.StatusOK {
			if n, _ := r.json["itemsPerPage"].(float64); n > 200 {
				t.Errorf("%s: itemsPerPage %v over the documented maximum", q, n)
			}
			for _, res := range r.json["Resources"].([]any) {
				if m := res.(map[string]any); m["id"] == nil {
					t.Errorf("%s: a resource without id (returned: always)", q)
				}
			}
		} else if !strings.HasPrefix(r.header.Get("Content-Type"), scimMediaType) {
			t.Errorf("%s: %d not a SCIM error", q, r.status)
		}
		t.Logf("%s: %d", q, r.status)
	}
	// Confusables: a width or case variant of a taken name is the same
	// name (PRECIS UsernameCaseMapped), so 409 uniqueness.
	for _, n := range []string{"ＡＤＭＩＮ", "Admin", " admin "} {
		r := h.scimDo("POST", "/Users", tok, map[string]any{"schemas": []string{scimCoreUserURN}, "userName": n})
		if r.status != http.StatusConflict || r.json["scimType"] != "uniqueness" {
			t.Errorf("create %q next to admin: %d %.200s, want 409 uniqueness", n, r.status, r.body)
		}
	}
	for _, n := range []string{"admin\u200b", "ad\u0000min", "admin\u202e"} {
		r := h.scimDo("POST", "/Users", tok, map[string]any{"schemas": []string{scimCoreUserURN}, "userName": n})
		scimErr(t, "create "+strconv.Quote(n), r, http.StatusBadRequest)
	}
	r = h.scimDo("POST", "/Users", tok, map[string]any{"schemas": []string{scimCoreUserURN}, "userName": "аdmin"}) // Cyrillic а
	t.Logf("Cyrillic confusable of admin: %d", r.status)
}

// The people and groups pages: every POST refuses a missing or forged CSRF
// token and a non-administrator (with the form's own token); the
// show-once password is shown to no other administrator; the last
// administrator cannot be disabled on the page.
func TestReview11PeoplePages(t *testing.T) {
	h := newHarness(t)
	admin := h.pageSession("admin", adminPassword)
	lindID := h.reviewUserID("lind")
	nurses := h.rightsGroup("nurses", nil, []string{"user/*.rs"})
	lind, _ := h.db.User(context.Background(), lindID)
	version := strconv.FormatInt(lind.Meta.Version, 10)
	gversion := strconv.FormatInt(nurses.Meta.Version, 10)
	posts := []string{"/admin/users/new", "/admin/users/" + lindID, "/admin/users/" + lindID + "/disable", "/admin/users/" + lindID + "/enable",
		"/admin/users/" + lindID + "/password", "/admin/users/" + lindID + "/unlock", "/admin/users/" + lindID + "/delete",
		"/admin/groups/new", "/admin/groups/" + nurses.ID, "/admin/groups/" + nurses.ID + "/members", "/admin/groups/" + nurses.ID + "/delete"}
	form := func(csrf string) url.Values {
		f := url.Values{"userName": {"eve"}, "version": {version}, "generate": {"1"}, "displayName": {"evil"}, "add": {"doc"},
			"roles": {"admin"}, "active": {"1"}, "ceiling": {"user/*.cruds"}}
		if csrf != "" {
			f.Set("csrf_token", csrf)
		}
		return f
	}
	doc := h.pageSession("doc", userPassword)
	docCSRF := field(reCSRF, h.page(doc, "GET", h.baseA+"/account/password", nil).body)
	for _, p := range posts {
		for name, try := range map[string]func() *response{
			"NoCSRF":       func() *response { return h.page(admin, "POST", h.baseA+p, form("")) },
			"ForgedCSRF":   func() *response { return h.page(admin, "POST", h.baseA+p, form("forged")) },
			"OtherSession": func() *response { return h.page(admin, "POST", h.baseA+p, form(docCSRF)) },
			"NonAdmin":     func() *response { return h.page(doc, "POST", h.baseA+p, form(docCSRF)) },
		} {
			if r := try(); r.status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", name, p, r.status)
			}
		}
	}
	ctx := context.Background()
	if u, err := h.db.User(ctx, lindID); err != nil || !u.Active || strconv.FormatInt(u.Meta.Version, 10) != version {
		t.Errorf("lind changed: %+v %v", u, err)
	}
	if g, err := h.db.Group(ctx, nurses.ID); err != nil || len(g.Members) != 0 || strconv.FormatInt(g.Meta.Version, 10) != gversion {
		t.Errorf("nurses changed: %+v %v", g, err)
	}
	if _, err := h.db.UserByName(ctx, "eve"); err == nil {
		t.Errorf("eve was created")
	}

	// The generated password is for the administrator who generated it.
	h.person("admin2", []string{account.RoleAdmin}, "")
	admin2 := h.pageSession("admin2", userPassword)
	r := h.adminPost(admin, "/admin/users/"+lindID, "/admin/users/"+lindID+"/password", url.Values{"generate": {"1"}, "version": {version}})
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.Contains(loc, "reveal=") {
		t.Fatalf("generate: %d %q", r.status, loc)
	}
	other := h.page(admin2, "GET", h.baseA+loc, nil)
	mine := h.page(admin, "GET", h.baseA+loc, nil)
	re := regexp.MustCompile(`data-new-password="([^"]+)"`)
	if re.Match(other.body) {
		t.Errorf("another administrator sees the generated password")
	}
	if !re.Match(mine.body) {
		t.Errorf("the generating administrator does not see the password: %.500s", mine.body)
	}
	if again := h.page(admin, "GET", h.baseA+loc, nil); re.Match(again.body) {
		t.Errorf("the generated password is shown twice")
	}

	// The last administrator: disable admin2 first, then admin.
	admin2ID := h.reviewUserID("admin2")
	ver := func(id string) url.Values {
		u, err := h.db.User(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"version": {strconv.FormatInt(u.Meta.Version, 10)}}
	}
	if r := h.adminPost(admin, "/admin/users/"+admin2ID, "/admin/users/"+admin2ID+"/disable", ver(admin2ID)); r.status != http.StatusSeeOther {
		t.Fatalf("disable admin2: %d %.300s", r.status, r.body)
	}
	adminID := h.reviewUserID("admin")
	if r := h.adminPost(admin, "/admin/users/"+adminID, "/admin/users/"+adminID+"/disable", ver(adminID)); r.status < 400 || r.status >= 500 {
		t.Errorf("disable the last administrator on the page: %d", r.status)
	}
	if r := h.adminPost(admin, "/admin/users/"+adminID, "/admin/users/"+adminID+"/delete", ver(adminID)); r.status < 400 || r.status >= 500 {
		t.Errorf("delete the last administrator on the page: %d", r.status)
	}
	if st := h.owinStatus("admin", adminPassword); st != http.StatusOK {
		t.Errorf("the last administrator cannot log in: %d", st)
	}
}

// Lockouts: anyone may lock the administrator out (ten wrong passwords);
// the people page's unlock lifts it. A well-formed name of no account is
// not persisted (throttle.go "junk names do not fill the store").
func TestReview11Lockouts(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.lockOut("admin")
	if until, err := h.db.Lockout(ctx, "u:admin"); err != nil || !until.After(time.Now()) {
		t.Errorf("the admin's lockout is not recorded: %v %v", until, err)
	}
	// Another administrator's page lifts it.
	h.person("admin2", []string{account.RoleAdmin}, "")
	admin2 := h.pageSession("admin2", userPassword)
	adminID := h.reviewUserID("admin")
	if r := h.adminPost(admin2, "/admin/users/"+adminID, "/admin/users/"+adminID+"/unlock", nil); r.status != http.StatusSeeOther {
		t.Fatalf("unlock on the page: %d %.300s", r.status, r.body)
	}
	if st := h.owinStatus("admin", adminPassword); st != http.StatusOK {
		t.Errorf("the admin after the page's unlock: OWin %d", st)
	}
	h.lockOut("no-such-person-4711")
	if until, err := h.db.Lockout(ctx, "u:no-such-person-4711"); err == nil && until.After(time.Now()) {
		t.Errorf("the lockout of a name of no account is stored (until %v): junk names fill login_lockouts", until)
	}
}

// system/ scopes on a user flow: an administrator's authorization code
// token, on an app allowed system/ scopes, carries no system/ scope (a
// system/ scope is a client's own access, SMART Backend Services), and a
// patient's none either.
func TestReview11SystemScopesOnUserFlows(t *testing.T) {
	h := newHarness(t)
	app, secret, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "app", RedirectURIs: []string{redirectURI},
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic, AllowSystemScopes: true,
		Scopes: []string{"openid", "system/*.cruds", "system/*.rs", "user/*.rs"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fc := flowClient{id: app.ID, secret: secret, redirect: redirectURI}
	for _, who := range []struct{ user, password string }{{"admin", adminPassword}, {"lind", userPassword}} {
		b := h.browser()
		r := b.request(fc, "openid system/*.cruds system/*.rs user/*.rs", "")
		back, err := b.authorize(r, who.user, who.password)
		if err != nil || back.Query().Get("code") == "" {
			t.Logf("%s refused: %v %s", who.user, err, back)
			continue
		}
		tr := b.exchange(r, back)
		if strings.Contains(tr.str("scope"), "system/") {
			t.Errorf("%s's authorization code token carries %q", who.user, tr.str("scope"))
		}
	}
}

// The admin page's disable ends access, refresh and OWin tokens at /fhir,
// introspection and userinfo on the very next request, and the log-in.
func TestReview11PageDisableEndsEverything(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Okta")
	id := h.scimCreatePerson(tok)
	app := h.confidentialClient("app")
	tr := h.scimLogin(app)
	owin := h.owin(scimPersonName, scimPersonSecret)
	own := "Patient/" + h.patients["Gerhold"]
	for _, tk := range []string{tr.str("access_token"), owin} {
		if r := h.do("GET", own, tk, nil); r.status != http.StatusOK {
			t.Fatalf("FHIR before: %d", r.status)
		}
	}
	admin := h.pageSession("admin", adminPassword)
	u, _ := h.db.User(context.Background(), id)
	if r := h.adminPost(admin, "/admin/users/"+id, "/admin/users/"+id+"/disable", url.Values{"version": {strconv.FormatInt(u.Meta.Version, 10)}}); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %.300s", r.status, r.body)
	}
	for kind, tk := range map[string]string{"access": tr.str("access_token"), "owin": owin} {
		if r := h.do("GET", own, tk, nil); r.status != http.StatusUnauthorized {
			t.Errorf("FHIR with the %s token: %d", kind, r.status)
		}
		if in, _ := h.clientPost(app, "/oauth/introspect", url.Values{"token": {tk}}); in["active"] != false {
			t.Errorf("introspection of the %s token: %v", kind, in)
		}
		if r := h.do("GET", h.baseA+"/oauth/userinfo", tk, nil); r.status != http.StatusUnauthorized {
			t.Errorf("userinfo with the %s token: %d %.200s", kind, r.status, r.body)
		}
	}
	if _, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}}); st == http.StatusOK {
		t.Errorf("refresh after the page's disable")
	}
	if st := h.owinStatus(scimPersonName, scimPersonSecret); st == http.StatusOK {
		t.Errorf("OWin log-in after the page's disable")
	}
}
