package authz_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz"
)

func benchPost(b *testing.B, u string, form url.Values, user, pass string) map[string]any {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
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
	c, secret := e.createClient(authz.NewClient{Name: "bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}
	b.ResetTimer()
	for b.Loop() {
		benchPost(b, e.base+"/oauth/token", form, c.ID, secret)
	}
}

// BenchmarkIntrospection measures RFC 7662 introspection of an active token.
func BenchmarkIntrospection(b *testing.B) {
	e := newEnv(b)
	c, secret := e.createClient(authz.NewClient{Name: "bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}})
	tok := benchPost(b, e.base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}, c.ID, secret)
	form := url.Values{"token": {tok["access_token"].(string)}}
	b.ResetTimer()
	for b.Loop() {
		if m := benchPost(b, e.base+"/oauth/introspect", form, c.ID, secret); m["active"] != true {
			b.Fatal("inactive")
		}
	}
}
