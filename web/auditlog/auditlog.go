// Package auditlog serves the administrators' /admin/audit page (issue
// 15): the audit trail newest first, filtered by date, kind, actor,
// client, patient and outcome, paged by record id (next and previous), a
// link from each refused FHIR request to its explanation
// (/admin/audit/{id}/explain), and the same selection exported as NDJSON
// of FHIR AuditEvent resources (audit/fhirview), the view /fhir/AuditEvent
// gives. The page only reads; it goes through the web package's
// RequireRole with the admin role. Bad filters (a date that does not parse,
// a page size outside 1..200) answer 400 with the reason.
package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/audit/fhirview"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/listener"
)

// Pages is what this package needs from the web package's server.
type Pages interface {
	RequireRole(next http.Handler, roles ...string) http.Handler
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// Store reads the audit records, newest first (store/sqlite).
type Store interface {
	AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error)
}

// Config holds the page's dependencies.
type Config struct {
	Pages  Pages
	Store  Store
	Assets fs.FS // templates/ (smartgate.Assets)
	Logger *slog.Logger
}

// Paths (interface.md).
const (
	Path       = "/admin/audit"
	ExportPath = "/admin/audit/export.ndjson"
)

// Bounds.
const (
	DefaultSize = 50
	MaxSize     = 200
	// MaxExport bounds the lines of one export.
	MaxExport   = 10000
	exportBatch = 500
)

// Server serves the page and the export.
type Server struct {
	cfg  Config
	list *template.Template
}

// New parses the template.
func New(cfg Config) (*Server, error) {
	if cfg.Pages == nil || cfg.Store == nil || cfg.Assets == nil {
		return nil, errors.New("auditlog: Pages, Store and Assets are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := pagetmpl.Parse(cfg.Assets, nil, []string{"admin_nav"}, "audit")
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	return &Server{cfg: cfg, list: pages["audit"]}, nil
}

// Register adds the page and the export to mux.
func (s *Server) Register(mux *http.ServeMux) {
	admin := func(f http.HandlerFunc) http.Handler { return s.cfg.Pages.RequireRole(f, account.RoleAdmin) }
	mux.Handle("GET "+Path, admin(s.show))
	mux.Handle("GET "+ExportPath, admin(s.export))
}

// Filters are the page's filter fields as given (shown back in the form).
type Filters struct {
	From, To, Kind, Actor, Client, Patient, Outcome, Size string
}

// selection is a parsed filter form.
type selection struct {
	f      audit.Filter
	size   int
	before int64
	after  int64
}

// Parse checks the filter fields and the cursor of q.
func Parse(q url.Values) (Filters, selection, error) {
	in := Filters{From: q.Get("from"), To: q.Get("to"), Kind: q.Get("kind"), Actor: q.Get("actor"),
		Client: q.Get("client"), Patient: q.Get("patient"), Outcome: q.Get("outcome"), Size: q.Get("size")}
	sel := selection{size: DefaultSize, f: audit.Filter{Kind: strings.TrimSpace(in.Kind), Actor: strings.TrimSpace(in.Actor),
		ClientID: strings.TrimSpace(in.Client), Patient: strings.TrimPrefix(strings.TrimSpace(in.Patient), "Patient/")}}
	if v := strings.TrimSpace(in.From); v != "" {
		lo, _, err := fhirview.ParseDateTime(v)
		if err != nil {
			return in, sel, fmt.Errorf("from: %w", err)
		}
		sel.f.Since = lo
	}
	if v := strings.TrimSpace(in.To); v != "" {
		_, hi, err := fhirview.ParseDateTime(v)
		if err != nil {
			return in, sel, fmt.Errorf("to: %w", err)
		}
		sel.f.Until = hi // the whole day (or instant) given is included
	}
	switch in.Outcome {
	case "", audit.Success, audit.Failure, audit.Denied:
		sel.f.Outcome = in.Outcome
	default:
		return in, sel, fmt.Errorf("outcome must be success, failure or denied, not %q", in.Outcome)
	}
	if v := strings.TrimSpace(in.Size); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxSize {
			return in, sel, fmt.Errorf("page size must be a whole number from 1 to %d, not %q", MaxSize, v)
		}
		sel.size = n
	}
	var err error
	if sel.before, err = cursor(q, "before"); err != nil {
		return in, sel, err
	}
	if sel.after, err = cursor(q, "after"); err != nil {
		return in, sel, err
	}
	return in, sel, nil
}

func cursor(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s must be a record number, not %q: follow the page links as given", name, v)
	}
	return n, nil
}

// query is the filters as a query string (for links), without cursors.
func (in Filters) query() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"from": in.From, "to": in.To, "kind": in.Kind, "actor": in.Actor,
		"client": in.Client, "patient": in.Patient, "outcome": in.Outcome, "size": in.Size} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// page is what the template sees.
type page struct {
	Filters        Filters
	Error          string
	Rows           []row
	Next, Previous string // links, "" for none
	Export         string
	Outcomes       []string
	MaxSize        int
}

// row is one record as the page shows it.
type row struct {
	ID                                                      int64
	At                                                      string
	Kind, Actor, Client, Patient, Action, Resource, Outcome string
	Detail, Address, RequestID                              string
	Explain                                                 string // link, "" for none
}

func rowOf(e audit.Event) row {
	r := row{ID: e.ID, At: e.At.UTC().Format("2006-01-02 15:04:05 UTC"), Kind: e.Kind, Actor: e.Actor, Client: e.ClientID,
		Patient: e.Patient, Action: e.Action, Resource: e.Resource, Outcome: e.Outcome, Detail: e.Detail, Address: e.Address,
		RequestID: e.RequestID}
	if e.Kind == "fhir" && e.Outcome == audit.Denied {
		r.Explain = Path + "/" + strconv.FormatInt(e.ID, 10) + "/explain"
	}
	return r
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	in, sel, err := Parse(r.URL.Query())
	v := page{Filters: in, Outcomes: []string{audit.Success, audit.Failure, audit.Denied}, MaxSize: MaxSize}
	if err != nil {
		v.Error = err.Error()
		s.render(w, r, http.StatusBadRequest, v)
		return
	}
	evs, older, newer, err := s.window(r.Context(), sel)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusServiceUnavailable, "The audit trail cannot be read right now; try again.", err)
		return
	}
	for _, e := range evs {
		v.Rows = append(v.Rows, rowOf(e))
	}
	base := in.query()
	v.Export = ExportPath + "?" + base.Encode()
	if older && len(evs) > 0 {
		v.Next = link(base, "before", evs[len(evs)-1].ID)
	}
	if newer && len(evs) > 0 {
		v.Previous = link(base, "after", evs[0].ID)
	}
	s.render(w, r, http.StatusOK, v)
}

func link(base url.Values, name string, id int64) string {
	v := url.Values{}
	for k, vs := range base {
		v[k] = vs
	}
	v.Set(name, strconv.FormatInt(id, 10))
	return Path + "?" + v.Encode()
}

// window reads one page and whether there are older and newer records.
func (s *Server) window(ctx context.Context, sel selection) (evs []audit.Event, older, newer bool, err error) {
	f := sel.f
	f.Limit = sel.size + 1
	if sel.after > 0 && sel.before == 0 {
		f.After = sel.after
		if evs, err = s.cfg.Store.AuditEvents(ctx, f); err != nil {
			return nil, false, false, fmt.Errorf("auditlog: page: %w", err)
		}
		if newer = len(evs) > sel.size; newer {
			evs = evs[1:]
		}
		return evs, true, newer, nil
	}
	f.Before = sel.before
	if evs, err = s.cfg.Store.AuditEvents(ctx, f); err != nil {
		return nil, false, false, fmt.Errorf("auditlog: page: %w", err)
	}
	if older = len(evs) > sel.size; older {
		evs = evs[:sel.size]
	}
	if sel.before > 0 && len(evs) > 0 {
		probe := sel.f
		probe.After, probe.Limit = evs[0].ID, 1
		n, err := s.cfg.Store.AuditEvents(ctx, probe)
		if err != nil {
			return nil, false, false, fmt.Errorf("auditlog: page: %w", err)
		}
		newer = len(n) > 0
	}
	return evs, older, newer, nil
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, v page) {
	var b strings.Builder
	if err := s.list.ExecuteTemplate(&b, "base", v); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("auditlog: render: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// export writes the selection, newest first, as NDJSON AuditEvents (at
// most MaxExport lines; the page size and cursors are not used).
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	_, sel, err := Parse(r.URL.Query())
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad filter: %s\n", err)
		return
	}
	f := sel.f
	f.Limit = exportBatch
	first, err := s.cfg.Store.AuditEvents(r.Context(), f)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusServiceUnavailable, "The audit trail cannot be read right now; try again.", err)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-`+time.Now().UTC().Format("20060102T150405Z")+`.ndjson"`)
	o := fhirview.Options{Base: listener.BaseURL(r) + "/fhir"}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	written := 0
	for evs := first; ; {
		for _, e := range evs {
			if written == MaxExport {
				return
			}
			if err := enc.Encode(fhirview.AuditEvent(e, o)); err != nil {
				return // the client went away
			}
			written++
		}
		if len(evs) < exportBatch {
			return
		}
		f.Before = evs[len(evs)-1].ID
		if evs, err = s.cfg.Store.AuditEvents(r.Context(), f); err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "audit export cut short", "err", err, "lines", written)
			return
		}
	}
}
