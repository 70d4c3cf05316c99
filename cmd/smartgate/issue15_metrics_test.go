package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// The security metrics (issue 15 item 8), counted from the audit records:
// after a failed and a good OWin log-in (a password-grant token) and a
// client_credentials token, /metrics on the loopback listener shows the
// counters with their labels.
func TestIssue15SecurityMetrics(t *testing.T) {
	h := newHarness(t)
	before := h.fhirRequest(t, "GET", h.baseB+"/metrics", "", nil, nil)
	if r := h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"doc"}, "password": {"wrong"}}, nil); r.status == http.StatusOK {
		t.Fatal("a wrong password got a token")
	}
	h.owin("doc", userPassword)
	h.backendToken("system/Patient.rs")
	r := h.fhirRequest(t, "GET", h.baseB+"/metrics", "", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
	body := string(r.body)
	for _, want := range []string{
		`smartgate_logins_total{method="owin",outcome="failure"}`,
		`smartgate_logins_total{method="owin",outcome="success"}`,
		`smartgate_tokens_issued_total{grant="password"}`,
		`smartgate_tokens_issued_total{grant="client_credentials"}`,
		`smartgate_refusals_total{reason="bad_credentials"}`,
	} {
		if got := counter(body, want) - counter(string(before.body), want); got != 1 {
			t.Errorf("%s went up by %d, want 1: %s", want, got, grepMetrics(body))
		}
	}
	if strings.Contains(body, "doc") {
		t.Error("/metrics names a person")
	}
}

// grepMetrics keeps the security counters' lines of a /metrics body.
func grepMetrics(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "smartgate_logins") || strings.HasPrefix(l, "smartgate_tokens") || strings.HasPrefix(l, "smartgate_refusals") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// counter is the value of the series named exactly series in a /metrics
// body, 0 when absent.
func counter(body, series string) int {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}
