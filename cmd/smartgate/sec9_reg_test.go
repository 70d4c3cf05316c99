package main

// Issue 9, defect 4 and the registration and introspection items of "Also
// tighten", against the whole server (newApp) with real accounts and tokens.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/account"
)

// jsonCall sends a JSON body (or none) to the https listener with a bearer.
func (h *harness) jsonCall(method, path, token string, body any) *response {
	h.t.Helper()
	var hdr http.Header
	if body != nil {
		hdr = http.Header{"Content-Type": {"application/json"}}
	}
	return h.fhirRequest(h.t, method, h.baseA+path, token, body, hdr)
}

// ecKey is a P-384 key with its public JWK Set.
type ecKey struct {
	priv *ecdsa.PrivateKey
	jwks json.RawMessage
}

func newECKey(t *testing.T) ecKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "attacker", Algorithm: string(jose.ES384), Use: "sig"}}}
	b, _ := json.Marshal(set)
	return ecKey{priv: priv, jwks: b}
}

// ccWithKey asks for a client_credentials token as clientID with a
// private_key_jwt assertion signed by k.
func (h *harness) ccWithKey(k ecKey, clientID, scope string) *response {
	h.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: k.priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "attacker"))
	if err != nil {
		h.t.Fatal(err)
	}
	a, err := josejwt.Signed(signer).Claims(josejwt.Claims{Issuer: clientID, Subject: clientID,
		Audience: josejwt.Audience{h.baseA + "/oauth/token"}, ID: fmt.Sprintf("sec9-%d", h.jti.Add(1)),
		Expiry: josejwt.NewNumericDate(time.Now().Add(4 * time.Minute))}).Serialize()
	if err != nil {
		h.t.Fatal(err)
	}
	return h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}, nil)
}

// TestSec9D4_RegistrationTokenCannotMakeBackendService is the issue's
// repro: an administrator registers a public launch/patient
// patient/Observation.rs app; its registration access token then asks for
// client_credentials + private_key_jwt + system/*.cruds. The update is
// refused, the client is unchanged, and no client_credentials token (so no
// delete) can be had with the key it tried to register.
func TestSec9D4_RegistrationTokenCannotMakeBackendService(t *testing.T) {
	h := newHarness(t)
	admin := h.owin("admin", adminPassword)
	r := h.jsonCall(http.MethodPost, "/oauth/register", admin, map[string]any{"client_name": "Patient app",
		"redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"},
		"scope": "launch/patient patient/Observation.rs"})
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	id, rat := r.json["client_id"].(string), r.json["registration_access_token"].(string)
	k := newECKey(t)
	r = h.jsonCall(http.MethodPut, "/oauth/register/"+id, rat, map[string]any{"client_id": id, "client_name": "Patient app",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks": k.jwks, "scope": "system/*.cruds"})
	if r.status != http.StatusBadRequest || r.json["error"] != "invalid_client_metadata" {
		t.Errorf("widening update: %d %s, want 400 invalid_client_metadata", r.status, r.body)
	}
	if tr := h.ccWithKey(k, id, "system/*.cruds"); tr.status == http.StatusOK {
		tok, _ := tr.json["access_token"].(string)
		obs := h.searchIDs(admin, "Observation?_count=1")
		del := h.do(http.MethodDelete, obs[0], tok, nil)
		t.Fatalf("the widened client got a backend token (scope %v) and DELETE Observation answered %d", tr.json["scope"], del.status)
	} else if tr.json["error"] != "invalid_client" && tr.json["error"] != "unauthorized_client" {
		t.Errorf("client_credentials for the public client: %d %s", tr.status, tr.body)
	}
	if next, ok := r.json["registration_access_token"].(string); ok && r.status == http.StatusOK {
		rat = next // the old code accepted the update
	}
	got := h.jsonCall(http.MethodGet, "/oauth/register/"+id, rat, nil)
	if got.status != http.StatusOK || got.json["token_endpoint_auth_method"] != "none" || got.json["scope"] != "launch/patient patient/Observation.rs" ||
		fmt.Sprint(got.json["grant_types"]) != "[authorization_code]" || got.json["jwks"] != nil {
		t.Errorf("client after the refused update: %d %s", got.status, got.body)
	}
}

// TestSec9T_RegistrationRechecksAdministrator: an administrator's OWin
// token registers clients only while the account exists, is active and is
// still an administrator: after demotion 403 insufficient_scope, after
// deactivation 401 invalid_token, though the token itself has not expired.
func TestSec9T_RegistrationRechecksAdministrator(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	hasher := account.NewHasher(account.Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 2)
	tokens := map[string]string{}
	for _, name := range []string{"admin-demoted", "admin-gone"} {
		u, err := account.NewLocalUser(ctx, hasher, name, userPassword, []string{account.RoleAdmin}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		tokens[name] = h.owin(name, userPassword)
	}
	body := map[string]any{"redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "none", "scope": "openid"}
	for name, tok := range tokens {
		if r := h.jsonCall(http.MethodPost, "/oauth/register", tok, body); r.status != http.StatusCreated {
			t.Fatalf("%s while an administrator: %d %s", name, r.status, r.body)
		}
	}
	u, err := h.db.UserByName(ctx, "admin-demoted")
	if err != nil {
		t.Fatal(err)
	}
	u.Roles = []string{account.RolePractitioner}
	if err := h.db.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	gone, err := h.db.UserByName(ctx, "admin-gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.DeactivateUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	before, _ := h.db.ListClients(ctx)
	r := h.jsonCall(http.MethodPost, "/oauth/register", tokens["admin-demoted"], body)
	if r.status != http.StatusForbidden || r.json["error"] != "insufficient_scope" ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("demoted administrator: %d %s, want 403 insufficient_scope", r.status, r.body)
	}
	r = h.jsonCall(http.MethodPost, "/oauth/register", tokens["admin-gone"], body)
	if r.status != http.StatusUnauthorized || r.json["error"] != "invalid_token" {
		t.Errorf("deactivated administrator: %d %s, want 401 invalid_token", r.status, r.body)
	}
	if after, _ := h.db.ListClients(ctx); len(after) != len(before) {
		t.Errorf("refused registrations stored clients: %d → %d", len(before), len(after))
	}
	// The real administrator still registers.
	if r := h.jsonCall(http.MethodPost, "/oauth/register", h.owin("admin", adminPassword), body); r.status != http.StatusCreated {
		t.Errorf("administrator: %d %s", r.status, r.body)
	}
}

// TestSec9T_IntrospectAllIsAnAdministratorsFlag: a resource server that
// `smartgate client add --introspect-all` registered introspects tokens of
// every client; the same resource server without the flag gets
// {"active":false} for them, and so does the backend client of the harness.
func TestSec9T_IntrospectAllIsAnAdministratorsFlag(t *testing.T) {
	h := newHarness(t)
	secret := strings.Repeat("introspect-", 4)
	for _, c := range []struct {
		id    string
		extra []string
	}{{"rs-all", []string{"--introspect-all"}}, {"rs-own", nil}} {
		args := append([]string{"client", "add", "--id", c.id, "--secret-stdin", "--grant-types", "client_credentials", "--scope", "system/*.rs"}, c.extra...)
		if out, errOut, code := runInProcess(t, h.cfg.DataDir, secret+"\n", args...); code != 0 {
			t.Fatalf("client add %v: exit %d %s %s", c.extra, code, out, errOut)
		}
	}
	user := h.code(codeLaunch{user: "doc", password: userPassword, scope: "openid fhirUser user/*.rs"}).str("access_token")
	introspect := func(form url.Values, clientID string) map[string]any {
		t.Helper()
		form.Set("token", user)
		req, _ := http.NewRequest(http.MethodPost, h.baseA+"/oauth/introspect", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if clientID != "" {
			req.SetBasicAuth(clientID, secret)
		}
		resp, err := h.httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
			t.Fatalf("introspection as %s: %d", clientID, resp.StatusCode)
		}
		return m
	}
	if m := introspect(url.Values{}, "rs-all"); m["active"] != true || m["client_id"] != h.public {
		t.Errorf("--introspect-all resource server: %v, want active", m)
	}
	if m := introspect(url.Values{}, "rs-own"); len(m) != 1 || m["active"] != false {
		t.Errorf("resource server without --introspect-all: %v, want exactly {active:false}", m)
	}
	pkjwt := url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {h.backendAssertion()}}
	if m := introspect(pkjwt, ""); len(m) != 1 || m["active"] != false {
		t.Errorf("backend client (private_key_jwt): %v, want exactly {active:false}", m)
	}
}

// TestSec9D4_RegistrationTokenTTLSetting: --registration-token-ttl bounds
// the registration access token's life; past it GET answers 401
// invalid_token.
func TestSec9D4_RegistrationTokenTTLSetting(t *testing.T) {
	ts := wiredServer(t, "--registration-token-ttl", "300ms")
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"admin password for the tests"}}
	resp, err := http.PostForm(ts.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	call := func(method, path, bearer string, body any) (int, map[string]any) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, _ := http.NewRequest(method, ts.URL+path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	status, m := call(http.MethodPost, "/oauth/register", tok["access_token"].(string),
		map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "scope": "openid"})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, m)
	}
	id, rat := m["client_id"].(string), m["registration_access_token"].(string)
	if status, m := call(http.MethodGet, "/oauth/register/"+id, rat, nil); status != http.StatusOK {
		t.Fatalf("read at once: %d %v", status, m)
	}
	time.Sleep(400 * time.Millisecond)
	if status, m := call(http.MethodGet, "/oauth/register/"+id, rat, nil); status != http.StatusUnauthorized || m["error"] != "invalid_token" {
		t.Fatalf("read after the TTL: %d %v, want 401 invalid_token", status, m)
	}
}

// adminPages is a browser signed in as the administrator on the https
// listener.
type adminPages struct {
	h *harness
	c *http.Client
}

func (h *harness) adminPages() *adminPages {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &adminPages{h: h, c: &http.Client{Transport: h.httpc.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	page := b.get("/login")
	r := b.post("/login", url.Values{"csrf_token": {field(reCSRF, page)}, "return_to": {"/admin/clients"},
		"username": {"admin"}, "password": {adminPassword}})
	if r.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("administrator log-in: %d", r.StatusCode)
	}
	return b
}

func (b *adminPages) get(path string) []byte {
	b.h.t.Helper()
	resp, err := b.c.Get(b.h.baseA + path)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.h.t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, body)
	}
	return body
}

func (b *adminPages) post(path string, f url.Values) *http.Response {
	b.h.t.Helper()
	resp, err := b.c.PostForm(b.h.baseA+path, f)
	if err != nil {
		b.h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestSec9D4_AdministratorEditRaisesCeiling: what the registration access
// token may reach is what an administrator last set. Before the edit a
// wider scope is narrowed to the registered one; after an administrator
// widened the client on /admin/clients (and marked it introspect-all) the
// token may use the wider scope, and the client introspects other clients'
// tokens; an edit that clears the checkbox takes that back.
func TestSec9D4_AdministratorEditRaisesCeiling(t *testing.T) {
	h := newHarness(t)
	r := h.jsonCall(http.MethodPost, "/oauth/register", h.owin("admin", adminPassword), map[string]any{"client_name": "Reader",
		"redirect_uris": []string{"https://reader.example/cb"}, "scope": "openid patient/Observation.rs"})
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	id, secret, rat := r.json["client_id"].(string), r.json["client_secret"].(string), r.json["registration_access_token"].(string)
	put := func(scope string) string {
		t.Helper()
		r := h.jsonCall(http.MethodPut, "/oauth/register/"+id, rat, map[string]any{"client_id": id, "client_name": "Reader",
			"redirect_uris": []string{"https://reader.example/cb"}, "scope": scope})
		if r.status != http.StatusOK {
			t.Fatalf("update to %q: %d %s", scope, r.status, r.body)
		}
		rat = r.json["registration_access_token"].(string)
		return r.json["scope"].(string)
	}
	if got := put("openid patient/*.rs"); got != "openid patient/Observation.rs" {
		t.Fatalf("before the administrator's edit: scope %q, want it narrowed to openid patient/Observation.rs", got)
	}
	user := h.code(codeLaunch{user: "doc", password: userPassword, scope: "openid fhirUser user/*.rs"}).str("access_token")
	introspect := func() map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.baseA+"/oauth/introspect", strings.NewReader(url.Values{"token": {user}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := h.httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
			t.Fatalf("introspection: %d", resp.StatusCode)
		}
		return m
	}
	if m := introspect(); len(m) != 1 || m["active"] != false {
		t.Fatalf("before the checkbox: %v, want exactly {active:false}", m)
	}
	admin := h.adminPages()
	edit := func(scope string, all bool) {
		t.Helper()
		page := admin.get("/admin/clients/" + id)
		f := url.Values{"csrf_token": {field(reCSRF, page)}, "client_name": {"Reader"}, "redirect_uris": {"https://reader.example/cb"},
			"scope": {scope}, "token_endpoint_auth_method": {"client_secret_basic"}, "grant_types": {"authorization_code"}}
		if all {
			f.Set("introspect_all", "1")
		}
		if resp := admin.post("/admin/clients/"+id, f); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("administrator's edit: %d", resp.StatusCode)
		}
		if all != strings.Contains(string(admin.get("/admin/clients/"+id)), `name="introspect_all" value="1" checked`) {
			t.Fatalf("edit page does not show introspect_all=%v", all)
		}
	}
	edit("openid patient/*.rs", true)
	if got := put("openid patient/*.rs"); got != "openid patient/*.rs" {
		t.Errorf("after the administrator widened the client: scope %q", got)
	}
	if m := introspect(); m["active"] != true || m["client_id"] != h.public {
		t.Errorf("introspect-all set on the page: %v, want active", m)
	}
	edit("openid patient/*.rs", false)
	if m := introspect(); len(m) != 1 || m["active"] != false {
		t.Errorf("introspect-all cleared on the page: %v, want exactly {active:false}", m)
	}
	// The checkbox needs the page's CSRF token like every other field.
	if resp := admin.post("/admin/clients/"+id, url.Values{"client_name": {"Reader"}, "redirect_uris": {"https://reader.example/cb"},
		"scope": {"openid"}, "introspect_all": {"1"}}); resp.StatusCode < 400 {
		t.Errorf("edit without a CSRF token: %d", resp.StatusCode)
	}
	if m := introspect(); len(m) != 1 || m["active"] != false {
		t.Errorf("a forged edit set introspect-all: %v", m)
	}
}
