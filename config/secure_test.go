package config

import (
	"io"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz/clientcert"
)

// TestS13_ClientCertPolicyForms: one action for all four cases, per case on
// the command line, and the file's map; cases not named are allow; bad
// cases, actions and repetitions are refused with the setting's name.
func TestS13_ClientCertPolicyForms(t *testing.T) {
	cases := []struct {
		name string
		args []string
		file string
		want string // Policy.String(); "" when refused
	}{
		{"default", nil, "", "no_certificate=allow,unknown_certificate=allow,no_jwt=allow,bad_jwt=allow"},
		{"uniform", []string{"--client-cert-policy", "limit"}, "", "no_certificate=limit,unknown_certificate=limit,no_jwt=limit,bad_jwt=limit"},
		{"per case", []string{"--client-cert-policy", "no_certificate=limit,unknown_certificate=reject"}, "",
			"no_certificate=limit,unknown_certificate=reject,no_jwt=allow,bad_jwt=allow"},
		{"file map", nil, "client_cert_policy:\n  no_jwt: limit\n  bad_jwt: reject\n", "no_certificate=allow,unknown_certificate=allow,no_jwt=limit,bad_jwt=reject"},
		{"file scalar", nil, "client_cert_policy: reject\n", "no_certificate=reject,unknown_certificate=reject,no_jwt=reject,bad_jwt=reject"},
		{"unknown case", []string{"--client-cert-policy", "no_cert=limit"}, "", ""},
		{"unknown action", []string{"--client-cert-policy", "deny"}, "", ""},
		{"twice", []string{"--client-cert-policy", "no_jwt=limit,no_jwt=allow"}, "", ""},
		{"file bad map", nil, "client_cert_policy:\n  no_jwt: maybe\n", ""},
		{"file empty map", nil, "client_cert_policy: {}\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, tc.file)}, args...)
			}
			cfg, _, err := Load("serve", args, env(nil), io.Discard)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "client") {
					t.Fatalf("accepted (%v), want a client-cert-policy error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.CertPolicy().String(); got != tc.want {
				t.Errorf("policy %s, want %s", got, tc.want)
			}
		})
	}
	if clientcert.Uniform(clientcert.Limit).String() == "" {
		t.Fatal("empty policy string")
	}
}

// TestS13_SecureInterfaceSettings: the certificate header needs trusted
// proxies; trusted_jwt_issuers need https (http only on loopback with
// jwks-allow-private), a jwks_uri, no repeats, and not this server.
func TestS13_SecureInterfaceSettings(t *testing.T) {
	cases := []struct {
		name, file string
		args       []string
		problem    string // "" when accepted
	}{
		{"header without proxies", "", []string{"--client-cert-header", "X-SSL-Client-Cert"}, "needs trusted-proxies"},
		{"header with proxies", "", []string{"--client-cert-header", "X-SSL-Client-Cert", "--trusted-proxies", "10.0.0.1"}, ""},
		{"bad header name", "", []string{"--client-cert-header", "X SSL", "--trusted-proxies", "10.0.0.1"}, "not a header name"},
		{"issuer ok", "trusted_jwt_issuers:\n  - issuer: https://idp.example.org\n    jwks_uri: https://idp.example.org/jwks\n    audience: lab\n", nil, ""},
		{"issuer http", "trusted_jwt_issuers:\n  - issuer: http://idp.example.org\n    jwks_uri: https://idp.example.org/jwks\n", nil, "absolute https URL"},
		{"loopback http needs allow-private", "trusted_jwt_issuers:\n  - issuer: http://127.0.0.1:9000\n    jwks_uri: http://127.0.0.1:9000/jwks\n", nil, "absolute https URL"},
		{"loopback http allowed", "trusted_jwt_issuers:\n  - issuer: http://127.0.0.1:9000\n    jwks_uri: http://127.0.0.1:9000/jwks\n", []string{"--jwks-allow-private"}, ""},
		{"no jwks", "trusted_jwt_issuers:\n  - issuer: https://idp.example.org\n", nil, "jwks_uri is required"},
		{"twice", "trusted_jwt_issuers:\n  - issuer: https://idp.example.org\n    jwks_uri: https://idp.example.org/j\n  - issuer: https://idp.example.org/\n    jwks_uri: https://idp.example.org/j\n", nil, "listed twice"},
		{"self", "trusted_jwt_issuers:\n  - issuer: https://localhost:8443\n    jwks_uri: https://localhost:8443/oauth/jwks\n", nil, "this server"},
		{"unknown key", "trusted_jwt_issuers:\n  - issuer: https://idp.example.org\n    jwks: x\n", nil, "jwks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, tc.file)}, args...)
			}
			cfg, _, err := Load("serve", args, env(nil), io.Discard)
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.file != "" && len(cfg.TrustedJWTIssuers) != 1 {
					t.Errorf("issuers %+v", cfg.TrustedJWTIssuers)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("error %v, want one with %q", err, tc.problem)
			}
		})
	}
}
