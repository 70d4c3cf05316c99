package authz_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/smartgate/smartgate/authz"
)

// TestOAuthURIs: the CapabilityStatement's oauth-uris are the endpoints of
// the SMART configuration served for the same base, and an endpoint that
// is off (registration, management) is left out.
func TestOAuthURIs(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*authz.Config)
		keys []string
	}{
		{"registration and management off", func(*authz.Config) {}, []string{"authorize", "token", "introspect", "revoke"}},
		{"registration and management on", func(c *authz.Config) { c.RegistrationPath = "/oauth/register"; c.ManagementPath = "/apps" },
			[]string{"authorize", "token", "introspect", "revoke", "register", "manage"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.mod)
			resp, err := http.Get(e.base + "/.well-known/smart-configuration")
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			err = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			field := map[string]string{"authorize": "authorization_endpoint", "token": "token_endpoint", "introspect": "introspection_endpoint",
				"revoke": "revocation_endpoint", "register": "registration_endpoint", "manage": "management_endpoint"}
			want := map[string]string{}
			for _, k := range tc.keys {
				v, _ := doc[field[k]].(string)
				if v == "" {
					t.Fatalf("smart-configuration has no %s: %v", field[k], doc)
				}
				want[k] = v
			}
			if got := e.as.OAuthURIs(e.base); !maps.Equal(got, want) {
				t.Fatalf("OAuthURIs = %v, want %v", got, want)
			}
		})
	}
}
