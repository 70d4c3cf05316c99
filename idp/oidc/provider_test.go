package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/idp"
)

// This file is an OpenID provider for the tests, on httptest: discovery,
// authorize (issues codes bound to the PKCE challenge, redirect_uri and
// nonce), token (checks the client's credentials, the code, redirect_uri
// and the PKCE verifier; signs id_tokens with fresh keys), userinfo and
// JWKS. Hooks change what it answers, one case at a time.

const (
	testClientID = "smartgate-test"
	testSecret   = "s3cret-of-the-test-client-0123456789-abcdef"
	testRedirect = "http://127.0.0.1:9/login/test/callback"
)

// clock is a settable clock shared by the provider and the connector.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signKey is a private signing key and its kid.
type signKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv any
}

func (k signKey) public() jose.JSONWebKey {
	jwk := jose.JSONWebKey{Key: k.priv, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
	return jwk.Public()
}

func ecKey(t testing.TB, kid string) signKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signKey{kid: kid, alg: jose.ES256, priv: priv}
}

func rsaKey(t testing.TB, kid string) signKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signKey{kid: kid, alg: jose.RS256, priv: priv}
}

func sign(t testing.TB, k signKey, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.kid != "" {
		opts = opts.WithHeader("kid", k.kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// grant is an issued code (and later access token).
type grant struct {
	challenge, redirectURI, nonce, scope string
	user                                 map[string]any
}

// provider is the test OpenID provider.
type provider struct {
	t      testing.TB
	srv    *httptest.Server
	clock  *clock
	issuer string // the discovery's and the tokens' issuer (default srv.URL)

	mu sync.Mutex
	// What discovery says.
	authMethods []string // token_endpoint_auth_methods_supported
	issParam    bool     // authorization_response_iss_parameter_supported; iss sent
	algs        []string
	// Keys: signing signs, published is the JWKS.
	signing   signKey
	published []jose.JSONWebKey
	// The person who logs in next (claims beside iss/sub/aud/…).
	user map[string]any
	// Hooks (nil: the normal answer).
	claimsHook func(claims map[string]any) // changes id_token claims before signing
	idTokenFn  func(claims map[string]any) string
	tokenHook  http.HandlerFunc // replaces the token endpoint
	userinfoFn func(w http.ResponseWriter, g *grant)
	discHook   http.HandlerFunc // replaces discovery
	jwksHook   http.HandlerFunc // replaces the JWKS

	codes   map[string]*grant
	access  map[string]*grant
	hits    map[string]int
	auth    string     // how the client authenticated at the last token call: basic, post
	checked url.Values // the last token request's form, once its checks passed
	issued  []string   // codes, access tokens and id_tokens handed out
}

func newProvider(t testing.TB, clk *clock) *provider {
	p := &provider{
		t: t, clock: clk, algs: []string{"RS256", "ES256"},
		codes: map[string]*grant{}, access: map[string]*grant{}, hits: map[string]int{},
		user: map[string]any{"sub": "alice-123", "email": "alice@example.org", "email_verified": true,
			"name": "Alice Liddell", "given_name": "Alice", "family_name": "Liddell",
			"preferred_username": "alice"},
	}
	p.setKeys(ecKey(t, "k1"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.count("discovery", p.discovery))
	mux.HandleFunc("GET /authorize", p.count("authorize", p.authorize))
	mux.HandleFunc("POST /token", p.count("token", p.token))
	mux.HandleFunc("GET /userinfo", p.count("userinfo", p.userinfo))
	mux.HandleFunc("GET /jwks", p.count("jwks", p.jwks))
	p.srv = httptest.NewServer(mux)
	p.issuer = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// setKeys signs with k and publishes exactly k.
func (p *provider) setKeys(k signKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signing, p.published = k, []jose.JSONWebKey{k.public()}
}

func (p *provider) set(f func(p *provider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *provider) hitsOf(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[name]
}

func (p *provider) count(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[name]++
		p.mu.Unlock()
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (p *provider) discovery(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	hook := p.discHook
	doc := map[string]any{
		"issuer":                                p.issuer,
		"authorization_endpoint":                p.srv.URL + "/authorize",
		"token_endpoint":                        p.srv.URL + "/token",
		"userinfo_endpoint":                     p.srv.URL + "/userinfo",
		"jwks_uri":                              p.srv.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": p.algs,
		"code_challenge_methods_supported":      []string{"S256"},
	}
	if p.authMethods != nil {
		doc["token_endpoint_auth_methods_supported"] = p.authMethods
	}
	if p.issParam {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	p.mu.Unlock()
	if hook != nil {
		hook(w, r)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	hook, set := p.jwksHook, jose.JSONWebKeySet{Keys: p.published}
	p.mu.Unlock()
	if hook != nil {
		hook(w, r)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

// authorize issues a code at once (the person is logged in and
// consents), after checking the request as a strict provider would.
func (p *provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": testClientID, "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			http.Error(w, k+" must be "+want, http.StatusBadRequest)
			return
		}
	}
	for _, k := range []string{"redirect_uri", "state", "nonce", "code_challenge", "scope"} {
		if q.Get(k) == "" {
			http.Error(w, k+" missing", http.StatusBadRequest)
			return
		}
	}
	if !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		http.Error(w, "scope lacks openid", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.codes[code] = &grant{challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"),
		nonce: q.Get("nonce"), scope: q.Get("scope"), user: p.user}
	p.issued = append(p.issued, code)
	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	if p.issParam {
		back.Set("iss", p.issuer)
	}
	p.mu.Unlock()
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

// token checks the client, the code, redirect_uri and the PKCE verifier.
func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	hook := p.tokenHook
	p.mu.Unlock()
	if hook != nil {
		hook(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	auth := "post"
	id, secret, basic := r.BasicAuth()
	if basic {
		auth = "basic"
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != testClientID || secret != testSecret {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.auth = auth
	g := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code")) // single use
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code", g == nil:
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	p.checked = r.PostForm
	at := rand.Text()
	p.access[at] = g
	idt := p.idToken(g)
	p.issued = append(p.issued, at, idt)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer",
		"expires_in": 300, "id_token": idt})
}

// idToken signs g's id_token (p.mu held).
func (p *provider) idToken(g *grant) string {
	now := p.clock.Now()
	claims := map[string]any{"iss": p.issuer, "aud": testClientID, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "nonce": g.nonce}
	for k, v := range g.user {
		claims[k] = v
	}
	if p.claimsHook != nil {
		p.claimsHook(claims)
	}
	if p.idTokenFn != nil {
		return p.idTokenFn(claims)
	}
	return sign(p.t, p.signing, claims)
}

func (p *provider) userinfo(w http.ResponseWriter, r *http.Request) {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	g, fn := p.access[at], p.userinfoFn
	p.mu.Unlock()
	if !ok || g == nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if fn != nil {
		fn(w, g)
		return
	}
	writeJSON(w, http.StatusOK, g.user)
}

// config is a connector config for p with a short-timeout client.
func (p *provider) config() *Config {
	return &Config{Issuer: p.issuer, ClientID: testClientID, ClientSecret: testSecret,
		HTTPClient: idp.HTTPClient(nil, 2*time.Second, 0), Now: p.clock.Now}
}

func open(t testing.TB, c *Config) *Connector {
	t.Helper()
	conn, err := c.Open("test", nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return conn
}

// noRedirect is a client that hands back redirects (the browser's hop
// to the callback) instead of following them.
func noRedirect() *http.Client {
	return &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// authorize plays the browser: LoginURL, the provider's authorize
// endpoint, and the callback query it redirects to.
func authorize(t testing.TB, conn *Connector) (idp.State, url.Values) {
	t.Helper()
	st := idp.NewState(testRedirect)
	u, err := conn.LoginURL(context.Background(), st)
	if err != nil {
		t.Fatalf("LoginURL: %v", err)
	}
	resp, err := noRedirect().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %s, want %s", got, testRedirect)
	}
	return st, loc.Query()
}

// leaks reports a secret or token of p found in s.
func (p *provider) leaks(s string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range append([]string{testSecret}, p.issued...) {
		if strings.Contains(s, v) {
			return v
		}
	}
	return ""
}

func (p *provider) String() string { return fmt.Sprintf("provider %s", p.srv.URL) }
