package registration_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/authz/smart"
)

func scopes(t *testing.T, s string) smart.Scopes {
	t.Helper()
	ss, invalid := smart.ParseScopes(s)
	if len(invalid) > 0 {
		t.Fatalf("invalid test scopes %q", invalid)
	}
	return ss
}

// TestDCR1_DefaultsAndNormalisation checks the RFC 7591 §2 defaults and that
// the result is what is echoed (RFC 7591 §3.2.1).
func TestDCR1_DefaultsAndNormalisation(t *testing.T) {
	tests := []struct {
		name   string
		in     registration.Metadata
		policy registration.Policy
		want   registration.Metadata
	}{
		{
			name:   "defaults for a confidential registration",
			in:     registration.Metadata{RedirectURIs: []string{"https://app.example/cb"}},
			policy: admin(),
			want: registration.Metadata{
				RedirectURIs:            []string{"https://app.example/cb"},
				TokenEndpointAuthMethod: "client_secret_basic",
				GrantTypes:              []string{"authorization_code"},
				ResponseTypes:           []string{"code"},
			},
		},
		{
			name:   "keys imply private_key_jwt",
			in:     registration.Metadata{GrantTypes: []string{"client_credentials"}, JWKSURI: "https://app.example/jwks"},
			policy: admin(),
			want: registration.Metadata{
				TokenEndpointAuthMethod: "private_key_jwt",
				GrantTypes:              []string{"client_credentials"},
				JWKSURI:                 "https://app.example/jwks",
			},
		},
		{
			name:   "open registration defaults to a public client",
			in:     registration.Metadata{RedirectURIs: []string{"https://app.example/cb"}},
			policy: registration.Policy{},
			want: registration.Metadata{
				RedirectURIs:            []string{"https://app.example/cb"},
				TokenEndpointAuthMethod: "none",
				GrantTypes:              []string{"authorization_code"},
				ResponseTypes:           []string{"code"},
			},
		},
		{
			name: "trimmed and de-duplicated",
			in: registration.Metadata{
				RedirectURIs:            []string{" https://app.example/cb ", "https://app.example/cb", "http://127.0.0.1/cb"},
				TokenEndpointAuthMethod: "client_secret_post",
				GrantTypes:              []string{"authorization_code", "refresh_token", "authorization_code"},
				ResponseTypes:           []string{"code", "code"},
				ClientName:              "  My <b>App</b>  ",
				Contacts:                []string{"a@example.org", " a@example.org"},
				Scope:                   "  launch  openid   patient/*.rs ",
				ClientURI:               "https://app.example/",
				LogoURI:                 "https://app.example/logo.png",
				TOSURI:                  "https://app.example/tos#terms",
				PolicyURI:               "https://app.example/privacy",
				LaunchURI:               "https://app.example/launch",
				SoftwareID:              "4NRB1-0XZABZI9E6-5SM3R",
				SoftwareVersion:         "2.1",
				PostLogoutRedirectURIs:  []string{"https://app.example/bye"},
			},
			policy: admin(),
			want: registration.Metadata{
				RedirectURIs:            []string{"https://app.example/cb", "http://127.0.0.1/cb"},
				TokenEndpointAuthMethod: "client_secret_post",
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
				ClientName:              "My <b>App</b>",
				Contacts:                []string{"a@example.org"},
				Scope:                   "launch openid patient/*.rs",
				ClientURI:               "https://app.example/",
				LogoURI:                 "https://app.example/logo.png",
				TOSURI:                  "https://app.example/tos#terms",
				PolicyURI:               "https://app.example/privacy",
				LaunchURI:               "https://app.example/launch",
				SoftwareID:              "4NRB1-0XZABZI9E6-5SM3R",
				SoftwareVersion:         "2.1",
				PostLogoutRedirectURIs:  []string{"https://app.example/bye"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := registration.Validate(tc.in, tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Validate =\n%+v\nwant\n%+v", got, tc.want)
			}
			again, err := registration.Validate(got, tc.policy)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("not idempotent: %+v, %v", again, err)
			}
		})
	}
}

// TestDCR2_ErrorCodes checks that each kind of problem gets its RFC 7591
// §3.2.2 error code and that the error marshals to the §3.2.2 JSON body.
func TestDCR2_ErrorCodes(t *testing.T) {
	cb := []string{"https://app.example/cb"}
	tests := []struct {
		name string
		in   registration.Metadata
		code string
	}{
		{"no redirect uri for authorization_code", registration.Metadata{}, registration.CodeInvalidRedirectURI},
		{"bad redirect uri", registration.Metadata{RedirectURIs: []string{"http://app.example/cb"}}, registration.CodeInvalidRedirectURI},
		{"unknown auth method", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "client_secret_jwt"}, registration.CodeInvalidClientMetadata},
		{"tls_client_auth", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "tls_client_auth"}, registration.CodeInvalidClientMetadata},
		{"bad client_uri", registration.Metadata{RedirectURIs: cb, ClientURI: "javascript:alert(1)"}, registration.CodeInvalidClientMetadata},
		{"bad scope", registration.Metadata{RedirectURIs: cb, Scope: "patient/Observation.x"}, registration.CodeInvalidClientMetadata},
		{"bad post-logout uri", registration.Metadata{RedirectURIs: cb, PostLogoutRedirectURIs: []string{"https://a.example/#x"}}, registration.CodeInvalidClientMetadata},
		{"malformed software statement", registration.Metadata{RedirectURIs: cb, SoftwareStatement: "not-a-jwt"}, registration.CodeInvalidSoftwareStatement},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registration.Validate(tc.in, admin())
			wantCode(t, err, tc.code)
			b, err := json.Marshal(err)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]string
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatal(err)
			}
			if body["error"] != tc.code || body["error_description"] == "" || len(body) != 2 {
				t.Fatalf("JSON body = %s", b)
			}
		})
	}
}

// TestDCR3_BothJWKSAndJWKSURIRefused: RFC 7591 §2 "MUST NOT both be present".
func TestDCR3_BothJWKSAndJWKSURIRefused(t *testing.T) {
	k := newTestKeys(t)
	_, err := registration.Validate(registration.Metadata{
		TokenEndpointAuthMethod: "private_key_jwt",
		GrantTypes:              []string{"client_credentials"},
		JWKSURI:                 "https://app.example/jwks.json",
		JWKS:                    jwks(t, jwk(t, &k.p384.PublicKey, "k1", "ES384")),
	}, admin())
	wantCode(t, err, registration.CodeInvalidClientMetadata)
	if !strings.Contains(err.Error(), "jwks_uri") {
		t.Fatalf("description does not name the members: %v", err)
	}
}

// TestDCR4_GrantAndResponseTypes: RFC 7591 §2.1 consistency, and refusal of
// the implicit and password grants (RFC 9700 §2.1.2, §2.4).
func TestDCR4_GrantAndResponseTypes(t *testing.T) {
	k := newTestKeys(t)
	keys := jwks(t, jwk(t, &k.rsa2048.PublicKey, "r1", "RS384"))
	cb := []string{"https://app.example/cb"}
	tests := []struct {
		name      string
		in        registration.Metadata
		policy    registration.Policy
		grants    []string
		responses []string
		code      string // "" = accepted
	}{
		{name: "only response_types code", in: registration.Metadata{RedirectURIs: cb, ResponseTypes: []string{"code"}}, grants: []string{"authorization_code"}, responses: []string{"code"}},
		{name: "only grant_types authorization_code", in: registration.Metadata{RedirectURIs: cb, GrantTypes: []string{"authorization_code"}}, grants: []string{"authorization_code"}, responses: []string{"code"}},
		{name: "backend service", in: registration.Metadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}, JWKS: keys, Scope: "system/*.rs"}, grants: []string{"client_credentials"}},
		{name: "asymmetric app and backend", in: registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"authorization_code", "client_credentials"}, JWKS: keys}, grants: []string{"authorization_code", "client_credentials"}, responses: []string{"code"}},
		{name: "code without authorization_code", in: registration.Metadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"code"}, JWKS: keys}, code: registration.CodeInvalidClientMetadata},
		{name: "implicit grant", in: registration.Metadata{RedirectURIs: cb, GrantTypes: []string{"implicit"}}, code: registration.CodeInvalidClientMetadata},
		{name: "password grant", in: registration.Metadata{RedirectURIs: cb, GrantTypes: []string{"password"}}, code: registration.CodeInvalidClientMetadata},
		{name: "token response type", in: registration.Metadata{RedirectURIs: cb, ResponseTypes: []string{"token"}}, code: registration.CodeInvalidClientMetadata},
		{name: "hybrid response type", in: registration.Metadata{RedirectURIs: cb, ResponseTypes: []string{"code id_token"}}, code: registration.CodeInvalidClientMetadata},
		{name: "jwt-bearer grant", in: registration.Metadata{RedirectURIs: cb, GrantTypes: []string{"urn:ietf:params:oauth:grant-type:jwt-bearer"}}, code: registration.CodeInvalidClientMetadata},
		{name: "refresh_token alone", in: registration.Metadata{GrantTypes: []string{"refresh_token"}}, code: registration.CodeInvalidClientMetadata},
		{name: "grant outside policy", in: registration.Metadata{RedirectURIs: cb, GrantTypes: []string{"authorization_code", "refresh_token"}}, policy: registration.Policy{AnyScope: true, AllowConfidential: true, GrantTypes: []string{"authorization_code"}}, code: registration.CodeInvalidClientMetadata},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p.GrantTypes == nil {
				p = admin()
			}
			got, err := registration.Validate(tc.in, p)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.GrantTypes, tc.grants) || !reflect.DeepEqual(got.ResponseTypes, tc.responses) {
				t.Fatalf("grant_types %q response_types %q, want %q %q", got.GrantTypes, got.ResponseTypes, tc.grants, tc.responses)
			}
		})
	}
}

// TestDCR5_RedirectURIs: https only, http only on loopback, private-use
// schemes for native apps, no fragment, no wildcard (RFC 6749 §3.1.2, RFC
// 9700 §2.1, RFC 8252 §7.1/§7.3).
func TestDCR5_RedirectURIs(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example:8443/cb?x=1", true},
		{"http://127.0.0.1/cb", true},
		{"http://127.0.0.1:51004/oauth2redirect", true},
		{"http://[::1]:8080/cb", true},
		{"http://localhost:4567/custom/smart/redirect", true},
		{"com.example.app:/oauth2redirect/example-provider", true},
		{"com.example.app://callback", true},
		{"https://app.example/cb#frag", false},
		{"https://app.example/cb#", false},
		{"https://*.app.example/cb", false},
		{"https://app.example/*", false},
		{"http://app.example/cb", false},
		{"http://127.0.0.2/cb", false},
		{"http://localhost.evil.example/cb", false},
		{"http://10.0.0.1/cb", false},
		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)//", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"vbscript:msgbox(1)", false},
		{"file:///etc/passwd", false},
		{"myapp:/cb", false},
		{"com.example.app:", false},
		{"/cb", false},
		{"//app.example/cb", false},
		{"app.example/cb", false},
		{"https:///cb", false},
		{"https:/cb", false},
		{"https://user:pass@app.example/cb", false},
		{"https://user@app.example/cb", false},
		{"https://app.example/c b", false},
		{"https://app.example/c\nb", false},
		{"https://app.example/cb?x=\"<script>", false},
		{"https://app.example/cb?x={y}", false},
		{"https://app.example/\x00", false},
		{"https://app.example/c\tb", false},
		{"https://bücher.example/cb", false},
		{"https://app.example/" + strings.Repeat("a", registration.MaxURILength), false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			got, err := registration.Validate(registration.Metadata{RedirectURIs: []string{tc.uri}}, admin())
			if !tc.ok {
				wantCode(t, err, registration.CodeInvalidRedirectURI)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.RedirectURIs) != 1 || got.RedirectURIs[0] != tc.uri {
				t.Fatalf("registered %q, want exactly %q (exact matching, C7)", got.RedirectURIs, tc.uri)
			}
		})
	}
}

func TestDCR5_RedirectURICount(t *testing.T) {
	var uris []string
	for i := range 4 {
		uris = append(uris, "https://app.example/cb"+strings.Repeat("x", i))
	}
	p := admin()
	p.MaxRedirectURIs = 3
	_, err := registration.Validate(registration.Metadata{RedirectURIs: uris}, p)
	wantCode(t, err, registration.CodeInvalidRedirectURI)
	p.MaxRedirectURIs = 4
	if _, err := registration.Validate(registration.Metadata{RedirectURIs: uris}, p); err != nil {
		t.Fatal(err)
	}
	many := make([]string, registration.DefaultMaxRedirectURIs+1)
	for i := range many {
		many[i] = "https://app.example/" + strings.Repeat("c", i+1)
	}
	_, err = registration.Validate(registration.Metadata{RedirectURIs: many}, admin())
	wantCode(t, err, registration.CodeInvalidRedirectURI)
}

// TestDCR5_WebURLs: client_uri, logo_uri, tos_uri, policy_uri, launch_uri
// and jwks_uri are https (or http loopback) URLs; never javascript: or
// data:.
func TestDCR5_WebURLs(t *testing.T) {
	fields := map[string]func(*registration.Metadata, string){
		"client_uri": func(m *registration.Metadata, v string) { m.ClientURI = v },
		"logo_uri":   func(m *registration.Metadata, v string) { m.LogoURI = v },
		"tos_uri":    func(m *registration.Metadata, v string) { m.TOSURI = v },
		"policy_uri": func(m *registration.Metadata, v string) { m.PolicyURI = v },
		"launch_uri": func(m *registration.Metadata, v string) { m.LaunchURI = v },
	}
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/x", true},
		{"http://localhost:9000/launch", true},
		{"javascript:alert(document.cookie)", false},
		{"data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+", false},
		{"http://app.example/x", false},
		{"ftp://app.example/x", false},
		{"https://u:p@app.example/x", false},
		{"https://app.example/\"><script>", false},
		{"//app.example/x", false},
		{"com.example.app:/x", false},
	}
	for name, set := range fields {
		for _, tc := range tests {
			t.Run(name+" "+tc.uri, func(t *testing.T) {
				m := registration.Metadata{RedirectURIs: []string{"https://app.example/cb"}}
				set(&m, tc.uri)
				_, err := registration.Validate(m, admin())
				if tc.ok && err != nil {
					t.Fatal(err)
				}
				if !tc.ok {
					wantCode(t, err, registration.CodeInvalidClientMetadata)
				}
			})
		}
	}
	m := registration.Metadata{RedirectURIs: []string{"https://app.example/cb"}, LaunchURI: "https://app.example/launch#x"}
	_, err := registration.Validate(m, admin())
	wantCode(t, err, registration.CodeInvalidClientMetadata)
}

// TestDCR5_Text: markup in client_name is text (pages escape it); control
// characters and bidi overrides are refused; lengths are limited.
func TestDCR5_Text(t *testing.T) {
	cb := []string{"https://app.example/cb"}
	tests := []struct {
		name string
		in   registration.Metadata
		ok   bool
	}{
		{"markup in name", registration.Metadata{ClientName: `<script>alert(1)</script> & "x"`}, true},
		{"javascript in name", registration.Metadata{ClientName: "javascript:alert(1)"}, true},
		{"unicode name", registration.Metadata{ClientName: "Ärzte-App 医療 👩‍⚕️"}, true},
		{"newline in name", registration.Metadata{ClientName: "a\nb"}, false},
		{"NUL in name", registration.Metadata{ClientName: "a\x00b"}, false},
		{"DEL in name", registration.Metadata{ClientName: "a\x7fb"}, false},
		{"C1 control in name", registration.Metadata{ClientName: "a\u0085b"}, false},
		{"bidi override in name", registration.Metadata{ClientName: "good\u202Eppa.exe"}, false},
		{"invalid UTF-8", registration.Metadata{ClientName: "a\xffb"}, false},
		{"long name", registration.Metadata{ClientName: strings.Repeat("é", registration.MaxClientNameRunes+1)}, false},
		{"longest name", registration.Metadata{ClientName: strings.Repeat("é", registration.MaxClientNameRunes)}, true},
		{"long software_id", registration.Metadata{SoftwareID: strings.Repeat("a", registration.MaxTextLength+1)}, false},
		{"control in software_version", registration.Metadata{SoftwareVersion: "1\r\n2"}, false},
		{"empty contact", registration.Metadata{Contacts: []string{" "}}, false},
		{"too many contacts", registration.Metadata{Contacts: strings.Fields("a b c d e f g h i j k")}, false},
		{"long scope", registration.Metadata{Scope: strings.Repeat("openid ", registration.MaxScopeLength/7+1)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.RedirectURIs = cb
			got, err := registration.Validate(tc.in, admin())
			if !tc.ok {
				wantCode(t, err, registration.CodeInvalidClientMetadata)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ClientName != tc.in.ClientName {
				t.Fatalf("client_name %q, want %q kept as text", got.ClientName, tc.in.ClientName)
			}
		})
	}
}

// TestDCR7_OpenRegistrationPublicOnly: a policy without AllowConfidential
// yields public clients only.
func TestDCR7_OpenRegistrationPublicOnly(t *testing.T) {
	k := newTestKeys(t)
	open := registration.Policy{Scopes: scopes(t, "launch/patient openid fhirUser patient/*.rs")}
	cb := []string{"https://app.example/cb"}
	for _, method := range []string{"client_secret_basic", "client_secret_post", "private_key_jwt"} {
		t.Run(method, func(t *testing.T) {
			m := registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: method}
			if method == "private_key_jwt" {
				m.JWKS = jwks(t, jwk(t, &k.p384.PublicKey, "k", "ES384"))
			}
			_, err := registration.Validate(m, open)
			wantCode(t, err, registration.CodeInvalidClientMetadata)
		})
	}
	got, err := registration.Validate(registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "none"}, open)
	if err != nil || got.TokenEndpointAuthMethod != "none" {
		t.Fatalf("public client: %+v, %v", got, err)
	}
}

// TestDCR9_JWKS: the JWK SHALL requirements of the SMART IG
// (client-confidential-asymmetric.html#registering-a-client) and RFC 7517.
func TestDCR9_JWKS(t *testing.T) {
	k := newTestKeys(t)
	rsaKey := jwk(t, &k.rsa2048.PublicKey, "rsa-1", "RS384")
	ecKey := jwk(t, &k.p384.PublicKey, "ec-1", "ES384")
	tests := []struct {
		name string
		doc  []byte
		ok   bool
	}{
		{"RSA RS384", jwks(t, rsaKey), true},
		{"EC P-384 ES384", jwks(t, ecKey), true},
		{"EC P-256 ES256", jwks(t, jwk(t, &k.p256.PublicKey, "ec-2", "ES256")), true},
		{"RSA RS256", jwks(t, with(rsaKey, "alg", "RS256")), true},
		{"no alg", jwks(t, with(rsaKey, "alg", nil), with(ecKey, "alg", nil)), true},
		{"use sig", jwks(t, with(rsaKey, "use", "sig")), true},
		{"unknown member kept", jwks(t, with(ecKey, "key_ops", []string{"verify"})), true},
		{"two keys", jwks(t, rsaKey, ecKey), true},
		{"private RSA key (d, p, q, dp, dq, qi)", jwks(t, jwk(t, k.rsa2048, "rsa-p", "RS384")), false},
		{"private EC key (d)", jwks(t, jwk(t, k.p384, "ec-p", "ES384")), false},
		{"public key with stray d", jwks(t, with(ecKey, "d", "AAAA")), false},
		{"stray qi", jwks(t, with(rsaKey, "qi", "AAAA")), false},
		{"symmetric key", jwks(t, map[string]any{"kty": "oct", "kid": "s", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}), false},
		{"OKP key", jwks(t, map[string]any{"kty": "OKP", "kid": "o", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}), false},
		{"no kid", jwks(t, with(rsaKey, "kid", nil)), false},
		{"empty kid", jwks(t, with(rsaKey, "kid", "")), false},
		{"numeric kid", jwks(t, with(rsaKey, "kid", 7)), false},
		{"no kty", jwks(t, with(rsaKey, "kty", nil)), false},
		{"RSA without n", jwks(t, with(rsaKey, "n", nil)), false},
		{"RSA without e", jwks(t, with(rsaKey, "e", nil)), false},
		{"RSA even exponent", jwks(t, with(rsaKey, "e", "AQAA")), false},
		{"RSA huge exponent", jwks(t, with(rsaKey, "e", "AQAAAAAAAQAB")), false},
		{"short RSA key", jwks(t, jwk(t, &k.rsa1024.PublicKey, "short", "RS384")), false},
		{"EC without crv", jwks(t, with(ecKey, "crv", nil)), false},
		{"EC unknown curve", jwks(t, with(ecKey, "crv", "secp256k1")), false},
		{"EC without y", jwks(t, with(ecKey, "y", nil)), false},
		{"EC point not on curve", jwks(t, with(ecKey, "x", jwk(t, &k.p384.PublicKey, "z", "")["y"])), false},
		{"duplicate kid", jwks(t, rsaKey, with(ecKey, "kid", "rsa-1")), false},
		{"alg HS256", jwks(t, with(rsaKey, "alg", "HS256")), false},
		{"alg none", jwks(t, with(rsaKey, "alg", "none")), false},
		{"alg RS512", jwks(t, with(rsaKey, "alg", "RS512")), false},
		{"alg ES384 on RSA", jwks(t, with(rsaKey, "alg", "ES384")), false},
		{"alg RS384 on EC", jwks(t, with(ecKey, "alg", "RS384")), false},
		{"alg ES256 on P-384", jwks(t, with(ecKey, "alg", "ES256")), false},
		{"use enc", jwks(t, with(rsaKey, "use", "enc")), false},
		{"empty set", jwks(t), false},
		{"no keys member", []byte(`{"kid":"x"}`), false},
		{"keys not array", []byte(`{"keys":{}}`), false},
		{"key not object", []byte(`{"keys":["x"]}`), false},
		{"array instead of set", []byte(`[{"kty":"RSA"}]`), false},
		{"not JSON", []byte(`{"keys":[`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := registration.ParseJWKS(tc.doc)
			if !tc.ok {
				wantCode(t, err, registration.CodeInvalidClientMetadata)
			} else if err != nil {
				t.Fatal(err)
			} else {
				for _, key := range set.Keys {
					if !key.IsPublic() || key.KeyID == "" {
						t.Fatalf("key %+v is not a public key with kid", key)
					}
				}
			}
			// The same rules apply through Validate.
			_, err = registration.Validate(registration.Metadata{
				TokenEndpointAuthMethod: "private_key_jwt",
				GrantTypes:              []string{"client_credentials"},
				JWKS:                    tc.doc,
			}, admin())
			if tc.ok != (err == nil) {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestDCR9_JWKSDescriptionHasNoKeyMaterial(t *testing.T) {
	k := newTestKeys(t)
	priv := jwk(t, k.rsa2048, "rsa-p", "RS384")
	_, err := registration.ParseJWKS(jwks(t, priv))
	wantCode(t, err, registration.CodeInvalidClientMetadata)
	for _, member := range []string{"d", "p", "q"} {
		if v := priv[member].(string); strings.Contains(err.Error(), v[:16]) {
			t.Fatalf("description contains key material: %v", err)
		}
	}
}

func TestDCR9_JWKSStoredCompacted(t *testing.T) {
	k := newTestKeys(t)
	doc := jwks(t, jwk(t, &k.p384.PublicKey, "ec-1", "ES384"))
	spaced := []byte("  {\n  \"keys\" :  " + string(doc[len(`{"keys":`):len(doc)-1]) + "\n}\n")
	got, err := registration.Validate(registration.Metadata{
		TokenEndpointAuthMethod: "private_key_jwt",
		GrantTypes:              []string{"client_credentials"},
		JWKS:                    spaced,
	}, admin())
	if err != nil {
		t.Fatal(err)
	}
	if string(got.JWKS) != string(doc) {
		t.Fatalf("jwks stored as %s, want %s", got.JWKS, doc)
	}
}

// TestK13_ClientCredentialsRequiresPrivateKeyJWT: backend services use
// asymmetric keys; symmetric secrets and public clients cannot use
// client_credentials.
func TestK13_ClientCredentialsRequiresPrivateKeyJWT(t *testing.T) {
	for _, method := range []string{"", "none", "client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			_, err := registration.Validate(registration.Metadata{
				TokenEndpointAuthMethod: method,
				GrantTypes:              []string{"client_credentials"},
				Scope:                   "system/*.rs",
			}, admin())
			wantCode(t, err, registration.CodeInvalidClientMetadata)
		})
	}
}

// TestL2_KeysOnlyWithPrivateKeyJWT: private_key_jwt needs keys, and keys
// are registered only for private_key_jwt, so a client registered with keys
// has no secret to fall back to.
func TestL2_KeysOnlyWithPrivateKeyJWT(t *testing.T) {
	k := newTestKeys(t)
	keys := jwks(t, jwk(t, &k.p384.PublicKey, "k", "ES384"))
	cb := []string{"https://app.example/cb"}
	tests := []struct {
		name string
		in   registration.Metadata
		ok   bool
	}{
		{"private_key_jwt without keys", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "private_key_jwt"}, false},
		{"private_key_jwt with jwks", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "private_key_jwt", JWKS: keys}, true},
		{"private_key_jwt with jwks_uri", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://app.example/jwks"}, true},
		{"jwks_uri must be https", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "http://app.example/jwks"}, false},
		{"jwks_uri without fragment", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://app.example/jwks#k"}, false},
		{"secret client with jwks", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "client_secret_basic", JWKS: keys}, false},
		{"public client with jwks_uri", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "none", JWKSURI: "https://app.example/jwks"}, false},
		{"null jwks", registration.Metadata{RedirectURIs: cb, TokenEndpointAuthMethod: "none", JWKS: []byte("null")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registration.Validate(tc.in, admin())
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				wantCode(t, err, registration.CodeInvalidClientMetadata)
			}
		})
	}
}

// TestDCR1_ScopeCeiling: requested scopes are narrowed to the policy's
// ceiling (RFC 7591 §2 "MAY ... replace"), invalid ones refused, system/
// scopes only for backend clients.
func TestDCR1_ScopeCeiling(t *testing.T) {
	k := newTestKeys(t)
	keys := jwks(t, jwk(t, &k.p384.PublicKey, "k", "ES384"))
	cb := []string{"https://app.example/cb"}
	ceiling := scopes(t, "launch launch/patient openid fhirUser offline_access patient/*.rs user/Observation.rs system/Patient.rs")
	tests := []struct {
		name     string
		in       registration.Metadata
		defaults string
		any      bool
		want     string
		code     string
	}{
		{name: "within ceiling", in: registration.Metadata{RedirectURIs: cb, Scope: "launch openid patient/Observation.read"}, want: "launch openid patient/Observation.read"},
		{name: "narrowed", in: registration.Metadata{RedirectURIs: cb, Scope: "openid patient/*.cruds user/*.rs email"}, want: "openid patient/*.rs user/Observation.rs"},
		{name: "nothing allowed", in: registration.Metadata{RedirectURIs: cb, Scope: "email user/Patient.c"}, code: registration.CodeInvalidClientMetadata},
		{name: "invalid scope", in: registration.Metadata{RedirectURIs: cb, Scope: "openid patient/Observation.sr"}, code: registration.CodeInvalidClientMetadata},
		{name: "system scope without client_credentials", in: registration.Metadata{RedirectURIs: cb, Scope: "openid system/Patient.rs"}, code: registration.CodeInvalidClientMetadata},
		{name: "system scope for backend", in: registration.Metadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}, JWKS: keys, Scope: "system/*.rs"}, want: "system/Patient.rs"},
		{name: "omitted scope gets defaults", in: registration.Metadata{RedirectURIs: cb}, defaults: "openid fhirUser system/Patient.rs user/*.rs", want: "openid fhirUser user/Observation.rs"},
		{name: "omitted scope without defaults", in: registration.Metadata{RedirectURIs: cb}, want: ""},
		{name: "admin: any valid scope", in: registration.Metadata{RedirectURIs: cb, Scope: "email user/*.cruds"}, any: true, want: "email user/*.cruds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := registration.Policy{Scopes: ceiling, AnyScope: tc.any, AllowConfidential: true}
			if tc.defaults != "" {
				p.DefaultScopes = scopes(t, tc.defaults)
			}
			got, err := registration.Validate(tc.in, p)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Scope != tc.want {
				t.Fatalf("scope %q, want %q", got.Scope, tc.want)
			}
			again, err := registration.Validate(got, p)
			if err != nil || again.Scope != got.Scope {
				t.Fatalf("revalidated scope %q, %v", again.Scope, err)
			}
		})
	}
}

// TestDCR1_SoftwareStatement: malformed statements are refused with
// invalid_software_statement (RFC 7591 §3.2.2); well-formed ones are
// ignored (RFC 7591 §2.3 "MAY ignore") and not registered.
func TestDCR1_SoftwareStatement(t *testing.T) {
	cb := []string{"https://app.example/cb"}
	// {"alg":"RS256"} . {"software_id":"x"} . signature
	good := "eyJhbGciOiJSUzI1NiJ9.eyJzb2Z0d2FyZV9pZCI6IngifQ.c2lnbmF0dXJl"
	tests := []struct {
		name string
		ss   string
		ok   bool
	}{
		{"signed JWT", good, true},
		{"unsecured JWT", "eyJhbGciOiJub25lIn0.eyJzb2Z0d2FyZV9pZCI6IngifQ.", false},
		{"alg none with signature", "eyJhbGciOiJub25lIn0.eyJzb2Z0d2FyZV9pZCI6IngifQ.c2ln", false},
		{"two parts", "eyJhbGciOiJSUzI1NiJ9.eyJzb2Z0d2FyZV9pZCI6IngifQ", false},
		{"not base64", "eyJhbGciOiJSUzI1NiJ9.!!!.c2ln", false},
		{"header not JSON", "bm90anNvbg.eyJzb2Z0d2FyZV9pZCI6IngifQ.c2ln", false},
		{"too long", "eyJhbGciOiJSUzI1NiJ9." + strings.Repeat("A", registration.MaxSoftwareStatementLength) + ".c2ln", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := registration.Validate(registration.Metadata{RedirectURIs: cb, SoftwareStatement: tc.ss}, admin())
			if !tc.ok {
				wantCode(t, err, registration.CodeInvalidSoftwareStatement)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.SoftwareStatement != "" {
				t.Fatal("ignored software statement was registered")
			}
		})
	}
}
