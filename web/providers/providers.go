// Package providers serves the administrators' /admin/providers page: the
// configured federated log-in providers (id, name, type and preset,
// issuer, provisioning, trusted_email), the callback URL an administrator
// registers upstream for each listener ({base}/login/{id}/callback), and
// the result of each provider's last discovery fetch (idp.Status: when,
// and the error, or "not fetched yet"), with a "Check now" button that
// fetches again (idp.Checker).
//
// The page goes through the web package's RequireRole with the admin role
// (log-in, role, CSRF token on every POST, page headers), as web/people's
// pages do, and the POST answers 303 (RFC 9700 §4.12). It shows nothing
// secret: the provider values above and the connector's status, whose
// error names what failed and never a secret.
package providers

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/web"
)

// Pages is what this package needs from the web package's server.
type Pages interface {
	RequireRole(next http.Handler, roles ...string) http.Handler
	CSRFToken(w http.ResponseWriter, r *http.Request) (string, error)
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// DefaultCheckTimeout bounds a "Check now" (the connector's own upstream
// client bounds each request too).
const DefaultCheckTimeout = 20 * time.Second

// Config holds the dependencies of the page.
type Config struct {
	Pages     Pages
	Providers []idp.Provider
	// HTTPBase and HTTPSBase are the public base URLs of the HTTP and
	// HTTPS listeners ("" for one that is not configured): each gives a
	// callback URL to register upstream.
	HTTPBase, HTTPSBase string
	Assets              fs.FS // templates/ (smartgate.Assets)
	// Audit receives a record (kind "provider", action "check") per check.
	Audit        audit.Recorder
	CheckTimeout time.Duration // 0: DefaultCheckTimeout
	Logger       *slog.Logger
	Now          func() time.Time
}

// Server serves the providers page.
type Server struct {
	cfg  Config
	page *template.Template
}

// Path is the page's path (interface.md).
const Path = "/admin/providers"

// New parses the template.
func New(cfg Config) (*Server, error) {
	if cfg.Pages == nil || cfg.Assets == nil {
		return nil, errors.New("providers: Pages and Assets are required")
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := pagetmpl.Parse(cfg.Assets, nil, []string{"admin_nav", "people_nav"}, "providers")
	if err != nil {
		return nil, fmt.Errorf("providers: %w", err)
	}
	return &Server{cfg: cfg, page: pages["providers"]}, nil
}

// Register adds the page to mux.
func (s *Server) Register(mux *http.ServeMux) {
	admin := func(f http.HandlerFunc) http.Handler { return s.cfg.Pages.RequireRole(f, account.RoleAdmin) }
	mux.Handle("GET "+Path, admin(s.list))
	mux.Handle("POST "+Path+"/{id}/check", admin(s.check))
}

// page is what the template sees.
type page struct {
	CSRF    string
	Section string // "providers", for the navigation
	Message string
	Error   string
	Rows    []row
}

// row is one provider as the page shows it.
type row struct {
	ID, Name, Type, Preset, Issuer, Provisioning string
	TrustedEmail                                 bool
	Callbacks                                    []string
	// Fetches: the connector fetches discovery (a StatusReporter);
	// Checked is when it last did ("" for never), Err its error.
	Fetches  bool
	Checked  string
	Err      string
	CanCheck bool // the connector is an idp.Checker
}

func (s *Server) rowOf(p idp.Provider) row {
	rw := row{ID: p.ID, Name: p.Name, Type: p.Type, Preset: p.Preset, Issuer: p.Issuer,
		Provisioning: string(p.Provisioning), TrustedEmail: p.TrustedEmail}
	for _, base := range []string{s.cfg.HTTPSBase, s.cfg.HTTPBase} {
		if base = strings.TrimRight(base, "/"); base != "" {
			rw.Callbacks = append(rw.Callbacks, base+"/login/"+url.PathEscape(p.ID)+"/callback")
		}
	}
	_, rw.Fetches = p.Connector.(idp.StatusReporter)
	_, rw.CanCheck = p.Connector.(idp.Checker)
	if st := p.Status(); !st.Checked.IsZero() {
		rw.Checked, rw.Err = st.Checked.UTC().Format("2006-01-02 15:04:05 UTC"), st.Err
	}
	return rw
}

// provider finds the configured provider id.
func (s *Server) provider(id string) (idp.Provider, bool) {
	for _, p := range s.cfg.Providers {
		if p.ID == id {
			return p, true
		}
	}
	return idp.Provider{}, false
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v := page{CSRF: csrf, Section: "providers"}
	for _, p := range s.cfg.Providers {
		v.Rows = append(v.Rows, s.rowOf(p))
	}
	// Only a configured provider's name, never text from the request.
	if p, ok := s.provider(r.URL.Query().Get("checked")); ok {
		if _, reports := p.Connector.(idp.StatusReporter); !reports {
			v.Message = "Checked " + p.Name + "."
		} else if st := p.Status(); st.OK() {
			v.Message = "Checked " + p.Name + ": the provider's metadata was fetched."
		} else {
			v.Error = "Checked " + p.Name + ": " + st.Err
		}
	}
	var b strings.Builder
	if err := s.page.ExecuteTemplate(&b, "base", v); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("providers: render: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}

// check fetches a provider's metadata now; the page it redirects to shows
// the new status.
func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	p, ok := s.provider(r.PathValue("id"))
	if !ok {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such provider.", errors.New("providers: unknown provider"))
		return
	}
	c, ok := p.Connector.(idp.Checker)
	if !ok {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "This provider has nothing to check.", errors.New("providers: not a Checker"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CheckTimeout)
	defer cancel()
	err := c.Check(ctx)
	s.record(r, p, err)
	if err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "provider check failed", "provider", p.ID, "err", err)
	}
	w.Header().Set("Location", Path+"?checked="+url.QueryEscape(p.ID)+"#provider-"+url.PathEscape(p.ID))
	w.WriteHeader(http.StatusSeeOther)
}

// record audits a check by the administrator in r's context.
func (s *Server) record(r *http.Request, p idp.Provider, err error) {
	if s.cfg.Audit == nil {
		return
	}
	ev := audit.Event{At: s.cfg.Now(), Kind: "provider", Action: "check", Resource: "Provider/" + p.ID, Outcome: audit.Success,
		Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(r.Context())}
	if u, ok := web.UserFrom(r.Context()); ok {
		ev.Actor = u.ID
	}
	if err != nil {
		ev.Outcome, ev.Detail = audit.Failure, p.Status().Err
		if ev.Detail == "" {
			ev.Detail = "the check failed"
		}
	}
	s.cfg.Audit.Record(r.Context(), ev)
}
