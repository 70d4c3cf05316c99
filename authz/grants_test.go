package authz_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

func TestR9_OnlineAccessEndsWithSession(t *testing.T) {
	e := newEnv(t)
	online, secret := e.createClient(authz.NewClient{Name: "ehr", RedirectURIs: []string{"https://ehr.example/cb"},
		Scopes: append([]string{"online_access"}, stdScopes...)})
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes, SessionID: "sess-1"}, nil
	}
	code, v := e.codeFor(online, []string{"openid", "online_access"})
	_, onl := e.exchange(online, secret, code, v)
	code, v = e.codeFor(e.conf, []string{"openid", "offline_access"})
	_, off := e.exchange(e.conf, e.secret, code, v)
	if err := e.as.RevokeSession(context.Background(), "sess-1"); err != nil {
		t.Fatal(err)
	}
	if in := e.introspect(onl["refresh_token"].(string)); in["active"] != false {
		t.Errorf("online_access refresh token survives logout: %v", in)
	}
	if in := e.introspect(onl["access_token"].(string)); in["active"] != false {
		t.Errorf("online_access access token survives logout: %v", in)
	}
	if in := e.introspect(off["refresh_token"].(string)); in["active"] != true {
		t.Errorf("offline_access refresh token ended with the session: %v", in)
	}
}

func TestV6_RevokeGrantsOfSubject(t *testing.T) {
	e := newEnv(t)
	a := e.tokens("openid", "offline_access")
	code, v := e.codeFor(e.public, []string{"openid", "offline_access"})
	_, b := e.exchange(e.public, "", code, v)
	if err := e.as.RevokeGrants(context.Background(), "alice-id", e.conf.ID); err != nil {
		t.Fatal(err)
	}
	if in := e.introspect(a["access_token"].(string)); in["active"] != false {
		t.Errorf("revoked app's token active: %v", in)
	}
	if status, _ := e.refresh(a["refresh_token"].(string), nil); status == 200 {
		t.Error("revoked app's refresh token works")
	}
	if in := e.introspect(b["access_token"].(string)); in["active"] != true {
		t.Errorf("other app's token revoked too: %v", in)
	}
	e.as.RevokeGrants(context.Background(), "alice-id", "")
	if in := e.introspect(b["access_token"].(string)); in["active"] != false {
		t.Errorf("account-wide revocation missed a token: %v", in)
	}
}

// RevokeFamily ends one refresh-token family (after a refresh: the
// successor tokens and the first access token) and leaves the subject's
// other family at the same client active; GrantByID then finds it no more.
func TestRevokeFamilyEndsOneFamily(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.tokens("openid", "offline_access")
	first, err := authz.Grants(ctx, e.db, "alice-id", e.conf.ID, e.clock.Now(), 0)
	if err != nil || len(first) != 1 {
		t.Fatalf("grants after one flow: %+v, %v", first, err)
	}
	famA := first[0].ID
	b := e.tokens("openid", "offline_access")
	status, a2 := e.refresh(a["refresh_token"].(string), nil)
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, a2)
	}
	if g, err := authz.GrantByID(ctx, e.db, famA, e.clock.Now()); err != nil || g.Subject != "alice-id" || g.ClientID != e.conf.ID {
		t.Fatalf("GrantByID(%s) = %+v, %v", famA, g, err)
	}
	if err := e.as.RevokeFamily(ctx, famA); err != nil {
		t.Fatal(err)
	}
	for what, tok := range map[string]any{"first access": a["access_token"], "access": a2["access_token"], "refresh": a2["refresh_token"]} {
		if in := e.introspect(tok.(string)); in["active"] != false {
			t.Errorf("%s token of the revoked family active: %v", what, in)
		}
	}
	if status, m := e.refresh(a2["refresh_token"].(string), nil); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh of the revoked family: %d %v", status, m)
	}
	for what, tok := range map[string]any{"access": b["access_token"], "refresh": b["refresh_token"]} {
		if in := e.introspect(tok.(string)); in["active"] != true {
			t.Errorf("%s token of the other family: %v", what, in)
		}
	}
	for _, id := range []string{famA, "no-such-grant"} {
		if _, err := authz.GrantByID(ctx, e.db, id, e.clock.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GrantByID(%s) after the revoke: %v; want store.ErrNotFound", id, err)
		}
	}
	if err := e.as.RevokeFamily(ctx, ""); err == nil {
		t.Error("RevokeFamily without an id: no error")
	}
}

func TestS2_PlainHTTPOnlyForLoopbackRedirects(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	e.as.Register(mux)
	insecure := httptest.NewServer(listener.Middleware(listener.Info{Name: "http", BaseURL: e.base, Secure: false}, mux))
	defer insecure.Close()
	e2 := *e
	e2.base = insecure.URL
	// The confidential client's redirect URI is https://app.example/cb.
	u := e2.authorizeQuery(func(q url.Values) {
		q.Set("client_id", e.conf.ID)
		q.Set("redirect_uri", e.conf.RedirectURIs[0])
	})
	// Refused with a JSON 400, not redirected: no authorization response
	// (an error included) over plain HTTP for a non-loopback redirect URI.
	if resp := e2.authorizeURL(u); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("non-loopback redirect over HTTP: status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The loopback (native) client is fine.
	if q := redirectParams(t, e2.authorizeURL(e2.authorizeQuery(func(url.Values) {}))); q.Get("code") == "" {
		t.Fatalf("loopback redirect over HTTP refused: %v", q)
	}
}

func TestD14_OtherMethodsAnswerJSON(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodPut, "/oauth/authorize"}, {http.MethodGet, "/oauth/introspect"}, {http.MethodDelete, "/oauth/jwks"},
		{http.MethodGet, "/oauth/revoke"},
	} {
		req, _ := http.NewRequest(c.method, e.base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestCreateClientValidation(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		nc   authz.NewClient
		ok   bool
	}{
		{"Confidential", authz.NewClient{RedirectURIs: []string{"https://a.example/cb"}}, true},
		{"NativeLoopback", authz.NewClient{RedirectURIs: []string{"http://127.0.0.1/cb"}, TokenEndpointAuthMethod: "none"}, true},
		{"NativeScheme", authz.NewClient{RedirectURIs: []string{"com.example.app:/cb"}, TokenEndpointAuthMethod: "none"}, true},
		{"HTTPNonLoopback", authz.NewClient{RedirectURIs: []string{"http://a.example/cb"}}, false},
		{"Fragment", authz.NewClient{RedirectURIs: []string{"https://a.example/cb#x"}}, false},
		{"Wildcard", authz.NewClient{RedirectURIs: []string{"https://*.example/cb"}}, false},
		{"Relative", authz.NewClient{RedirectURIs: []string{"/cb"}}, false},
		{"NoRedirect", authz.NewClient{}, false},
		{"BadMethod", authz.NewClient{RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: "tls_client_auth"}, false},
		{"PublicBackend", authz.NewClient{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "none"}, false},
		{"ImplicitGrant", authz.NewClient{RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{"implicit"}}, false},
		{"DCR3_JWKSAndURI", authz.NewClient{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt",
			JWKS: newBackendKey(t, "ES384").jwks(), JWKSURI: "https://a.example/jwks"}, false},
		{"KeyJWTWithoutKeys", authz.NewClient{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt"}, false},
		{"DCR9_PrivateJWK", authz.NewClient{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt",
			JWKS: `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"x"}]}`}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, secret, err := authz.CreateClient(context.Background(), e.db, tc.nc, e.clock.Now())
			if tc.ok != (err == nil) {
				t.Fatalf("CreateClient err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			stored, _ := e.db.GetClient(context.Background(), c.ID)
			if (tc.nc.TokenEndpointAuthMethod == "" || tc.nc.TokenEndpointAuthMethod == authz.AuthClientSecretBasic) &&
				(len(secret) < 43 || string(stored.SecretHash) != string(authz.HashSecret(secret))) {
				t.Errorf("secret %q not 256 bits or not stored as its SHA-256", secret)
			}
			if strings.Contains(string(stored.SecretHash), secret) && secret != "" {
				t.Error("raw secret stored")
			}
		})
	}
}

func TestResetClientSecret(t *testing.T) {
	e := newEnv(t)
	s2, err := authz.ResetClientSecret(context.Background(), e.db, e.conf.ID)
	if err != nil {
		t.Fatal(err)
	}
	if resp, m := e.postForm("/oauth/introspect", url.Values{"token": {"x"}}, e.conf.ID, e.secret); resp.StatusCode != 401 {
		t.Errorf("old secret still works: %v", m)
	}
	if resp, m := e.postForm("/oauth/introspect", url.Values{"token": {"x"}}, e.conf.ID, s2); resp.StatusCode != 200 {
		t.Errorf("new secret refused: %v", m)
	}
}

func TestVerifyAccessToken(t *testing.T) {
	e := newEnv(t)
	banner := false
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes, Context: &authz.LaunchContext{Patient: "123", NeedPatientBanner: &banner}}, nil
	}
	m := e.tokens("openid", "fhirUser", "offline_access", "launch/patient", "patient/*.rs")
	ti, err := e.as.VerifyAccessToken(context.Background(), m["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if ti.Subject != "alice-id" || ti.ClientID != e.conf.ID || ti.Patient() != "123" || ti.FHIRUser != "Practitioner/p1" ||
		len(ti.Audience) != 1 || ti.Audience[0] != e.fhir || len(ti.Scopes) != 5 {
		t.Fatalf("TokenInfo = %+v", ti)
	}
	// A refresh token is not a bearer token.
	if _, err := e.as.VerifyAccessToken(context.Background(), m["refresh_token"].(string)); err == nil {
		t.Fatal("refresh token accepted as an access token")
	}
	req, _ := http.NewRequest(http.MethodGet, e.base+"/oauth/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+m["refresh_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("userinfo with a refresh token: %d", resp.StatusCode)
	}
	e.postForm("/oauth/revoke", url.Values{"token": {m["access_token"].(string)}}, e.conf.ID, e.secret)
	if _, err := e.as.VerifyAccessToken(context.Background(), m["access_token"].(string)); err == nil {
		t.Fatal("revoked token verified")
	}
}

func TestC16_CodeExpires(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.CodeTTL = time.Nanosecond })
	code, v := e.codeFor(e.public, []string{"openid"})
	resp, m := e.exchange(e.public, "", code, v)
	wantError(t, resp, m, []int{400}, "invalid_grant", "invalid_request")
}

// launches is a test-only LaunchResolver (the SMART launch store provides
// the real one), passed in authz.Config.Launches and filled in as a test
// goes (the clients it binds launches to are created after the server).
type launches struct {
	mu sync.Mutex
	m  map[string]launchEntry
}

type launchEntry struct {
	client string
	ctx    authz.LaunchContext
}

func (l *launches) set(launch string, e launchEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]launchEntry{}
	}
	l.m[launch] = e
}

func (l *launches) ResolveLaunch(ctx context.Context, launch, clientID string) (*authz.LaunchContext, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[launch]
	if !ok || e.client != clientID {
		return nil, errors.New("unknown launch")
	}
	c := e.ctx
	return &c, nil
}

func TestC14_E5_EHRLaunch(t *testing.T) {
	ls := &launches{}
	e := newEnv(t, func(c *authz.Config) { c.Launches = ls })
	ls.set("L-1", launchEntry{client: e.public.ID, ctx: authz.LaunchContext{Patient: "p9", Encounter: "e7"}})
	var seen *authz.LaunchContext
	e.ia.decide = func(req *authz.AuthorizeRequest) (*authz.Decision, error) {
		seen = req.Launch
		return &authz.Decision{Subject: "alice-id", Scopes: req.Scopes}, nil
	}
	u := e.authorizeQuery(func(q url.Values) { q.Set("launch", "L-1"); q.Set("scope", "openid launch/patient patient/*.rs") })
	q := redirectParams(t, e.authorizeURL(u))
	if seen == nil || seen.Patient != "p9" {
		t.Fatalf("pages did not see the launch context: %+v", seen)
	}
	if q.Get("code") == "" {
		t.Fatalf("EHR launch: %v", q)
	}
	c, v := e.codeFor(e.public, []string{"openid", "launch/patient", "patient/*.rs"}, oauth2.SetAuthURLParam("launch", "L-1"))
	resp, m := e.exchange(e.public, "", c, v)
	if resp.StatusCode != 200 || m["patient"] != "p9" || m["encounter"] != "e7" {
		t.Fatalf("EHR launch token: %d %v", resp.StatusCode, m)
	}
	// A launch bound to another client, or an altered one, gives no code.
	for _, l := range []string{"L-2", "L-1x"} {
		u := e.authorizeQuery(func(q url.Values) { q.Set("launch", l) })
		if q := redirectParams(t, e.authorizeURL(u)); q.Get("code") != "" || q.Get("error") != "invalid_request" {
			t.Fatalf("launch %q: %v", l, q)
		}
	}
	ls.set("L-2", launchEntry{client: "someone-else"})
	u = e.authorizeQuery(func(q url.Values) { q.Set("launch", "L-2") })
	if q := redirectParams(t, e.authorizeURL(u)); q.Get("code") != "" {
		t.Fatalf("launch of another client: %v", q)
	}
}

func TestMaintainDeletesExpiredRecords(t *testing.T) {
	e := newEnv(t)
	at := e.tokens("openid")["access_token"].(string)
	e.clock.Advance(26 * time.Hour)
	if err := e.as.MaintainOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := e.db.CountTokens(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d token records left after expiry + 24h", n)
	}
	if in := e.introspect(at); in["active"] != false {
		t.Fatal("expired token active")
	}
}

func TestNoRawTokensStored(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("openid", "offline_access")
	if n, err := e.db.CountTokens(context.Background(), ""); err != nil || n < 2 {
		t.Fatalf("%d token records stored, %v; want the access and the refresh token's at least", n, err)
	}
	for _, raw := range []string{m["access_token"].(string), m["refresh_token"].(string), e.secret} {
		parts := strings.Split(raw, ".")
		last := parts[len(parts)-1]
		if tables, err := e.db.TablesHolding(context.Background(), last); err != nil || len(tables) != 0 {
			t.Fatalf("a raw token signature or secret is stored in %v (%v)", tables, err)
		}
	}
}
