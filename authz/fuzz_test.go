package authz_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzTokenEndpoint: whatever the form, the token endpoint answers JSON,
// never 5xx, never without no-store, and issues no token to an
// unauthenticated caller.
func FuzzTokenEndpoint(f *testing.F) {
	for _, s := range []string{
		"grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
		"grant_type=refresh_token&refresh_token=ory_rt_a.b",
		"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c",
		"grant_type=password&username=alice&password=x",
		"grant_type=client_credentials&client_id=%00&client_secret=%ff",
		"grant_type=authorization_code&grant_type=refresh_token",
		"%zz", "", "scope=" + strings.Repeat("a ", 1000),
	} {
		f.Add(s, "")
		f.Add(s, "Basic Og==")
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body, authHeader string) {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authHeader != "" && !strings.ContainsAny(authHeader, "\r\n\x00") {
			req.Header.Set("Authorization", authHeader)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // the client refused to send it
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("non-JSON answer %d: %q", resp.StatusCode, b)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		if vals, _ := url.ParseQuery(body); resp.StatusCode == 200 && vals.Get("grant_type") != "password" {
			t.Fatalf("token issued for %q: %s", body, b)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
	})
}

// FuzzAuthorizeEndpoint: whatever the query, the authorization endpoint
// never answers 5xx and redirects only to a registered redirect URI.
func FuzzAuthorizeEndpoint(f *testing.F) {
	f.Add("response_type=code&client_id=CLIENT&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&state=0123456789&scope=openid&aud=AUD")
	f.Add("response_type=token&client_id=CLIENT&redirect_uri=https%3A%2F%2Fevil.example%2F&state=0123456789")
	f.Add("client_id=CLIENT&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&request=eyJ.eyJ.x")
	f.Add("client_id=CLIENT&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&response_mode=fragment&response_type=code")
	f.Add("%%%")
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, query string) {
		query = strings.ReplaceAll(query, "CLIENT", e.public.ID)
		query = strings.ReplaceAll(query, "AUD", url.QueryEscape(e.fhir))
		req, err := http.NewRequest(http.MethodGet, e.base+"/oauth/authorize?"+query, nil)
		if err != nil {
			return
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %q", resp.StatusCode, query)
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("bad Location %q", loc)
			}
			u.RawQuery, u.Fragment = "", ""
			if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Path != "/cb" {
				t.Fatalf("redirected to unregistered %q for %q", loc, query)
			}
		}
	})
}
