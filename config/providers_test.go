package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const testSecret = "the-secret-value-never-printed"

// secretEnv is an environment with the test secret in SMARTGATE_IDP_SECRET.
func secretEnv() func(string) string {
	return env(map[string]string{"SMARTGATE_IDP_SECRET": testSecret})
}

// goodProviders are one valid provider of each preset.
func goodProviders() []Provider {
	base := func(id, typ, preset, issuer string) Provider {
		return Provider{ID: id, Type: typ, Preset: preset, Issuer: issuer, ClientID: "client-" + id,
			ClientSecretEnv: "SMARTGATE_IDP_SECRET"}
	}
	return []Provider{
		base("google", "oidc", "google", "https://accounts.google.com"),
		base("facebook", "oauth2", "facebook", ""),
		base("hl7", "oidc", "hl7", "https://hl7.example.org/auth"),
		base("entra", "oidc", "none", "https://login.microsoftonline.com/tenant/v2.0"),
		base("dev", "oidc", "", "http://127.0.0.1:5556/dex"),
		{ID: "github", Type: "oauth2", Issuer: "https://github.com", ClientID: "gh", ClientSecretEnv: "SMARTGATE_IDP_SECRET",
			AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token",
			UserInfoURL: "https://api.github.com/user"},
	}
}

// providersFile writes a configuration file with ps as its providers:.
func providersFile(t *testing.T, ps []Provider) string {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{"providers": ps})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, string(b))
}

func TestGoodProvidersLoad(t *testing.T) {
	ps := goodProviders()
	ps[0].Issuer = "" // google's issuer is the preset's
	ps[0].AllowedDomains = []string{"example.org", "sub.example.co.uk"}
	ps[0].Claims = map[string]string{"domain": "hd", "name": "name"}
	ps[0].Provisioning = "auto"
	ps[5].Claims = map[string]string{"subject": "id", "preferred_username": "login"}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ps[1].ClientSecretEnv, ps[1].ClientSecretFile = "", secretFile
	cfg, _, err := Load("serve", []string{"--config", providersFile(t, ps)}, secretEnv(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != len(ps) {
		t.Fatalf("%d providers loaded, want %d", len(cfg.Providers), len(ps))
	}
	if s, err := cfg.Providers[1].ReadSecret(secretEnv()); err != nil || s != testSecret {
		t.Fatalf("secret from the file = %q, %v", s, err)
	}
}

// TestProviderProblems: each bad provider setting is refused at start with
// a message that names it, and the secret's value is never in the message.
func TestProviderProblems(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-secret")
	empty := filepath.Join(t.TempDir(), "empty-secret")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(ps []Provider) []Provider
		want   string
	}{
		{"id syntax", func(ps []Provider) []Provider { ps[0].ID = "Google!"; return ps }, `id "Google!" must be`},
		{"empty id", func(ps []Provider) []Provider { ps[0].ID = ""; return ps }, `id "" must be`},
		{"reserved id code", func(ps []Provider) []Provider { ps[0].ID = "code"; return ps }, `id "code" is reserved`},
		{"reserved id callback", func(ps []Provider) []Provider { ps[0].ID = "callback"; return ps }, `id "callback" is reserved`},
		{"reserved id link (a page)", func(ps []Provider) []Provider { ps[0].ID = "link"; return ps }, `id "link" is reserved`},
		{"reserved id enrol (a page)", func(ps []Provider) []Provider { ps[0].ID = "enrol"; return ps }, `id "enrol" is reserved`},
		{"reserved id second-factor (a page)", func(ps []Provider) []Provider { ps[0].ID = "second-factor"; return ps }, `id "second-factor" is reserved`},
		{"duplicate id", func(ps []Provider) []Provider { ps[1].ID = "google"; return ps }, `id "google" is used twice`},
		{"duplicate issuer, a trailing slash aside", func(ps []Provider) []Provider {
			ps[4].Issuer = ps[3].Issuer + "/"
			return ps
		}, `providers[4] (dev): issuer "https://login.microsoftonline.com/tenant/v2.0/" is also providers[3] (entra)'s`},
		{"duplicate issuer of a preset", func(ps []Provider) []Provider {
			return append(ps, Provider{ID: "google2", Type: "oidc", Preset: "google", ClientID: "c", ClientSecretEnv: "SMARTGATE_IDP_SECRET"})
		}, `providers[6] (google2): issuer "https://accounts.google.com" is also providers[0] (google)'s`},
		{"type", func(ps []Provider) []Provider { ps[3].Type = "saml"; return ps }, `type "saml" must be oidc or oauth2`},
		{"preset", func(ps []Provider) []Provider { ps[3].Preset = "twitter"; return ps }, `preset "twitter" must be google, facebook, hl7 or none`},
		{"facebook as oidc", func(ps []Provider) []Provider { ps[1].Type = "oidc"; return ps }, "preset facebook needs type oauth2"},
		{"google as oauth2", func(ps []Provider) []Provider { ps[0].Type = "oauth2"; return ps }, "preset google needs type oidc"},
		{"hl7 as oauth2", func(ps []Provider) []Provider { ps[2].Type = "oauth2"; return ps }, "preset hl7 needs type oidc"},
		{"hl7 without issuer", func(ps []Provider) []Provider { ps[2].Issuer = ""; return ps }, "HL7.org's issuer is configured"},
		{"none without issuer", func(ps []Provider) []Provider { ps[3].Issuer = ""; return ps }, "issuer is required for a provider without a preset"},
		{"google's issuer fixed", func(ps []Provider) []Provider { ps[0].Issuer = "https://evil.example"; return ps }, "the google preset's issuer is https://accounts.google.com"},
		{"facebook's issuer fixed", func(ps []Provider) []Provider { ps[1].Issuer = "https://evil.example"; return ps }, "the facebook preset's issuer is https://www.facebook.com"},
		{"a preset's issuer without the preset", func(ps []Provider) []Provider {
			ps[3].Issuer = "https://accounts.google.com"
			return ps[1:] // without the google provider, whose issuer that is
		}, "is a preset's: use preset google"},
		{"http issuer", func(ps []Provider) []Provider { ps[3].Issuer = "http://login.example.org"; return ps }, `issuer "http://login.example.org" must be an https URL`},
		{"issuer not a URL", func(ps []Provider) []Provider { ps[3].Issuer = "login.example.org"; return ps }, `issuer "login.example.org" must be an https URL`},
		{"http token_url", func(ps []Provider) []Provider { ps[5].TokenURL = "http://github.com/token"; return ps }, `token_url "http://github.com/token" must be an https URL`},
		{"oauth2 without endpoints", func(ps []Provider) []Provider { ps[5].UserInfoURL = ""; return ps }, "needs auth_url, token_url and userinfo_url"},
		{"oauth2 without issuer", func(ps []Provider) []Provider { ps[5].Issuer = ""; return ps }, "issuer is required for a provider without a preset"},
		{"oidc with endpoints", func(ps []Provider) []Provider { ps[3].AuthURL = "https://x.example/auth"; return ps }, "come from discovery"},
		{"client_id", func(ps []Provider) []Provider { ps[0].ClientID = ""; return ps }, "client_id is required"},
		{"no secret", func(ps []Provider) []Provider { ps[0].ClientSecretEnv = ""; return ps }, "client_secret_env or client_secret_file is required"},
		{"both secrets", func(ps []Provider) []Provider { ps[0].ClientSecretFile = empty; return ps }, "are both set"},
		{"secret env unset", func(ps []Provider) []Provider { ps[0].ClientSecretEnv = "SMARTGATE_UNSET"; return ps }, "SMARTGATE_UNSET is not set or empty"},
		{"secret file missing", func(ps []Provider) []Provider {
			ps[0].ClientSecretEnv, ps[0].ClientSecretFile = "", missing
			return ps
		}, "no such file"},
		{"secret file empty", func(ps []Provider) []Provider {
			ps[0].ClientSecretEnv, ps[0].ClientSecretFile = "", empty
			return ps
		}, "empty-secret: is empty"},
		{"provisioning", func(ps []Provider) []Provider { ps[0].Provisioning = "always"; return ps }, `provisioning "always" must be auto or invite`},
		{"domain with @", func(ps []Provider) []Provider { ps[0].AllowedDomains = []string{"@example.org"}; return ps }, `"@example.org" is not a domain name`},
		{"domain single label", func(ps []Provider) []Provider { ps[0].AllowedDomains = []string{"localhost"}; return ps }, `"localhost" is not a domain name`},
		{"domain upper case", func(ps []Provider) []Provider { ps[0].AllowedDomains = []string{"Example.org"}; return ps }, `"Example.org" is not a domain name`},
		{"facebook with domains", func(ps []Provider) []Provider { ps[1].AllowedDomains = []string{"example.org"}; return ps }, "Facebook's email is unverified"},
		{"claims key", func(ps []Provider) []Provider { ps[3].Claims = map[string]string{"roles": "groups"}; return ps }, `claims: key "roles" must be one of`},
		{"claims subject of oidc", func(ps []Provider) []Provider { ps[3].Claims = map[string]string{"subject": "oid"}; return ps }, "subject may be mapped only for an oauth2 provider"},
		{"claims of facebook", func(ps []Provider) []Provider { ps[1].Claims = map[string]string{"email": "mail"}; return ps }, "its Graph API fields are fixed"},
		{"claims empty", func(ps []Provider) []Provider { ps[3].Claims = map[string]string{"email": ""}; return ps }, "claims: email names no claim"},
		{"scope with space", func(ps []Provider) []Provider { ps[3].Scopes = []string{"openid", "openid email"}; return ps }, `scope "openid email" is not a single scope token`},
		{"display name too long", func(ps []Provider) []Provider { ps[3].DisplayName = strings.Repeat("x", 65); return ps }, "display_name must be at most 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.change(goodProviders())
			_, _, err := Load("serve", []string{"--config", providersFile(t, ps)}, secretEnv(), io.Discard)
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("err = %v, want a *Error mentioning %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to mention %q", err, tc.want)
			}
			if len(cerr.Problems) != 1 {
				t.Errorf("want exactly this problem, got %d:\n%v", len(cerr.Problems), err)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestEveryProviderProblemAtOnce: problems of several providers, and an
// entry with an unknown key, are all reported in one error.
func TestEveryProviderProblemAtOnce(t *testing.T) {
	file := writeFile(t, `
providers:
  - id: code
    type: oidc
    preset: hl7
    client_id: x
    client_secret_env: SMARTGATE_UNSET
  - id: fb
    type: oauth2
    preset: facebook
    client_id: y
    client_secret: inline-secret
  - id: fb2
    type: oauth2
    preset: facebook
    allowed_domains: [example.org]
    client_secret_env: SMARTGATE_IDP_SECRET
  - id: fb3
    type: oauth2
    preset: facebook
    client_id: z
    client_secret_env: SMARTGATE_IDP_SECRET
`)
	_, _, err := Load("serve", []string{"--config", file}, secretEnv(), io.Discard)
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want *Error", err)
	}
	for _, want := range []string{`"code" is reserved`, "HL7.org's issuer", "SMARTGATE_UNSET", "providers[1]", "client_secret not found",
		"(fb2): client_id is required", "(fb2): allowed_domains",
		`(fb3): issuer "https://www.facebook.com" is also `, "(fb2)'s: two providers of one issuer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if len(cerr.Problems) != 7 {
		t.Errorf("want 7 problems, got %d:\n%v", len(cerr.Problems), err)
	}
}

func TestProvidersMustBeAList(t *testing.T) {
	file := writeFile(t, "providers:\n  id: google\n")
	_, _, err := Load("serve", []string{"--config", file}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "must be a list of providers") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzProviders: any providers: document decodes and validates without a
// panic, and a provider that passes has a secret and a known type.
func FuzzProviders(f *testing.F) {
	f.Add("- id: google\n  type: oidc\n  preset: google\n  client_id: x\n  client_secret_env: SMARTGATE_IDP_SECRET\n")
	f.Add("- id: gh\n  type: oauth2\n  issuer: https://github.com\n  claims: {subject: id}\n")
	f.Add("{id: 1}")
	f.Add("- [a, b]\n- id: code\n  allowed_domains: [\"@x\"]\n")
	f.Fuzz(func(t *testing.T, doc string) {
		var node yaml.Node
		if yaml.Unmarshal([]byte(doc), &node) != nil || len(node.Content) == 0 {
			return
		}
		problems := &Error{}
		cfg := &Config{Providers: decodeProviders(node.Content[0], "fuzz", problems)}
		cfg.validateProviders(problems, secretEnv())
		if len(problems.Problems) > 0 {
			return
		}
		for _, pr := range cfg.Providers {
			if s, err := pr.ReadSecret(secretEnv()); err != nil || s == "" || (pr.Type != "oidc" && pr.Type != "oauth2") {
				t.Fatalf("accepted %+v (secret %v)", pr, err)
			}
		}
	})
}

// A provider after one that does not decode keeps its place in the
// file's list in the problems.
func TestProviderProblemsNameTheFilesPlace(t *testing.T) {
	file := writeFile(t, `
providers:
  - id: first
    type: oidc
    colour: blue
  - id: second
    type: oidc
    preset: none
    client_id: x
    client_secret_env: SMARTGATE_NOT_SET_ANYWHERE
`)
	_, _, err := Load("serve", []string{"--config", file}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "providers[1] (second)") || strings.Contains(err.Error(), "providers[0] (second)") {
		t.Fatalf("err = %v, want the second entry named providers[1]", err)
	}
}
