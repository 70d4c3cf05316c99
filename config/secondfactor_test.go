package config

import (
	"io"
	"strings"
	"testing"
)

// --admin-second-factor: optional by default, required from a flag, the
// environment or the file, and any other value is a configuration error.
func TestAdminSecondFactorSetting(t *testing.T) {
	cfg, _, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil || cfg.AdminSecondFactor != SecondFactorOptional || cfg.AdminSecondFactor.Required() {
		t.Fatalf("default: %q, %v; want optional", cfg.AdminSecondFactor, err)
	}
	for name, load := range map[string]func() (*Config, []string, error){
		"flag": func() (*Config, []string, error) {
			return Load("serve", []string{"--admin-second-factor", "required"}, env(nil), io.Discard)
		},
		"env": func() (*Config, []string, error) {
			return Load("serve", nil, env(map[string]string{"SMARTGATE_ADMIN_SECOND_FACTOR": "required"}), io.Discard)
		},
		"file": func() (*Config, []string, error) {
			return Load("serve", []string{"--config", writeFile(t, "admin_second_factor: required\n")}, env(nil), io.Discard)
		},
	} {
		cfg, _, err := load()
		if err != nil || cfg.AdminSecondFactor != SecondFactorRequired || !cfg.AdminSecondFactor.Required() {
			t.Errorf("%s: %q, %v; want required", name, cfg.AdminSecondFactor, err)
		}
	}
	for _, bad := range []string{"yes", "Required", "", "true"} {
		_, _, err := Load("serve", []string{"--admin-second-factor=" + bad}, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "admin-second-factor") || !strings.Contains(err.Error(), "not one of") {
			t.Errorf("--admin-second-factor=%q: %v, want a configuration error naming the setting", bad, err)
		}
	}
}
