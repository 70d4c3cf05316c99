package registration_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/authz/smart"
)

// FuzzValidate checks that decoding arbitrary JSON and validating it never
// panics, that errors are *registration.Error with an RFC 7591 §3.2.2 code,
// and that Validate is idempotent: a validated result validates again, under
// the same policy, to the same value.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"redirect_uris":["https://app.example/cb"]}`,
		`{"redirect_uris":["http://127.0.0.1:1234/cb","com.example.app:/cb"],"token_endpoint_auth_method":"none","scope":"launch/patient openid fhirUser patient/*.rs offline_access","grant_types":["authorization_code","refresh_token"]}`,
		`{"redirect_uris":["https://a.example/cb#x"]}`,
		`{"redirect_uris":["javascript:alert(1)"],"client_uri":"data:text/html,x"}`,
		`{"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"scope":"system/*.rs","jwks_uri":"https://a.example/jwks"}`,
		`{"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"jwks":{"keys":[{"kty":"EC","kid":"k","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","alg":"ES256"}]}}`,
		`{"redirect_uris":["https://a.example/cb"],"scope":"patient/Observation.rs?category=laboratory user/*.cruds system/Patient.r email","software_statement":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}`,
		`{"redirect_uris":["https://a.example/cb"],"client_name":" A\u202e ","contacts":["a","a"," b "]}`,
		`{"response_types":["code"],"grant_types":["client_credentials"]}`,
		`{"token_endpoint_auth_method":"tls_client_auth","grant_types":["client_credentials"],"scope":"system/*.rs","tls_client_auth_subject_dn":"CN=a\\, b+UID=x,O=#0c0141","tls_client_certificate_bound_access_tokens":true}`,
		`{"grant_types":["client_credentials"],"tls_client_auth_san_ip":"2001:DB8::1"}`,
		`{"token_endpoint_auth_method":"tls_client_auth","redirect_uris":["https://a.example/cb"],"tls_client_auth_san_uri":"spiffe://a/b","tls_client_auth_san_dns":"a.example"}`,
		`{"token_endpoint_auth_method":"self_signed_tls_client_auth","grant_types":["client_credentials"],"jwks_uri":"https://a.example/jwks","tls_client_auth_san_email":"a@b.example"}`,
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(0xff))
	}
	ceiling, _ := smart.ParseScopes("launch launch/patient openid fhirUser offline_access patient/*.rs user/Observation.r user/Observation.s system/Patient.rs")
	defaults, _ := smart.ParseScopes("openid fhirUser user/*.rs system/*.rs")
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		p := registration.Policy{
			Scopes:            ceiling,
			AnyScope:          flags&1 != 0,
			AllowConfidential: flags&2 != 0,
			MaxRedirectURIs:   int(flags>>4) & 3,
			// Certificate methods with the admin-like bits (RFC 8705).
			AllowCertificateAuth: flags&0x40 != 0,
		}
		if flags&4 != 0 {
			p.DefaultScopes = defaults
		}
		if flags&8 != 0 {
			p.GrantTypes = []string{"authorization_code", "client_credentials"}
		}
		var m registration.Metadata
		if json.Unmarshal(data, &m) != nil {
			m = registration.Metadata{}
		}
		check(t, m, p)
		if d, err := registration.Decode(strings.NewReader(string(data))); err == nil {
			check(t, d, p)
		}
	})
}

func check(t *testing.T, m registration.Metadata, p registration.Policy) {
	t.Helper()
	out, err := registration.Validate(m, p)
	if err != nil {
		re, ok := err.(*registration.Error)
		if !ok {
			t.Fatalf("error %T %v is not *registration.Error", err, err)
		}
		switch re.Code {
		case registration.CodeInvalidRedirectURI, registration.CodeInvalidClientMetadata, registration.CodeInvalidSoftwareStatement:
		default:
			t.Fatalf("unexpected code %q", re.Code)
		}
		return
	}
	again, err := registration.Validate(out, p)
	if err != nil {
		t.Fatalf("validated %+v fails again: %v", out, err)
	}
	if !reflect.DeepEqual(again, out) {
		t.Fatalf("not idempotent:\n%+v\n%+v", out, again)
	}
	if _, err := json.Marshal(registration.NewResponse(out, registration.Issued{ClientID: "x"})); err != nil {
		t.Fatalf("response does not marshal: %v", err)
	}
}
