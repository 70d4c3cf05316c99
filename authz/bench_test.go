package authz_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz"
)

func benchPost(b *testing.B, u string, form url.Values, user, pass string) map[string]any {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		b.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	return m
}

// BenchmarkClientCredentials measures issuing a JWT access token
// (client_secret_basic, ES256 signing, one stored record).
func BenchmarkClientCredentials(b *testing.B) {
	e := newEnv(b)
	c, secret := e.createClient(authz.NewClient{Name: "bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}, AllowSystemScopes: true})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}
	b.ResetTimer()
	for b.Loop() {
		benchPost(b, e.base+"/oauth/token", form, c.ID, secret)
	}
}

// BenchmarkIntrospection measures RFC 7662 introspection of an active token.
func BenchmarkIntrospection(b *testing.B) {
	e := newEnv(b)
	c, secret := e.createClient(authz.NewClient{Name: "bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}, AllowSystemScopes: true})
	tok := benchPost(b, e.base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}, c.ID, secret)
	form := url.Values{"token": {tok["access_token"].(string)}}
	b.ResetTimer()
	for b.Loop() {
		if m := benchPost(b, e.base+"/oauth/introspect", form, c.ID, secret); m["active"] != true {
			b.Fatal("inactive")
		}
	}
}

// BenchmarkBackendServicesPrivateKeyJWT measures SMART Backend Services
// issuance: client_credentials with a private_key_jwt assertion (signature
// check against the registered JWKS, claim checks, jti recorded) and an
// ES256 JWT access token. Signing the assertion (the client's work) is
// excluded from the timing.
func BenchmarkBackendServicesPrivateKeyJWT(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES384, jose.RS384} {
		b.Run(string(alg), func(b *testing.B) {
			e := newEnv(b)
			k := newBackendKey(b, alg)
			c := e.backendClient(k, "")
			for b.Loop() {
				b.StopTimer()
				form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
					"client_assertion_type": {jwtBearer}, "client_assertion": {k.assert(b, c.ID, e.tokenURL())}}
				b.StartTimer()
				if m := benchPost(b, e.base+"/oauth/token", form, "", ""); m["access_token"] == nil {
					b.Fatal("no access token")
				}
			}
		})
	}
}
