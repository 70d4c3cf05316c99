package clients

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/registration"
)

// FuzzMetadataFrom: any registration form parses and validates without
// panicking, and what validates keeps redirect URIs free of fragments and
// markup-capable schemes.
func FuzzMetadataFrom(f *testing.F) {
	f.Add("App", "https://a.example/cb\nhttp://127.0.0.1/cb", "openid patient/*.rs", "none", "authorization_code", "", "")
	f.Add("<b>x</b>", "javascript:alert(1)", "user/*.cruds", "private_key_jwt", "client_credentials,refresh_token", `{"keys":[]}`, "https://k.example/jwks")
	f.Fuzz(func(t *testing.T, name, redirects, scope, method, grants, jwks, jwksURI string) {
		form := url.Values{"client_name": {name}, "redirect_uris": {redirects}, "scope": {scope},
			"token_endpoint_auth_method": {method}, "grant_types": {grants}, "jwks": {jwks}, "jwks_uri": {jwksURI}}
		r := httptest.NewRequest("POST", "/admin/clients/new", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			return
		}
		m := metadataFrom(r)
		out, err := registration.Validate(m, authz.AdminPolicy(m))
		if err != nil {
			return
		}
		for _, u := range out.RedirectURIs {
			if strings.Contains(u, "#") || strings.HasPrefix(strings.ToLower(u), "javascript:") || strings.HasPrefix(strings.ToLower(u), "data:") {
				t.Fatalf("accepted redirect URI %q", u)
			}
		}
	})
}
