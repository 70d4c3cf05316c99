package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/idp"
)

// recordingConnector records what its opener was given.
type recordingConnector struct{ secret string }

func (recordingConnector) LoginURL(context.Context, idp.State) (string, error) { return "", nil }
func (recordingConnector) HandleCallback(context.Context, idp.State, url.Values) (idp.Identity, error) {
	return idp.Identity{}, nil
}

// TestOpenProviders: names, link issuers, presets and provisioning as the
// pages and the linker see them, and each connector opened with its secret
// from the environment or the file.
func TestOpenProviders(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "fb-secret")
	if err := os.WriteFile(secretFile, []byte("fb-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Providers: []config.Provider{
		{ID: "google", Type: "oidc", Preset: "google", ClientSecretEnv: "G"},
		{ID: "fb", Type: "oauth2", Preset: "facebook", ClientSecretFile: secretFile, Provisioning: "auto"},
		{ID: "hl7", Type: "oidc", Preset: "hl7", Issuer: "https://hl7.example.org", ClientSecretEnv: "G", TrustedEmail: true},
		{ID: "corp", Type: "oidc", DisplayName: "Example Corp", Issuer: "https://login.example.org", ClientSecretEnv: "G"},
	}}
	open := func(pr config.Provider, secret string, up upstream) (idp.CallbackConnector, error) {
		if up.client == nil || up.client.Timeout <= 0 {
			t.Errorf("%s: opened without the bounded upstream client", pr.ID)
		}
		return recordingConnector{secret: secret}, nil
	}
	types := map[string]connectorOpener{"oidc": open, "oauth2": open}
	getenv := func(k string) string { return map[string]string{"G": "g-secret"}[k] }
	ps, err := openProviders(cfg, getenv, types, newUpstream(0, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, name, preset, issuer, secret string
		prov                             idp.Provisioning
		trusted                          bool
	}{
		{"google", "Google", "google", idp.GoogleIssuer, "g-secret", idp.ProvisionInvite, false},
		{"fb", "Facebook", "facebook", idp.FacebookIssuer, "fb-secret", idp.ProvisionAuto, false},
		{"hl7", "HL7.org", "hl7", "https://hl7.example.org", "g-secret", idp.ProvisionInvite, true},
		{"corp", "Example Corp", "none", "https://login.example.org", "g-secret", idp.ProvisionInvite, false},
	}
	if len(ps) != len(want) {
		t.Fatalf("%d providers, want %d", len(ps), len(want))
	}
	for i, w := range want {
		p := ps[i]
		got := p.Connector.(recordingConnector).secret
		if p.ID != w.id || p.Name != w.name || p.Preset != w.preset || p.Issuer != w.issuer || got != w.secret ||
			p.Provisioning != w.prov || p.TrustedEmail != w.trusted {
			t.Errorf("provider %d = %+v (secret %q), want %+v", i, p, got, w)
		}
	}

	cfg.Providers = append(cfg.Providers, config.Provider{ID: "saml", Type: "saml", ClientSecretEnv: "G"})
	if _, err := openProviders(cfg, getenv, types, newUpstream(0, slog.New(slog.DiscardHandler))); err == nil || !strings.Contains(err.Error(), `type "saml"`) {
		t.Fatalf("an unknown type: %v", err)
	}
	cfg.Providers = cfg.Providers[:1]
	if _, err := openProviders(cfg, func(string) string { return "" }, types, newUpstream(0, slog.New(slog.DiscardHandler))); err == nil || !strings.Contains(err.Error(), "G is not set") {
		t.Fatalf("a missing secret: %v", err)
	}
}

// TestConnectorTypesAreExplicit: the program's table names both
// configuration types.
func TestConnectorTypesAreExplicit(t *testing.T) {
	types := connectorTypes()
	for _, typ := range []string{"oidc", "oauth2"} {
		if types[typ] == nil {
			t.Errorf("no opener for type %s", typ)
		}
	}
}
