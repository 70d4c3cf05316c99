package fhir

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
)

// AuditSubject is implemented by Principals that can name themselves in
// audit records. It must never return a token or secret.
type AuditSubject interface {
	AuditFields() (actor, clientID, patient, scopes string)
}

type requestStateKey struct{}

// requestState carries what the audit record needs from inside a handler.
type requestState struct {
	p      Principal
	hidden bool // answered 404 because access was refused
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// audit records one FHIR request. The resource names the type and id, and
// for searches only the parameter names: values may be clinical content.
func (s *Server) audit(r *http.Request, action string, rs *requestState, w *statusWriter) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	ev := audit.Event{
		At:        time.Now(),
		Kind:      "fhir",
		Action:    action,
		Resource:  strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/fhir"), "/"),
		Detail:    strconv.Itoa(status),
		RequestID: reqctx.ID(r.Context()),
		Address:   reqctx.ClientAddress(r),
	}
	if names := paramNames(r.URL.Query()); names != "" && (action == string(InteractionSearchType)) {
		ev.Resource += "?" + names
	}
	if as, ok := rs.p.(AuditSubject); ok {
		ev.Actor, ev.ClientID, ev.Patient, ev.Scopes = as.AuditFields()
	}
	switch {
	case status < 400:
		ev.Outcome = audit.Success
	case status == http.StatusUnauthorized || status == http.StatusForbidden || rs.hidden:
		ev.Outcome = audit.Denied
	default:
		ev.Outcome = audit.Failure
	}
	if ex, ok := rs.p.(RefusalExplainer); ok && ev.Outcome == audit.Denied {
		ev.Trace = ex.ExplainRefusal(r.Context())
	}
	s.cfg.Audit.Record(context.WithoutCancel(r.Context()), ev)
}

func paramNames(q url.Values) string {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}
