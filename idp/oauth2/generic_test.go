package oauth2

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/smartgate/smartgate/idp"
)

// plainProvider is an OAuth 2.0 provider without OpenID Connect, GitHub
// style: /authorize redirects at once with a code, /token wants the client
// in HTTP Basic (RFC 6749 §2.3.1) and checks the PKCE verifier, /user
// answers user (with a numeric id) to the bearer token.
type plainProvider struct {
	srv *httptest.Server

	mu         sync.Mutex
	user       map[string]any
	userStatus int // when set, /user answers this status
	challenges map[string]string
	tokens     map[string]bool
}

func newPlainProvider(t *testing.T) *plainProvider {
	t.Helper()
	p := &plainProvider{challenges: map[string]string{}, tokens: map[string]bool{},
		user: map[string]any{"id": 583231, "login": "octocat", "mail": "octo@example.org", "verified": true,
			"full_name": "Mona Octocat", "first": "Mona", "last": "Octocat"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := fbRandom()
		p.with(func() { p.challenges[code] = q.Get("code_challenge") })
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(),
			http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		r.ParseForm()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		var want string
		p.with(func() { want = p.challenges[r.PostForm.Get("code")]; delete(p.challenges, r.PostForm.Get("code")) })
		w.Header().Set("Content-Type", "application/json")
		if !ok || id != "plain-client" || secret != "plain-secret" || want == "" ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != want || r.PostForm.Get("redirect_uri") != callbackURI {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant","error_description":"bad code"}`))
			return
		}
		tok := fbRandom()
		p.with(func() { p.tokens[tok] = true })
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer"})
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case p.userStatus != 0:
			w.WriteHeader(p.userStatus)
			w.Write([]byte(`{"error":"server_error"}`))
		case !p.tokens[tok]:
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"Bad credentials"}`))
		default:
			json.NewEncoder(w).Encode(p.user)
		}
	})
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) })
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *plainProvider) with(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
}

func (p *plainProvider) config() Config {
	return Config{Preset: PresetNone, Issuer: "https://plain.example", ClientID: "plain-client",
		ClientSecret: "plain-secret", AuthURL: p.srv.URL + "/authorize", TokenURL: p.srv.URL + "/token",
		UserInfoURL: p.srv.URL + "/user", Scopes: []string{"read:user", "user:email"},
		Claims: map[string]string{"subject": "id", "email": "mail", "email_verified": "verified",
			"name": "full_name", "given_name": "first", "family_name": "last", "preferred_username": "login"}}
}

func TestGenericClaimMapping(t *testing.T) {
	p := newPlainProvider(t)
	conn := open(t, p.config())
	st, q := browse(t, conn)
	got, err := conn.HandleCallback(context.Background(), st, q)
	if err != nil {
		t.Fatal(err)
	}
	want := idp.Identity{Issuer: "https://plain.example", Subject: "583231", Email: "octo@example.org",
		EmailVerified: true, Name: "Mona Octocat", GivenName: "Mona", FamilyName: "Octocat",
		PreferredUsername: "octocat"}
	if got.Issuer != want.Issuer || got.Subject != want.Subject || got.Email != want.Email ||
		got.EmailVerified != want.EmailVerified || got.Name != want.Name || got.GivenName != want.GivenName ||
		got.FamilyName != want.FamilyName || got.PreferredUsername != want.PreferredUsername {
		t.Errorf("identity = %+v\nwant %+v", got, want)
	}
}

func TestGenericAllowedDomains(t *testing.T) {
	for _, tc := range []struct {
		name    string
		user    map[string]any
		domains []string
		claims  map[string]string
		want    error
	}{
		{"verified email in an allowed domain", map[string]any{"sub": "1", "email": "a@Example.org", "email_verified": true},
			[]string{"other.test", "example.ORG"}, nil, nil},
		{"verified email elsewhere", map[string]any{"sub": "1", "email": "a@evil.test", "email_verified": true},
			[]string{"example.org"}, nil, idp.ErrDomain},
		{"unverified email in an allowed domain", map[string]any{"sub": "1", "email": "a@example.org", "email_verified": false},
			[]string{"example.org"}, nil, idp.ErrDomain},
		{"email_verified as a string", map[string]any{"sub": "1", "email": "a@example.org", "email_verified": "true"},
			[]string{"example.org"}, nil, nil},
		{"no email", map[string]any{"sub": "1"}, []string{"example.org"}, nil, idp.ErrDomain},
		{"domain claim allowed", map[string]any{"sub": "1", "hd": "example.org", "email": "a@gmail.test"},
			[]string{"example.org"}, map[string]string{"domain": "hd"}, nil},
		{"domain claim not allowed, verified email allowed", map[string]any{"sub": "1", "hd": "evil.test",
			"email": "a@example.org", "email_verified": true}, []string{"example.org"}, map[string]string{"domain": "hd"},
			idp.ErrDomain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlainProvider(t)
			p.with(func() { p.user = tc.user })
			cfg := p.config()
			cfg.Claims, cfg.AllowedDomains = tc.claims, tc.domains
			conn := open(t, cfg)
			st, q := browse(t, conn)
			id, err := conn.HandleCallback(context.Background(), st, q)
			if !errors.Is(err, tc.want) || tc.want == nil && id.Subject != "1" {
				t.Errorf("%+v, %v; want %v", id, err, tc.want)
			}
		})
	}
}

func TestGenericRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(p *plainProvider, cfg *Config)
		want   error
	}{
		{"wrong client secret", func(_ *plainProvider, cfg *Config) { cfg.ClientSecret = "wrong" }, idp.ErrUpstream},
		{"userinfo refuses the token", func(p *plainProvider, _ *Config) { p.userStatus = http.StatusForbidden }, idp.ErrUpstream},
		{"userinfo fails", func(p *plainProvider, _ *Config) { p.userStatus = http.StatusBadGateway }, idp.ErrUnavailable},
		{"userinfo not JSON", func(p *plainProvider, cfg *Config) {
			cfg.UserInfoURL = p.srv.URL + "/page"
		}, idp.ErrUnavailable},
		{"subject an object", func(p *plainProvider, _ *Config) { p.user = map[string]any{"id": map[string]any{"x": 1}} }, idp.ErrInvalidToken},
		{"subject a fraction", func(p *plainProvider, _ *Config) { p.user = map[string]any{"id": 1.5} }, idp.ErrInvalidToken},
		{"subject missing", func(p *plainProvider, _ *Config) { p.user = map[string]any{"sub": "1"} }, idp.ErrInvalidToken},
		{"token endpoint unreachable", func(_ *plainProvider, cfg *Config) { cfg.TokenURL = "http://127.0.0.1:1/token" }, idp.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlainProvider(t)
			cfg := p.config()
			p.with(func() { tc.change(p, &cfg) })
			conn := open(t, cfg)
			st, q := browse(t, conn)
			if _, err := conn.HandleCallback(context.Background(), st, q); !errors.Is(err, tc.want) {
				t.Errorf("%v, want %v", err, tc.want)
			}
		})
	}
}

func TestGenericDefaultClaims(t *testing.T) {
	for _, tc := range []struct{ body, sub string }{
		{`{"sub":"abc","id":"ignored"}`, "abc"},
		{`{"id":12345678901234567890}`, "12345678901234567890"},
	} {
		id, err := identityOf([]byte(tc.body), claimMapping(nil, func(string, ...any) {}))
		if err != nil || id.Subject != tc.sub {
			t.Errorf("%s: %+v, %v; want subject %s", tc.body, id, err, tc.sub)
		}
	}
	// sub present but unusable: no fallback to id.
	if _, err := identityOf([]byte(`{"sub":"","id":"2"}`), claimMapping(nil, func(string, ...any) {})); !errors.Is(err, idp.ErrInvalidToken) {
		t.Errorf("empty sub: %v, want ErrInvalidToken", err)
	}
}

func TestOpenReportsEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   string
		cfg  Config
		want []string
	}{
		{"empty none", "plain", Config{}, []string{"issuer is required", "auth_url is required",
			"token_url is required", "userinfo_url is required", "client_id is required", "client secret is required"}},
		{"insecure and unknown", "callback", Config{Preset: "none", Issuer: "http://plain.example", ClientID: "c",
			ClientSecret: "s", AuthURL: "http://plain.example/a", TokenURL: "https://plain.example/t",
			UserInfoURL: "ftp://plain.example/u", Claims: map[string]string{"mail": "email", "name": ""},
			AllowedDomains: []string{"a@b"}},
			[]string{`id "callback"`, "issuer \"http://plain.example\" is not an https URL", "auth_url", "userinfo_url",
				`unknown name "mail"`, "name maps to no field", `allowed_domains: "a@b"`}},
		{"a preset's issuer", "plain", Config{Issuer: idp.FacebookIssuer}, []string{"is a preset's"}},
		{"unknown preset", "x", Config{Preset: "github", ClientID: "c", ClientSecret: "s"}, []string{`unknown preset "github"`}},
		{"facebook with domains, claims and another issuer", "fb", Config{Preset: PresetFacebook, ClientID: "c",
			ClientSecret: "s", Issuer: "https://facebook.com", AllowedDomains: []string{"example.org"},
			Claims: map[string]string{"email": "mail"}, TokenURL: "http://graph.example/t"},
			[]string{"allowed_domains cannot apply to the facebook preset", "claims are fixed", "issuer is https://www.facebook.com",
				"token_url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tc.cfg.Open(tc.id, nil)
			if err == nil || conn != nil {
				t.Fatalf("Open = %v, %v; want the problems", conn, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q:\n%v", w, err)
				}
			}
			if strings.Count(err.Error(), "\n")+1 < len(tc.want) {
				t.Errorf("fewer problems than %d:\n%v", len(tc.want), err)
			}
		})
	}
}
