package main

// Issue 11 item 6: client_credentials with a client secret, registered by
// administrators only (the pages and RFC 7591 with an administrator's
// token), the administrator-only SCIM and system/ flags that no
// registration request or registration access token sets, and the
// provisioning-token pages' access rules.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
)

var (
	regexpClientID     = regexp.MustCompile(`data-client-id="([^"]*)"`)
	regexpClientSecret = regexp.MustCompile(`data-client-secret="([^"]*)"`)
)

// registerJSON sends an RFC 7591 (method POST) or RFC 7592 (PUT) request.
func (h *harness) registerJSON(method, target, token string, body map[string]any) *response {
	h.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, target, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.httpc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, body: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

func (h *harness) client(id string) *authz.Client {
	h.t.Helper()
	c, err := h.db.GetClient(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func TestIssue11SecretClientCredentialsRegistration(t *testing.T) {
	h := newHarness(t)
	admin := h.pageSession("admin", adminPassword)
	adminToken := h.owin("admin", adminPassword)

	t.Run("AdminPage", func(t *testing.T) {
		form := h.page(admin, "GET", h.baseA+"/admin/clients/new", nil)
		if !bytes.Contains(form.body, []byte("data-backend-services-note")) || !bytes.Contains(form.body, []byte("SMART Backend Services use keys")) ||
			!bytes.Contains(form.body, []byte(`name="allow_scim"`)) || !bytes.Contains(form.body, []byte(`name="allow_system_scopes"`)) {
			t.Fatalf("the registration form lacks the backend note or the flags: %.3000s", form.body)
		}
		r := h.page(admin, "POST", h.baseA+"/admin/clients/new", url.Values{"csrf_token": {field(reCSRF, form.body)},
			"client_name": {"Entra ID"}, "grant_types": {"client_credentials"}, "token_endpoint_auth_method": {"client_secret_basic"},
			"scope": {"scim"}, "allow_scim": {"1"}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("register: %d %.500s", r.status, r.body)
		}
		page := h.page(admin, "GET", h.baseA+r.header.Get("Location"), nil)
		id := field(regexpClientID, page.body)
		secret := field(regexpClientSecret, page.body)
		if id == "" || secret == "" {
			t.Fatalf("the result page shows no id or secret: %.2000s", page.body)
		}
		if c := h.client(id); !c.AllowSCIM || c.AllowSystemScopes || c.TokenEndpointAuthMethod != authz.AuthClientSecretBasic {
			t.Fatalf("stored client %+v", c)
		}
		h.mustSecretToken(id, secret, "scim")
		if !bytes.Contains(page.body, []byte("data-provisioning-tokens")) || !bytes.Contains(page.body, []byte(`name="label"`)) {
			t.Errorf("the edit page of a SCIM client has no provisioning-token section: %.3000s", page.body)
		}
	})

	var ratClient, rat string
	t.Run("AdminRFC7591", func(t *testing.T) {
		r := h.registerJSON("POST", h.baseA+"/oauth/register", adminToken, map[string]any{"client_name": "Resource server",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
			"scope": "scim system/*.rs", "allow_scim": true, "allow_system_scopes": true})
		if r.status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.status, r.body)
		}
		ratClient, _ = r.json["client_id"].(string)
		rat, _ = r.json["registration_access_token"].(string)
		secret, _ := r.json["client_secret"].(string)
		if c := h.client(ratClient); c.AllowSCIM || c.AllowSystemScopes {
			t.Fatalf("a registration request set an administrator-only flag: %+v", c)
		}
		// Registered, but neither scim nor system/ is granted to a secret
		// client until an administrator allows them.
		for _, sc := range []string{"scim", "system/*.rs"} {
			if r := h.secretToken(ratClient, secret, sc); r.status != http.StatusBadRequest || r.json["error"] != "invalid_scope" {
				t.Errorf("%s before the administrator allowed it: %d %s", sc, r.status, r.body)
			}
		}
	})

	t.Run("NonAdminRFC7591", func(t *testing.T) {
		r := h.registerJSON("POST", h.baseA+"/oauth/register", h.owin("doc", userPassword), map[string]any{
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic", "scope": "scim"})
		if r.status != http.StatusForbidden {
			t.Fatalf("a practitioner registered a client: %d %s", r.status, r.body)
		}
	})

	t.Run("SelfServiceRefused", func(t *testing.T) {
		doc := h.pageSession("doc", userPassword)
		form := h.page(doc, "GET", h.baseA+"/account/my-apps", nil)
		for _, method := range []string{"client_secret_basic", "client_secret_post"} {
			r := h.page(doc, "POST", h.baseA+"/account/my-apps", url.Values{"csrf_token": {field(reCSRF, form.body)},
				"client_name": {"mine"}, "grant_types": {"client_credentials"}, "token_endpoint_auth_method": {method}, "scope": {"scim"}})
			if r.status != http.StatusBadRequest {
				t.Fatalf("My apps registered client_credentials with %s: %d", method, r.status)
			}
		}
		if bytes.Contains(form.body, []byte(`name="allow_scim"`)) {
			t.Error("My apps shows the administrator's SCIM flag")
		}
	})

	t.Run("RATUpdateCannotWiden", func(t *testing.T) {
		// An administrator allows system/ scopes (not SCIM) for the client.
		err := h.db.UpdateClient(context.Background(), ratClient, func(c authz.Client) (authz.Client, error) { c.AllowSystemScopes = true; return c, nil })
		if err != nil {
			t.Fatal(err)
		}
		r := h.registerJSON("PUT", h.baseA+"/oauth/register/"+ratClient, rat, map[string]any{"client_id": ratClient,
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
			"scope": "scim system/*.cruds system/Patient.rs", "allow_scim": true, "allow_system_scopes": false})
		if r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.body)
		}
		if got := strings.Fields(r.json["scope"].(string)); slices.Contains(got, "system/*.cruds") {
			t.Errorf("the update widened the scope to %v", got)
		}
		if c := h.client(ratClient); c.AllowSCIM || !c.AllowSystemScopes {
			t.Fatalf("the registration access token changed an administrator-only flag: %+v", c)
		}

		// A user-facing client registered by an administrator: its token
		// cannot add client_credentials, system/ scopes or scim.
		r = h.registerJSON("POST", h.baseA+"/oauth/register", adminToken, map[string]any{"client_name": "App",
			"redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "client_secret_basic", "scope": "openid user/*.rs"})
		if r.status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.status, r.body)
		}
		app, appRAT := r.json["client_id"].(string), r.json["registration_access_token"].(string)
		r = h.registerJSON("PUT", h.baseA+"/oauth/register/"+app, appRAT, map[string]any{"client_id": app,
			"redirect_uris": []string{redirectURI}, "grant_types": []string{"authorization_code", "client_credentials"},
			"token_endpoint_auth_method": "client_secret_basic", "scope": "openid user/*.rs system/*.rs scim"})
		if r.status != http.StatusBadRequest || r.json["error"] != "invalid_client_metadata" {
			t.Fatalf("the registration access token added client_credentials: %d %s", r.status, r.body)
		}
		r = h.registerJSON("PUT", h.baseA+"/oauth/register/"+app, appRAT, map[string]any{"client_id": app,
			"redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "client_secret_basic", "scope": "openid user/*.rs scim"})
		if r.status != http.StatusOK || slices.Contains(strings.Fields(r.json["scope"].(string)), "scim") {
			t.Fatalf("the registration access token added scim: %d %s", r.status, r.body)
		}
	})

	t.Run("FlagsOnlyForAdministratorsClients", func(t *testing.T) {
		c, _, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "someone's", RedirectURIs: []string{redirectURI},
			TokenEndpointAuthMethod: authz.AuthNone, Scopes: []string{"openid"}, Policy: authz.PolicySelf, Owner: "x"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := h.adminPost(admin, "/admin/clients/"+c.ID, "/admin/clients/"+c.ID, url.Values{"client_name": {"someone's"},
			"redirect_uris": {redirectURI}, "token_endpoint_auth_method": {"none"}, "grant_types": {"authorization_code"},
			"scope": {"openid"}, "allow_scim": {"1"}})
		if r.status != http.StatusBadRequest || h.client(c.ID).AllowSCIM {
			t.Fatalf("SCIM allowed for a self-registered app: %d", r.status)
		}
		// The same edit without the flag is accepted.
		r = h.adminPost(admin, "/admin/clients/"+c.ID, "/admin/clients/"+c.ID, url.Values{"client_name": {"someone's"},
			"redirect_uris": {redirectURI}, "token_endpoint_auth_method": {"none"}, "grant_types": {"authorization_code"},
			"scope": {"openid"}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("the edit without the flag: %d %.300s", r.status, r.body)
		}
	})

	t.Run("DiscoveryDoesNotAdvertiseSCIM", func(t *testing.T) {
		for _, p := range []string{"/.well-known/smart-configuration", "/.well-known/openid-configuration"} {
			r := h.do("GET", h.baseA+p, "", nil)
			raw, _ := json.Marshal(r.json["scopes_supported"])
			if r.status != http.StatusOK || bytes.Contains(raw, []byte(`"scim"`)) {
				t.Errorf("%s scopes_supported = %s (%d)", p, raw, r.status)
			}
		}
	})

	t.Run("ProvisioningTokenPages", func(t *testing.T) {
		c, _, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "Okta", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"scim"}, AllowSCIM: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		plain, _, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "Plain", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"system/*.rs"}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		issue := "/admin/clients/" + c.ID + "/provisioning-tokens"

		// A practitioner: 403 (with a valid CSRF token of their own).
		doc := h.pageSession("doc", userPassword)
		home := h.page(doc, "GET", h.baseA+"/account/my-apps", nil)
		if r := h.page(doc, "POST", h.baseA+issue, url.Values{"csrf_token": {field(reCSRF, home.body)}, "label": {"x"}}); r.status != http.StatusForbidden {
			t.Errorf("practitioner issues a token: %d", r.status)
		}
		// No CSRF token: 403.
		if r := h.page(admin, "POST", h.baseA+issue, url.Values{"label": {"x"}}); r.status != http.StatusForbidden {
			t.Errorf("issue without a CSRF token: %d", r.status)
		}
		// No label; a client not allowed SCIM: 400.
		if r := h.adminPost(admin, "/admin/clients/"+c.ID, issue, url.Values{"label": {" "}}); r.status != http.StatusBadRequest {
			t.Errorf("issue without a label: %d", r.status)
		}
		if r := h.adminPost(admin, "/admin/clients/"+plain.ID, "/admin/clients/"+plain.ID+"/provisioning-tokens", url.Values{"label": {"x"}}); r.status != http.StatusBadRequest {
			t.Errorf("issue for a client not allowed SCIM: %d", r.status)
		}
		if page := h.page(admin, "GET", h.baseA+"/admin/clients/"+plain.ID, nil); bytes.Contains(page.body, []byte(`name="label"`)) {
			t.Error("the issue form is shown for a client not allowed SCIM")
		}
		if l, _ := h.db.ProvisioningTokens(context.Background(), c.ID); len(l) != 0 {
			t.Fatalf("refused requests stored tokens: %+v", l)
		}

		h.issueProvisioningToken(admin, c.ID, "<b>Okta</b>")
		list, err := h.db.ProvisioningTokens(context.Background(), c.ID)
		if err != nil || len(list) != 1 || list[0].Label != "<b>Okta</b>" {
			t.Fatalf("tokens: %+v, %v", list, err)
		}
		page := h.page(admin, "GET", h.baseA+"/admin/clients/"+c.ID, nil)
		if bytes.Contains(page.body, []byte("<b>Okta</b>")) || !bytes.Contains(page.body, []byte("&lt;b&gt;Okta&lt;/b&gt;")) {
			t.Error("the label is not escaped")
		}
		revoke := issue + "/" + list[0].ID + "/revoke"
		if r := h.page(admin, "POST", h.baseA+revoke, url.Values{}); r.status != http.StatusForbidden {
			t.Errorf("revoke without a CSRF token: %d", r.status)
		}
		if r := h.page(doc, "POST", h.baseA+revoke, url.Values{"csrf_token": {field(reCSRF, home.body)}}); r.status != http.StatusForbidden {
			t.Errorf("practitioner revokes: %d", r.status)
		}
		// Another client's path: 404, the token stays.
		if r := h.adminPost(admin, "/admin/clients/"+plain.ID, "/admin/clients/"+plain.ID+"/provisioning-tokens/"+list[0].ID+"/revoke", nil); r.status != http.StatusNotFound {
			t.Errorf("revoke through another client: %d", r.status)
		}
		if l, _ := h.db.ProvisioningTokens(context.Background(), c.ID); l[0].Revoked() {
			t.Fatal("revoked by a refused request")
		}
		if r := h.adminPost(admin, "/admin/clients/"+c.ID, revoke, nil); r.status != http.StatusSeeOther {
			t.Fatalf("revoke: %d", r.status)
		}
		if l, _ := h.db.ProvisioningTokens(context.Background(), c.ID); !l[0].Revoked() {
			t.Fatal("not revoked")
		}
	})
}
