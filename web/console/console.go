// Package console serves the home page and the administrators' console
// pages that show the server itself (issue 15):
//
//   - GET / (exactly "/", for everyone): what the server is, each
//     listener's FHIR base and discovery URLs, a log-in link; signed in,
//     who, their apps, their security page and a log-out form; for
//     administrators a link to the console; with --demo the demo app and
//     the demo accounts' user names and roles (never their passwords).
//   - GET /admin: the dashboard: counts of clients, users, active grants,
//     tokens issued and failed log-ins in the last 24 hours, the
//     database's size, the signing key's age, the providers' status.
//   - GET /admin/keys and POST /admin/keys/rotate: the signing keys, and
//     a rotation that does what `smartgate keys rotate` does and takes
//     effect at once.
//   - GET /admin/settings: the effective configuration, where each value
//     came from, secrets as set/unset only.
//
// The /admin pages go through the web package's RequireRole with the
// admin role (log-in redirect, 403, CSRF token on every POST, page
// headers) and carry the console navigation (templates/admin_nav.html).
// The pages only read; the rotation is the one change, answered 303
// (RFC 9700 §4.12) and audited (kind "admin", action "keys.rotate").
package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/web"
)

// Pages is what this package needs from the web package's server.
type Pages interface {
	RequireRole(next http.Handler, roles ...string) http.Handler
	Public(next http.Handler) http.Handler
	Visit(w http.ResponseWriter, r *http.Request) (web.Visitor, error)
	CSRFToken(w http.ResponseWriter, r *http.Request) (string, error)
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// Counts are the dashboard's counts of things stored (store/sqlite).
type Counts interface {
	CountClients(ctx context.Context) (int, error)
	CountUsers(ctx context.Context) (int, error)
	CountConsents(ctx context.Context) (int, error)
	// CountRefreshFamilies counts the grants holding a live refresh token.
	CountRefreshFamilies(ctx context.Context, now time.Time) (int, error)
}

// Activity is the dashboard's view of the audit trail and the database
// (store/sqlite).
type Activity interface {
	// CountAudit counts the records of kind with outcome since a time.
	CountAudit(ctx context.Context, kind, outcome string, since time.Time) (int, error)
	DatabaseSize(ctx context.Context) (int64, error)
}

// Keys are the server's signing keys (*authz.Server).
type Keys interface {
	Keys(ctx context.Context) ([]authz.KeyInfo, error)
	// RotateKeys makes new keys, retires the old ones, and signs with the
	// new ones from now on.
	RotateKeys(ctx context.Context) error
}

// Listener is one listener that is on.
type Listener struct {
	Name string // "HTTPS" or "HTTP"
	Base string // public base URL, no trailing slash
}

// DemoAccount is a demo log-in shown on the home page with --demo.
type DemoAccount struct {
	UserName, Role string
}

// Setting is one configuration setting as the settings page shows it.
type Setting struct {
	Flag, Env, Usage string
	// Value is the effective value; for a Secret setting only "set" or
	// "unset".
	Value string
	// Source is flag, environment, file or default.
	Source string
	Secret bool
}

// Config holds the dependencies of the pages.
type Config struct {
	Pages    Pages
	Counts   Counts
	Activity Activity
	Keys     Keys
	// Providers are the configured federated log-in providers.
	Providers []idp.Provider
	// Listeners are the listeners that are on, HTTPS first.
	Listeners []Listener
	// Demo: --demo is on; DemoAppPath is the demo app's page and
	// DemoAccounts its accounts.
	Demo         bool
	DemoAppPath  string
	DemoAccounts []DemoAccount
	// Settings are the effective settings, in documentation order.
	Settings []Setting
	Assets   fs.FS // templates/ (smartgate.Assets)
	// Audit receives a record per rotation (kind "admin", action
	// "keys.rotate").
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
}

// The pages' paths (interface.md).
const (
	HomePath       = "/"
	DashboardPath  = "/admin"
	KeysPath       = "/admin/keys"
	RotatePath     = "/admin/keys/rotate"
	SettingsPath   = "/admin/settings"
	GrantsPath     = "/admin/grants"
	loginPath      = "/login?return_to=%2F"
	rotatedMessage = "New signing keys were made. New tokens are signed with them; the retired keys stay in the JWKS until the tokens they signed have expired."
)

// Server serves the pages.
type Server struct {
	cfg   Config
	pages map[string]*template.Template
}

// New parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Pages == nil || cfg.Counts == nil || cfg.Activity == nil || cfg.Keys == nil || cfg.Assets == nil {
		return nil, errors.New("console: Pages, Counts, Activity, Keys and Assets are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	funcs := template.FuncMap{"ago": ago, "bytes": humanBytes, "utc": utc}
	pages, err := pagetmpl.Parse(cfg.Assets, funcs, []string{"admin_nav"},
		"console_home", "console_dashboard", "console_keys", "console_settings")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return &Server{cfg: cfg, pages: pages}, nil
}

// Register adds the pages to mux. The home page is "GET /{$}": every other
// unknown path stays a 404.
func (s *Server) Register(mux *http.ServeMux) {
	admin := func(f http.HandlerFunc) http.Handler { return s.cfg.Pages.RequireRole(f, account.RoleAdmin) }
	mux.Handle("GET /{$}", s.cfg.Pages.Public(http.HandlerFunc(s.home)))
	mux.Handle("GET "+DashboardPath, admin(s.dashboard))
	mux.Handle("GET "+KeysPath, admin(s.keys))
	mux.Handle("POST "+RotatePath, admin(s.rotate))
	mux.Handle("GET "+SettingsPath, admin(s.settings))
}

// render executes page name into a buffer, then answers it.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "base", data); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("console: render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// ago says how long before now t was, coarsely ("3 days", "5 hours").
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "unknown"
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// humanBytes writes n bytes in KiB, MiB or GiB.
func humanBytes(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return fmt.Sprintf("%d bytes", n)
	case n < k*k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	case n < k*k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
}

// utc formats t for the pages ("" for the zero time).
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}
