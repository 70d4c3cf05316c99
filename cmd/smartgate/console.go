package main

import (
	"io/fs"
	"log/slog"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/demoapp"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/console"
)

// newConsole builds the home page, the dashboard, the keys and the
// settings pages (web/console).
func newConsole(cfg *config.Config, db database, as *authz.Server, pages *web.Server, providers []idp.Provider,
	assets fs.FS, rec audit.Recorder, logger *slog.Logger) (*console.Server, error) {
	c := console.Config{Pages: pages, Counts: db, Activity: db, Keys: as, Providers: providers, Listeners: consoleListeners(cfg),
		Demo: cfg.Demo, Settings: consoleSettings(cfg), Assets: assets, Audit: rec, Logger: logger}
	if cfg.Demo {
		c.DemoAppPath = demoapp.Path + "launch.html"
		c.DemoAccounts = []console.DemoAccount{{UserName: demoPatientUser, Role: account.RolePatient},
			{UserName: demoPractitionerUser, Role: account.RolePractitioner}}
	}
	return console.New(c)
}

// consoleListeners are the listeners that are on, HTTPS first.
func consoleListeners(cfg *config.Config) []console.Listener {
	var out []console.Listener
	for _, l := range []console.Listener{{Name: "HTTPS", Base: listenerBase(cfg.HTTPSAddr, cfg.HTTPSURL)},
		{Name: "HTTP", Base: listenerBase(cfg.HTTPAddr, cfg.HTTPURL)}} {
		if l.Base != "" {
			out = append(out, l)
		}
	}
	return out
}

// consoleSettings are the effective settings for the settings page: a
// secret's value is set/unset only (config.Secret, Config.Values).
func consoleSettings(cfg *config.Config) []console.Setting {
	var out []console.Setting
	for _, s := range config.Settings() {
		out = append(out, console.Setting{Flag: s.Flag, Env: s.Env(), Usage: s.Usage, Value: cfg.Values[s.Flag],
			Source: cfg.Sources[s.Flag], Secret: config.Secret(s.Flag)})
	}
	return out
}
