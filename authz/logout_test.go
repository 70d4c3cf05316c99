package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz"
)

// TestPostLogoutRedirectOnlyToRegisteredURIs: RP-initiated logout redirects
// only to a post_logout_redirect_uri the client registered, the client being
// named or taken from an id_token_hint this server signed; discovery
// advertises end_session_endpoint.
func TestPostLogoutRedirectOnlyToRegisteredURIs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, secret := e.createClient(authz.NewClient{Name: "Logout App", RedirectURIs: []string{"https://app.example/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"}, Scopes: stdScopes})
	code, v := e.codeFor(c, []string{"openid", "fhirUser"})
	resp, tok := e.exchange(c, secret, code, v)
	hint, _ := tok["id_token"].(string)
	if resp.StatusCode != 200 || hint == "" {
		t.Fatalf("exchange: %d %v", resp.StatusCode, tok)
	}
	cases := []struct {
		name                string
		clientID, hint, uri string
		want                bool
	}{
		{"registered, named client", c.ID, "", "https://app.example/bye", true},
		{"registered, client from the hint", "", hint, "https://app.example/bye", true},
		{"unregistered URI", c.ID, "", "https://evil.example/bye", false},
		{"registered URI with a suffix", c.ID, "", "https://app.example/bye/x", false},
		{"another client's URI", e.conf.ID, "", "https://app.example/bye", false},
		{"hint and client disagree", e.conf.ID, hint, "https://app.example/bye", false},
		{"forged hint", "", hint[:len(hint)-4] + "AAAA", "https://app.example/bye", false},
		{"no client at all", "", "", "https://app.example/bye", false},
		{"empty URI", c.ID, "", "", false},
	}
	for _, tc := range cases {
		if got := e.as.PostLogoutRedirectAllowed(ctx, tc.clientID, tc.hint, tc.uri); got != tc.want {
			t.Errorf("%s: allowed = %v, want %v", tc.name, got, tc.want)
		}
	}
	r, err := http.Get(e.base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var d map[string]any
	json.NewDecoder(r.Body).Decode(&d)
	if es, _ := d["end_session_endpoint"].(string); !strings.HasSuffix(es, "/logout") || !strings.HasPrefix(es, e.base) {
		t.Fatalf("end_session_endpoint = %v", d["end_session_endpoint"])
	}
}
