package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/listener"
)

func getJSON(t *testing.T, u string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return resp, m
}

func TestM1_M3_Discovery(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, m := getJSON(t, e.base+path)
		if resp.StatusCode != 200 || m["issuer"] != e.base || m["token_endpoint"] != e.base+"/oauth/token" ||
			m["authorization_endpoint"] != e.base+"/oauth/authorize" || m["jwks_uri"] != e.base+"/oauth/jwks" {
			t.Fatalf("%s: %v", path, m)
		}
		list := func(k string) []any { l, _ := m[k].([]any); return l }
		if !slices.Equal(list("code_challenge_methods_supported"), []any{"S256"}) {
			t.Errorf("M2: code_challenge_methods_supported %v", m["code_challenge_methods_supported"])
		}
		if slices.Contains(list("token_endpoint_auth_methods_supported"), "none") ||
			slices.Contains(list("token_endpoint_auth_signing_alg_values_supported"), "none") {
			t.Error("A8/M2: none advertised")
		}
		if slices.Contains(list("grant_types_supported"), "password") {
			t.Error("D20: password grant advertised")
		}
		if !slices.Contains(list("id_token_signing_alg_values_supported"), "RS256") {
			t.Error("H3: RS256 not advertised")
		}
		for _, f := range []string{"response_types_supported", "subject_types_supported", "introspection_endpoint", "revocation_endpoint", "userinfo_endpoint"} {
			if m[f] == nil {
				t.Errorf("missing %s", f)
			}
		}
	}
}

func TestH4_JWKSHasRSAAndECKeys(t *testing.T) {
	e := newEnv(t)
	set := fetchJWKS(t, e.base)
	var rsa, ec int
	for _, k := range set.Keys {
		if !k.IsPublic() || k.KeyID == "" {
			t.Fatalf("JWKS key %+v is private or has no kid", k)
		}
		switch k.Algorithm {
		case "RS256":
			rsa++
		case "ES256":
			ec++
		}
	}
	if rsa != 1 || ec != 1 {
		t.Fatalf("JWKS has %d RS256 and %d ES256 keys", rsa, ec)
	}
}

func TestKeyRotationKeepsRetiredKeysUntilTokensExpire(t *testing.T) {
	e := newEnv(t)
	oldResp := e.tokens("openid")
	old := oldResp["access_token"].(string)
	if err := authz.RotateKeys(context.Background(), e.db, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute) // past the key cache
	if n := len(fetchJWKS(t, e.base).Keys); n != 4 {
		t.Fatalf("JWKS after rotation has %d keys, want 4 (new + retired)", n)
	}
	verifyAccessToken(t, e.base, old)
	if in := e.introspect(old); in["active"] != true {
		t.Fatalf("token signed by the retired key: %v", in)
	}
	fresh := e.tokens("openid")["access_token"].(string)
	verifyAccessToken(t, e.base, fresh)
	// H12: an id_token_hint signed by the retired key still works.
	oldID := oldResp["id_token"].(string)
	code, v := e.codeFor(e.public, []string{"openid"}, oauth2.SetAuthURLParam("id_token_hint", oldID))
	if resp, m := e.exchange(e.public, "", code, v); resp.StatusCode != 200 {
		t.Fatalf("id_token_hint from before the rotation: %v", m)
	}
	// Once every token of the retired key has expired, it leaves the JWKS.
	e.clock.Advance(3 * time.Hour)
	if n := len(fetchJWKS(t, e.base).Keys); n != 2 {
		t.Fatalf("JWKS long after rotation has %d keys, want 2", n)
	}
}

func TestScheduledKeyRotation(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.KeyRotation = 24 * time.Hour })
	before := fetchJWKS(t, e.base)
	e.clock.Advance(25 * time.Hour)
	after := fetchJWKS(t, e.base)
	if len(after.Keys) == 0 || after.Keys[0].KeyID == before.Keys[0].KeyID {
		t.Fatalf("keys not rotated on schedule: before %v after %v", before.Keys[0].KeyID, after.Keys[0].KeyID)
	}
}

// TestTokensValidOnBothListeners: each listener is its own issuer; a token
// from one is valid on the other.
func TestTokensValidOnBothListeners(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	e.as.Register(mux)
	other := httptest.NewServer(listener.Middleware(listener.Info{Name: "https", BaseURL: "https://other.example"}, mux))
	defer other.Close()
	_, d := getJSON(t, other.URL+"/.well-known/openid-configuration")
	if d["issuer"] != "https://other.example" || d["token_endpoint"] != "https://other.example/oauth/token" {
		t.Fatalf("other listener discovery %v", d)
	}
	at := e.tokens("openid")["access_token"].(string)
	resp, m := (&env{t: t, base: other.URL}).postForm("/oauth/introspect", url.Values{"token": {at}}, e.conf.ID, e.secret)
	if resp.StatusCode != 200 || m["active"] != true {
		t.Fatalf("token from listener A on listener B: %d %v", resp.StatusCode, m)
	}
	// An authorization on listener B with aud = B's FHIR base.
	e2 := *e
	e2.base = other.URL
	e2.fhir = "https://other.example/fhir"
	code, v := e2.codeFor(e.public, []string{"openid", "patient/*.rs"})
	resp, tok := e2.exchange(e.public, "", code, v)
	if resp.StatusCode != 200 {
		t.Fatalf("exchange on B: %v", tok)
	}
	claims := verifyAccessToken(t, other.URL, tok["access_token"].(string))
	if claims["iss"] != "https://other.example" {
		t.Errorf("iss on B = %v", claims["iss"])
	}
}
