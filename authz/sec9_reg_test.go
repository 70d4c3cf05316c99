package authz_test

// Issue 9, defect 4 (a registration access token may not widen a client)
// and the introspection item of "Also tighten" (a caller introspects only
// its own tokens unless an administrator allowed it all), at the HTTP level
// with real tokens.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz"
)

// put sends an RFC 7592 update and returns the answer; on 200 it returns
// the registration access token the answer carries.
func (e *env) put(id, rat string, body map[string]any) (*http.Response, map[string]any, string) {
	e.t.Helper()
	body["client_id"] = id
	resp, m := e.call(http.MethodPut, "/oauth/register/"+id, rat, body)
	next, _ := m["registration_access_token"].(string)
	return resp, m, next
}

// TestSec9D4_UpdateStaysWithinCeiling: an administrator registered a
// confidential app for openid launch/patient patient/Observation.rs; with its
// registration access token the app may narrow and later restore those
// values (the ceiling stays), switch between the two secret methods, but
// never add a grant type, move to private_key_jwt or widen a scope (widened
// scopes are narrowed to the ceiling, like at registration).
func TestSec9D4_UpdateStaysWithinCeiling(t *testing.T) {
	e := newRegEnv(t, false)
	uris := []string{"https://a.example/cb"}
	id, _, rat := e.registered(map[string]any{"redirect_uris": uris, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid launch/patient patient/Observation.rs"})
	ok := func(body map[string]any, wantScope string) {
		t.Helper()
		resp, m, next := e.put(id, rat, body)
		if resp.StatusCode != http.StatusOK || m["scope"] != wantScope {
			t.Fatalf("update %v: %d %v, want 200 with scope %q", body, resp.StatusCode, m, wantScope)
		}
		rat = next
	}
	refused := func(body map[string]any) {
		t.Helper()
		resp, m, _ := e.put(id, rat, body)
		if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
			t.Fatalf("update %v: %d %v, want 400 invalid_client_metadata", body, resp.StatusCode, m)
		}
	}
	// Narrowing (v1 spelling too), and back up to the ceiling.
	ok(map[string]any{"redirect_uris": uris, "grant_types": []string{"authorization_code"}, "scope": "openid patient/Observation.read"}, "openid patient/Observation.read")
	ok(map[string]any{"redirect_uris": uris, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid launch/patient patient/Observation.rs"}, "openid launch/patient patient/Observation.rs")
	ok(map[string]any{"redirect_uris": uris, "token_endpoint_auth_method": "client_secret_post", "scope": "openid"}, "openid")
	// Widening scopes: narrowed to the ceiling, scope by scope.
	ok(map[string]any{"redirect_uris": uris, "scope": "openid patient/*.cruds user/*.cruds launch/patient"}, "openid patient/Observation.rs launch/patient")
	// No scope: the ceiling, not the administrator's defaults.
	ok(map[string]any{"redirect_uris": uris}, "openid launch/patient patient/Observation.rs")
	refused(map[string]any{"redirect_uris": uris, "scope": "patient/Patient.cruds"})
	refused(map[string]any{"redirect_uris": uris, "scope": "patient/Observation.c"})
	k := newBackendKey(t, jose.ES384)
	refused(map[string]any{"redirect_uris": uris, "token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(k.jwks())})
	refused(map[string]any{"redirect_uris": uris, "grant_types": []string{"authorization_code", "client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(k.jwks())})
}

// TestSec9D4_PublicClientCannotBecomeConfidential: a public client the
// administrator registered stays public under its registration token.
func TestSec9D4_PublicClientCannotBecomeConfidential(t *testing.T) {
	e := newRegEnv(t, false)
	uris := []string{"https://a.example/cb"}
	id, _, rat := e.registered(map[string]any{"redirect_uris": uris, "token_endpoint_auth_method": "none",
		"scope": "launch/patient patient/Observation.rs"})
	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		resp, m, _ := e.put(id, rat, map[string]any{"redirect_uris": uris, "token_endpoint_auth_method": method})
		if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_client_metadata" || m["client_secret"] != nil {
			t.Fatalf("public → %s: %d %v", method, resp.StatusCode, m)
		}
	}
	// Omitting the method keeps it (it is not the RFC default client_secret_basic).
	resp, m, _ := e.put(id, rat, map[string]any{"redirect_uris": uris, "scope": "launch/patient patient/Observation.rs"})
	if resp.StatusCode != http.StatusOK || m["token_endpoint_auth_method"] != "none" || m["client_secret"] != nil {
		t.Fatalf("update without a method: %d %v", resp.StatusCode, m)
	}
}

// TestSec9D4_ConfidentialClientCannotBecomePublic: the registration access
// token alone cannot make a confidential client public (it would then
// redeem codes at a redirect URI it added, without the secret, under
// consents people gave the confidential client); the client keeps its
// secret and method.
func TestSec9D4_ConfidentialClientCannotBecomePublic(t *testing.T) {
	e := newRegEnv(t, false)
	uris := []string{"https://a.example/cb"}
	id, _, rat := e.registered(map[string]any{"redirect_uris": uris, "token_endpoint_auth_method": "client_secret_basic",
		"scope": "openid fhirUser user/*.rs"})
	resp, m, _ := e.put(id, rat, map[string]any{"redirect_uris": append(uris, "https://evil.example/cb"),
		"token_endpoint_auth_method": "none", "scope": "openid fhirUser user/*.rs"})
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
		t.Fatalf("confidential → none: %d %v", resp.StatusCode, m)
	}
	c, err := e.db.GetClient(context.Background(), id)
	if err != nil || c.Public || c.SecretHash == nil || len(c.RedirectURIs) != 1 {
		t.Fatalf("refused update changed the client: %+v %v", c, err)
	}
}

// TestSec9D4_RegistrationTokenRotates: every successful update answers a
// new registration access token; the old one is dead for GET, PUT and
// DELETE (401 invalid_token), the new one works.
func TestSec9D4_RegistrationTokenRotates(t *testing.T) {
	e := newRegEnv(t, false)
	uris := []string{"https://a.example/cb"}
	id, _, old := e.registered(map[string]any{"redirect_uris": uris, "scope": "openid patient/*.rs"})
	resp, _, next := e.put(id, old, map[string]any{"redirect_uris": uris, "client_name": "Renamed"})
	if resp.StatusCode != http.StatusOK || next == "" || next == old || len(next) < 43 {
		t.Fatalf("update: %d, registration_access_token %q (old %q)", resp.StatusCode, next, old)
	}
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		var body any
		if method == http.MethodPut {
			body = map[string]any{"client_id": id, "redirect_uris": uris}
		}
		resp, m := e.call(method, "/oauth/register/"+id, old, body)
		wantError(t, resp, m, []int{401}, "invalid_token")
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("%s with the old token: challenge %q", method, ch)
		}
	}
	resp, m := e.call(http.MethodGet, "/oauth/register/"+id, next, nil)
	if resp.StatusCode != http.StatusOK || m["client_name"] != "Renamed" || m["registration_access_token"] != next {
		t.Fatalf("read with the new token: %d %v", resp.StatusCode, m)
	}
}

// TestSec9D4_RegistrationTokenExpires: a registration access token expires
// after its lifetime (default 24h); GET, PUT and DELETE then answer 401
// invalid_token and change nothing.
func TestSec9D4_RegistrationTokenExpires(t *testing.T) {
	e := newRegEnv(t, false)
	uris := []string{"https://a.example/cb"}
	id, _, rat := e.registered(map[string]any{"redirect_uris": uris, "scope": "openid"})
	if resp, m := e.call(http.MethodGet, "/oauth/register/"+id, rat, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh token: %d %v", resp.StatusCode, m)
	}
	e.clock.Advance(24*time.Hour + time.Minute)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		var body any
		if method == http.MethodPut {
			body = map[string]any{"client_id": id, "redirect_uris": uris, "client_name": "Late"}
		}
		resp, m := e.call(method, "/oauth/register/"+id, rat, body)
		wantError(t, resp, m, []int{401}, "invalid_token")
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("%s with an expired token: challenge %q", method, ch)
		}
	}
	if c, err := e.db.GetClient(t.Context(), id); err != nil || c.Name == "Late" {
		t.Fatalf("the expired token changed the client: %+v %v", c, err)
	}
}

// TestSec9T_IntrospectOnlyOwnTokens: a confidential client, or a resource
// server with its backend token, that asks about a token issued to another
// client gets exactly {"active":false} (RFC 7662 §4), not an error; its own
// tokens introspect as usual.
func TestSec9T_IntrospectOnlyOwnTokens(t *testing.T) {
	e := newEnv(t)
	other, otherSecret := e.createClient(authz.NewClient{Name: "Other App", RedirectURIs: []string{"https://other.example/cb"}, Scopes: stdScopes})
	rs, rsSecret := e.createClient(authz.NewClient{Name: "rs", GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}, AllowSystemScopes: true})
	theirs := e.tokens("openid", "offline_access")
	code, v := e.codeFor(other, []string{"openid"})
	_, own := e.exchange(other, otherSecret, code, v)
	bearerIntrospect := func(bearer, tok string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+bearer)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var m map[string]any
		if r.StatusCode != http.StatusOK || json.NewDecoder(r.Body).Decode(&m) != nil {
			t.Fatalf("bearer introspection: %d", r.StatusCode)
		}
		return m
	}
	for _, tok := range []string{theirs["access_token"].(string), theirs["refresh_token"].(string)} {
		resp, m := e.postForm("/oauth/introspect", url.Values{"token": {tok}}, other.ID, otherSecret)
		if resp.StatusCode != http.StatusOK || len(m) != 1 || m["active"] != false {
			t.Errorf("another client's token: %d %v, want exactly {active:false}", resp.StatusCode, m)
		}
		if m := bearerIntrospect(e.ccToken(rs, rsSecret), tok); len(m) != 1 || m["active"] != false {
			t.Errorf("another client's token, backend bearer: %v, want exactly {active:false}", m)
		}
	}
	resp, m := e.postForm("/oauth/introspect", url.Values{"token": {own["access_token"].(string)}}, other.ID, otherSecret)
	if resp.StatusCode != http.StatusOK || m["active"] != true || m["client_id"] != other.ID {
		t.Errorf("own token: %d %v", resp.StatusCode, m)
	}
	cc := e.ccToken(rs, rsSecret)
	if m := bearerIntrospect(cc, cc); m["active"] != true || m["client_id"] != rs.ID {
		t.Errorf("a backend token introspecting itself: %v", m)
	}
}

// TestSec9T_AdministratorTokenIsNoIntrospectionCredential: a person's token
// is not a resource server's credential, an administrator's included
// (before, an administrator's OWin token could introspect every token).
func TestSec9T_AdministratorTokenIsNoIntrospectionCredential(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens("openid")["access_token"].(string)
	admin := e.ownToken("root", "root-pw")
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+admin)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.NewDecoder(r.Body).Decode(&m)
	r.Body.Close()
	if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_client" || m["active"] != nil {
		t.Fatalf("administrator's token as introspection credential: %d %v, want 401 invalid_client", r.StatusCode, m)
	}
}

// TestSec9D4_RegistrationTokenWinsOnce: parallel updates with the same
// registration access token: exactly one succeeds (and its new token is
// the client's), every other one answers 401 invalid_token.
func TestSec9D4_RegistrationTokenWinsOnce(t *testing.T) {
	e := newRegEnv(t, false)
	uris := []string{"https://a.example/cb"}
	id, _, rat := e.registered(map[string]any{"redirect_uris": uris, "scope": "openid"})
	const n = 8
	type answer struct {
		status int
		next   string
	}
	answers := make(chan answer, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			raw, _ := json.Marshal(map[string]any{"client_id": id, "redirect_uris": uris, "client_name": "Racer " + strconv.Itoa(i)})
			req, _ := http.NewRequest(http.MethodPut, e.base+"/oauth/register/"+id, bytes.NewReader(raw))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+rat)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{}
				return
			}
			defer resp.Body.Close()
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			next, _ := m["registration_access_token"].(string)
			answers <- answer{resp.StatusCode, next}
		}()
	}
	close(start)
	var won []string
	for range n {
		a := <-answers
		switch a.status {
		case http.StatusOK:
			won = append(won, a.next)
		case http.StatusUnauthorized:
		default:
			t.Errorf("parallel update answered %d", a.status)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d parallel updates with one token succeeded, want exactly 1", len(won))
	}
	if resp, m := e.call(http.MethodGet, "/oauth/register/"+id, won[0], nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the winner's new token: %d %v", resp.StatusCode, m)
	}
}
