package authz_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
)

func newRegEnv(t *testing.T, open bool) *env {
	return newEnv(t, func(c *authz.Config) {
		c.RegistrationPath = "/oauth/register"
		c.OpenRegistration = open
	})
}

func (e *env) ownToken(user, pass string) string {
	e.t.Helper()
	resp, m := e.owin(user, pass)
	tok, _ := m["access_token"].(string)
	if resp.StatusCode != http.StatusOK || tok == "" {
		e.t.Fatalf("OWin token for %s: %d %v", user, resp.StatusCode, m)
	}
	return tok
}

// call sends a JSON (or raw string) body with an optional bearer token.
func (e *env) call(method, path, token string, body any) (*http.Response, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			e.t.Fatalf("%s %s: %d, body is not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp, m
}

func (e *env) register(token string, body any) (*http.Response, map[string]any) {
	e.t.Helper()
	return e.call(http.MethodPost, "/oauth/register", token, body)
}

func (e *env) mustRegister(token string, body any) map[string]any {
	e.t.Helper()
	resp, m := e.register(token, body)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("register: %d %v", resp.StatusCode, m)
	}
	return m
}

func strs(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

func TestDCR1_RegistrationResponseFields(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	req := map[string]any{
		"client_name": "Full App", "redirect_uris": []string{"https://full.example/cb"},
		"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code", "refresh_token"},
		"response_types": []string{"code"}, "scope": "openid fhirUser launch/patient patient/*.rs",
		"contacts": []string{"ops@full.example"}, "logo_uri": "https://full.example/logo.png", "client_uri": "https://full.example/",
		"tos_uri": "https://full.example/tos", "policy_uri": "https://full.example/privacy", "software_id": "full-app",
		"software_version": "2.1", "launch_uri": "https://full.example/launch",
	}
	resp, m := e.register(admin, req)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d %v", resp.StatusCode, m)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	id, _ := m["client_id"].(string)
	secret, _ := m["client_secret"].(string)
	if id == "" || len(secret) < 43 {
		t.Fatalf("client_id %q / client_secret %q: want an id and a 256-bit secret", id, secret)
	}
	if exp, ok := m["client_secret_expires_at"].(float64); !ok || exp != 0 {
		t.Errorf("client_secret_expires_at = %v, want 0 (never)", m["client_secret_expires_at"])
	}
	if iat, ok := m["client_id_issued_at"].(float64); !ok || iat <= 0 {
		t.Errorf("client_id_issued_at = %v", m["client_id_issued_at"])
	}
	if tok, _ := m["registration_access_token"].(string); len(tok) < 43 {
		t.Errorf("registration_access_token = %q", tok)
	}
	if u, _ := m["registration_client_uri"].(string); u != e.base+"/oauth/register/"+id {
		t.Errorf("registration_client_uri = %q", u)
	}
	for k, want := range req {
		got := m[k]
		switch w := want.(type) {
		case string:
			if got != w {
				t.Errorf("%s = %v, want %q", k, got, w)
			}
		case []string:
			if !slices.Equal(strs(got), w) {
				t.Errorf("%s = %v, want %q", k, got, w)
			}
		}
	}
	// The secret authenticates the client (introspection needs a confidential client).
	r2, m2 := e.postForm("/oauth/introspect", url.Values{"token": {"nothing"}}, id, secret)
	if r2.StatusCode != http.StatusOK || m2["active"] != false {
		t.Fatalf("introspect with the issued secret: %d %v", r2.StatusCode, m2)
	}
	// A public client: no secret, no client_secret_expires_at.
	pub := e.mustRegister(admin, map[string]any{"redirect_uris": []string{"http://127.0.0.1:7000/cb"}, "token_endpoint_auth_method": "none"})
	if _, ok := pub["client_secret"]; ok {
		t.Errorf("public client got a secret: %v", pub)
	}
	if _, ok := pub["client_secret_expires_at"]; ok {
		t.Errorf("public client got client_secret_expires_at: %v", pub)
	}
	if !slices.Equal(strs(pub["response_types"]), []string{"code"}) || !slices.Equal(strs(pub["grant_types"]), []string{"authorization_code"}) {
		t.Errorf("defaults: %v", pub)
	}
}

func TestDCR2_ErrorsAre400WithRFC7591Codes(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	tests := []struct {
		name string
		body any
		code string
	}{
		{"bad redirect", map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}, "invalid_redirect_uri"},
		{"unknown auth method", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata"},
		{"implicit", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"implicit"}}, "invalid_client_metadata"},
		{"bad software statement", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "software_statement": "not-a-jwt"}, "invalid_software_statement"},
		{"not JSON", "redirect_uris=https://a.example/cb", "invalid_client_metadata"},
		{"array body", `[{"redirect_uris":["https://a.example/cb"]}]`, "invalid_client_metadata"},
		{"wrong member type", `{"redirect_uris":"https://a.example/cb"}`, "invalid_client_metadata"},
		{"bad scope", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "scope": "patient/*.xyz"}, "invalid_client_metadata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, m := e.register(admin, tc.body)
			wantError(t, resp, m, []int{400}, tc.code)
			if d, _ := m["error_description"].(string); d == "" {
				t.Errorf("no error_description: %v", m)
			}
		})
	}
	t.Run("form content type", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/register", strings.NewReader(`{"redirect_uris":["https://a.example/cb"]}`))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		wantError(t, resp, m, []int{400}, "invalid_client_metadata")
	})
	t.Run("too large", func(t *testing.T) {
		big := `{"client_name":"` + strings.Repeat("a", 200<<10) + `"}`
		resp, m := e.register(admin, big)
		wantError(t, resp, m, []int{400}, "invalid_client_metadata")
	})
}

func TestDCR3_JWKSAndJWKSURIMutuallyExclusive(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	k := newBackendKey(t, jose.ES384)
	resp, m := e.register(admin, map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks": json.RawMessage(k.jwks()), "jwks_uri": "https://keys.example/jwks", "scope": "system/*.rs"})
	wantError(t, resp, m, []int{400}, "invalid_client_metadata")
}

func TestDCR4_InconsistentGrantAndResponseTypes(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	k := newBackendKey(t, jose.ES384)
	for name, body := range map[string]map[string]any{
		"code without authorization_code": {"grant_types": []string{"client_credentials"}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(k.jwks())},
		"refresh_token alone": {"grant_types": []string{"refresh_token"}, "redirect_uris": []string{"https://a.example/cb"}},
		"token response type": {"response_types": []string{"token"}, "redirect_uris": []string{"https://a.example/cb"}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, m := e.register(admin, body)
			wantError(t, resp, m, []int{400}, "invalid_client_metadata")
		})
	}
	// Omitted response_types are corrected to what the grant needs, and shown.
	m := e.mustRegister(admin, map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://a.example/cb"}})
	if !slices.Equal(strs(m["response_types"]), []string{"code"}) {
		t.Errorf("response_types = %v, want [code]", m["response_types"])
	}
}

func TestDCR5_RedirectURIRules(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	for _, u := range []string{
		"http://app.example/cb", "https://app.example/cb#frag", "https://*.example/cb", "javascript:alert(1)",
		"data:text/html,x", "myapp:/cb", "/relative/cb", "https://user:pw@app.example/cb",
	} {
		resp, m := e.register(admin, map[string]any{"redirect_uris": []string{u}, "token_endpoint_auth_method": "none"})
		if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_redirect_uri" {
			t.Errorf("%q: %d %v, want 400 invalid_redirect_uri", u, resp.StatusCode, m)
		}
	}
	for _, u := range []string{"https://app.example/cb?x=1", "http://127.0.0.1:5555/cb", "http://[::1]/cb", "com.example.app:/oauth2redirect"} {
		m := e.mustRegister(admin, map[string]any{"redirect_uris": []string{u}, "token_endpoint_auth_method": "none"})
		if got := strs(m["redirect_uris"]); len(got) != 1 || got[0] != u {
			t.Errorf("%q registered as %v (must be stored exactly)", u, got)
		}
	}
	resp, m := e.register(admin, map[string]any{"token_endpoint_auth_method": "none"})
	wantError(t, resp, m, []int{400}, "invalid_redirect_uri")
}

func TestDCR6_SecretsHashedUniqueAndNotCached(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	body := map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "client_secret_post"}
	resp, m1 := e.register(admin, body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %v", resp.StatusCode, m1)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("Cache-Control %q, Pragma %q; want no-store, no-cache", cc, resp.Header.Get("Pragma"))
	}
	m2 := e.mustRegister(admin, body)
	if m1["client_id"] == m2["client_id"] || m1["client_secret"] == m2["client_secret"] {
		t.Fatal("two registrations share an id or a secret")
	}
	id, secret, rat := m1["client_id"].(string), m1["client_secret"].(string), m1["registration_access_token"].(string)
	c, err := e.db.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	sh, th := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(rat))
	if !bytes.Equal(c.SecretHash, sh[:]) || !bytes.Equal(c.RegistrationTokenHash, th[:]) {
		t.Fatal("the stored secret / registration token is not their SHA-256")
	}
	// Nothing in the database holds either in plain text.
	for _, v := range []string{secret, rat} {
		if tables, err := e.db.TablesHolding(context.Background(), v); err != nil || len(tables) != 0 {
			t.Fatalf("plain-text secret in the database: %v %v", tables, err)
		}
	}
}

func TestDCR7_InitialAccessTokenRequired(t *testing.T) {
	e := newRegEnv(t, false)
	body := map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "none"}

	resp, m := e.register("", body)
	wantError(t, resp, m, []int{401}, "invalid_token")
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || strings.Contains(ch, "error=") {
		t.Errorf("no-token challenge %q: want Bearer without an error code (RFC 6750 §3.1)", ch)
	}
	resp, m = e.register("not-a-token", body)
	wantError(t, resp, m, []int{401}, "invalid_token")
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
		t.Errorf("challenge %q", ch)
	}
	resp, m = e.register(e.ownToken("alice", "alice-pw"), body)
	wantError(t, resp, m, []int{403}, "insufficient_scope")
	if list, _ := e.db.ListClients(context.Background()); len(list) != 2 {
		t.Fatalf("refused registrations stored clients: %d", len(list))
	}
	// An administrator's token registers confidential clients and any scope.
	m = e.mustRegister(e.ownToken("root", "root-pw"), map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "scope": "user/*.cruds"})
	if m["token_endpoint_auth_method"] != "client_secret_basic" || m["scope"] != "user/*.cruds" {
		t.Errorf("admin registration: %v", m)
	}

	t.Run("open registration", func(t *testing.T) {
		e := newRegEnv(t, true)
		m := e.mustRegister("", map[string]any{"redirect_uris": []string{"http://127.0.0.1:7000/cb"}, "scope": "openid patient/*.cruds user/*.cruds"})
		if m["token_endpoint_auth_method"] != "none" {
			t.Errorf("open registration made a %v client", m["token_endpoint_auth_method"])
		}
		if _, ok := m["client_secret"]; ok {
			t.Error("open registration issued a secret")
		}
		if m["scope"] != "openid patient/*.rs user/*.rs" {
			t.Errorf("scope = %v, want narrowed to the open ceiling", m["scope"])
		}
		c, _ := e.db.GetClient(context.Background(), m["client_id"].(string))
		if c.Policy != authz.PolicyOpen || !c.Public {
			t.Errorf("stored %+v", c)
		}
		for _, bad := range []map[string]any{
			{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "client_secret_basic"},
			{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"},
			{"redirect_uris": []string{"https://a.example/cb"}, "scope": "system/*.rs"},
		} {
			resp, m := e.register("", bad)
			wantError(t, resp, m, []int{400}, "invalid_client_metadata")
		}
	})
}

func TestDCR9_JWKSValidatedAtRegistration(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	k := newBackendKey(t, jose.RS384)
	var good map[string]any
	json.Unmarshal([]byte(k.jwks()), &good)
	key := good["keys"].([]any)[0].(map[string]any)
	with := func(change func(map[string]any)) map[string]any {
		c := map[string]any{}
		for n, v := range key {
			c[n] = v
		}
		change(c)
		return map[string]any{"keys": []any{c}}
	}
	for name, jwks := range map[string]any{
		"no kid":         with(func(k map[string]any) { delete(k, "kid") }),
		"no kty":         with(func(k map[string]any) { delete(k, "kty") }),
		"rsa without n":  with(func(k map[string]any) { delete(k, "n") }),
		"private member": with(func(k map[string]any) { k["d"] = "AQAB" }),
		"symmetric":      map[string]any{"keys": []any{map[string]any{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}}},
		"empty":          map[string]any{"keys": []any{}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, m := e.register(admin, map[string]any{"grant_types": []string{"client_credentials"}, "jwks": jwks, "scope": "system/*.rs"})
			wantError(t, resp, m, []int{400}, "invalid_client_metadata")
		})
	}
	m := e.mustRegister(admin, map[string]any{"grant_types": []string{"client_credentials"}, "jwks": good, "scope": "system/*.rs"})
	if m["token_endpoint_auth_method"] != "private_key_jwt" {
		t.Fatalf("jwks registration: %v", m)
	}
	// The registered key works at the token endpoint (SMART Backend Services).
	id := m["client_id"].(string)
	resp, tm := e.backendToken(k.assert(t, id, e.base+"/oauth/token"), func(f url.Values) { f.Set("scope", "system/*.rs") })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("backend token with the registered key: %d %v", resp.StatusCode, tm)
	}
}

func TestDCR10_RegistrationEndpointAdvertisedConsistently(t *testing.T) {
	get := func(e *env, path string) map[string]any {
		resp, m := e.call(http.MethodGet, path, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return m
	}
	docs := []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration",
		"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"}
	e := newRegEnv(t, false)
	for _, d := range docs {
		if got := get(e, d)["registration_endpoint"]; got != e.base+"/oauth/register" {
			t.Errorf("%s registration_endpoint = %v", d, got)
		}
	}
	off := newEnv(t)
	for _, d := range docs {
		if got, ok := get(off, d)["registration_endpoint"]; ok {
			t.Errorf("without registration, %s advertises %v", d, got)
		}
	}
	resp, _ := http.Post(off.base+"/oauth/register", "application/json", strings.NewReader(`{}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /oauth/register without registration: %d, want 404", resp.StatusCode)
	}
}

func TestS12_ClientChosenIDIgnored(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	m := e.mustRegister(admin, map[string]any{"client_id": "root-id", "client_secret": "my own secret that is long enough!!",
		"redirect_uris": []string{"https://a.example/cb"}})
	if m["client_id"] == "root-id" || m["client_secret"] == "my own secret that is long enough!!" {
		t.Fatalf("client-chosen id or secret accepted: %v", m)
	}
	if _, err := e.db.GetClient(context.Background(), "root-id"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a client with the chosen id exists: %v", err)
	}
}

func TestL2_NoAuthMethodDowngrade(t *testing.T) {
	e := newRegEnv(t, false)
	admin := e.ownToken("root", "root-pw")
	k := newBackendKey(t, jose.ES384)
	m := e.mustRegister(admin, map[string]any{"redirect_uris": []string{"https://app.example/cb"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(k.jwks()), "scope": "openid patient/*.rs launch/patient"})
	id := m["client_id"].(string)
	if _, ok := m["client_secret"]; ok {
		t.Fatal("a private_key_jwt client got a secret")
	}
	c, err := e.db.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	code, verifier := e.codeFor(c, []string{"openid", "patient/*.rs"})
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example/cb"}, "code_verifier": {verifier}}
	attempts := map[string]func() (*http.Response, map[string]any){
		"as public": func() (*http.Response, map[string]any) {
			f := url.Values{"client_id": {id}}
			for n, v := range form {
				f[n] = v
			}
			return e.postForm("/oauth/token", f, "", "")
		},
		"basic, empty secret": func() (*http.Response, map[string]any) { return e.postForm("/oauth/token", form, id, "") },
		"basic, guessed":      func() (*http.Response, map[string]any) { return e.postForm("/oauth/token", form, id, "guess") },
		"post secret": func() (*http.Response, map[string]any) {
			f := url.Values{"client_id": {id}, "client_secret": {"guess"}}
			for n, v := range form {
				f[n] = v
			}
			return e.postForm("/oauth/token", f, "", "")
		},
	}
	for name, try := range attempts {
		resp, m := try()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Errorf("%s: %d %v, want invalid_client", name, resp.StatusCode, m)
		}
	}
	// With its key it succeeds.
	f := url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {k.assert(t, id, e.base+"/oauth/token")}}
	for n, v := range form {
		f[n] = v
	}
	resp, tm := e.postForm("/oauth/token", f, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("private_key_jwt exchange: %d %v", resp.StatusCode, tm)
	}
}

// registered registers a confidential client as the administrator and
// returns its id, secret and registration access token.
func (e *env) registered(body map[string]any) (string, string, string) {
	e.t.Helper()
	m := e.mustRegister(e.ownToken("root", "root-pw"), body)
	s, _ := m["client_secret"].(string)
	return m["client_id"].(string), s, m["registration_access_token"].(string)
}

func TestRFC7592_Read(t *testing.T) {
	e := newRegEnv(t, false)
	id, _, tok := e.registered(map[string]any{"client_name": "Readable", "redirect_uris": []string{"https://a.example/cb"}})
	other, _, otherTok := e.registered(map[string]any{"client_name": "Other", "redirect_uris": []string{"https://b.example/cb"}})
	resp, m := e.call(http.MethodGet, "/oauth/register/"+id, tok, nil)
	if resp.StatusCode != http.StatusOK || m["client_id"] != id || m["client_name"] != "Readable" ||
		m["registration_client_uri"] != e.base+"/oauth/register/"+id || m["registration_access_token"] != tok {
		t.Fatalf("read: %d %v", resp.StatusCode, m)
	}
	if _, ok := m["client_secret"]; ok {
		t.Error("read returned a client_secret (only its hash is kept)")
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q", cc)
	}
	// Wrong token, another client's token, an unknown client: one answer.
	var bodies []string
	for _, c := range []struct{ path, tok string }{
		{"/oauth/register/" + id, "wrong"}, {"/oauth/register/" + id, otherTok}, {"/oauth/register/nobody", otherTok},
		{"/oauth/register/" + other, tok},
	} {
		resp, m := e.call(http.MethodGet, c.path, c.tok, nil)
		wantError(t, resp, m, []int{401}, "invalid_token")
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("challenge %q", ch)
		}
		b, _ := json.Marshal(m)
		bodies = append(bodies, string(b))
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("answers differ, revealing existence: %q vs %q", b, bodies[0])
		}
	}
	resp, m = e.call(http.MethodGet, "/oauth/register/"+id, "", nil)
	wantError(t, resp, m, []int{401})
}

func TestRFC7592_Update(t *testing.T) {
	e := newRegEnv(t, false)
	id, secret, tok := e.registered(map[string]any{"client_name": "Before", "redirect_uris": []string{"https://a.example/cb"}})
	path := "/oauth/register/" + id
	upd := map[string]any{"client_id": id, "client_name": "After", "redirect_uris": []string{"https://a.example/cb2"}, "scope": "openid patient/*.rs"}
	resp, m := e.call(http.MethodPut, path, tok, upd)
	if resp.StatusCode != http.StatusOK || m["client_name"] != "After" || !slices.Equal(strs(m["redirect_uris"]), []string{"https://a.example/cb2"}) ||
		m["scope"] != "openid patient/*.rs" || m["client_id"] != id {
		t.Fatalf("update: %d %v", resp.StatusCode, m)
	}
	if _, ok := m["client_secret"]; ok {
		t.Error("an update that keeps the method returned a secret")
	}
	tok = m["registration_access_token"].(string) // rotated (issue 9 D4)
	c, _ := e.db.GetClient(context.Background(), id)
	if c.Name != "After" || !slices.Equal(c.RedirectURIs, []string{"https://a.example/cb2"}) {
		t.Fatalf("stored %+v", c)
	}
	// The old secret still works.
	if r, _ := e.postForm("/oauth/introspect", url.Values{"token": {"x"}}, id, secret); r.StatusCode != http.StatusOK {
		t.Fatalf("secret lost by update: %d", r.StatusCode)
	}
	bad := []map[string]any{
		{"client_name": "No id", "redirect_uris": []string{"https://a.example/cb"}},
		{"client_id": "someone-else", "redirect_uris": []string{"https://a.example/cb"}},
		{"client_id": id, "client_secret": "a new secret of my own choosing, long", "redirect_uris": []string{"https://a.example/cb"}},
	}
	for _, b := range bad {
		resp, m := e.call(http.MethodPut, path, tok, b)
		wantError(t, resp, m, []int{400}, "invalid_client_metadata")
	}
	resp, m = e.call(http.MethodPut, path, tok, map[string]any{"client_id": id, "redirect_uris": []string{"http://evil.example/cb"}})
	wantError(t, resp, m, []int{400}, "invalid_redirect_uri")
	// Including the current secret is allowed.
	resp, m = e.call(http.MethodPut, path, tok, map[string]any{"client_id": id, "client_secret": secret, "redirect_uris": []string{"https://a.example/cb"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("update with the current secret: %d %v", resp.StatusCode, m)
	}
	tok = m["registration_access_token"].(string)
	// A confidential client does not become public through its
	// registration access token (issue 9 review: the token alone would then
	// redeem codes without the secret); it keeps its secret.
	resp, m = e.call(http.MethodPut, path, tok, map[string]any{"client_id": id, "token_endpoint_auth_method": "none", "redirect_uris": []string{"https://a.example/cb"}})
	wantError(t, resp, m, []int{400}, "invalid_client_metadata")
	if c, _ := e.db.GetClient(context.Background(), id); c.SecretHash == nil || c.Public {
		t.Fatalf("refused update changed the client: %+v", c)
	}
	if r, _ := e.postForm("/oauth/introspect", url.Values{"token": {"x"}}, id, secret); r.StatusCode != http.StatusOK {
		t.Fatalf("the secret stopped working: %d", r.StatusCode)
	}
}

func TestRFC7592_UpdateOfOpenClientStaysUnderItsPolicy(t *testing.T) {
	e := newRegEnv(t, true)
	m := e.mustRegister("", map[string]any{"redirect_uris": []string{"http://127.0.0.1:7000/cb"}})
	id, tok := m["client_id"].(string), m["registration_access_token"].(string)
	resp, em := e.call(http.MethodPut, "/oauth/register/"+id, tok, map[string]any{"client_id": id,
		"redirect_uris": []string{"http://127.0.0.1:7000/cb"}, "token_endpoint_auth_method": "client_secret_basic"})
	wantError(t, resp, em, []int{400}, "invalid_client_metadata")
	resp, em = e.call(http.MethodPut, "/oauth/register/"+id, tok, map[string]any{"client_id": id,
		"redirect_uris": []string{"http://127.0.0.1:7000/cb"}, "scope": "user/*.cruds"})
	if resp.StatusCode != http.StatusOK || em["scope"] != "user/*.rs" {
		t.Fatalf("scope not narrowed on update: %d %v", resp.StatusCode, em)
	}
}

func TestRFC7592_Delete(t *testing.T) {
	e := newRegEnv(t, false)
	id, secret, tok := e.registered(map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "scope": "openid patient/*.rs launch/patient"})
	c, _ := e.db.GetClient(context.Background(), id)
	code, verifier := e.codeFor(c, []string{"openid", "patient/*.rs"})
	resp, tm := e.exchange(c, secret, code, verifier)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v", resp.StatusCode, tm)
	}
	access := tm["access_token"].(string)
	if e.introspect(access)["active"] != true {
		t.Fatal("token not active before delete")
	}
	resp, m := e.call(http.MethodDelete, "/oauth/register/"+id, "wrong", nil)
	wantError(t, resp, m, []int{401}, "invalid_token")
	resp, m = e.call(http.MethodDelete, "/oauth/register/"+id, tok, nil)
	if resp.StatusCode != http.StatusNoContent || m != nil {
		t.Fatalf("delete: %d %v", resp.StatusCode, m)
	}
	if _, err := e.db.GetClient(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("client still there: %v", err)
	}
	if e.introspect(access)["active"] != false {
		t.Fatal("the deleted client's token is still active")
	}
	resp, m = e.call(http.MethodGet, "/oauth/register/"+id, tok, nil)
	wantError(t, resp, m, []int{401}, "invalid_token")
	if r, _ := e.postForm("/oauth/introspect", url.Values{"token": {"x"}}, id, secret); r.StatusCode == http.StatusOK {
		t.Fatal("the deleted client still authenticates")
	}
}
