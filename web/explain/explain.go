// Package explain serves the administrators' "why was this refused?" pages
// (issue 15, item 7):
//
//   - GET /admin/audit/{id}/explain shows the decision trace an audit
//     record of a refused FHIR request carries (fhir/access.Explanation,
//     recorded by the endpoint on refusal), step by step, with the step
//     that said no marked in words;
//   - GET and POST /admin/explain take a pasted access token and a FHIR
//     request line, verify the token as the FHIR endpoint does
//     (fhir/bearer.Authenticator.Verify), read the stored resource's
//     compartments as the endpoint does (fhir.Server.StoredAccessRequest)
//     and run the same decision with its explanation
//     (fhir/bearer.Authenticator.Explain).
//
// Both go through the web package's RequireRole with the admin role
// (log-in, role, CSRF on POST). The pasted token is never logged, stored
// or shown back, and the answers carry Cache-Control: no-store.
package explain

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/store"
)

// Pages is what this package needs from the web package's server.
type Pages interface {
	RequireRole(next http.Handler, roles ...string) http.Handler
	CSRFToken(w http.ResponseWriter, r *http.Request) (string, error)
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// AuditStore reads one audit record (store/sqlite).
type AuditStore interface {
	// AuditEvent returns store.ErrNotFound for an unknown id.
	AuditEvent(ctx context.Context, id int64) (audit.Event, error)
}

// Tokens verifies access tokens and explains decisions as the FHIR
// endpoint makes them (*fhir/bearer.Authenticator).
type Tokens interface {
	Verify(ctx context.Context, token string) (*access.Principal, error)
	Explain(ctx context.Context, p *access.Principal, req fhir.AccessRequest) (*access.Explanation, error)
}

// Resources gives the access request the endpoint decides on a stored
// resource (*fhir.Server).
type Resources interface {
	StoredAccessRequest(ctx context.Context, in fhir.Interaction, typ, id string, vid int64) (fhir.AccessRequest, error)
}

// Config holds the pages' dependencies.
type Config struct {
	Pages     Pages
	Audit     AuditStore
	Tokens    Tokens
	Resources Resources
	// IsType reports whether the endpoint serves a resource type
	// (search.Registry.IsType).
	IsType func(string) bool
	Assets fs.FS // templates/ (smartgate.Assets)
}

// Paths (interface.md).
const (
	Path        = "/admin/explain"
	AuditPrefix = "/admin/audit/"
)

// Server serves the pages.
type Server struct {
	cfg Config
	t   *template.Template
}

// New parses the template.
func New(cfg Config) (*Server, error) {
	if cfg.Pages == nil || cfg.Audit == nil || cfg.Tokens == nil || cfg.Resources == nil || cfg.IsType == nil || cfg.Assets == nil {
		return nil, errors.New("explain: Pages, Audit, Tokens, Resources, IsType and Assets are required")
	}
	pages, err := pagetmpl.Parse(cfg.Assets, nil, []string{"admin_nav"}, "explain")
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	return &Server{cfg: cfg, t: pages["explain"]}, nil
}

// Register adds the pages to mux.
func (s *Server) Register(mux *http.ServeMux) {
	admin := func(f http.HandlerFunc) http.Handler {
		return s.cfg.Pages.RequireRole(noStore(f), account.RoleAdmin)
	}
	mux.Handle("GET "+AuditPrefix+"{id}/explain", admin(s.record))
	mux.Handle("GET "+Path, admin(s.form))
	mux.Handle("POST "+Path, admin(s.try))
}

func noStore(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h(w, r)
	}
}

// page is what the template sees.
type page struct {
	CSRF string
	// Record is the audit record explained (record page), nil on the form.
	Record *recordView
	// Form: the request line as typed (never the token), the error.
	Line  string
	Error string
	// Explanation and what the endpoint answers.
	Explanation *access.Explanation
	Answer      string
	NoTrace     string
	Notes       []string
}

type recordView struct {
	ID                                                        int64
	At                                                        string
	Kind, Actor, ClientID, Patient, Action, Resource, Outcome string
	Detail, Scopes                                            string
}

func (s *Server) record(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no audit record with this number.", fmt.Errorf("explain: audit id %q", r.PathValue("id")))
		return
	}
	ev, err := s.cfg.Audit.AuditEvent(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no audit record with this number.", err)
		return
	case errors.Is(err, store.ErrUnavailable):
		s.cfg.Pages.Fail(w, r, http.StatusServiceUnavailable, "The audit log cannot be read now; try again.", err)
		return
	case err != nil:
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v := page{Record: &recordView{ID: ev.ID, At: ev.At.UTC().Format(time.RFC3339), Kind: ev.Kind, Actor: ev.Actor,
		ClientID: ev.ClientID, Patient: ev.Patient, Action: ev.Action, Resource: ev.Resource, Outcome: ev.Outcome,
		Detail: ev.Detail, Scopes: ev.Scopes}}
	switch e, err := access.ParseExplanation(ev.Trace); {
	case ev.Trace == "":
		v.NoTrace = "This record has no decision trace. Only refused FHIR requests carry one (records written before traces were kept have none)."
	case err != nil:
		v.NoTrace = "This record's decision trace cannot be read."
	default:
		v.Explanation = e
	}
	s.render(w, r, http.StatusOK, v)
}

func (s *Server) form(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, page{})
}

// try verifies the pasted token and explains the decision on the request
// line. The token is read from the form and dropped: never logged, stored
// or rendered.
func (s *Server) try(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if f := strings.Fields(tok); len(f) == 2 && strings.EqualFold(f[0], "Bearer") {
		tok = f[1]
	}
	raw := r.PostFormValue("request")
	var v page
	status, err := s.explain(r.Context(), tok, raw, &v)
	if err != nil {
		v.Error = err.Error()
	}
	if v.Line == "" && len(raw) <= maxLine {
		v.Line = raw // shown again to be corrected (escaped by the template)
	}
	s.render(w, r, status, v)
}

// explain fills v's explanation for token and the request line raw, or returns the
// status and message to show.
func (s *Server) explain(ctx context.Context, tok, raw string, v *page) (int, error) {
	line, err := ParseRequestLine(raw)
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("the request line is not valid: %w", err)
	}
	if line.Type != "" && !s.cfg.IsType(line.Type) {
		return http.StatusBadRequest, fmt.Errorf("the request line is not valid: %s is not a resource type of this FHIR endpoint", line.Type)
	}
	v.Line = line.String()
	if tok == "" {
		return http.StatusBadRequest, errors.New("paste an access token")
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return http.StatusBadRequest, errors.New("the token is not valid: it contains white space")
	}
	p, err := s.cfg.Tokens.Verify(ctx, tok)
	if errors.Is(err, store.ErrUnavailable) {
		return http.StatusServiceUnavailable, errors.New("the token cannot be checked now (storage unavailable); try again")
	}
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("the token is not valid: %s", tokenReason(err))
	}
	if p.CertThumbprint != "" {
		v.Notes = append(v.Notes, "The token is bound to a client certificate: the FHIR endpoint accepts it only over a connection presenting that certificate.")
	}
	// As the endpoint: the type-level decision first (403 before
	// anything about the resource is known), then the stored resource.
	req := fhir.AccessRequest{Interaction: line.Interaction, Type: line.Type}
	e, derr := s.cfg.Tokens.Explain(ctx, p, req)
	if derr == nil && line.ID != "" {
		stored, err := s.cfg.Resources.StoredAccessRequest(ctx, line.Interaction, line.Type, line.ID, line.Version)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Explanation = e
			v.Answer = "404 not found: " + line.Type + "/" + line.ID + " does not exist (the type-level decision above allowed the interaction)"
			return http.StatusOK, nil
		case errors.Is(err, store.ErrUnavailable):
			return http.StatusServiceUnavailable, errors.New("the resource cannot be read now (storage unavailable); try again")
		case err != nil:
			return http.StatusBadRequest, fmt.Errorf("the request line is not valid: %w", err)
		}
		e, derr = s.cfg.Tokens.Explain(ctx, p, stored)
	}
	v.Explanation = e
	v.Answer = answer(line, derr)
	if line.Interaction == fhir.InteractionSearchType && derr == nil {
		v.Notes = append(v.Notes, "A search is not refused for its parameters (such as patient=…): it is limited to what the grant reaches, so asking about another patient finds nothing.")
	}
	return http.StatusOK, nil
}

// tokenReason says why a token was refused, without the token.
func tokenReason(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, fhir.ErrInvalidToken.Error()+": ")
	return msg
}

func answer(l Line, err error) string {
	switch {
	case err == nil:
		return "allowed: the endpoint carries out " + string(l.Interaction)
	case errors.Is(err, fhir.ErrInsufficientScope):
		return "refused: 403 insufficient_scope"
	case errors.Is(err, fhir.ErrHidden):
		return "refused: 404 not found (the resource is hidden: it reads as if it did not exist)"
	}
	return "refused: " + err.Error()
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, v page) {
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v.CSRF = csrf
	var b strings.Builder
	if err := s.t.ExecuteTemplate(&b, "base", v); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("explain: render: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}
