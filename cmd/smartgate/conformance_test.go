package main

// Checklist tests that need the whole wired server (newApp): discovery
// (section A), fhirUser resolution (H7), the insecure interface (A14).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store/sqlite"
)

const covAdminPassword = "coverage-admin-password-0123"

// covServer is the wired application behind an httptest server that
// plays the HTTP listener (loopback, not secure).
type covServer struct {
	t    *testing.T
	base string
	db   *sqlite.DB
	app  *app
}

func newCovServer(t *testing.T) *covServer {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "SMARTGATE_ADMIN_PASSWORD" {
			return covAdminPassword
		}
		return ""
	}
	cfg, _, err := config.Load("serve", []string{"--data", filepath.Join(dir, "data"), "--http-addr", srv.Listener.Addr().String(),
		"--http-url", base, "--https-addr", ""}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	db, err := openSQLiteStore(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := newApp(ctx, cfg, db, logger, &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	srv.Config.Handler = listener.Middleware(listener.Info{Name: "http", BaseURL: base, Loopback: true}, a.handler)
	srv.Start()
	t.Cleanup(srv.Close)
	return &covServer{t: t, base: base, db: db, app: a}
}

func (s *covServer) get(path string, hdr ...string) (*http.Response, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

var smartConfigPaths = []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"}

// smartConfigs fetches both SMART configuration documents.
func (s *covServer) smartConfigs() map[string]map[string]any {
	s.t.Helper()
	out := map[string]map[string]any{}
	for _, p := range smartConfigPaths {
		resp, b := s.get(p)
		if resp.StatusCode != 200 {
			s.t.Fatalf("%s: %d %s", p, resp.StatusCode, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Fatalf("%s: not JSON: %v", p, err)
		}
		out[p] = m
	}
	return out
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

func TestA1_SMARTConfigurationIsJSON(t *testing.T) {
	s := newCovServer(t)
	for _, p := range smartConfigPaths {
		resp, b := s.get(p)
		if resp.StatusCode != 200 || !json.Valid(b) {
			t.Fatalf("%s: %d, valid JSON %v", p, resp.StatusCode, json.Valid(b))
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: not a JSON object: %v", p, err)
		}
	}
}

func TestA2_JSONWhateverTheAcceptHeader(t *testing.T) {
	s := newCovServer(t)
	for _, p := range smartConfigPaths {
		for _, accept := range []string{"", "application/json", "application/fhir+json", "text/html", "application/xml", "*/*"} {
			var hdr []string
			if accept != "" {
				hdr = []string{"Accept", accept}
			}
			resp, b := s.get(p, hdr...)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(b) {
				t.Errorf("%s Accept %q: %d %s", p, accept, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	}
}

func TestA3_EndpointsAndCapabilities(t *testing.T) {
	s := newCovServer(t)
	for p, m := range s.smartConfigs() {
		for _, f := range []string{"authorization_endpoint", "token_endpoint"} {
			if v, _ := m[f].(string); v == "" {
				t.Errorf("%s: %s = %#v", p, f, m[f])
			}
		}
		if caps := strList(m["capabilities"]); len(caps) == 0 {
			t.Errorf("%s: capabilities = %#v, want a non-empty array of strings", p, m["capabilities"])
		}
	}
}

func TestA4_GrantTypes(t *testing.T) {
	s := newCovServer(t)
	for p, m := range s.smartConfigs() {
		g := strList(m["grant_types_supported"])
		if !slices.Contains(g, "authorization_code") || !slices.Contains(g, "client_credentials") {
			t.Errorf("%s: grant_types_supported = %v", p, g)
		}
		if slices.Contains(g, "password") || slices.Contains(g, "implicit") {
			t.Errorf("%s: advertises %v to SMART clients (D20/S8)", p, g)
		}
	}
}

func TestA5_PKCEMethods(t *testing.T) {
	s := newCovServer(t)
	for p, m := range s.smartConfigs() {
		c := strList(m["code_challenge_methods_supported"])
		if !slices.Contains(c, "S256") || slices.Contains(c, "plain") {
			t.Errorf("%s: code_challenge_methods_supported = %v", p, c)
		}
	}
}

func TestA6_IssuerAndJWKSWithSSO(t *testing.T) {
	s := newCovServer(t)
	_, b := s.get("/.well-known/openid-configuration")
	var oidc map[string]any
	json.Unmarshal(b, &oidc)
	for p, m := range s.smartConfigs() {
		if !slices.Contains(strList(m["capabilities"]), "sso-openid-connect") {
			if _, ok := m["issuer"]; ok {
				t.Errorf("%s: issuer without sso-openid-connect", p)
			}
			continue
		}
		iss, _ := m["issuer"].(string)
		jwks, _ := m["jwks_uri"].(string)
		if iss == "" || jwks == "" || iss != oidc["issuer"] || jwks != oidc["jwks_uri"] {
			t.Errorf("%s: issuer %q jwks_uri %q; openid-configuration %v %v", p, iss, jwks, oidc["issuer"], oidc["jwks_uri"])
		}
	}
}

func TestA7_EndpointURLsAbsolute(t *testing.T) {
	s := newCovServer(t)
	for p, m := range s.smartConfigs() {
		n := 0
		for k, v := range m {
			if !strings.HasSuffix(k, "_endpoint") && k != "jwks_uri" && k != "issuer" {
				continue
			}
			n++
			str, _ := v.(string)
			u, err := url.Parse(str)
			if err != nil || !u.IsAbs() || u.Host == "" || !strings.HasPrefix(str, s.base+"/") && str != s.base {
				t.Errorf("%s: %s = %q is not an absolute URL of this listener", p, k, str)
			}
		}
		if n < 6 {
			t.Errorf("%s: only %d endpoint URLs", p, n)
		}
	}
}

func TestA8_TokenEndpointAuthMethods(t *testing.T) {
	s := newCovServer(t)
	for p, m := range s.smartConfigs() {
		got := strList(m["token_endpoint_auth_methods_supported"])
		slices.Sort(got)
		if !slices.Equal(got, []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}) {
			t.Errorf("%s: token_endpoint_auth_methods_supported = %v", p, got)
		}
		if !slices.Contains(strList(m["capabilities"]), "client-public") {
			t.Errorf("%s: public clients not signalled by client-public", p)
		}
	}
}

func TestA9_AsymmetricClientAdvertising(t *testing.T) {
	s := newCovServer(t)
	for p, m := range s.smartConfigs() {
		if !slices.Contains(strList(m["capabilities"]), "client-confidential-asymmetric") {
			continue
		}
		algs := strList(m["token_endpoint_auth_signing_alg_values_supported"])
		if !slices.Contains(strList(m["token_endpoint_auth_methods_supported"]), "private_key_jwt") ||
			!slices.Contains(algs, "RS384") && !slices.Contains(algs, "ES384") || len(strList(m["scopes_supported"])) == 0 {
			t.Errorf("%s: asymmetric advertised without private_key_jwt / RS384|ES384 / scopes_supported: %v", p, m)
		}
	}
}

func TestA10_RecommendedFields(t *testing.T) {
	s := newCovServer(t)
	plain := []string{"openid", "fhirUser", "profile", "email", "offline_access", "online_access", "launch", "launch/patient", "launch/encounter"}
	for p, m := range s.smartConfigs() {
		if !slices.Equal(strList(m["response_types_supported"]), []string{"code"}) {
			t.Errorf("%s: response_types_supported = %v", p, m["response_types_supported"])
		}
		for _, f := range []string{"introspection_endpoint", "revocation_endpoint", "management_endpoint"} {
			if v, _ := m[f].(string); v == "" {
				t.Errorf("%s: %s missing", p, f)
			}
		}
		// The management endpoint is a real page (log-in first).
		if u, _ := m["management_endpoint"].(string); u != "" {
			resp, _ := noFollow().Get(u)
			if resp == nil || resp.StatusCode != 200 && resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
				t.Errorf("%s: management_endpoint %s answers %v", p, u, resp)
			}
		}
		// The registration endpoint, when advertised, exists.
		if u, _ := m["registration_endpoint"].(string); u != "" {
			resp, err := http.Post(u, "application/json", strings.NewReader("{}"))
			if err != nil || resp.StatusCode == 404 || resp.StatusCode == 405 {
				t.Errorf("%s: registration_endpoint %s: %v %v", p, u, resp, err)
			}
		}
		scopes := strList(m["scopes_supported"])
		if len(scopes) == 0 {
			t.Errorf("%s: scopes_supported missing", p)
		}
		for _, sc := range scopes {
			if _, err := smart.ParseScope(sc); err != nil && !slices.Contains(plain, sc) {
				t.Errorf("%s: scopes_supported lists %q, which the scope grammar refuses: %v", p, sc, err)
			}
		}
	}
}

func noFollow() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// smartCapabilities are the capabilities SMART App Launch 2.2 defines.
var smartCapabilities = []string{"launch-ehr", "launch-standalone", "authorize-post", "client-public", "client-confidential-symmetric",
	"client-confidential-asymmetric", "sso-openid-connect", "context-banner", "context-style", "context-passthrough-banner",
	"context-passthrough-style", "context-ehr-patient",
	"context-ehr-encounter", "context-standalone-patient", "context-standalone-encounter", "permission-offline",
	"permission-online", "permission-patient", "permission-user", "permission-v1", "permission-v2", "smart-app-state"}

func TestA11_CapabilitiesTruthfulAndComplete(t *testing.T) {
	s := newCovServer(t)
	// The g10 standalone set (SMART 2), which this build supports.
	standalone := []string{"launch-standalone", "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
		"authorize-post", "sso-openid-connect", "context-standalone-patient", "permission-offline", "permission-online",
		"permission-patient", "permission-user", "permission-v1", "permission-v2"}
	for p, m := range s.smartConfigs() {
		caps := strList(m["capabilities"])
		for _, c := range standalone {
			if !slices.Contains(caps, c) {
				t.Errorf("%s: capability %s missing", p, c)
			}
		}
		for _, c := range caps {
			if u, err := url.Parse(c); !slices.Contains(smartCapabilities, c) && (err != nil || !u.IsAbs()) {
				t.Errorf("%s: %q is neither a SMART capability nor a full URI", p, c)
			}
		}
		// EHR launch is advertised only as a whole, and only with a launch
		// resolver wired (the EHR-launch feature).
		if ehr := slices.Contains(caps, "launch-ehr"); ehr {
			for _, c := range []string{"context-ehr-patient", "context-banner", "context-style", "context-passthrough-banner",
				"context-passthrough-style", "permission-user"} {
				if !slices.Contains(caps, c) {
					t.Errorf("%s: launch-ehr without %s", p, c)
				}
			}
		} else if slices.Contains(caps, "context-ehr-patient") {
			t.Errorf("%s: context-ehr-patient without launch-ehr", p)
		}
	}
	// authorize-post is true: a POSTed authorization request is accepted
	// (it answers like GET: to the log-in page).
	c := s.publicClient("http://127.0.0.1:9/cb")
	_, q := s.authorizeValues(c, "openid")
	resp, err := noFollow().PostForm(s.base+"/oauth/authorize", q)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "/login") {
		t.Errorf("POST authorize: %d %s", resp.StatusCode, loc)
	}
}

func TestA12_DiscoveryCORSAnyOrigin(t *testing.T) {
	s := newCovServer(t)
	for _, p := range smartConfigPaths {
		resp, _ := s.get(p, "Origin", "https://x.example")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://x.example" && got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin = %q", p, got)
		}
	}
}

func TestA15_BrandFieldsConsistent(t *testing.T) {
	s := newCovServer(t)
	for p, m := range s.smartConfigs() {
		_, bundle := m["user_access_brand_bundle"]
		_, ident := m["user_access_brand_identifier"]
		if bundle && !ident {
			t.Errorf("%s: user_access_brand_bundle without user_access_brand_identifier", p)
		}
		if ae, ok := m["associated_endpoints"]; ok {
			l, _ := ae.([]any)
			for _, e := range l {
				o, _ := e.(map[string]any)
				if u, _ := o["url"].(string); u == "" || len(strList(o["capabilities"])) == 0 {
					t.Errorf("%s: associated_endpoints entry %v", p, e)
				}
			}
		}
	}
}

func (s *covServer) publicClient(redirect string) *authz.Client {
	s.t.Helper()
	c, _, err := authz.CreateClient(context.Background(), s.db, authz.NewClient{Name: "Coverage App", RedirectURIs: []string{redirect},
		TokenEndpointAuthMethod: authz.AuthNone, Scopes: []string{"openid", "fhirUser", "profile", "launch/patient", "patient/*.rs", "offline_access"}}, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// authorizeValues builds an authorization request with PKCE and returns
// the verifier and the parameters.
func (s *covServer) authorizeValues(c *authz.Client, scope string) (string, url.Values) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]},
		"scope": {scope}, "state": {"st-0123456789"}, "aud": {s.base + "/fhir"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
}

func TestA14_InsecureInterfaceOnlyForLoopbackRedirects(t *testing.T) {
	s := newCovServer(t)
	// Discovery through the HTTP listener names that listener's URLs…
	for p, m := range s.smartConfigs() {
		if ae, _ := m["authorization_endpoint"].(string); ae != s.base+"/oauth/authorize" {
			t.Errorf("%s: authorization_endpoint %q", p, ae)
		}
	}
	// …and the flow over it works only for loopback redirect URIs.
	remote := s.publicClient("https://app.example/cb")
	_, q := s.authorizeValues(remote, "openid patient/*.rs")
	resp, err := noFollow().Get(s.base + "/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var refusal map[string]any
	json.NewDecoder(resp.Body).Decode(&refusal)
	resp.Body.Close()
	// A JSON 400, never a redirect: no authorization response (an error
	// included) over plain HTTP for a non-loopback redirect URI (S2).
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || refusal["error"] != "invalid_request" {
		t.Fatalf("non-loopback redirect over plain HTTP: %d Location %q %v", resp.StatusCode, resp.Header.Get("Location"), refusal)
	}
	local := s.publicClient("http://127.0.0.1:9/cb")
	_, q = s.authorizeValues(local, "openid patient/*.rs")
	resp, err = noFollow().Get(s.base + "/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l := resp.Header.Get("Location"); !strings.HasPrefix(l, "/login") {
		t.Fatalf("loopback client over plain HTTP not sent to log in: %d %s", resp.StatusCode, l)
	}
}

var (
	covHidden   = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	covCheckbox = regexp.MustCompile(`<input type="checkbox" id="scope-\d+" name="scope" value="([^"]+)" checked>`)
)

// browse drives the real log-in and consent pages from start until the
// browser is sent to the app's redirect URI, and returns that URL.
func (s *covServer) browse(start, username, password, appHost string) *url.URL {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next, _ := url.Parse(start)
	var form url.Values
	for i := 0; i < 12; i++ {
		var resp *http.Response
		var err error
		if form != nil {
			resp, err = b.PostForm(next.String(), form)
		} else {
			resp, err = b.Get(next.String())
		}
		if err != nil {
			s.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		form = nil
		if resp.StatusCode/100 == 3 {
			loc, err := next.Parse(resp.Header.Get("Location"))
			if err != nil {
				s.t.Fatal(err)
			}
			if loc.Host == appHost {
				return loc
			}
			next = loc
			continue
		}
		if resp.StatusCode != 200 {
			s.t.Fatalf("%s: %d %s", next, resp.StatusCode, body)
		}
		page := string(body)
		form = url.Values{}
		for _, m := range covHidden.FindAllStringSubmatch(page, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		switch {
		case strings.Contains(page, `name="password"`):
			form.Set("username", username)
			form.Set("password", password)
			next, _ = next.Parse("/login")
		case strings.Contains(page, `name="decision"`):
			for _, m := range covCheckbox.FindAllStringSubmatch(page, -1) {
				form.Add("scope", html.UnescapeString(m[1]))
			}
			form.Set("decision", "approve")
			next, _ = next.Parse("/consent")
		default:
			s.t.Fatalf("unexpected page at %s:\n%s", next, page)
		}
	}
	s.t.Fatal("no redirect to the app after 12 steps")
	return nil
}

func TestH7_FHIRUserResolvableWithAccessToken(t *testing.T) {
	s := newCovServer(t)
	ctx := context.Background()
	// A Patient resource, written with the administrator's OWin token.
	resp, err := http.PostForm(s.base+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {covAdminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	var owin map[string]any
	json.NewDecoder(resp.Body).Decode(&owin)
	resp.Body.Close()
	admin, _ := owin["access_token"].(string)
	if admin == "" {
		t.Fatalf("admin OWin token: %d %v", resp.StatusCode, owin)
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+"/fhir/Patient", strings.NewReader(`{"resourceType":"Patient","name":[{"family":"Seven","given":["Hanna"]}]}`))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	pid, _ := created["id"].(string)
	if resp.StatusCode != 201 || pid == "" {
		t.Fatalf("create Patient: %d %v", resp.StatusCode, created)
	}
	// A patient account whose fhirUser is that resource.
	u, err := account.NewLocalUser(ctx, account.NewHasher(account.Params{}, 1), "hanna", "hanna-password-0123", []string{account.RolePatient}, "Patient/"+pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	c := s.publicClient("http://127.0.0.1:9/cb")
	verifier, q := s.authorizeValues(c, "openid fhirUser launch/patient patient/*.rs")
	back := s.browse(s.base+"/oauth/authorize?"+q.Encode(), "hanna", "hanna-password-0123", "127.0.0.1:9")
	code := back.Query().Get("code")
	if code == "" || back.Query().Get("state") != "st-0123456789" {
		t.Fatalf("redirect to the app: %s", back)
	}
	resp, err = http.PostForm(s.base+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.RedirectURIs[0]}, "client_id": {c.ID}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	idt, _ := tok["id_token"].(string)
	at, _ := tok["access_token"].(string)
	if resp.StatusCode != 200 || idt == "" || at == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, tok)
	}
	parts := strings.Split(idt, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	fu, _ := claims["fhirUser"].(string)
	ref, err := url.Parse(fu)
	if fu == "" || err != nil {
		t.Fatalf("fhirUser claim = %v", claims["fhirUser"])
	}
	target, _ := url.Parse(s.base + "/fhir/")
	target = target.ResolveReference(ref)
	typ := strings.Split(strings.TrimPrefix(target.Path, "/fhir/"), "/")[0]
	if !slices.Contains([]string{"Patient", "Practitioner", "RelatedPerson", "Person"}, typ) {
		t.Fatalf("fhirUser %q names a %s", fu, typ)
	}
	req, _ = http.NewRequest(http.MethodGet, target.String(), nil)
	req.Header.Set("Authorization", "Bearer "+at)
	req.Header.Set("Accept", "application/fhir+json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != 200 || res["resourceType"] != typ || res["id"] != pid {
		t.Fatalf("GET %s with the access token: %d %v", target, resp.StatusCode, res)
	}
}
