package main

// Issue 11 item 6: who may call SCIM. The SCIM authorizer (scim/scimauth)
// as newApp wires it, fed with real tokens from the real /oauth/token
// endpoint (client_credentials with a secret and with a key, OWin, the
// authorization code flow through the pages) and with provisioning tokens
// issued on the real client pages; and the registration paths of
// client_credentials with a client secret.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/scim"
)

// scimCaller asks the wired authorizer about a request whose Authorization
// header is authorization ("" for none).
func (h *harness) scimCaller(authorization string) (*scim.Caller, error) {
	req := httptest.NewRequest("GET", h.baseA+"/scim/v2/Users", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return h.app.scimAuth.AuthorizeSCIM(req)
}

// secretToken asks /oauth/token for a client_credentials token with
// client_secret_basic.
func (h *harness) secretToken(id, secret, scope string) *response {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.baseA+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
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

func (h *harness) mustSecretToken(id, secret, scope string) string {
	h.t.Helper()
	r := h.secretToken(id, secret, scope)
	tok, _ := r.json["access_token"].(string)
	if r.status != http.StatusOK || tok == "" || r.json["scope"] != scope {
		h.t.Fatalf("client_credentials %s %q: %d %s", id, scope, r.status, r.body)
	}
	return tok
}

// keyClient registers a private_key_jwt client with the harness's key.
func (h *harness) keyClient(nc authz.NewClient) string {
	h.t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: h.key.Public(), KeyID: "k1", Algorithm: string(jose.ES384), Use: "sig"}}}
	jwks, _ := json.Marshal(set)
	nc.GrantTypes, nc.TokenEndpointAuthMethod, nc.JWKS = []string{"client_credentials"}, authz.AuthPrivateKeyJWT, string(jwks)
	c, _, err := authz.CreateClient(context.Background(), h.db, nc, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return c.ID
}

// asClient runs f with the harness's backend (private_key_jwt) or public
// (authorization code) client switched to id.
func asClient(field *string, id string, f func()) {
	old := *field
	*field = id
	defer func() { *field = old }()
	f()
}

var reProvisioningToken = regexp.MustCompile(`data-provisioning-token="([^"]*)"`)

// issueProvisioningToken issues a token for client id on its edit page in
// the administrator's browser and returns it as the page showed it.
func (h *harness) issueProvisioningToken(admin *http.Client, id, label string) string {
	h.t.Helper()
	edit := h.page(admin, "GET", h.baseA+"/admin/clients/"+id, nil)
	r := h.page(admin, "POST", h.baseA+"/admin/clients/"+id+"/provisioning-tokens", url.Values{"csrf_token": {field(reCSRF, edit.body)}, "label": {label}})
	if r.status != http.StatusSeeOther {
		h.t.Fatalf("issue provisioning token: %d %.300s", r.status, r.body)
	}
	shown := h.page(admin, "GET", h.baseA+r.header.Get("Location"), nil)
	tok := field(reProvisioningToken, shown.body)
	if shown.status != http.StatusOK || !strings.HasPrefix(tok, "sgp_") {
		h.t.Fatalf("the page after issuing shows no token: %d %.500s", shown.status, shown.body)
	}
	if again := h.page(admin, "GET", h.baseA+r.header.Get("Location"), nil); bytes.Contains(again.body, []byte(tok)) {
		h.t.Fatal("the provisioning token is shown a second time")
	}
	return tok
}

// adminPost posts a CSRF-protected form on the page at path (the form's
// token from a GET of page).
func (h *harness) adminPost(admin *http.Client, page, target string, f url.Values) *response {
	h.t.Helper()
	p := h.page(admin, "GET", h.baseA+page, nil)
	if f == nil {
		f = url.Values{}
	}
	f.Set("csrf_token", field(reCSRF, p.body))
	return h.page(admin, "POST", h.baseA+target, f)
}

func TestIssue11SCIMAuthorizer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	admin := h.pageSession("admin", adminPassword)
	adminUser, err := h.db.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}

	// A provisioning client with a secret, allowed SCIM; another that an
	// administrator did not allow SCIM (it has the scope in its ceiling,
	// and system/ scopes it may use).
	allowed, allowedSecret, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "Entra ID", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"scim", "system/*.rs"}, AllowSCIM: true, AllowSystemScopes: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, otherSecret, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "Not SCIM", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"scim", "system/*.rs"}, AllowSystemScopes: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyed := h.keyClient(authz.NewClient{Name: "Okta by key", Scopes: []string{"scim", "system/*.rs"}, AllowSCIM: true})
	scimApp, _, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "SCIM console", RedirectURIs: []string{redirectURI},
		TokenEndpointAuthMethod: authz.AuthNone, Scopes: []string{"openid", "fhirUser", "scim", "user/*.rs"}, AllowSCIM: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// The not-allowed client is refused scim at the token endpoint.
	if r := h.secretToken(other.ID, otherSecret, "scim"); r.status != http.StatusBadRequest || r.json["error"] != "invalid_scope" {
		t.Fatalf("scim for a client not allowed SCIM: %d %s", r.status, r.body)
	}

	var keyedSCIM, keyedSystem string
	asClient(&h.backend, keyed, func() {
		keyedSCIM = h.backendToken("scim")
		keyedSystem = h.backendToken("system/*.rs")
	})
	var adminCode, adminCodeNoSCIM, docCodeSCIM string
	asClient(&h.public, scimApp.ID, func() {
		tr := h.code(codeLaunch{user: "admin", password: adminPassword, scope: "openid fhirUser scim"})
		if !slices.Contains(grantedScopes(tr), "scim") {
			t.Fatalf("admin's code flow with scim granted %q", tr.str("scope"))
		}
		adminCode = tr.str("access_token")
		docCodeSCIM = h.code(codeLaunch{user: "doc", password: userPassword, scope: "openid scim"}).str("access_token")
	})
	adminCodeNoSCIM = h.code(codeLaunch{user: "admin", password: adminPassword, scope: "openid fhirUser user/*.rs"}).str("access_token")

	revoked := h.owin("admin", adminPassword)
	// Revoke that one only: it is the only OWin token of admin so far.
	if err := h.app.authz.RevokeGrants(ctx, adminUser.ID, "owin"); err != nil {
		t.Fatal(err)
	}

	bearer := func(tok string) string { return "Bearer " + tok }
	type outcome struct {
		kind string // a scim.Caller kind, or ""
		err  error
	}
	cases := []struct {
		name, authorization string
		want                outcome
		subject, client     string
	}{
		{"NoHeader", "", outcome{err: scim.ErrNoCredentials}, "", ""},
		{"Basic", "Basic " + "YWRtaW46cGFzc3dvcmQ=", outcome{err: scim.ErrNoCredentials}, "", ""},
		{"Garbage", "Bearer not-a-token", outcome{err: scim.ErrNoCredentials}, "", ""},
		{"GarbageProvisioning", "Bearer sgp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", outcome{err: scim.ErrNoCredentials}, "", ""},
		{"SecretClientWithSCIM", bearer(h.mustSecretToken(allowed.ID, allowedSecret, "scim")), outcome{kind: scim.CallerClient}, allowed.ID, allowed.ID},
		{"SecretClientWithoutSCIM", bearer(h.mustSecretToken(allowed.ID, allowedSecret, "system/*.rs")), outcome{err: scim.ErrForbidden}, "", ""},
		{"NotAllowedClientSystemToken", bearer(h.mustSecretToken(other.ID, otherSecret, "system/*.rs")), outcome{err: scim.ErrForbidden}, "", ""},
		{"KeyClientWithSCIM", bearer(keyedSCIM), outcome{kind: scim.CallerClient}, keyed, keyed},
		{"KeyClientWithoutSCIM", bearer(keyedSystem), outcome{err: scim.ErrForbidden}, "", ""},
		{"HarnessBackendSystemToken", bearer(h.backendToken("system/*.rs")), outcome{err: scim.ErrForbidden}, "", ""},
		{"AdminOWin", bearer(h.owin("admin", adminPassword)), outcome{kind: scim.CallerAdmin}, adminUser.ID, "owin"},
		{"AdminCodeWithSCIM", bearer(adminCode), outcome{kind: scim.CallerAdmin}, adminUser.ID, scimApp.ID},
		{"AdminCodeWithoutSCIM", bearer(adminCodeNoSCIM), outcome{err: scim.ErrForbidden}, "", ""},
		{"PractitionerCodeWithSCIM", bearer(docCodeSCIM), outcome{err: scim.ErrForbidden}, "", ""},
		{"PractitionerOWin", bearer(h.owin("doc", userPassword)), outcome{err: scim.ErrForbidden}, "", ""},
		{"PatientOWin", bearer(h.owin("lind", userPassword)), outcome{err: scim.ErrForbidden}, "", ""},
		{"RevokedAdminOWin", bearer(revoked), outcome{err: scim.ErrNoCredentials}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := h.scimCaller(tc.authorization)
			if tc.want.err != nil {
				if !errors.Is(err, tc.want.err) || c != nil {
					t.Fatalf("AuthorizeSCIM = %+v, %v; want %v", c, err, tc.want.err)
				}
				return
			}
			if err != nil || c.Kind != tc.want.kind || c.Subject != tc.subject || c.ClientID != tc.client {
				t.Fatalf("AuthorizeSCIM = %+v, %v; want %s %s %s", c, err, tc.want.kind, tc.subject, tc.client)
			}
		})
	}

	t.Run("ClientDisabledAfterIssue", func(t *testing.T) {
		tok := bearer(h.mustSecretToken(allowed.ID, allowedSecret, "scim"))
		if r := h.adminPost(admin, "/admin/clients/"+allowed.ID, "/admin/clients/"+allowed.ID+"/disable", nil); r.status != http.StatusSeeOther {
			t.Fatalf("disable: %d", r.status)
		}
		if c, err := h.scimCaller(tok); c != nil || err == nil {
			t.Fatalf("token of a disabled client: %+v, %v", c, err)
		}
		if r := h.adminPost(admin, "/admin/clients/"+allowed.ID, "/admin/clients/"+allowed.ID+"/enable", nil); r.status != http.StatusSeeOther {
			t.Fatalf("enable: %d", r.status)
		}
	})

	t.Run("SCIMFlagClearedAfterIssue", func(t *testing.T) {
		tok := bearer(h.mustSecretToken(allowed.ID, allowedSecret, "scim"))
		err := h.db.UpdateClient(ctx, allowed.ID, func(c authz.Client) (authz.Client, error) { c.AllowSCIM = false; return c, nil })
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(authz.ClientCacheTTL + 100*time.Millisecond)
		if c, err := h.scimCaller(tok); !errors.Is(err, scim.ErrForbidden) {
			t.Fatalf("token of a client no longer allowed SCIM: %+v, %v; want ErrForbidden", c, err)
		}
		if r := h.secretToken(allowed.ID, allowedSecret, "scim"); r.status != http.StatusBadRequest {
			t.Fatalf("a new scim token after the flag was cleared: %d %s", r.status, r.body)
		}
		err = h.db.UpdateClient(ctx, allowed.ID, func(c authz.Client) (authz.Client, error) { c.AllowSCIM = true; return c, nil })
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(authz.ClientCacheTTL + 100*time.Millisecond)
	})

	t.Run("ProvisioningTokens", func(t *testing.T) {
		// A second provisioning client, to disable and delete.
		b, _, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "Okta", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"scim"}, AllowSCIM: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tokA := h.issueProvisioningToken(admin, allowed.ID, "Entra ID production")
		tokA2 := h.issueProvisioningToken(admin, allowed.ID, "Entra ID test")
		tokB := h.issueProvisioningToken(admin, b.ID, "Okta")
		want := func(what, tok, kind string, wantErr error) {
			t.Helper()
			c, err := h.scimCaller("Bearer " + tok)
			if wantErr != nil {
				if !errors.Is(err, wantErr) {
					t.Fatalf("%s: %+v, %v; want %v", what, c, err, wantErr)
				}
				return
			}
			if err != nil || c.Kind != kind || c.ClientID == "" || c.Subject != c.ClientID {
				t.Fatalf("%s: %+v, %v; want %s", what, c, err, kind)
			}
		}
		want("valid", tokA, scim.CallerProvisioning, nil)
		want("valid, other client", tokB, scim.CallerProvisioning, nil)

		// Disable B: its token stops, A's go on; enable: it works again.
		h.adminPost(admin, "/admin/clients/"+b.ID, "/admin/clients/"+b.ID+"/disable", nil)
		want("client disabled", tokB, "", scim.ErrNoCredentials)
		want("other client disabled", tokA, scim.CallerProvisioning, nil)
		h.adminPost(admin, "/admin/clients/"+b.ID, "/admin/clients/"+b.ID+"/enable", nil)
		want("client enabled again", tokB, scim.CallerProvisioning, nil)

		// Revoke A's first token on the page.
		list, err := h.db.ProvisioningTokens(ctx, allowed.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("tokens of %s: %+v, %v", allowed.ID, list, err)
		}
		var first string
		for _, tk := range list {
			if tk.Label == "Entra ID production" {
				first = tk.ID
			}
			if tk.LastUsedAt.IsZero() != (tk.Label == "Entra ID test") {
				t.Errorf("token %q last used %v", tk.Label, tk.LastUsedAt)
			}
		}
		r := h.adminPost(admin, "/admin/clients/"+allowed.ID, "/admin/clients/"+allowed.ID+"/provisioning-tokens/"+first+"/revoke", nil)
		if r.status != http.StatusSeeOther {
			t.Fatalf("revoke: %d %.300s", r.status, r.body)
		}
		want("revoked", tokA, "", scim.ErrNoCredentials)
		want("sibling of a revoked token", tokA2, scim.CallerProvisioning, nil)
		page := h.page(admin, "GET", h.baseA+"/admin/clients/"+allowed.ID, nil)
		if !bytes.Contains(page.body, []byte(`data-token-id="`+first+`"`)) || !bytes.Contains(page.body, []byte("revoked ")) ||
			!bytes.Contains(page.body, []byte("Entra ID production")) {
			t.Errorf("the edit page does not list the revoked token: %.2000s", page.body)
		}

		// Delete B: its token is gone.
		h.adminPost(admin, "/admin/clients/"+b.ID, "/admin/clients/"+b.ID+"/delete", nil)
		want("client deleted", tokB, "", scim.ErrNoCredentials)
		if l, err := h.db.ProvisioningTokens(ctx, b.ID); err != nil || len(l) != 0 {
			t.Fatalf("tokens of a deleted client: %+v, %v", l, err)
		}

		// Only hashes are stored: no column of any row holds a token.
		rows := h.provisioningRows()
		if len(rows) != 2 { // A's two; B's went with B
			t.Fatalf("provisioning token rows: %q", rows)
		}
		if !slices.ContainsFunc(rows, func(row string) bool { return strings.Contains(row, hexSHA256(tokA)) }) {
			t.Fatalf("no row holds the SHA-256 of token A: %q", rows)
		}
		for _, row := range rows {
			for _, tok := range []string{tokA, tokA2, tokB, strings.TrimPrefix(tokA, "sgp_"), strings.TrimPrefix(tokA2, "sgp_")} {
				if strings.Contains(row, tok) {
					t.Fatalf("a provisioning token is stored in plaintext: %q", row)
				}
			}
		}

		// Audit: issued, refused use, revoked.
		var issued, refused, revokedEv bool
		deadline := time.Now().Add(5 * time.Second)
		for !(issued && refused && revokedEv) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			evs, err := h.db.AuditEvents(ctx, audit.Filter{Limit: 10000})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				issued = issued || ev.Action == "issue provisioning token"
				revokedEv = revokedEv || ev.Action == "revoke provisioning token"
				refused = refused || (ev.Kind == "scim" && ev.Detail == "revoked provisioning token")
				for _, tok := range []string{tokA, tokA2, tokB} {
					if strings.Contains(ev.Detail+ev.Actor+ev.Resource, tok) {
						t.Fatalf("the audit log holds a token: %+v", ev)
					}
				}
			}
		}
		if !issued || !refused || !revokedEv {
			t.Errorf("audit: issued %v, refused %v, revoked %v", issued, refused, revokedEv)
		}
	})
}

// provisioningRows reads every provisioning_tokens row, each column as
// text (the hash in hex), from the database file itself.
func (h *harness) provisioningRows() []string {
	h.t.Helper()
	raw, err := sql.Open("sqlite", dbPath(h.cfg.DataDir)+"?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT id || '|' || client_id || '|' || label || '|' || hex(token_hash) || '|' || created_by || '|' ||
		created_at || '|' || last_used_at || '|' || revoked_at FROM provisioning_tokens`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// TestIssue11SCIMAuthorizerExpired: an administrator's expired OWin token
// is refused as no credentials.
func TestIssue11SCIMAuthorizerExpired(t *testing.T) {
	h := newHarness(t, "--access-token-ttl", "1s")
	expiring := h.owin("admin", adminPassword)
	time.Sleep(1100 * time.Millisecond)
	if c, err := h.scimCaller("Bearer " + expiring); !errors.Is(err, scim.ErrNoCredentials) {
		t.Errorf("expired administrator token: %+v, %v; want ErrNoCredentials", c, err)
	}
}

// TestIssue11SCIMAuthorizerDemotedDeactivated: the token of an
// administrator who was demoted, and of one whose account was deactivated,
// are refused at once.
func TestIssue11SCIMAuthorizerDemotedDeactivated(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	hasher := account.NewHasher(account.Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 2)
	tokens := map[string]string{}
	for _, name := range []string{"demoted", "gone"} {
		u, err := account.NewLocalUser(ctx, hasher, name, userPassword, []string{account.RoleAdmin}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		tokens[name] = h.owin(name, userPassword)
		if c, err := h.scimCaller("Bearer " + tokens[name]); err != nil || c.Kind != scim.CallerAdmin {
			t.Fatalf("%s before the change: %+v, %v", name, c, err)
		}
	}
	u, err := h.db.UserByName(ctx, "demoted")
	if err != nil {
		t.Fatal(err)
	}
	u.Roles = []string{account.RolePractitioner}
	if err := h.db.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if c, err := h.scimCaller("Bearer " + tokens["demoted"]); !errors.Is(err, scim.ErrForbidden) {
		t.Errorf("demoted administrator: %+v, %v; want ErrForbidden", c, err)
	}
	g, err := h.db.UserByName(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.DeactivateUser(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := h.scimCaller("Bearer " + tokens["gone"]); !errors.Is(err, scim.ErrNoCredentials) {
		t.Errorf("deactivated administrator: %+v, %v; want ErrNoCredentials", c, err)
	}
}
