package oidc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/idp"
)

func TestOpen(t *testing.T) {
	good := func() *Config {
		return &Config{Issuer: "https://login.example.org", ClientID: "c", ClientSecret: "the-client-secret-42"}
	}
	cases := []struct {
		name   string
		change func(c *Config)
		want   []string // each in the error; none: Open works
	}{
		{name: "none preset", change: func(c *Config) {}},
		{name: "google preset fills in its issuer", change: func(c *Config) { c.Preset, c.Issuer = "google", "" }},
		{name: "google preset with its own issuer", change: func(c *Config) { c.Preset, c.Issuer = "google", idp.GoogleIssuer }},
		{name: "google preset with another issuer", change: func(c *Config) { c.Preset = "google" },
			want: []string{`the google preset's issuer is https://accounts.google.com`}},
		{name: "hl7 preset off until configured", change: func(c *Config) { c.Preset, c.Issuer = "hl7", "" },
			want: []string{"the hl7 preset is off until configured", "issuer HL7.org gives you"}},
		{name: "hl7 preset with an issuer", change: func(c *Config) { c.Preset = "hl7" }},
		{name: "every problem at once",
			change: func(c *Config) {
				*c = Config{Preset: "none", Issuer: "http://login.example.org", Scopes: []string{"a b"},
					AllowedDomains: []string{"a@b"}, Claims: map[string]string{"mail": "email", "name": ""}}
			},
			want: []string{`provider "p": issuer "http://login.example.org" must be an https URL`, "client_id is required",
				"client secret is required", `unknown name "mail"`, "name maps to an empty claim name",
				`allowed_domains: "a@b" is not a domain`, `scopes: "a b" is not a scope`}},
		{name: "no issuer", change: func(c *Config) { c.Issuer = "" }, want: []string{"issuer is required"}},
		{name: "unknown preset", change: func(c *Config) { c.Preset = "facebook" }, want: []string{`unknown preset "facebook"`}},
		{name: "http issuer on loopback", change: func(c *Config) { c.Issuer = "http://127.0.0.1:5556/dex" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(c)
			conn, err := c.Open("p", nil)
			if len(tc.want) == 0 {
				if err != nil || conn == nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Open worked")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), c.ClientSecret) && c.ClientSecret != "" {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}

func TestOpenDefaults(t *testing.T) {
	conn := open(t, &Config{Preset: "google", ClientID: "c", ClientSecret: "s", Claims: map[string]string{"email": "mail"}})
	if conn.Issuer() != idp.GoogleIssuer || conn.claims[ClaimDomain] != "hd" || conn.claims[ClaimEmail] != "mail" ||
		strings.Join(conn.scopes, " ") != "openid email profile" || conn.ID() != "test" {
		t.Errorf("connector %+v", conn)
	}
	conn = open(t, &Config{Issuer: "https://x.example", ClientID: "c", ClientSecret: "s", Scopes: []string{"email", "openid", "email"}})
	if conn.claims[ClaimDomain] != "" || strings.Join(conn.scopes, " ") != "openid email" {
		t.Errorf("none preset: domain claim %q, scopes %v", conn.claims[ClaimDomain], conn.scopes)
	}
}

func TestPresets(t *testing.T) {
	want := map[string]string{"google": "Google", "hl7": "HL7.org", "none": "", "facebook": "Facebook", "x": ""}
	for p, name := range want {
		if got := idp.PresetName(p); got != name {
			t.Errorf("PresetName(%q) = %q, want %q", p, got, name)
		}
	}
	if got := strings.Join(Presets(), ","); got != "google,hl7,none" {
		t.Errorf("Presets = %s", got)
	}
}

func TestLoginURL(t *testing.T) {
	p := newProvider(t, newClock())
	c := p.config()
	c.Scopes = []string{"openid", "email", "groups"}
	conn := open(t, c)
	if n := p.hitsOf("discovery"); n != 0 {
		t.Fatalf("Open fetched discovery %d times", n)
	}
	st := idp.NewState(testRedirect)
	raw, err := conn.LoginURL(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	if u.Scheme+"://"+u.Host+u.Path != p.srv.URL+"/authorize" {
		t.Errorf("endpoint %s", raw)
	}
	q := u.Query()
	want := map[string]string{"response_type": "code", "client_id": testClientID, "redirect_uri": testRedirect,
		"scope": "openid email groups", "state": st.State, "nonce": st.Nonce, "code_challenge": st.Challenge(),
		"code_challenge_method": "S256"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Has("code_verifier") || q.Has("client_secret") || strings.Contains(raw, testSecret) || strings.Contains(raw, st.Verifier) {
		t.Errorf("the log-in URL gives away a secret: %s", raw)
	}
	if _, err := conn.LoginURL(context.Background(), idp.State{RedirectURI: testRedirect}); err == nil {
		t.Error("LoginURL worked with an empty state")
	}
}

// googleTransport sends https://accounts.google.com to the test
// provider, which plays Google.
type googleTransport struct{ to *url.URL }

func (g googleTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "accounts.google.com" {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = g.to.Scheme, g.to.Host
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestGooglePreset(t *testing.T) {
	p := newProvider(t, newClock())
	p.issuer = idp.GoogleIssuer
	to, _ := url.Parse(p.srv.URL)
	p.set(func(p *provider) {
		p.user["hd"] = "Example.org"
		p.claimsHook = func(m map[string]any) { m["iss"] = "accounts.google.com" } // Google's other spelling
	})
	conn := open(t, &Config{Preset: "google", ClientID: testClientID, ClientSecret: testSecret, Now: p.clock.Now,
		AllowedDomains: []string{"example.org"}, HTTPClient: idp.HTTPClient(googleTransport{to}, 2*time.Second, 0)})
	st, q := authorize(t, conn)
	id, err := conn.HandleCallback(context.Background(), st, q)
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != idp.GoogleIssuer || id.Domain != "example.org" || id.Subject != "alice-123" {
		t.Errorf("identity %+v", id)
	}
	p.set(func(p *provider) { p.user["hd"] = "other.example" })
	st, q = authorize(t, conn)
	if _, err := conn.HandleCallback(context.Background(), st, q); !errors.Is(err, idp.ErrDomain) {
		t.Errorf("hd other.example: %v", err)
	}
}

// TestDiscoveryUnreachable: Open works with no provider; the first use
// fails (Status says why); retries wait DiscoveryRetry; once the provider
// is up, log-in works.
func TestDiscoveryUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	clk := newClock()
	conn := open(t, &Config{Issuer: "http://" + addr, ClientID: testClientID, ClientSecret: testSecret,
		HTTPClient: idp.HTTPClient(nil, 2*time.Second, 0), Now: clk.Now})
	if s := conn.Status(); !s.Checked.IsZero() || !s.OK() {
		t.Fatalf("status before any use: %+v", s)
	}
	ctx := context.Background()
	_, err = conn.LoginURL(ctx, idp.NewState(testRedirect))
	if !errors.Is(err, idp.ErrUnavailable) {
		t.Fatalf("LoginURL: %v", err)
	}
	s := conn.Status()
	if s.OK() || !s.Checked.Equal(clk.Now()) || !strings.Contains(s.Err, "discovery of http://"+addr) ||
		!strings.Contains(s.Err, "refused") || strings.Contains(s.Err, testSecret) {
		t.Fatalf("status %+v", s)
	}
	st := idp.NewState(testRedirect)
	if _, err := conn.HandleCallback(ctx, st, url.Values{"code": {"c"}, "state": {st.State}}); !errors.Is(err, idp.ErrUnavailable) {
		t.Fatalf("HandleCallback: %v", err)
	}

	// The provider comes up on that address.
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	p := newProviderOn(t, clk, l)
	clk.Advance(DiscoveryRetry / 2)
	if _, err := conn.LoginURL(ctx, idp.NewState(testRedirect)); !errors.Is(err, idp.ErrUnavailable) || p.hitsOf("discovery") != 0 {
		t.Fatalf("within DiscoveryRetry: %v, %d fetches", err, p.hitsOf("discovery"))
	}
	clk.Advance(DiscoveryRetry)
	st, q := authorize(t, conn)
	if _, err := conn.HandleCallback(ctx, st, q); err != nil {
		t.Fatal(err)
	}
	if s := conn.Status(); !s.OK() || p.hitsOf("discovery") != 1 {
		t.Errorf("status %+v, %d fetches", s, p.hitsOf("discovery"))
	}
}

// newProviderOn is newProvider listening on l.
func newProviderOn(t *testing.T, clk *clock, l net.Listener) *provider {
	p := newProvider(t, clk)
	h := p.srv.Config.Handler
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	p.srv = srv
	p.issuer = srv.URL
	return p
}

func TestDiscoveryRefused(t *testing.T) {
	cases := []struct {
		name string
		hook func(p *provider) http.HandlerFunc
		max  int64
		want string
		hide string
	}{
		{name: "500", want: "500",
			hook: func(p *provider) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down\x1b[31m", 500) }
			}},
		// The body of an error answer never reaches the status (the
		// providers page): an upstream must not use it to show what it
		// reached.
		{name: "404 with a body", want: "the provider answered 404 Not Found", hide: "internal secret",
			hook: func(p *provider) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "internal secret page", 404) }
			}},
		{name: "issuer mismatch", want: "did not match",
			hook: func(p *provider) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 200, map[string]any{"issuer": "https://evil.example"})
				}
			}},
		{name: "plain http endpoints", want: `token_endpoint "http://token.example/token" is not an https URL`,
			hook: func(p *provider) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 200, map[string]any{"issuer": p.issuer, "authorization_endpoint": p.srv.URL + "/authorize",
						"token_endpoint": "http://token.example/token", "jwks_uri": p.srv.URL + "/jwks"})
				}
			}},
		{name: "only HS256", want: "signs id_tokens with none of",
			hook: func(p *provider) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 200, map[string]any{"issuer": p.issuer, "authorization_endpoint": p.srv.URL + "/authorize",
						"token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/jwks",
						"id_token_signing_alg_values_supported": []string{"HS256", "none"}})
				}
			}},
		{name: "too large", max: 4 << 10, want: "too large",
			hook: func(p *provider) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 200, map[string]any{"issuer": p.issuer, "x": strings.Repeat("x", 8<<10)})
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, newClock())
			p.set(func(p *provider) { p.discHook = tc.hook(p) })
			c := p.config()
			c.HTTPClient = idp.HTTPClient(nil, 2*time.Second, tc.max)
			conn := open(t, c)
			err := conn.Check(context.Background())
			if !errors.Is(err, idp.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: %v", err)
			}
			s := conn.Status()
			if !strings.Contains(s.Err, tc.want) || strings.ContainsAny(s.Err, "\x1b\n") || len(s.Err) > 500 ||
				tc.hide != "" && (strings.Contains(s.Err, tc.hide) || strings.Contains(err.Error(), tc.hide)) {
				t.Errorf("status %q", s.Err)
			}
			// Rate-limited: the next use does not fetch again.
			if _, err := conn.LoginURL(context.Background(), idp.NewState(testRedirect)); !errors.Is(err, idp.ErrUnavailable) || p.hitsOf("discovery") != 1 {
				t.Errorf("LoginURL: %v after %d fetches", err, p.hitsOf("discovery"))
			}
			// Check fetches whatever the rate limit.
			conn.Check(context.Background())
			if n := p.hitsOf("discovery"); n != 2 {
				t.Errorf("Check: %d fetches", n)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	p := newProvider(t, newClock())
	conn := open(t, p.config())
	if err := conn.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := conn.Status(); !s.OK() || s.Checked.IsZero() || p.hitsOf("discovery") != 1 || p.hitsOf("jwks") != 1 {
		t.Fatalf("status %+v, %v", s, p.hits)
	}
	// The keys go away: Check says so, and keeps what worked.
	p.set(func(p *provider) {
		p.jwksHook = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }
	})
	err := conn.Check(context.Background())
	if err == nil || !strings.Contains(conn.Status().Err, "keys: "+p.srv.URL+"/jwks answered 503") {
		t.Fatalf("Check: %v, status %+v", err, conn.Status())
	}
	st, q := authorize(t, conn)
	if _, err := conn.HandleCallback(context.Background(), st, q); err != nil {
		t.Errorf("log-in with the cached keys: %v", err)
	}
}

// TestKeysUnavailable: a JWKS that cannot be fetched is ErrUnavailable,
// not a bad token.
func TestKeysUnavailable(t *testing.T) {
	p := newProvider(t, newClock())
	p.set(func(p *provider) {
		p.jwksHook = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }
	})
	conn := open(t, p.config())
	for i := range 2 { // the second within KeyRefresh: no fetch, the same answer
		st, q := authorize(t, conn)
		_, err := conn.HandleCallback(context.Background(), st, q)
		if !errors.Is(err, idp.ErrUnavailable) || !strings.Contains(err.Error(), "answered 500") {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	if n := p.hitsOf("jwks"); n != 1 {
		t.Errorf("JWKS fetched %d times", n)
	}
	if s := conn.Status(); !strings.Contains(s.Err, "keys:") {
		t.Errorf("status %+v", s)
	}
}
