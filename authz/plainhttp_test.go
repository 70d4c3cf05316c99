package authz_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/listener"
)

// listenerPair serves e's endpoints on two more real listeners on
// 127.0.0.1 that carry the listener information the server sets: plain
// HTTP (loopback, under e's base URL) and TLS.
type listenerPair struct {
	http, https *httptest.Server
}

func (e *env) listeners() listenerPair {
	e.t.Helper()
	mux := e.srv.Config.Handler
	h := httptest.NewServer(listener.Middleware(listener.Info{Name: "http", BaseURL: e.base, Loopback: true}, mux))
	s := httptest.NewTLSServer(listener.Middleware(listener.Info{Name: "https", BaseURL: "https://other.example", Secure: true, Loopback: true}, mux))
	e.t.Cleanup(h.Close)
	e.t.Cleanup(s.Close)
	return listenerPair{http: h, https: s}
}

func (p listenerPair) server(secure bool) *httptest.Server {
	if secure {
		return p.https
	}
	return p.http
}

// do sends req through srv's client without following redirects and
// returns the response and its body.
func do(t *testing.T, srv *httptest.Server, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// authorizeOver runs an authorization request for c (PKCE S256, aud the
// FHIR base) on srv; extra changes its query. It returns the response, its
// body and the PKCE verifier.
func authorizeOver(t *testing.T, e *env, srv *httptest.Server, c *authz.Client, extra func(url.Values)) (*http.Response, []byte, string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]},
		"scope": {"openid patient/*.rs"}, "state": {goodState}, "aud": {e.fhir},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	if extra != nil {
		extra(q)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/oauth/authorize?"+q.Encode(), nil)
	resp, body := do(t, srv, req)
	return resp, body, verifier
}

// exchangeOver redeems code for c on srv (tokenOver); without
// redirectURI the parameter is left out.
func exchangeOver(t *testing.T, srv *httptest.Server, c *authz.Client, secret, code, verifier, redirectURI string) (*http.Response, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
	if redirectURI != "" {
		form.Set("redirect_uri", redirectURI)
	}
	return tokenOver(t, srv, c, secret, form)
}

// tokenOver posts form to srv's token endpoint for c: client_secret_basic
// when secret is set, else as a public client.
func tokenOver(t *testing.T, srv *httptest.Server, c *authz.Client, secret string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	if secret == "" {
		form.Set("client_id", c.ID)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
	}
	resp, b := do(t, srv, req)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token: status %d, body is not JSON: %s", resp.StatusCode, b)
	}
	return resp, m
}

// codeFrom returns the code of a successful authorization redirect.
func codeFrom(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: status %d, want a redirect; body %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != goodState {
		t.Fatalf("authorize: Location %q, want a code and the state", resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// wantJSONRefusal asserts an RFC 6749 JSON 400 invalid_request that is not
// a redirect (no Location: no authorization response over plain HTTP for
// a redirect URI that is not loopback) and is never cached.
func wantJSONRefusal(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("status %d Location %q, want 400 without a redirect; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["error"] != "invalid_request" || m["error_description"] == nil {
		t.Fatalf("body %s, want an invalid_request JSON error with a description", body)
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
}

// TestS2_PlainHTTPOnlyForLoopbackRedirectURIs: SMART authorization flows
// run over the plain-HTTP listener only for loopback redirect URIs
// (127.0.0.1, [::1], localhost; RFC 8252 §7.3, RFC 9700 §2.6, checklist
// S2, interface.md "Security defaults"); over HTTPS any registered one.
// Refused: the authorization request (a JSON 400, never a redirect, also
// for an error fosite finds first) and the code exchange (decided before
// the code is looked at: the same code still works over HTTPS).
func TestS2_PlainHTTPOnlyForLoopbackRedirectURIs(t *testing.T) {
	e := newEnv(t)
	l := e.listeners()
	v6, _ := e.createClient(authz.NewClient{Name: "IPv6 loopback", RedirectURIs: []string{"http://[::1]:9999/cb"},
		TokenEndpointAuthMethod: authz.AuthNone, Scopes: stdScopes})
	lh, _ := e.createClient(authz.NewClient{Name: "localhost", RedirectURIs: []string{"http://localhost:9999/cb"},
		TokenEndpointAuthMethod: authz.AuthNone, Scopes: stdScopes})
	native, _ := e.createClient(authz.NewClient{Name: "private-use scheme", RedirectURIs: []string{"com.example.app:/cb"},
		TokenEndpointAuthMethod: authz.AuthNone, Scopes: stdScopes})
	type client struct {
		c        *authz.Client
		secret   string
		loopback bool
	}
	clients := map[string]client{
		"IPv4Loopback":     {e.public, "", true},
		"IPv6Loopback":     {v6, "", true},
		"Localhost":        {lh, "", true},
		"HTTPSRedirect":    {e.conf, e.secret, false},
		"PrivateUseScheme": {native, "", false},
	}
	for name, cl := range clients {
		for _, secure := range []bool{false, true} {
			lname := map[bool]string{false: "http", true: "https"}[secure]
			srv := l.server(secure)
			allowed := secure || cl.loopback
			t.Run(name+"/"+lname+"/authorize", func(t *testing.T) {
				resp, body, _ := authorizeOver(t, e, srv, cl.c, nil)
				if allowed {
					codeFrom(t, resp, body)
					return
				}
				wantJSONRefusal(t, resp, body)
				// An error fosite finds first is not redirected either.
				resp, body, _ = authorizeOver(t, e, srv, cl.c, func(q url.Values) { q.Set("response_type", "token") })
				if resp.Header.Get("Location") != "" || resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("response_type=token over plain HTTP: status %d Location %q; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
				}
			})
			t.Run(name+"/"+lname+"/token", func(t *testing.T) {
				// The code comes from a listener that may issue it.
				from := srv
				if !allowed {
					from = l.https
				}
				resp, body, verifier := authorizeOver(t, e, from, cl.c, nil)
				code := codeFrom(t, resp, body)
				tr, m := exchangeOver(t, srv, cl.c, cl.secret, code, verifier, cl.c.RedirectURIs[0])
				if allowed {
					if tr.StatusCode != http.StatusOK || m["access_token"] == nil {
						t.Fatalf("exchange: %d %v", tr.StatusCode, m)
					}
					return
				}
				wantError(t, tr, m, []int{http.StatusBadRequest}, "invalid_request")
				// Without redirect_uri (one registered): refused too.
				tr, m = exchangeOver(t, srv, cl.c, cl.secret, code, verifier, "")
				wantError(t, tr, m, []int{http.StatusBadRequest}, "invalid_request")
				// The refusals did not spend the code.
				tr, m = exchangeOver(t, l.https, cl.c, cl.secret, code, verifier, cl.c.RedirectURIs[0])
				if tr.StatusCode != http.StatusOK || m["access_token"] == nil {
					t.Fatalf("exchange over HTTPS after the refusals: %d %v", tr.StatusCode, m)
				}
			})
		}
	}
}

// TestS2_PlainHTTPExchangeWithSeveralRedirectURIs: a client with a
// loopback and an https redirect URI may use the loopback one over plain
// HTTP; a code exchange over plain HTTP that names no redirect_uri is
// refused (it could be the https one) before the code is looked at.
func TestS2_PlainHTTPExchangeWithSeveralRedirectURIs(t *testing.T) {
	e := newEnv(t)
	l := e.listeners()
	c, secret := e.createClient(authz.NewClient{Name: "two URIs",
		RedirectURIs: []string{"http://127.0.0.1:7777/cb", "https://app.example/cb2"}, Scopes: stdScopes})
	resp, body, verifier := authorizeOver(t, e, l.http, c, nil)
	code := codeFrom(t, resp, body)
	tr, m := exchangeOver(t, l.http, c, secret, code, verifier, "")
	wantError(t, tr, m, []int{http.StatusBadRequest}, "invalid_request")
	tr, m = exchangeOver(t, l.http, c, secret, code, verifier, "http://127.0.0.1:7777/cb")
	if tr.StatusCode != http.StatusOK || m["access_token"] == nil {
		t.Fatalf("exchange for the loopback URI over plain HTTP: %d %v", tr.StatusCode, m)
	}
	resp, body, _ = authorizeOver(t, e, l.http, c, func(q url.Values) { q.Set("redirect_uri", "https://app.example/cb2") })
	wantJSONRefusal(t, resp, body)
	resp, body, _ = authorizeOver(t, e, l.https, c, func(q url.Values) { q.Set("redirect_uri", "https://app.example/cb2") })
	codeFrom(t, resp, body)
}

// refreshOver sends a refresh_token grant for c on srv (tokenOver).
func refreshOver(t *testing.T, srv *httptest.Server, c *authz.Client, secret, rt string) (*http.Response, map[string]any) {
	t.Helper()
	return tokenOver(t, srv, c, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// TestS2_PlainHTTPRefreshOnlyForLoopbackClients: the refreshes of a client
// with a redirect URI that is not loopback stay on HTTPS like its
// authorization flow (checklist S2): over the plain-HTTP listener they are
// refused with a JSON 400 before the refresh token is looked at (it still
// works over HTTPS, not rotated); a loopback-only client refreshes over
// either listener.
func TestS2_PlainHTTPRefreshOnlyForLoopbackClients(t *testing.T) {
	e := newEnv(t)
	l := e.listeners()
	two, twoSecret := e.createClient(authz.NewClient{Name: "loopback and https",
		RedirectURIs: []string{"http://127.0.0.1:7777/cb", "https://app.example/cb2"}, Scopes: stdScopes})
	for _, tc := range []struct {
		name     string
		c        *authz.Client
		secret   string
		loopback bool
	}{
		{"LoopbackPublic", e.public, "", true},
		{"HTTPSConfidential", e.conf, e.secret, false},
		{"LoopbackAndHTTPS", two, twoSecret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, verifier := authorizeOver(t, e, l.https, tc.c, func(q url.Values) {
				q.Set("scope", "openid offline_access patient/*.rs")
			})
			tr, m := exchangeOver(t, l.https, tc.c, tc.secret, codeFrom(t, resp, body), verifier, tc.c.RedirectURIs[0])
			rt, _ := m["refresh_token"].(string)
			if tr.StatusCode != http.StatusOK || rt == "" {
				t.Fatalf("exchange over HTTPS: %d %v", tr.StatusCode, m)
			}
			tr, m = refreshOver(t, l.http, tc.c, tc.secret, rt)
			if tc.loopback {
				if tr.StatusCode != http.StatusOK || m["access_token"] == nil {
					t.Fatalf("refresh over plain HTTP, loopback client: %d %v", tr.StatusCode, m)
				}
				return
			}
			wantError(t, tr, m, []int{http.StatusBadRequest}, "invalid_request")
			tr, m = refreshOver(t, l.https, tc.c, tc.secret, rt)
			if tr.StatusCode != http.StatusOK || m["access_token"] == nil {
				t.Fatalf("refresh over HTTPS after the refusal: %d %v", tr.StatusCode, m)
			}
		})
	}
}
