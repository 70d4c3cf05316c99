// Package clients serves the client registration pages: the
// administrator's /admin/clients (list, register, edit, rotate secret,
// disable/enable, approve, delete, and the self-service policy) and the
// "My apps" page (/account/my-apps) where any signed-in person registers
// their own apps under a scope ceiling the administrator sets.
//
// Every page goes through the web package's RequireRole (log-in, role,
// CSRF token on every POST, page headers); every POST answers 303 (RFC 9700
// §4.12), and metadata is validated with authz/registration exactly as the
// RFC 7591 endpoint does (checklist DCR8). A client secret is shown once:
// the POST that creates or rotates it keeps it in memory under a random,
// single-use handle bound to the person, and the page it redirects to shows
// and forgets it. Only the secret's SHA-256 is stored.
package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smartgate/smartgate/account"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/showonce"
)

// Pages is what this package needs from the web package's server.
type Pages interface {
	RequireRole(next http.Handler, roles ...string) http.Handler
	CSRFToken(w http.ResponseWriter, r *http.Request) (string, error)
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// Store keeps the clients and the self-service policy (settings table).
type Store interface {
	authz.ClientStore
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
}

// Config holds the dependencies of the pages.
type Config struct {
	Pages Pages
	Store Store
	// Clients is where the pages change clients: the authorization
	// server's authz.ClientCache, so that its client and CORS caches see
	// every change at once. Nil means Store (tests, a process without one).
	Clients authz.ClientStore
	// Tokens keeps the provisioning tokens of SCIM clients; nil leaves
	// their section off the edit page.
	Tokens scimauth.TokenStore
	Assets fs.FS // templates/ (smartgate.Assets)
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
}

// Server serves the client pages.
type Server struct {
	cfg     Config
	log     *slog.Logger
	pages   map[string]*template.Template
	reveals *showonce.Store
	// tokenReveals holds just-issued provisioning tokens (a handle of one
	// never shows a client secret, nor the other way round).
	tokenReveals *showonce.Store
}

// Page files (templates/<name>.html), each executed with base.html and the
// shared form.
var pageNames = []string{"clients_list", "clients_new", "clients_edit", "clients_mine"}

// New parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Pages == nil || cfg.Store == nil || cfg.Assets == nil {
		return nil, errors.New("clients: Pages, Store and Assets are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Clients == nil {
		cfg.Clients = cfg.Store
	}
	funcs := template.FuncMap{"join": strings.Join, "when": when}
	pages, err := pagetmpl.Parse(cfg.Assets, funcs, []string{"admin_nav", "clients_form"}, pageNames...)
	if err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	return &Server{cfg: cfg, log: cfg.Logger, pages: pages,
		reveals: showonce.New(cfg.Now), tokenReveals: showonce.New(cfg.Now)}, nil
}

// Paths.
const (
	AdminPath = "/admin/clients"
	MinePath  = "/account/my-apps"
)

// Register adds the pages to mux.
func (s *Server) Register(mux *http.ServeMux) {
	admin := func(f http.HandlerFunc) http.Handler { return s.cfg.Pages.RequireRole(f, account.RoleAdmin) }
	anyone := func(f http.HandlerFunc) http.Handler { return s.cfg.Pages.RequireRole(f) }
	mux.Handle("GET "+AdminPath, admin(s.list))
	mux.Handle("GET "+AdminPath+"/new", admin(s.newForm))
	mux.Handle("POST "+AdminPath+"/new", admin(s.create))
	mux.Handle("POST "+AdminPath+"/policy", admin(s.setPolicy))
	mux.Handle("GET "+AdminPath+"/{id}", admin(s.edit))
	mux.Handle("POST "+AdminPath+"/{id}", admin(s.update))
	mux.Handle("POST "+AdminPath+"/{id}/secret", admin(s.rotate))
	mux.Handle("POST "+AdminPath+"/{id}/disable", admin(s.setState(true)))
	mux.Handle("POST "+AdminPath+"/{id}/enable", admin(s.setState(false)))
	mux.Handle("POST "+AdminPath+"/{id}/approve", admin(s.setState(false)))
	mux.Handle("POST "+AdminPath+"/{id}/delete", admin(s.remove))
	if s.cfg.Tokens != nil {
		mux.Handle("POST "+AdminPath+"/{id}/provisioning-tokens", admin(s.issueToken))
		mux.Handle("POST "+AdminPath+"/{id}/provisioning-tokens/{token}/revoke", admin(s.revokeToken))
	}
	mux.Handle("GET "+MinePath, anyone(s.mine))
	mux.Handle("POST "+MinePath, anyone(s.createMine))
}

// --- self-service policy ---------------------------------------------------

// policyKey is the settings key of the self-service policy.
const policyKey = "clients.self_service"

// SelfService is the administrator's policy for apps people register on
// the "My apps" page.
type SelfService struct {
	// Scopes is the scope ceiling (space-separated).
	Scopes string `json:"scopes"`
	// NeedsApproval keeps new apps disabled until an administrator approves.
	NeedsApproval bool `json:"needs_approval"`
}

// DefaultSelfService is the policy until an administrator sets one:
// read-only launch scopes, approval needed.
func DefaultSelfService() SelfService {
	return SelfService{Scopes: strings.Join(authz.DefaultOpenRegistrationScopes(), " "), NeedsApproval: true}
}

func (s *Server) selfService(ctx context.Context) (SelfService, error) {
	b, err := s.cfg.Store.Setting(ctx, policyKey)
	if errors.Is(err, store.ErrNotFound) {
		return DefaultSelfService(), nil
	} else if err != nil {
		return SelfService{}, err
	}
	var p SelfService
	if err := json.Unmarshal(b, &p); err != nil {
		return SelfService{}, fmt.Errorf("clients: self-service policy: %w", err)
	}
	return p, nil
}

// --- views -------------------------------------------------------------

type clientRow struct {
	ID, Name, Type, State string
	RedirectURIs          []string
	LaunchURI             string
	Disabled, Pending     bool
}

// clientType names the SMART client type (IG app-launch.html
// #register-app-with-ehr).
func clientType(c *authz.Client) string {
	switch {
	case slices.Contains(c.GrantTypes, "client_credentials") && !slices.Contains(c.GrantTypes, "authorization_code"):
		return "backend"
	case c.TokenEndpointAuthMethod == authz.AuthNone:
		return "public"
	case c.TokenEndpointAuthMethod == authz.AuthPrivateKeyJWT:
		return "confidential asymmetric"
	case usesCertificate(c.TokenEndpointAuthMethod):
		return "confidential, certificate"
	default:
		return "confidential symmetric"
	}
}

func rowOf(c *authz.Client) clientRow {
	r := clientRow{ID: c.ID, Name: c.Name, Type: clientType(c), RedirectURIs: c.RedirectURIs, LaunchURI: c.LaunchURI,
		Disabled: c.Disabled, Pending: c.Pending, State: "active"}
	switch {
	case c.Pending:
		r.State = "awaiting approval"
	case c.Disabled:
		r.State = "disabled"
	}
	return r
}

// formView is the registration form's values (RFC 7591 names).
type formView struct {
	ClientName   string
	RedirectURIs string // one per line
	Scope        string
	AuthMethod   string
	GrantTypes   []string
	JWKSURI      string
	JWKS         string
	LaunchURI    string
	LogoURI      string
	ClientURI    string
	Contacts     string
	// Flags are the administrator-only permissions (shown when Admin).
	Flags adminFlags
	// Admin shows the fields only administrators may use.
	Admin bool
	// TLS is the RFC 8705 metadata (administrators' form only).
	TLS tlsForm
}

// adminFlags are the client permissions only an administrator sets (on
// these pages; never by registration requests or the registration access
// token).
type adminFlags struct {
	// IntrospectAll: the client is a resource server that may introspect
	// every client's tokens.
	IntrospectAll bool
	// AllowSystemScopes: a client with a secret may use its system/ scopes.
	AllowSystemScopes bool
	// AllowSCIM: the client may be granted the scim scope and hold
	// provisioning tokens.
	AllowSCIM bool
	// AllowLaunchCreate: the client may be granted launch:create and
	// create EHR launches through the launch API.
	AllowLaunchCreate bool
}

func flagsOf(c *authz.Client) adminFlags {
	return adminFlags{IntrospectAll: c.IntrospectAll, AllowSystemScopes: c.AllowSystemScopes, AllowSCIM: c.AllowSCIM,
		AllowLaunchCreate: c.AllowLaunchCreate}
}

// apply sets the flags on c.
func (f adminFlags) apply(c *authz.Client) {
	c.IntrospectAll, c.AllowSystemScopes, c.AllowSCIM = f.IntrospectAll, f.AllowSystemScopes, f.AllowSCIM
	c.AllowLaunchCreate = f.AllowLaunchCreate
}

// flagsFrom reads the administrator's checkboxes.
func flagsFrom(r *http.Request) adminFlags {
	f := r.PostForm
	return adminFlags{IntrospectAll: f.Get("introspect_all") != "", AllowSystemScopes: f.Get("allow_system_scopes") != "",
		AllowSCIM: f.Get("allow_scim") != "", AllowLaunchCreate: f.Get("allow_launch_create") != ""}
}

func formOf(m registration.Metadata) formView {
	return formView{ClientName: m.ClientName, RedirectURIs: strings.Join(m.RedirectURIs, "\n"), Scope: m.Scope,
		AuthMethod: m.TokenEndpointAuthMethod, GrantTypes: m.GrantTypes, JWKSURI: m.JWKSURI, JWKS: string(m.JWKS),
		LaunchURI: m.LaunchURI, LogoURI: m.LogoURI, ClientURI: m.ClientURI, Contacts: strings.Join(m.Contacts, "\n")}
}

// adminForm is the form of an administrator's page: formOf(m) with the
// fields only administrators see.
func adminForm(m registration.Metadata, flags adminFlags) formView {
	f := formOf(m)
	f.Admin, f.Flags = true, flags
	return f
}

// HasGrant is used by the template's checkboxes.
func (f formView) HasGrant(g string) bool { return slices.Contains(f.GrantTypes, g) }

type page struct {
	CSRF     string
	User     string
	Error    string
	Form     formView
	Clients  []clientRow
	Client   *clientRow
	Secret   string
	Policy   SelfService
	Action   string
	Message  string
	Approval bool
	// Provisioning is the edit page's provisioning-token section, or nil.
	Provisioning *provisioningView
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// metadataFrom reads the registration form (interface.md names).
func metadataFrom(r *http.Request) registration.Metadata {
	f := r.PostForm
	m := registration.Metadata{
		ClientName:              f.Get("client_name"),
		RedirectURIs:            lines(f.Get("redirect_uris")),
		Scope:                   f.Get("scope"),
		TokenEndpointAuthMethod: strings.TrimSpace(f.Get("token_endpoint_auth_method")),
		JWKSURI:                 f.Get("jwks_uri"),
		LaunchURI:               f.Get("launch_uri"),
		LogoURI:                 f.Get("logo_uri"),
		ClientURI:               f.Get("client_uri"),
		Contacts:                lines(f.Get("contacts")),
	}
	for _, v := range f["grant_types"] {
		m.GrantTypes = append(m.GrantTypes, strings.FieldsFunc(v, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
		})...)
	}
	if j := strings.TrimSpace(f.Get("jwks")); j != "" {
		m.JWKS = json.RawMessage(j)
	}
	return m
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v page) {
	var b strings.Builder
	if err := s.pages[name].ExecuteTemplate(&b, "base", v); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("clients: render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func seeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}

func (s *Server) base(w http.ResponseWriter, r *http.Request) (page, string, bool) {
	u, ok := web.UserFrom(r.Context())
	if !ok {
		s.cfg.Pages.Fail(w, r, http.StatusForbidden, "", errors.New("clients: no user in context"))
		return page{}, "", false
	}
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return page{}, "", false
	}
	return page{CSRF: csrf, User: u.Label()}, u.ID, true
}

func (s *Server) record(r *http.Request, actor, clientID, action string) {
	if s.cfg.Audit == nil {
		return
	}
	s.cfg.Audit.Record(r.Context(), audit.Event{At: s.cfg.Now(), Kind: "client", Actor: actor, ClientID: clientID,
		Action: action, Outcome: audit.Success, Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(r.Context())})
}

func describe(err error) string {
	var re *registration.Error
	if errors.As(err, &re) {
		return re.Description
	}
	if errors.Is(err, authz.ErrInvalidClientMetadata) {
		return strings.TrimPrefix(err.Error(), authz.ErrInvalidClientMetadata.Error()+": ")
	}
	return "The client could not be saved."
}

// --- administrator pages ----------------------------------------------------

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r)
	if !ok {
		return
	}
	list, err := s.cfg.Clients.ListClients(r.Context())
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	for _, c := range list {
		v.Clients = append(v.Clients, rowOf(c))
	}
	if v.Policy, err = s.selfService(r.Context()); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, http.StatusOK, "clients_list", v)
}

func (s *Server) newForm(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r)
	if !ok {
		return
	}
	v.Form = formView{AuthMethod: authz.AuthClientSecretBasic, GrantTypes: []string{"authorization_code", "refresh_token"}, Admin: true}
	v.Action = AdminPath + "/new"
	s.render(w, r, http.StatusOK, "clients_new", v)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	v, user, ok := s.base(w, r)
	if !ok {
		return
	}
	tf := tlsFrom(r)
	m := withTLS(metadataFrom(r), tf)
	out, err := registration.Validate(m, authz.AdminPolicy(m))
	var c *authz.Client
	var secret string
	if err == nil {
		nc := authz.NewClientFrom(out)
		tf.apply(&nc)
		flags := flagsFrom(r)
		nc.Policy, nc.IntrospectAll = authz.PolicyAdmin, flags.IntrospectAll
		nc.AllowSystemScopes, nc.AllowSCIM, nc.AllowLaunchCreate = flags.AllowSystemScopes, flags.AllowSCIM, flags.AllowLaunchCreate
		c, secret, err = authz.CreateClient(r.Context(), s.cfg.Clients, nc, s.cfg.Now())
	}
	if err != nil {
		if !isInvalid(err) {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		v.Error, v.Form, v.Action = describe(err), adminForm(m, flagsFrom(r)), AdminPath+"/new"
		v.Form.TLS = tf
		s.render(w, r, http.StatusBadRequest, "clients_new", v)
		return
	}
	s.record(r, user, c.ID, "register")
	loc := AdminPath + "/" + url.PathEscape(c.ID) + "?created=1"
	if secret != "" {
		loc += "&reveal=" + s.reveals.Put(c.ID, secret, user)
	}
	seeOther(w, loc)
}

func isInvalid(err error) bool {
	var re *registration.Error
	return errors.As(err, &re) || errors.Is(err, authz.ErrInvalidClientMetadata)
}

// client loads the client named in the path, or answers 404.
func (s *Server) client(w http.ResponseWriter, r *http.Request) (*authz.Client, bool) {
	c, err := s.cfg.Clients.GetClient(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such client.", err)
		return nil, false
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return nil, false
	}
	return c, true
}

func (s *Server) edit(w http.ResponseWriter, r *http.Request) {
	v, user, ok := s.base(w, r)
	if !ok {
		return
	}
	c, ok := s.client(w, r)
	if !ok {
		return
	}
	row := rowOf(c)
	v.Client = &row
	v.Form = adminForm(authz.ClientMetadata(c), flagsOf(c))
	v.Form.TLS = tlsOf(c)
	v.Action = AdminPath + "/" + url.PathEscape(c.ID)
	v.Secret = s.reveals.Take(r.URL.Query().Get("reveal"), c.ID, user)
	if r.URL.Query().Get("created") != "" {
		v.Message = "The client is registered."
	}
	if !s.loadProvisioning(w, r, &v, c, user) {
		return
	}
	s.render(w, r, http.StatusOK, "clients_edit", v)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	v, user, ok := s.base(w, r)
	if !ok {
		return
	}
	c, ok := s.client(w, r)
	if !ok {
		return
	}
	tf := tlsFrom(r)
	m := withTLS(metadataFrom(r), tf)
	policy := authz.AdminPolicy(m)
	switch c.Policy {
	case authz.PolicySelf:
		// Apps people registered stay under their ceiling, even when an
		// administrator edits them.
		p, err := s.selfService(r.Context())
		if err != nil {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		policy = authz.CeilingPolicy(strings.Fields(p.Scopes), true)
	case authz.PolicyOpen:
		policy = authz.CeilingPolicy(authz.DefaultOpenRegistrationScopes(), false)
	}
	out, err := registration.Validate(m, policy)
	if err == nil {
		err = authz.UpdateConflict(r.Context(), s.cfg.Clients, c, out)
	}
	if flags := flagsFrom(r); err == nil && c.Policy != authz.PolicyAdmin && (flags.AllowSCIM || flags.AllowSystemScopes || flags.AllowLaunchCreate) {
		err = &registration.Error{Code: registration.CodeInvalidClientMetadata,
			Description: "Only clients an administrator registered may use SCIM, create launches or use system/ scopes with a secret; register a new client for that."}
	}
	var secret string
	if err == nil {
		// On the client as it is when the store writes (a disable that
		// landed since it was read above stays).
		var invalid error
		err = s.cfg.Clients.UpdateClient(r.Context(), c.ID, func(old authz.Client) (authz.Client, error) {
			if secret, invalid = authz.UpdateClientMetadata(&old, out); invalid != nil {
				return old, invalid
			}
			old.TLSClientAuth, old.CertBoundAccessTokens = tf.Auth, tf.CertBound
			// An administrator's edit is the client's new ceiling for its
			// registration access token (issue 9 D4).
			old.SetCeiling()
			flagsFrom(r).apply(&old)
			return old, nil
		})
		if invalid != nil {
			err = invalid
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such client.", err)
		return
	}
	if err != nil {
		if !isInvalid(err) {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		row := rowOf(c)
		v.Client, v.Error, v.Form, v.Action = &row, describe(err), adminForm(m, flagsFrom(r)), AdminPath+"/"+url.PathEscape(c.ID)
		v.Form.TLS = tf
		if !s.loadProvisioning(w, r, &v, c, user) {
			return
		}
		s.render(w, r, http.StatusBadRequest, "clients_edit", v)
		return
	}
	s.record(r, user, c.ID, "update")
	loc := AdminPath + "/" + url.PathEscape(c.ID)
	if secret != "" {
		loc += "?reveal=" + s.reveals.Put(c.ID, secret, user)
	}
	seeOther(w, loc)
}

func (s *Server) rotate(w http.ResponseWriter, r *http.Request) {
	u, _ := web.UserFrom(r.Context())
	c, ok := s.client(w, r)
	if !ok {
		return
	}
	secret, err := authz.ResetClientSecret(r.Context(), s.cfg.Clients, c.ID)
	if errors.Is(err, authz.ErrInvalidClientMetadata) {
		s.cfg.Pages.Fail(w, r, http.StatusBadRequest, "This client does not use a secret.", err)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, u.ID, c.ID, "rotate secret")
	seeOther(w, AdminPath+"/"+url.PathEscape(c.ID)+"?reveal="+s.reveals.Put(c.ID, secret, u.ID))
}

// setState disables, or enables (and approves) a client. A disabled client
// can neither authenticate nor use its tokens (authz refuses them).
func (s *Server) setState(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _ := web.UserFrom(r.Context())
		c, ok := s.client(w, r)
		if !ok {
			return
		}
		action := "disable"
		var err error
		if !disabled {
			enabled := *c
			enabled.Disabled = false
			err = authz.CertificateConflict(r.Context(), s.cfg.Clients, &enabled)
		}
		if err == nil {
			err = s.cfg.Clients.UpdateClient(r.Context(), c.ID, func(old authz.Client) (authz.Client, error) {
				old.Disabled = disabled
				if !disabled {
					action = "enable"
					if old.Pending {
						action = "approve"
					}
					old.Pending = false
				}
				return old, nil
			})
		}
		if errors.Is(err, store.ErrNotFound) {
			s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such client.", err)
			return
		} else if isInvalid(err) {
			s.cfg.Pages.Fail(w, r, http.StatusConflict, describe(err), err)
			return
		} else if err != nil {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		s.record(r, u.ID, c.ID, action)
		seeOther(w, AdminPath)
	}
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	u, _ := web.UserFrom(r.Context())
	id := r.PathValue("id")
	err := s.cfg.Clients.DeleteClient(r.Context(), id, s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such client.", err)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, u.ID, id, "delete")
	seeOther(w, AdminPath)
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request) {
	u, _ := web.UserFrom(r.Context())
	p := SelfService{Scopes: strings.Join(strings.Fields(r.PostForm.Get("scopes")), " "), NeedsApproval: r.PostForm.Get("needs_approval") != ""}
	if _, err := registration.Validate(registration.Metadata{RedirectURIs: []string{"https://check.invalid/cb"}, Scope: p.Scopes, TokenEndpointAuthMethod: authz.AuthNone},
		registration.Policy{AnyScope: true}); err != nil && p.Scopes != "" {
		s.cfg.Pages.Fail(w, r, http.StatusBadRequest, "The scope ceiling is not valid: "+describe(err), err)
		return
	}
	b, _ := json.Marshal(p)
	if err := s.cfg.Store.PutSetting(r.Context(), policyKey, b); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, u.ID, "", "self-service policy")
	seeOther(w, AdminPath)
}

// --- My apps ----------------------------------------------------------------

func (s *Server) mine(w http.ResponseWriter, r *http.Request) {
	v, user, ok := s.base(w, r)
	if !ok {
		return
	}
	if !s.loadMine(w, r, &v, user) {
		return
	}
	if id := r.URL.Query().Get("client"); id != "" {
		v.Secret = s.reveals.Take(r.URL.Query().Get("reveal"), id, user)
		for i := range v.Clients {
			if v.Clients[i].ID == id {
				v.Client = &v.Clients[i]
			}
		}
		if v.Client == nil {
			v.Secret = ""
		}
	}
	v.Form = formView{AuthMethod: authz.AuthNone, GrantTypes: []string{"authorization_code", "refresh_token"}}
	s.render(w, r, http.StatusOK, "clients_mine", v)
}

func (s *Server) loadMine(w http.ResponseWriter, r *http.Request, v *page, user string) bool {
	list, err := s.cfg.Clients.ListClients(r.Context())
	if err == nil {
		v.Policy, err = s.selfService(r.Context())
	}
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return false
	}
	for _, c := range list {
		if c.Owner == user && c.Policy == authz.PolicySelf {
			v.Clients = append(v.Clients, rowOf(c))
		}
	}
	v.Action = MinePath
	return true
}

// maxOwnApps bounds how many apps one person may register.
const maxOwnApps = 20

func (s *Server) createMine(w http.ResponseWriter, r *http.Request) {
	v, user, ok := s.base(w, r)
	if !ok || !s.loadMine(w, r, &v, user) {
		return
	}
	m := metadataFrom(r)
	policy := authz.CeilingPolicy(strings.Fields(v.Policy.Scopes), true)
	out, err := registration.Validate(m, policy)
	if err == nil && len(v.Clients) >= maxOwnApps {
		err = &registration.Error{Code: registration.CodeInvalidClientMetadata, Description: fmt.Sprintf("You may register at most %d apps.", maxOwnApps)}
	}
	var c *authz.Client
	var secret string
	if err == nil {
		nc := authz.NewClientFrom(out)
		nc.Policy, nc.Owner, nc.Pending = authz.PolicySelf, user, v.Policy.NeedsApproval
		nc.Ceiling = authz.PolicyCeiling(strings.Fields(v.Policy.Scopes), out.TokenEndpointAuthMethod)
		c, secret, err = authz.CreateClient(r.Context(), s.cfg.Clients, nc, s.cfg.Now())
	}
	if err != nil {
		if !isInvalid(err) {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		v.Error, v.Form = describe(err), formOf(m)
		s.render(w, r, http.StatusBadRequest, "clients_mine", v)
		return
	}
	s.record(r, user, c.ID, "register own app")
	loc := MinePath + "?client=" + url.QueryEscape(c.ID)
	if secret != "" {
		loc += "&reveal=" + s.reveals.Put(c.ID, secret, user)
	}
	seeOther(w, loc)
}
