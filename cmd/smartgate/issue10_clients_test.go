package main

// Issue 10, the client records: CORS follows client changes at once (D1)
// and every registration path applies one redirect-URI rule set (D3).

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
)

// corsCheck sends a preflight for a token request, the token request itself
// (a bogus code: the answer is an OAuth error, but the browser may read it
// only with Access-Control-Allow-Origin) and a FHIR search from origin, and
// returns the Access-Control-Allow-Origin each got.
func (h *harness) corsCheck(origin string) (preflight, token, fhir string) {
	h.t.Helper()
	pre := h.fhirRequest(h.t, http.MethodOptions, h.baseA+"/oauth/token", "", nil,
		http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}})
	tok := h.fhirRequest(h.t, http.MethodPost, h.baseA+"/oauth/token", "",
		url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "client_id": {"nope"}, "redirect_uri": {origin + "/cb"}},
		http.Header{"Origin": {origin}})
	f := h.fhirRequest(h.t, http.MethodGet, h.baseA+"/fhir/Patient", "", nil, http.Header{"Origin": {origin}})
	return pre.header.Get("Access-Control-Allow-Origin"), tok.header.Get("Access-Control-Allow-Origin"),
		f.header.Get("Access-Control-Allow-Origin")
}

func (h *harness) wantCORS(what, origin string, allowed bool) {
	h.t.Helper()
	want := ""
	if allowed {
		want = origin
	}
	pre, tok, f := h.corsCheck(origin)
	if pre != want || tok != want || f != want {
		h.t.Fatalf("%s: Access-Control-Allow-Origin for %s: preflight %q, token %q, FHIR %q; want %q for each",
			what, origin, pre, tok, f, want)
	}
}

// TestIssue10D1_ClientChangesTakeEffectForCORSAtOnce: with the origin list
// freshly loaded (a CORS check of the harness's app just before), a browser
// app registered through /oauth/register, or on /admin/clients, can call the
// token endpoint and FHIR from its origin at once; after the RFC 7592
// delete, or a disable on the admin page, its origin is refused at once,
// and enabling it again allows it again.
func TestIssue10D1_ClientChangesTakeEffectForCORSAtOnce(t *testing.T) {
	h := newHarness(t)
	known := "http://127.0.0.1:9"
	h.wantCORS("the harness's app", known, true)

	api := "https://d1-api.example"
	h.wantCORS("before registration", api, false)
	r := h.jsonCall(http.MethodPost, "/oauth/register", h.owin("admin", adminPassword), map[string]any{"client_name": "D1 API app",
		"redirect_uris": []string{api + "/cb"}, "token_endpoint_auth_method": "none", "scope": "openid launch/patient patient/*.rs"})
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	h.wantCORS("just registered through /oauth/register", api, true)
	id, rat := r.json["client_id"].(string), r.json["registration_access_token"].(string)
	if d := h.jsonCall(http.MethodDelete, "/oauth/register/"+id, rat, nil); d.status != http.StatusNoContent {
		t.Fatalf("RFC 7592 delete: %d %s", d.status, d.body)
	}
	h.wantCORS("after the RFC 7592 delete", api, false)

	page := "https://d1-page.example"
	h.wantCORS("before registration on the page", page, false)
	admin := h.adminPages()
	form := admin.get("/admin/clients/new")
	resp := admin.post("/admin/clients/new", url.Values{"csrf_token": {field(reCSRF, form)}, "client_name": {"D1 page app"},
		"redirect_uris": {page + "/cb"}, "token_endpoint_auth_method": {"none"}, "grant_types": {"authorization_code"},
		"scope": {"openid launch/patient patient/*.rs"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register on the page: %d", resp.StatusCode)
	}
	h.wantCORS("just registered on /admin/clients", page, true)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	pid := strings.TrimPrefix(loc.Path, "/admin/clients/")
	state := func(action string) {
		t.Helper()
		list := admin.get("/admin/clients")
		if r := admin.post("/admin/clients/"+pid+"/"+action, url.Values{"csrf_token": {field(reCSRF, list)}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s on the page: %d", action, r.StatusCode)
		}
	}
	state("disable")
	h.wantCORS("after a disable on /admin/clients", page, false)
	state("enable")
	h.wantCORS("after an enable on /admin/clients", page, true)
	h.wantCORS("the harness's app, still", known, true)
}

// redirectURICases are the redirect URIs the two validators disagreed on,
// and the other rules of authz/registration (RFC 6749 §3.1.2, RFC 9700
// §4.1.3, RFC 8252 §7.1 and §7.3), with the one answer every path must give.
var redirectURICases = []struct {
	uri string
	ok  bool
}{
	{"https://app.example/cb", true},
	{"http://127.0.0.1:9000/cb", true},
	{"http://[::1]:9000/cb", true},
	{"http://localhost:9000/cb", true},
	{"http://LocalHost:9000/cb", true}, // registration: case-insensitive; authz/client.go refused it
	{"com.example.app:/cb", true},
	{"http://127.8.8.8/cb", false},      // authz/client.go accepted any 127.x
	{"http://user@localhost/cb", false}, // authz/client.go accepted user information
	{"https://user:pw@app.example/cb", false},
	{"https:///cb", false}, // no host: authz/client.go accepted it
	{"https://app.example/cb#frag", false},
	{"https://*.example/cb", false},
	{"http://app.example/cb", false},
	{"myapp:/cb", false},
	{"javascript:alert(1)", false},
	{"/cb", false},
}

// TestIssue10D3_OneRedirectURIRuleOnEveryPath: the API (RFC 7591 register
// and RFC 7592 update), the admin pages (register, edit), "My apps", the CLI
// and authz.CreateClient (the Go path the demo and tests use) accept and
// refuse the same redirect URIs.
func TestIssue10D3_OneRedirectURIRuleOnEveryPath(t *testing.T) {
	h := newHarness(t)
	admin := h.adminPages()
	adminTok := h.owin("admin", adminPassword)
	person := h.pageSession("doc", userPassword)
	const scope = "openid launch/patient patient/*.rs"
	pageForm := func(page []byte, uri string) url.Values {
		return url.Values{"csrf_token": {field(reCSRF, page)}, "client_name": {"D3"}, "redirect_uris": {uri},
			"token_endpoint_auth_method": {"none"}, "grant_types": {"authorization_code"}, "scope": {scope}}
	}
	r := h.jsonCall(http.MethodPost, "/oauth/register", adminTok, map[string]any{"client_name": "D3 edit",
		"redirect_uris": []string{"https://ok.example/cb"}, "token_endpoint_auth_method": "none", "scope": scope})
	if r.status != http.StatusCreated {
		t.Fatalf("register the client to edit: %d %s", r.status, r.body)
	}
	editID, rat := r.json["client_id"].(string), r.json["registration_access_token"].(string)
	data := filepath.Join(t.TempDir(), "cli")

	paths := []struct {
		name string
		try  func(uri string) bool
	}{
		{"RFC 7591 register", func(uri string) bool {
			r := h.jsonCall(http.MethodPost, "/oauth/register", adminTok, map[string]any{"client_name": "D3",
				"redirect_uris": []string{uri}, "token_endpoint_auth_method": "none", "scope": scope})
			return r.status == http.StatusCreated
		}},
		{"RFC 7592 update", func(uri string) bool {
			r := h.jsonCall(http.MethodPut, "/oauth/register/"+editID, rat, map[string]any{"client_id": editID, "client_name": "D3 edit",
				"redirect_uris": []string{uri}, "token_endpoint_auth_method": "none", "scope": scope})
			if r.status == http.StatusOK {
				rat = r.json["registration_access_token"].(string)
			}
			return r.status == http.StatusOK
		}},
		{"admin page register", func(uri string) bool {
			return admin.post("/admin/clients/new", pageForm(admin.get("/admin/clients/new"), uri)).StatusCode == http.StatusSeeOther
		}},
		{"admin page edit", func(uri string) bool {
			return admin.post("/admin/clients/"+editID, pageForm(admin.get("/admin/clients/"+editID), uri)).StatusCode == http.StatusSeeOther
		}},
		{"my apps", func(uri string) bool {
			page := h.page(person, http.MethodGet, h.baseA+"/account/my-apps", nil)
			f := pageForm(page.body, uri)
			f.Set("scope", "launch/patient patient/*.rs")
			r := h.page(person, http.MethodPost, h.baseA+"/account/my-apps", f)
			if r.status == http.StatusSeeOther { // stay under the cap of own apps
				loc, _ := url.Parse(r.header.Get("Location"))
				if err := h.db.DeleteClient(context.Background(), loc.Query().Get("client"), time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			return r.status == http.StatusSeeOther
		}},
		{"CLI client add", func(uri string) bool {
			_, _, code := runInProcess(t, data, "", "client", "add", "--public", "--redirect-uri", uri, "--scope", scope)
			return code == 0
		}},
		{"authz.CreateClient", func(uri string) bool {
			_, _, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "D3",
				RedirectURIs: []string{uri}, TokenEndpointAuthMethod: authz.AuthNone}, time.Now())
			return err == nil
		}},
	}
	for _, p := range paths {
		for _, tc := range redirectURICases {
			if got := p.try(tc.uri); got != tc.ok {
				t.Errorf("%s: %q accepted %v, want %v", p.name, tc.uri, got, tc.ok)
			}
		}
	}
}
