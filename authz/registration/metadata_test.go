package registration_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/smartgate/smartgate/authz/registration"
)

// TestDCR1_Decode: RFC 7591 §3.1 request bodies, matched by exact member
// name, unknown members ignored.
func TestDCR1_Decode(t *testing.T) {
	tests := []struct {
		name string
		body string
		want registration.Metadata
		code string
	}{
		{
			name: "all members",
			body: `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt",
				"grant_types":["authorization_code"],"response_types":["code"],"client_name":"A","client_uri":"https://a.example",
				"logo_uri":"https://a.example/l.png","scope":"openid","contacts":["x@a.example"],"tos_uri":"https://a.example/t",
				"policy_uri":"https://a.example/p","jwks_uri":"https://a.example/j","jwks":{"keys":[]},"software_id":"s",
				"software_version":"1","software_statement":"a.b.c","launch_uri":"https://a.example/launch",
				"post_logout_redirect_uris":["https://a.example/bye"]}`,
			want: registration.Metadata{
				RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: "private_key_jwt",
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, ClientName: "A",
				ClientURI: "https://a.example", LogoURI: "https://a.example/l.png", Scope: "openid",
				Contacts: []string{"x@a.example"}, TOSURI: "https://a.example/t", PolicyURI: "https://a.example/p",
				JWKSURI: "https://a.example/j", JWKS: []byte(`{"keys":[]}`), SoftwareID: "s", SoftwareVersion: "1",
				SoftwareStatement: "a.b.c", LaunchURI: "https://a.example/launch",
				PostLogoutRedirectURIs: []string{"https://a.example/bye"},
			},
		},
		{
			name: "unknown, client-chosen and language-tagged members are ignored (S12)",
			body: `{"client_id":"admin","client_secret":"x","client_name#ja-Jpan-JP":"ア","REDIRECT_URIS":["https://evil.example"],"extension":{"a":[1]},"client_name":"A"}`,
			want: registration.Metadata{ClientName: "A"},
		},
		{name: "null members are absent", body: `{"client_name":null,"jwks":null,"redirect_uris":null}`},
		{name: "empty object", body: `{}`},
		{name: "duplicate member", body: `{"client_name":"a","client_name":"b"}`, code: registration.CodeInvalidClientMetadata},
		{name: "string for array", body: `{"redirect_uris":"https://a.example/cb"}`, code: registration.CodeInvalidClientMetadata},
		{name: "number for string", body: `{"client_name":1}`, code: registration.CodeInvalidClientMetadata},
		{name: "jwks as string", body: `{"jwks":"{\"keys\":[]}"}`, code: registration.CodeInvalidClientMetadata},
		{name: "array body", body: `[{}]`, code: registration.CodeInvalidClientMetadata},
		{name: "trailing data", body: `{}{}`, code: registration.CodeInvalidClientMetadata},
		{name: "truncated", body: `{"client_name":"a"`, code: registration.CodeInvalidClientMetadata},
		{name: "empty body", body: ``, code: registration.CodeInvalidClientMetadata},
		{name: "too large", body: `{"client_name":"` + strings.Repeat("a", registration.MaxRequestBytes) + `"}`, code: registration.CodeInvalidClientMetadata},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := registration.Decode(strings.NewReader(tc.body))
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestDCR1_DecodeReadError(t *testing.T) {
	_, err := registration.Decode(iotest.ErrReader(errors.New("boom")))
	var re *registration.Error
	if err == nil || errors.As(err, &re) {
		t.Fatalf("read error = %v, want a plain (internal) error", err)
	}
}

func TestDCR2_ErrorIs(t *testing.T) {
	_, err := registration.Validate(registration.Metadata{}, admin())
	if !errors.Is(err, &registration.Error{Code: registration.CodeInvalidRedirectURI}) {
		t.Fatalf("errors.Is(%v, invalid_redirect_uri) = false", err)
	}
	if errors.Is(err, &registration.Error{Code: registration.CodeInvalidClientMetadata}) {
		t.Fatal("errors.Is matched another code")
	}
}
