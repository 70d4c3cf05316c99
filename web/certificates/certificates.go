// Package certificates serves the administrators' /admin/certificates
// page (issue 13): the allow-list of trusted client certificates (add one
// by pasting its PEM, remove one after a confirmation step), the effective
// --client-cert-policy per case with what each action means, whether
// --client-ca and the proxy's certificate header are set, and the built-in
// anonymous account's scopes (what a request served under the limit
// action may do), with a form to change them.
//
// The page goes through the web package's RequireRole with the admin role
// (log-in, role, CSRF token on every POST, page headers), as web/people's
// pages do; every change answers 303 (RFC 9700 §4.12) and is audited. A
// pasted certificate is read by clientcert.ParseTrusted (the one reading,
// shared with `smartgate cert add`); a pasted private key is refused and
// never stored, logged or shown back, and the pasted text is never shown
// back at all.
package certificates

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/web"
)

// Pages is what this package needs from the web package's server.
type Pages interface {
	RequireRole(next http.Handler, roles ...string) http.Handler
	CSRFToken(w http.ResponseWriter, r *http.Request) (string, error)
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// Store keeps the allow-list (store/sqlite's trusted_certificates).
type Store interface {
	TrustedCertificates(ctx context.Context) ([]clientcert.TrustedCertificate, error)
	// TrustedCertificate returns store.ErrNotFound for a fingerprint not
	// on the list.
	TrustedCertificate(ctx context.Context, fingerprint string) (*clientcert.TrustedCertificate, error)
	// AddTrustedCertificate returns store.ErrConflict for a fingerprint
	// on the list already.
	AddTrustedCertificate(ctx context.Context, c *clientcert.TrustedCertificate) error
	// RemoveTrustedCertificate returns store.ErrNotFound for a
	// fingerprint not on the list.
	RemoveTrustedCertificate(ctx context.Context, fingerprint string) error
}

// AnonymousScopes keeps the built-in anonymous account's scopes
// (certauth.Anonymous).
type AnonymousScopes interface {
	Scopes(ctx context.Context) (string, error)
	// SetScopes refuses a scope that does not parse.
	SetScopes(ctx context.Context, scopes string) error
}

// Config holds the dependencies of the page and the settings it shows.
type Config struct {
	Pages     Pages
	Store     Store
	Anonymous AnonymousScopes
	Assets    fs.FS // templates/ (smartgate.Assets)
	// Audit receives a record per change (kind "certificate", actions add
	// and remove; kind "anonymous", action "set scopes") and per refused
	// private key.
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
	// UserName names the administrator who added an entry (nil or "": the
	// user id is shown).
	UserName func(ctx context.Context, id string) string

	// The settings shown (read-only; the program's configuration).
	Policy clientcert.Policy
	// HTTPS: the HTTPS listener (the only one that reads client
	// certificates) is on.
	HTTPS bool
	// ClientCA is the --client-ca file ("" when unset) and
	// ClientCASubjects the subjects of its certificates.
	ClientCA         string
	ClientCASubjects []string
	// CertHeader is --client-cert-header ("" when off); TrustedProxies the
	// addresses it is read from.
	CertHeader     string
	TrustedProxies []string
	// TrustedJWTIssuers are the issuers, besides this server, whose ID
	// tokens may name the person beside a certificate.
	TrustedJWTIssuers []string
}

// Path is the page's path (interface.md).
const Path = "/admin/certificates"

// Server serves the page.
type Server struct {
	cfg     Config
	list    *template.Template
	confirm *template.Template
}

// New parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Pages == nil || cfg.Store == nil || cfg.Anonymous == nil || cfg.Assets == nil {
		return nil, errors.New("certificates: Pages, Store, Anonymous and Assets are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy == nil {
		cfg.Policy = clientcert.Uniform(clientcert.Allow)
	}
	funcs := template.FuncMap{"group": clientcert.GroupFingerprint}
	pages, err := pagetmpl.Parse(cfg.Assets, funcs, []string{"admin_nav", "people_nav"}, "certificates", "certificates_confirm")
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	return &Server{cfg: cfg, list: pages["certificates"], confirm: pages["certificates_confirm"]}, nil
}

// Register adds the page to mux.
func (s *Server) Register(mux *http.ServeMux) {
	admin := func(f http.HandlerFunc) http.Handler { return s.cfg.Pages.RequireRole(f, account.RoleAdmin) }
	mux.Handle("GET "+Path, admin(s.show))
	mux.Handle("POST "+Path, admin(s.add))
	mux.Handle("GET "+Path+"/{fingerprint}/remove", admin(s.confirmRemove))
	mux.Handle("POST "+Path+"/{fingerprint}/remove", admin(s.remove))
	mux.Handle("POST "+Path+"/anonymous", admin(s.setAnonymous))
}

// --- views -------------------------------------------------------------

// page is what the templates see.
type page struct {
	CSRF     string
	Section  string // "certificates", for the navigation
	Message  string
	Error    string
	Warnings []string
	Rows     []row
	// Note is the add form's note, shown again after a refusal (the
	// pasted text never is).
	Note string
	// AddError is the add form's refusal.
	AddError string
	Policy   []policyRow
	Settings settings
	// Scopes is the anonymous account's scopes (or what was typed, after
	// a refusal); ScopesError the refusal.
	Scopes      string
	ScopesError string
	Confirm     *row
}

// row is one allow-list entry as the page shows it.
type row struct {
	Fingerprint, Subject, Issuer, NotBefore, NotAfter string
	Expired, NotYetValid                              bool
	Note, AddedBy, AddedAt                            string
	Warnings                                          []string
}

// policyRow is one case of --client-cert-policy.
type policyRow struct {
	Case, When, Action, Meaning string
}

// settings are the certificate settings shown.
type settings struct {
	HTTPS             bool
	ClientCA          string
	ClientCASubjects  []string
	CertHeader        string
	TrustedProxies    []string
	TrustedJWTIssuers []string
	PolicyFlag        string
}

const timeFormat = "2006-01-02 15:04 UTC"

func (s *Server) rowOf(ctx context.Context, c *clientcert.TrustedCertificate) row {
	now := s.cfg.Now()
	rw := row{Fingerprint: c.Fingerprint, Subject: c.Subject, Issuer: c.Issuer,
		NotBefore: c.NotBefore.UTC().Format(timeFormat), NotAfter: c.NotAfter.UTC().Format(timeFormat),
		Expired: now.After(c.NotAfter), NotYetValid: now.Before(c.NotBefore),
		Note: c.Note, AddedBy: c.AddedBy, AddedAt: c.AddedAt.UTC().Format(timeFormat), Warnings: c.Warnings(now)}
	if s.cfg.UserName != nil && c.AddedBy != "" {
		if n := s.cfg.UserName(ctx, c.AddedBy); n != "" {
			rw.AddedBy = n
		}
	}
	return rw
}

// caseWhen says when each case applies.
var caseWhen = map[clientcert.Case]string{
	clientcert.NoCertificate:      "the request presents no client certificate",
	clientcert.UnknownCertificate: "it presents one that neither chains to --client-ca nor is on the allow-list",
	clientcert.NoJWT:              "a trusted certificate and no bearer token",
	clientcert.BadJWT:             "a trusted certificate and a bearer JWT that is not a valid access token and fails verification as an ID token",
}

// meaning says what an action does in a case (authz/certauth's rules).
func meaning(c clientcert.Case, a clientcert.Action) string {
	switch a {
	case clientcert.Reject:
		return "refused: 401 with WWW-Authenticate, whatever else the request carries"
	case clientcert.Limit:
		return "without a valid access token, served as the built-in anonymous account (its scopes below); a valid access token still decides"
	}
	switch c {
	case clientcert.NoJWT:
		return "no difference: a valid access token decides, and a trusted certificate alone acts as its registered client"
	case clientcert.BadJWT:
		return "no difference: the endpoint's usual answer to a bearer token that is not a valid access token (401 invalid_token)"
	}
	return "no difference: the access token decides (none or a bad one: 401)"
}

func (s *Server) policyRows() []policyRow {
	out := make([]policyRow, 0, len(clientcert.Cases))
	for _, c := range clientcert.Cases {
		a := s.cfg.Policy.For(c)
		out = append(out, policyRow{Case: string(c), When: caseWhen[c], Action: string(a), Meaning: meaning(c, a)})
	}
	return out
}

// base is the page with everything but the messages.
func (s *Server) base(w http.ResponseWriter, r *http.Request) (page, bool) {
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return page{}, false
	}
	v := page{CSRF: csrf, Section: "certificates", Policy: s.policyRows(), Settings: settings{
		HTTPS: s.cfg.HTTPS, ClientCA: s.cfg.ClientCA, ClientCASubjects: s.cfg.ClientCASubjects, CertHeader: s.cfg.CertHeader,
		TrustedProxies: s.cfg.TrustedProxies, TrustedJWTIssuers: s.cfg.TrustedJWTIssuers, PolicyFlag: s.cfg.Policy.String()}}
	list, err := s.cfg.Store.TrustedCertificates(r.Context())
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return page{}, false
	}
	for i := range list {
		v.Rows = append(v.Rows, s.rowOf(r.Context(), &list[i]))
	}
	if v.Scopes, err = s.cfg.Anonymous.Scopes(r.Context()); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return page{}, false
	}
	return v, true
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, v page) {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "base", v); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("certificates: render: %w", err))
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

// --- handlers --------------------------------------------------------------

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	v, ok := s.base(w, r)
	if !ok {
		return
	}
	// Messages name what the store holds, never text from the request.
	q := r.URL.Query()
	if fp, err := clientcert.ParseFingerprint(q.Get("added")); err == nil {
		if c, err := s.cfg.Store.TrustedCertificate(r.Context(), fp); err == nil {
			v.Message = "Added " + c.Subject + " (" + clientcert.GroupFingerprint(c.Fingerprint) + ") to the allow-list."
			v.Warnings = c.Warnings(s.cfg.Now())
		}
	}
	if fp, err := clientcert.ParseFingerprint(q.Get("removed")); err == nil {
		v.Message = "Removed " + clientcert.GroupFingerprint(fp) + " from the allow-list."
	}
	if q.Get("anonymous") != "" {
		v.Message = "The anonymous account's scopes are saved."
	}
	s.render(w, r, s.list, http.StatusOK, v)
}

func (s *Server) add(w http.ResponseWriter, r *http.Request) {
	u, _ := web.UserFrom(r.Context())
	note := r.PostForm.Get("note")
	c, err := clientcert.ParseTrusted(r.PostForm.Get("pem"), note, u.ID, s.cfg.Now())
	if err == nil {
		// A fingerprint on the list already: say who added it and when.
		if old, gerr := s.cfg.Store.TrustedCertificate(r.Context(), c.Fingerprint); gerr == nil {
			o := s.rowOf(r.Context(), old)
			err = fmt.Errorf("this certificate is on the allow-list already (%s, added by %s at %s)", o.Subject, o.AddedBy, o.AddedAt)
		} else if !errors.Is(gerr, store.ErrNotFound) {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", gerr)
			return
		}
	}
	if err == nil {
		err = s.cfg.Store.AddTrustedCertificate(r.Context(), c)
		if errors.Is(err, store.ErrConflict) {
			err = errors.New("this certificate is on the allow-list already")
		} else if err != nil {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
	}
	if err != nil {
		if errors.Is(err, clientcert.ErrPrivateKey) {
			// Never the text: only that it happened.
			s.cfg.Logger.WarnContext(r.Context(), "a private key was pasted on the certificates page and refused", "user", u.ID)
			s.record(r, audit.Event{Kind: "certificate", Action: "add", Outcome: audit.Failure, Detail: "a private key was pasted; refused, not stored"})
		}
		v, ok := s.base(w, r)
		if !ok {
			return
		}
		v.AddError, v.Note = "The certificate was not added: "+err.Error(), note
		s.render(w, r, s.list, http.StatusBadRequest, v)
		return
	}
	s.record(r, audit.Event{Kind: "certificate", Action: "add", Resource: "TrustedCertificate/" + c.Fingerprint, Outcome: audit.Success, Detail: c.Subject})
	seeOther(w, Path+"?added="+c.Fingerprint+"#certificate-"+c.Fingerprint)
}

// entry loads the entry named in the path, or answers 404.
func (s *Server) entry(w http.ResponseWriter, r *http.Request) (*clientcert.TrustedCertificate, bool) {
	fp, err := clientcert.ParseFingerprint(r.PathValue("fingerprint"))
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such certificate on the allow-list.", err)
		return nil, false
	}
	c, err := s.cfg.Store.TrustedCertificate(r.Context(), fp)
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such certificate on the allow-list.", err)
		return nil, false
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return nil, false
	}
	return c, true
}

func (s *Server) confirmRemove(w http.ResponseWriter, r *http.Request) {
	c, ok := s.entry(w, r)
	if !ok {
		return
	}
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	rw := s.rowOf(r.Context(), c)
	s.render(w, r, s.confirm, http.StatusOK, page{CSRF: csrf, Section: "certificates", Confirm: &rw})
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	c, ok := s.entry(w, r)
	if !ok {
		return
	}
	err := s.cfg.Store.RemoveTrustedCertificate(r.Context(), c.Fingerprint)
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such certificate on the allow-list.", err)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, audit.Event{Kind: "certificate", Action: "remove", Resource: "TrustedCertificate/" + c.Fingerprint, Outcome: audit.Success, Detail: c.Subject})
	seeOther(w, Path+"?removed="+c.Fingerprint)
}

func (s *Server) setAnonymous(w http.ResponseWriter, r *http.Request) {
	scopes := strings.Join(strings.Fields(r.PostForm.Get("scopes")), " ")
	if err := s.cfg.Anonymous.SetScopes(r.Context(), scopes); err != nil {
		v, ok := s.base(w, r)
		if !ok {
			return
		}
		// SetScopes' refusal quotes the bad scope; the template escapes it.
		v.Scopes, v.ScopesError = scopes, "The scopes were not saved: "+strings.TrimPrefix(err.Error(), "anonymous scopes: ")
		s.render(w, r, s.list, http.StatusBadRequest, v)
		return
	}
	s.record(r, audit.Event{Kind: "anonymous", Action: "set scopes", Scopes: scopes, Outcome: audit.Success})
	seeOther(w, Path+"?anonymous=saved#anonymous")
}

// record audits a change by the administrator in r's context.
func (s *Server) record(r *http.Request, ev audit.Event) {
	if s.cfg.Audit == nil {
		return
	}
	ev.At, ev.Address, ev.RequestID = s.cfg.Now(), reqctx.ClientAddress(r), reqctx.ID(r.Context())
	if u, ok := web.UserFrom(r.Context()); ok {
		ev.Actor = u.ID
	}
	s.cfg.Audit.Record(r.Context(), ev)
}
