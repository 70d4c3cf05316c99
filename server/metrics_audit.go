package server

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/smartgate/smartgate/audit"
)

// securityCounters are the security-event metrics, counted from the audit
// records (Metrics.CountAudit): log-ins by outcome and method, tokens
// issued by grant, refusals by reason. Every label value comes from a
// fixed set (unknown values count as "other"): never a user, client or
// address.
type securityCounters struct {
	logins   *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	refusals *prometheus.CounterVec
}

func newSecurityCounters(reg prometheus.Registerer) *securityCounters {
	c := &securityCounters{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartgate_logins_total",
			Help: "Log-ins by outcome (success, failure, locked) and method (password, signin_code, federated, otp, owin, client_certificate, other).",
		}, []string{"outcome", "method"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartgate_tokens_issued_total",
			Help: "Tokens issued by grant type (authorization_code, refresh_token, client_credentials, password, other).",
		}, []string{"grant"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartgate_refusals_total",
			Help: "Refused requests (log-in, token, FHIR, SCIM, client certificate) by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(c.logins, c.tokens, c.refusals)
	return c
}

// CountAudit returns a Recorder that counts each record in the security
// metrics, then passes it to next. Wrap the process's one Recorder with
// it, so that every record is counted once and no call site changes.
func (m *Metrics) CountAudit(next audit.Recorder) audit.Recorder {
	return countingRecorder{next: next, c: m.security}
}

type countingRecorder struct {
	next audit.Recorder
	c    *securityCounters
}

// Record implements audit.Recorder.
func (r countingRecorder) Record(ctx context.Context, ev audit.Event) {
	r.c.count(ev)
	r.next.Record(ctx, ev)
}

func (c *securityCounters) count(ev audit.Event) {
	if method, ok := loginMethod(ev); ok {
		c.logins.WithLabelValues(loginOutcome(ev), method).Inc()
	}
	if grant, ok := issuedGrant(ev); ok {
		c.tokens.WithLabelValues(grant).Inc()
	}
	if reason, ok := refusalReason(ev); ok {
		c.refusals.WithLabelValues(reason).Inc()
	}
}

// loginMethod is the method of a log-in record; false for other records.
func loginMethod(ev audit.Event) (string, bool) {
	switch ev.Kind {
	case "login":
		switch ev.Action {
		case "password", "signin_code", "federated", "otp":
			return ev.Action, true
		}
		return "other", true
	case "owin":
		return "owin", true
	case "certauth":
		return "client_certificate", true
	}
	return "", false
}

func loginOutcome(ev audit.Event) string {
	switch {
	case ev.Outcome == audit.Success:
		return "success"
	case lockedOut(ev.Detail):
		return "locked"
	}
	return "failure"
}

func lockedOut(detail string) bool {
	return strings.Contains(detail, "throttled") || strings.Contains(detail, "locked")
}

// issuedGrant is the grant type of a successful token record.
func issuedGrant(ev audit.Event) (string, bool) {
	if ev.Outcome != audit.Success {
		return "", false
	}
	switch ev.Kind {
	case "token", "refresh", "owin":
	default:
		return "", false
	}
	switch ev.Action {
	case "authorization_code", "refresh_token", "client_credentials", "password":
		return ev.Action, true
	}
	return "other", true
}

// oauthErrors are the RFC 6749/6750 error codes counted by name.
var oauthErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "access_denied": true, "invalid_token": true,
	"insufficient_scope": true, "temporarily_unavailable": true, "invalid_dpop_proof": true,
}

// refusalReason is why a refused or failed request was refused; false for
// a success, and for a FHIR request that failed rather than was refused.
func refusalReason(ev audit.Event) (string, bool) {
	if ev.Outcome != audit.Denied && ev.Outcome != audit.Failure {
		return "", false
	}
	if ev.Kind == "fhir" {
		if ev.Outcome != audit.Denied {
			return "", false
		}
		switch ev.Detail {
		case "401":
			return "invalid_token", true
		case "403":
			return "insufficient_scope", true
		case "404":
			return "compartment", true
		}
		return "other", true
	}
	d := ev.Detail
	switch {
	case oauthErrors[d]:
		return d, true
	case strings.Contains(d, "csrf"):
		return "csrf", true
	case lockedOut(d):
		return "throttled", true
	case strings.HasPrefix(d, "bad ") || strings.Contains(d, "credentials"):
		return "bad_credentials", true
	case ev.Kind == "certauth" || ev.Kind == "client-certificate":
		return "client_certificate", true
	}
	return "other", true
}
