package authz

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// handleToken is the token endpoint: authorization_code, refresh_token,
// client_credentials and (OWin, no client) password, each a grant handler
// in fosite's chain (flow_*.go). It audits every answer.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	base := listener.BaseURL(r)
	ctx := withIssuer(r.Context(), base)
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
		return
	}
	grant := r.PostForm.Get("grant_type")
	// fosite answers a grant type that no handler takes with
	// invalid_request; RFC 6749 §5.2 (and Inferno's Backend Services test
	// 3.2.02, checklist K3/D15) want unsupported_grant_type. Checking first
	// also keeps a client_assertion's jti unspent on such a request.
	if grant != "" && !supportedGrant(grant) { // a missing one is fosite's invalid_request
		s.audit(r, audit.Event{Kind: "token", Action: grant, Outcome: audit.Failure, Detail: "unsupported_grant_type"})
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type",
			"The grant_type must be authorization_code, refresh_token or client_credentials.")
		return
	}
	if grant == "refresh_token" {
		s.identifyPublicRefresh(r)
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, newSession())
	if err = unavailable(err); err != nil {
		s.tokenError(w, r, ar, grant, "", err)
		return
	}
	sess := ar.GetSession().(*Session)
	sess.Issuer = base
	sess.Claims.Issuer = base
	if err := s.bindCertificate(ctx, ar); err != nil { // RFC 8705 §3 (binding.go)
		s.tokenError(w, r, ar, grant, sess.Subject, err)
		return
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err = unavailable(err); err != nil {
		s.tokenError(w, r, ar, grant, sess.Subject, err)
		return
	}
	s.audit(r, audit.Event{Kind: auditKind(grant), Actor: sess.Subject, ClientID: ar.GetClient().GetID(), Patient: sess.patientID(),
		Action: grant, Scopes: strings.Join(ar.GetGrantedScopes(), " "), Outcome: audit.Success})
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// auditKind is the audit event kind of a token request.
func auditKind(grant string) string {
	switch grant {
	case "refresh_token":
		return "refresh"
	case grantPassword:
		return "owin"
	}
	return "token"
}

// refusal is the cause (WithWrap) that a grant handler attaches to the
// protocol error it answers, when the audit log should record more than
// the error code: the outcome (denied or failed), the detail, the actor
// claimed; and, when the client should try again later, Retry-After.
type refusal struct {
	outcome    string // audit.Denied or audit.Failure
	detail     string
	actor      string
	retryAfter string // seconds; empty for none
	err        error  // the internal cause, logged, never answered
}

func (r *refusal) Error() string {
	if r.err != nil {
		return r.detail + ": " + r.err.Error()
	}
	return r.detail
}

func (r *refusal) Unwrap() error { return r.err }

// tokenError audits a refused token request (actor: the grant's subject
// when known), logs a server error with its internal cause, and answers
// the RFC 6749 §5.2 error.
func (s *Server) tokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, grant, actor string, err error) {
	ctx := r.Context()
	code, _ := errorCode(err)
	ev := audit.Event{Kind: auditKind(grant), Actor: actor, Action: grant, Outcome: audit.Failure, Detail: code}
	if ar != nil && ar.GetClient() != nil {
		ev.ClientID = ar.GetClient().GetID()
	}
	var rf *refusal
	if errors.As(err, &rf) {
		ev.Outcome, ev.Detail, ev.Actor = rf.outcome, rf.detail, rf.actor
		if rf.retryAfter != "" {
			w.Header().Set("Retry-After", rf.retryAfter)
		}
	}
	s.audit(r, ev)
	if code == "server_error" {
		var cause error
		if rfc := (*fosite.RFC6749Error)(nil); errors.As(err, &rfc) {
			cause = rfc.Unwrap()
		}
		s.log.ErrorContext(ctx, "token request", "err", err, "cause", cause, "grant_type", grant)
	}
	challengeBasic(w, r, err)
	s.provider.WriteAccessError(ctx, w, ar, err)
}

// supportedGrant reports whether the token endpoint has a handler for
// grant (the password grant is OWin's; its handler answers when it is off).
func supportedGrant(grant string) bool {
	switch grant {
	case "authorization_code", "refresh_token", "client_credentials", grantPassword:
		return true
	}
	return false
}

// unavailable turns a storage outage into temporarily_unavailable (503),
// so that clients retry instead of treating it as a protocol error.
func unavailable(err error) error {
	if err != nil && errors.Is(err, store.ErrUnavailable) {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err)
	}
	return err
}

// challengeBasic adds the WWW-Authenticate challenge that RFC 6749 §5.2
// requires when a client that used HTTP Basic fails to authenticate.
func challengeBasic(w http.ResponseWriter, r *http.Request, err error) {
	if code, _ := errorCode(err); code == "invalid_client" {
		if _, _, ok := r.BasicAuth(); ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="smartgate"`)
		}
	}
}
