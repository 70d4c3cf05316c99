package main

// The harness of the FHIR scope-enforcement tests (enforce_test.go): the
// whole server built by newApp, served by two httptest listeners (an
// "https" one with TLS and a plain "http" one, like serve), Synthea demo
// patients imported, local accounts created through the store, and real
// tokens from the real endpoints: the authorization code flow driven through
// the login, patient-picker and consent pages; OWin password tokens; and
// client_credentials with a private_key_jwt assertion.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/demo"
	"github.com/smartgate/smartgate/fhir/search"
	fhirupstream "github.com/smartgate/smartgate/fhir/upstream"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store/sqlite"
)

const (
	adminPassword = "admin-password-for-tests"
	userPassword  = "correct horse battery staple"
	redirectURI   = "http://127.0.0.1:9/callback"
	launchURI     = "http://127.0.0.1:9/launch"
	labCategory   = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
)

// harness is one running server with data, accounts and clients.
type harness struct {
	t  *testing.T
	db *sqlite.DB
	// data is where the FHIR data is: db, or in proxy mode (newProxyHarness)
	// the upstream server, reached without access control.
	data    fhir.Store
	app     *app
	cfg     *config.Config
	secure  *httptest.Server // the "https" listener
	plain   *httptest.Server // the "http" listener
	httpc   *http.Client     // trusts the test certificate; never follows redirects
	baseA   string           // https listener base URL
	baseB   string           // http listener base URL
	public  string           // public client id (authorization code + PKCE)
	backend string           // client_credentials client id
	key     *ecdsa.PrivateKey
	jti     atomic.Int64

	// Patients by family name (Lind, Yundt, Gerhold) → Patient id.
	patients map[string]string

	tokens map[string]string
}

// newHarness builds a server on a fresh data directory; args are extra
// serve flags.
func newHarness(t *testing.T, args ...string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, patients: map[string]string{}, tokens: map[string]string{}}
	h.secure = httptest.NewUnstartedServer(nil)
	h.plain = httptest.NewUnstartedServer(nil)
	h.baseA = "https://" + h.secure.Listener.Addr().String()
	h.baseB = "http://" + h.plain.Listener.Addr().String()
	cfg := h.config(dir, h.baseA, h.baseB, args...)
	h.cfg = cfg
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	db, err := openSQLiteStore(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	h.data = db
	if cfg.Upstream.URL != "" {
		if h.data, err = fhirupstream.New(fhirupstream.Config{BaseURL: cfg.Upstream.URL}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := newApp(ctx, cfg, db, logger, h.env())
	if err != nil {
		t.Fatal(err)
	}
	h.app = a
	h.secure.Config.Handler = listener.Middleware(listener.Info{Name: "https", BaseURL: h.baseA, Secure: true, Loopback: true}, a.handler)
	h.plain.Config.Handler = listener.Middleware(listener.Info{Name: "http", BaseURL: h.baseB, Loopback: true}, a.handler)
	h.secure.StartTLS()
	h.plain.Start()
	t.Cleanup(func() {
		h.secure.Close()
		h.plain.Close()
		a.close()
		db.Close()
	})
	h.httpc = &http.Client{
		Transport:     h.secure.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	h.importDemo()
	h.createAccounts()
	h.createClients()
	return h
}

func (h *harness) env() *env {
	return &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		if k == "SMARTGATE_ADMIN_PASSWORD" {
			return adminPassword
		}
		return ""
	}}
}

// config is the configuration serve would load for these listeners.
func (h *harness) config(dir, httpsURL, httpURL string, args ...string) *config.Config {
	h.t.Helper()
	cfg, _, err := config.Load("serve", append([]string{"--data", dir,
		"--https-addr", strings.TrimPrefix(httpsURL, "https://"), "--https-url", httpsURL,
		"--http-addr", strings.TrimPrefix(httpURL, "http://"), "--http-url", httpURL,
	}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

func (h *harness) importDemo() {
	h.t.Helper()
	reg, err := search.Load()
	if err != nil {
		h.t.Fatal(err)
	}
	files, err := fs.Glob(demo.Bundles, "*.json")
	if err != nil || len(files) < 3 {
		h.t.Fatalf("demo bundles: %v %v", files, err)
	}
	for _, f := range files {
		r, err := demo.Bundles.Open(f)
		if err != nil {
			h.t.Fatal(err)
		}
		if _, err := fhir.Import(context.Background(), h.data, r, fhir.ImportOptions{Registry: reg}); err != nil {
			h.t.Fatalf("import %s: %v", f, err)
		}
		r.Close()
	}
	search := func(query string) []string { return h.searchIDs(h.owin("admin", adminPassword), query) }
	if h.cfg.AdminSecondFactor == config.SecondFactorRequired || h.cfg.AccessTokenTTL < time.Minute {
		// The administrator has no second factor yet, so no OWin token;
		// or the test shortened the tokens' life so much that one may
		// expire between issue and use (exp is in whole seconds): search
		// in process, without access control.
		search = h.searchUnchecked(reg)
	}
	for _, family := range []string{"Lind", "Yundt", "Gerhold"} {
		b := search("Patient?family=" + family)
		if len(b) != 1 {
			h.t.Fatalf("Patient?family=%s: %v", family, b)
		}
		h.patients[family] = b[0]
	}
}

// searchUnchecked runs searches on a FHIR endpoint of the harness's store
// without access control, in process, and returns what searchIDs does.
func (h *harness) searchUnchecked(reg *search.Registry) func(query string) []string {
	mux := http.NewServeMux()
	fhir.New(fhir.Config{AccessControlOff: true, Registry: reg}, h.data, nil).Register(mux)
	return func(query string) []string {
		h.t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/fhir/"+query, nil))
		var b map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &b); rec.Code != http.StatusOK || err != nil {
			h.t.Fatalf("GET %s: %d %v %s", query, rec.Code, err, rec.Body)
		}
		ids, _ := entries(b, "match")
		return ids
	}
}

// createAccounts: a practitioner, two patient users (Lind and Yundt), a
// patient account without a linked record ("norecord", what `smartgate user
// add` makes by default) and an account with no role ("norole").
func (h *harness) createAccounts() {
	h.t.Helper()
	hasher := account.NewHasher(account.Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 2)
	for _, u := range []struct {
		name, role, fhirUser string
	}{
		{"doc", "practitioner", "Practitioner/doc-1"},
		{"lind", "patient", "Patient/" + h.patients["Lind"]},
		{"yundt", "patient", "Patient/" + h.patients["Yundt"]},
		{"norecord", "patient", ""},
		{"norole", "", ""},
	} {
		var roles []string
		if u.role != "" {
			roles = []string{u.role}
		}
		acc, err := account.NewLocalUser(context.Background(), hasher, u.name, userPassword, roles, u.fhirUser)
		if err != nil {
			h.t.Fatal(err)
		}
		if err := h.db.CreateUser(context.Background(), acc); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) createClients() {
	h.t.Helper()
	ctx := context.Background()
	c, _, err := authz.CreateClient(ctx, h.db, authz.NewClient{Name: "Enforce test app", RedirectURIs: []string{redirectURI},
		TokenEndpointAuthMethod: "none", LaunchURI: launchURI}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	h.public = c.ID
	h.key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: h.key.Public(), KeyID: "k1", Algorithm: string(jose.ES384), Use: "sig"}}}
	jwks, _ := json.Marshal(set)
	c, _, err = authz.CreateClient(ctx, h.db, authz.NewClient{Name: "Enforce backend", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: string(jwks), Scopes: []string{"system/*.cruds"}}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	h.backend = c.ID
}

// ---- HTTP helpers ----

type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// do sends a request; token "" sends none. base "" is the https listener.
func (h *harness) do(method, target, token string, body any) *response {
	h.t.Helper()
	return h.fhirRequest(h.t, method, target, token, body, nil)
}

// fhirRequest is do for any test (also a parallel subtest) with extra
// headers. A url.Values body is sent as a form (POST _search), anything
// else but a string as JSON.
func (h *harness) fhirRequest(t testing.TB, method, target, token string, body any, hdr http.Header) *response {
	t.Helper()
	r, err := h.tryRequest(method, target, token, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryRequest is fhirRequest returning the error (for goroutines other than
// the test's).
func (h *harness) tryRequest(method, target, token string, body any, hdr http.Header) (*response, error) {
	if !strings.HasPrefix(target, "http") {
		target = h.baseA + "/fhir/" + strings.TrimPrefix(target, "/")
	}
	var rd io.Reader
	ct := "application/fhir+json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		raw, _ := json.Marshal(b)
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := h.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, body: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r, nil
}

// searchIDs runs a search and returns Type/id of the match entries.
func (h *harness) searchIDs(token, query string) []string {
	h.t.Helper()
	r := h.do("GET", query, token, nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", query, r.status, r.body)
	}
	ids, _ := entries(r.json, "match")
	return ids
}

// entries returns "Type/id" (or just id for a single type) of a Bundle's
// entries of the given search mode ("" for all).
func entries(b map[string]any, mode string) (ids []string, resources []map[string]any) {
	list, _ := b["entry"].([]any)
	for _, e := range list {
		em, _ := e.(map[string]any)
		if mode != "" {
			s, _ := em["search"].(map[string]any)
			if m, _ := s["mode"].(string); m != mode {
				continue
			}
		}
		res, _ := em["resource"].(map[string]any)
		if res == nil {
			continue
		}
		rt, _ := res["resourceType"].(string)
		id, _ := res["id"].(string)
		if rt == "Patient" {
			ids = append(ids, id)
		} else {
			ids = append(ids, rt+"/"+id)
		}
		resources = append(resources, res)
	}
	return ids, resources
}

func (h *harness) postForm(target string, form url.Values, c *http.Client) *response {
	h.t.Helper()
	if c == nil {
		c = h.httpc
	}
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, body: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

// ---- tokens ----

// owin returns an OWin password-grant token.
func (h *harness) owin(user, password string) string {
	h.t.Helper()
	return h.owinAt(h.baseA, user, password)
}

func (h *harness) owinAt(base, user, password string) string {
	h.t.Helper()
	r := h.postForm(base+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}}, nil)
	tok, _ := r.json["access_token"].(string)
	if r.status != http.StatusOK || tok == "" {
		h.t.Fatalf("OWin token for %s: %d %s", user, r.status, r.body)
	}
	return tok
}

// backendToken returns a client_credentials token (private_key_jwt, ES384).
func (h *harness) backendToken(scope string) string {
	h.t.Helper()
	tok, granted := h.backendTokenScope(scope)
	if tok == "" {
		h.t.Fatalf("no backend token for %q", scope)
	}
	_ = granted
	return tok
}

// backendAssertion is a private_key_jwt client assertion of the backend client.
func (h *harness) backendAssertion() string {
	h.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: h.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		h.t.Fatal(err)
	}
	claims := josejwt.Claims{Issuer: h.backend, Subject: h.backend, Audience: josejwt.Audience{h.baseA + "/oauth/token"},
		ID: fmt.Sprintf("enforce-%d", h.jti.Add(1)), Expiry: josejwt.NewNumericDate(time.Now().Add(4 * time.Minute))}
	a, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) backendTokenScope(scope string) (token, granted string) {
	h.t.Helper()
	assertion := h.backendAssertion()
	r := h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}, nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("client_credentials %q: %d %s", scope, r.status, r.body)
	}
	token, _ = r.json["access_token"].(string)
	granted, _ = r.json["scope"].(string)
	return token, granted
}

// launch describes one run of the authorization code flow.
type codeLaunch struct {
	user, password string
	scope          string
	aud            string // default: the https listener's FHIR base
	patient        string // Patient id to pick in the picker ("" : none offered)
	launch         string // EHR launch value (see ehrLaunch); "" for a standalone launch
}

// tokenResponse is the JSON of the token endpoint.
type tokenResponse map[string]any

func (tr tokenResponse) str(k string) string { s, _ := tr[k].(string); return s }

var (
	reCSRF     = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	reReq      = regexp.MustCompile(`name="req" value="([^"]*)"`)
	reRev      = regexp.MustCompile(`name="rev" value="([^"]*)"`)
	reReturnTo = regexp.MustCompile(`name="return_to" value="([^"]*)"`)
	reScope    = regexp.MustCompile(`name="scope" value="([^"]*)"`)
)

func field(re *regexp.Regexp, body []byte) string {
	m := re.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(string(m[1]))
}

// code runs the authorization code flow (public client, PKCE S256) through
// the real pages and returns the token response.
func (h *harness) code(l codeLaunch) tokenResponse {
	h.t.Helper()
	tr, err := h.codeFlow(l)
	if err != nil {
		h.t.Fatal(err)
	}
	return tr
}

func (h *harness) codeFlow(l codeLaunch) (tokenResponse, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: h.httpc.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if l.aud == "" {
		l.aud = h.baseA + "/fhir"
	}
	verifier := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("verifier-%d-%s-%d", time.Now().UnixNano(), l.user, h.jti.Add(1))))
	sum := sha256.Sum256([]byte(verifier))
	state := fmt.Sprintf("state-%08d", h.jti.Add(1))
	q := url.Values{"response_type": {"code"}, "client_id": {h.public}, "redirect_uri": {redirectURI},
		"scope": {l.scope}, "state": {state}, "aud": {l.aud},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if l.launch != "" {
		q.Set("launch", l.launch)
	}
	next := h.baseA + "/oauth/authorize?" + q.Encode()
	var resp *http.Response
	var body []byte
	get := func(u string) error {
		var err error
		resp, err = c.Get(u)
		if err != nil {
			return err
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil
	}
	post := func(u string, f url.Values) error {
		var err error
		resp, err = c.PostForm(u, f)
		if err != nil {
			return err
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil
	}
	if err := get(next); err != nil {
		return nil, err
	}
	for step := 0; step < 12; step++ {
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(loc.String(), redirectURI) {
				if loc.Query().Get("state") != state {
					return nil, fmt.Errorf("state not echoed: %s", loc)
				}
				code := loc.Query().Get("code")
				if code == "" {
					return nil, fmt.Errorf("authorization refused: %s", loc.RawQuery)
				}
				r := h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {redirectURI}, "client_id": {h.public}, "code_verifier": {verifier}}, nil)
				if r.status != http.StatusOK {
					return nil, fmt.Errorf("token: %d %s", r.status, r.body)
				}
				return tokenResponse(r.json), nil
			}
			if err := get(loc.String()); err != nil {
				return nil, err
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(string(body), `action="/login"`):
			f := url.Values{"csrf_token": {field(reCSRF, body)}, "return_to": {field(reReturnTo, body)},
				"username": {l.user}, "password": {l.password}}
			if err := post(h.baseA+"/login", f); err != nil {
				return nil, err
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(string(body), `action="/pick-patient"`):
			if l.patient == "" {
				return nil, fmt.Errorf("unexpected patient picker")
			}
			f := url.Values{"csrf_token": {field(reCSRF, body)}, "req": {field(reReq, body)}, "patient": {l.patient}}
			if err := post(h.baseA+"/pick-patient", f); err != nil {
				return nil, err
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(string(body), `action="/consent"`):
			f := url.Values{"csrf_token": {field(reCSRF, body)}, "req": {field(reReq, body)}, "rev": {field(reRev, body)}, "decision": {"approve"}}
			for _, m := range reScope.FindAllSubmatch(body, -1) {
				f.Add("scope", html.UnescapeString(string(m[1])))
			}
			if err := post(h.baseA+"/consent", f); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unexpected answer %d: %.400s", resp.StatusCode, body)
		}
	}
	return nil, fmt.Errorf("authorization flow did not finish")
}

// fhirWithClock serves the FHIR endpoint wired like newApp's (the same
// verifier over the same authorization server) but with an injected clock
// and bearer cache bound, so that a test can step past the bound.
func (h *harness) fhirWithClock(clock *testclock.Clock, bound time.Duration) *httptest.Server {
	h.t.Helper()
	reg, err := search.Load()
	if err != nil {
		h.t.Fatal(err)
	}
	auth := bearer.New(bearer.AuthzVerifier{Tokens: h.app.authz, Accounts: authz.Accounts{Store: h.db}}, reg,
		bearer.Options{Now: clock.Now, Revalidate: bound, Audiences: []string{h.baseA + "/fhir", h.baseB + "/fhir"}})
	srv := fhir.New(fhir.Config{Auth: auth, Registry: reg}, h.db, nil)
	mux := http.NewServeMux()
	srv.Register(mux)
	fhirSrv := httptest.NewServer(listener.Middleware(listener.Info{Name: "https", BaseURL: h.baseA}, mux))
	h.t.Cleanup(fhirSrv.Close)
	return fhirSrv
}

// pageSession logs user in on the log-in page (a browser with its own
// cookie jar) and returns that browser.
func (h *harness) pageSession(user, password string) *http.Client {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: h.httpc.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := h.page(c, "GET", h.baseA+"/login?"+url.Values{"return_to": {"/"}}.Encode(), nil)
	f := url.Values{"csrf_token": {field(reCSRF, page.body)}, "return_to": {field(reReturnTo, page.body)},
		"username": {user}, "password": {password}}
	if r := h.page(c, "POST", h.baseA+"/login", f); r.status != http.StatusSeeOther {
		h.t.Fatalf("log-in of %s: %d %.300s", user, r.status, r.body)
	}
	return c
}

// page sends a page request (a form when f is not nil) in browser c.
func (h *harness) page(c *http.Client, method, target string, f url.Values) *response {
	h.t.Helper()
	var resp *http.Response
	var err error
	if f != nil {
		resp, err = c.PostForm(target, f)
	} else {
		resp, err = c.Get(target)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// ehrLaunch issues an EHR launch of the public test app for patient on
// /admin/launch in the administrator's browser admin (see pageSession) and
// returns the launch value the app receives at its launch_uri.
func (h *harness) ehrLaunch(admin *http.Client, patient string) string {
	h.t.Helper()
	form := h.page(admin, "GET", h.baseA+"/admin/launch", nil)
	if form.status != http.StatusOK {
		h.t.Fatalf("GET /admin/launch: %d %.300s", form.status, form.body)
	}
	r := h.page(admin, "POST", h.baseA+"/admin/launch", url.Values{"csrf_token": {field(reCSRF, form.body)},
		"client_id": {h.public}, "patient": {patient}})
	loc, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), launchURI) || loc.Query().Get("launch") == "" {
		h.t.Fatalf("POST /admin/launch: %d %s %.300s", r.status, r.header.Get("Location"), r.body)
	}
	return loc.Query().Get("launch")
}
