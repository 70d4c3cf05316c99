package main

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/fhir/access"
)

var (
	reRefusedStep = regexp.MustCompile(`(?s)<li data-check="([^"]*)" data-refused[^>]*>(.*?)</li>`)
	reTags        = regexp.MustCompile(`<[^>]*>`)
)

// refusedSteps returns the text of the steps a page marks as refused,
// by check.
func refusedSteps(body []byte) map[string]string {
	out := map[string]string{}
	for _, m := range reRefusedStep.FindAllSubmatch(body, -1) {
		out[html.UnescapeString(string(m[1]))] = html.UnescapeString(reTags.ReplaceAllString(string(m[2]), ""))
	}
	return out
}

// deniedFHIRRecord waits for the denied fhir audit record of actor on
// resource.
func (h *harness) deniedFHIRRecord(actor, resource string) audit.Event {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, err := h.db.AuditEvents(context.Background(), audit.Filter{Kind: "fhir", Actor: actor, Limit: 1000})
		if err != nil {
			h.t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Resource == resource && ev.Outcome == audit.Denied {
				return ev
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no denied fhir record of %s on %s: %+v", actor, resource, evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIssue15ExplainRefusal: a patient-scoped token of lind (launch
// patient Lind) reading Yundt's Observation and Patient is refused (404,
// hidden); the denied audit record carries a trace whose refusing step is
// the patient compartment; /admin/audit/{id}/explain shows it to the
// administrator, and pasting the same token and request line into
// /admin/explain shows the same step, without the token in the page.
// Only administrators reach the pages; CSRF is checked; an unknown record
// is a 404 page; successful requests carry no trace.
func TestIssue15ExplainRefusal(t *testing.T) {
	h := newHarness(t)
	lind, yundt := h.patients["Lind"], h.patients["Yundt"]
	adminTok := h.owin("admin", adminPassword)
	obs := h.searchIDs(adminTok, "Observation?subject=Patient/"+yundt+"&_count=1")
	if len(obs) != 1 {
		t.Fatalf("Yundt's Observations: %v", obs)
	}
	tr := h.code(codeLaunch{user: "lind", password: userPassword, scope: "launch/patient patient/*.read", patient: lind})
	tok := tr.str("access_token")
	if tr.str("patient") != lind {
		t.Fatalf("launch patient %q, want Lind %q", tr.str("patient"), lind)
	}
	if r := h.do("GET", "Patient/"+lind, tok, nil); r.status != http.StatusOK {
		t.Fatalf("lind reads own Patient: %d", r.status)
	}
	lindUser, err := h.db.UserByName(context.Background(), "lind")
	if err != nil {
		t.Fatal(err)
	}
	admin := h.pageSession("admin", adminPassword)
	for _, target := range []string{"Observation/" + strings.TrimPrefix(obs[0], "Observation/"), "Patient/" + yundt} {
		{
			if r := h.do("GET", target, tok, nil); r.status != http.StatusNotFound {
				t.Fatalf("lind's patient token on %s: %d, want 404", target, r.status)
			}
			ev := h.deniedFHIRRecord(lindUser.ID, target)
			e, err := access.ParseExplanation(ev.Trace)
			if err != nil || e.Allowed || e.RefusedBy != access.CheckCompartment {
				t.Fatalf("trace of the refusal: %+v %v (%q)", e, err, ev.Trace)
			}
			if strings.Contains(ev.Trace, tok) {
				t.Fatal("the trace holds the token")
			}

			// The record's explanation page.
			path := h.baseA + "/admin/audit/" + strconv.FormatInt(ev.ID, 10) + "/explain"
			r := h.page(admin, "GET", path, nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %.300s", path, r.status, r.body)
			}
			steps := refusedSteps(r.body)
			if got := steps["patient compartment"]; !strings.Contains(got, "✗ refused here") || !strings.Contains(got, "Patient/"+lind) || !strings.Contains(got, "Patient/"+yundt) {
				t.Fatalf("refused steps on the record page: %q\n%s", steps, r.body)
			}
			if len(steps) != 1 {
				t.Errorf("refused steps: %q, want only the patient compartment", steps)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("record page Cache-Control %q", r.header.Get("Cache-Control"))
			}

			// The same token and request line pasted in.
			form := h.page(admin, "GET", h.baseA+"/admin/explain", nil)
			if form.status != http.StatusOK || form.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("GET /admin/explain: %d, Cache-Control %q", form.status, form.header.Get("Cache-Control"))
			}
			csrf := field(reCSRF, form.body)
			r = h.page(admin, "POST", h.baseA+"/admin/explain", url.Values{"csrf_token": {csrf}, "token": {tok}, "request": {"GET /fhir/" + target}})
			if r.status != http.StatusOK {
				t.Fatalf("POST /admin/explain: %d %.500s", r.status, r.body)
			}
			if pasted := refusedSteps(r.body); pasted["patient compartment"] != steps["patient compartment"] || len(pasted) != len(steps) {
				t.Fatalf("pasted token: refused steps %q, the record's %q", pasted, steps)
			}
			if !strings.Contains(string(r.body), "404") {
				t.Error("the pasted explanation does not say the endpoint answers 404")
			}
			if strings.Contains(string(r.body), tok) || strings.Contains(string(r.body), tok[:40]) {
				t.Fatal("the pasted token is in the page")
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("POST Cache-Control %q", r.header.Get("Cache-Control"))
			}
		}
	}

	// Successful requests carry no trace.
	evs, err := h.db.AuditEvents(context.Background(), audit.Filter{Kind: "fhir", Actor: lindUser.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Outcome == audit.Success && ev.Trace != "" {
			t.Errorf("successful %s %s has a trace", ev.Action, ev.Resource)
		}
	}

	// A 403: no scope for the type.
	if r := h.do("POST", "Observation", tok, map[string]any{"resourceType": "Observation", "status": "final",
		"code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "Patient/" + lind}}); r.status != http.StatusForbidden {
		t.Fatalf("create with a read token: %d", r.status)
	}
	ev := h.deniedFHIRRecord(lindUser.ID, "Observation")
	if e, err := access.ParseExplanation(ev.Trace); err != nil || e.RefusedBy != access.CheckScope {
		t.Fatalf("403 trace: %+v %v", e, err)
	}

	// A record without a trace says so.
	if r := h.page(admin, "GET", h.baseA+"/admin/audit/"+strconv.FormatInt(evs[len(evs)-1].ID, 10)+"/explain", nil); r.status != http.StatusOK ||
		!strings.Contains(string(r.body), "data-no-trace") {
		t.Errorf("record without a trace: %d %.300s", r.status, r.body)
	}
	// Unknown and malformed ids: 404 pages.
	for _, id := range []string{"999999999", "0", "-1", "abc"} {
		if r := h.page(admin, "GET", h.baseA+"/admin/audit/"+id+"/explain", nil); r.status != http.StatusNotFound {
			t.Errorf("record %s: %d, want 404", id, r.status)
		}
	}
	// Not administrators: 403; not logged in: the log-in page.
	for _, who := range []string{"lind", "doc"} {
		c := h.pageSession(who, userPassword)
		for _, target := range []string{"/admin/audit/" + strconv.FormatInt(ev.ID, 10) + "/explain", "/admin/explain"} {
			if r := h.page(c, "GET", h.baseA+target, nil); r.status != http.StatusForbidden {
				t.Errorf("%s on %s: %d, want 403", who, target, r.status)
			}
		}
	}
	if r := h.get(h.httpc, h.baseA+"/admin/explain"); r.status != http.StatusSeeOther {
		t.Errorf("not logged in: %d, want 303 to the log-in page", r.status)
	}
	// CSRF missing or wrong: 403, nothing explained.
	for _, csrf := range []string{"", "wrong"} {
		f := url.Values{"token": {tok}, "request": {"GET /fhir/Patient/" + yundt}}
		if csrf != "" {
			f.Set("csrf_token", csrf)
		}
		if r := h.page(admin, "POST", h.baseA+"/admin/explain", f); r.status != http.StatusForbidden || strings.Contains(string(r.body), "data-explanation") {
			t.Errorf("CSRF %q: %d", csrf, r.status)
		}
	}
}

// TestIssue15ExplainFormErrors: bad tokens and request lines get a clear
// message (never a 500), markup in the request line is inert, and the
// token is never shown back.
func TestIssue15ExplainFormErrors(t *testing.T) {
	h := newHarness(t)
	admin := h.pageSession("admin", adminPassword)
	csrf := field(reCSRF, h.page(admin, "GET", h.baseA+"/admin/explain", nil).body)
	good := h.owin("doc", userPassword)
	post := func(tok, line string) *response {
		t.Helper()
		return h.page(admin, "POST", h.baseA+"/admin/explain", url.Values{"csrf_token": {csrf}, "token": {tok}, "request": {line}})
	}
	for _, tc := range []struct {
		name, tok, line string
		status          int
		want            string
	}{
		{"garbage token", "not-a-token-at-all-0123456789", "GET /fhir/Patient", http.StatusBadRequest, "the token is not valid: "},
		{"forged JWT", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "GET /fhir/Patient", http.StatusBadRequest, "the token is not valid: "},
		{"no token", "", "GET /fhir/Patient", http.StatusBadRequest, "paste an access token"},
		{"empty line", good, "", http.StatusBadRequest, "the request line is not valid"},
		{"bad method", good, "PATCH /fhir/Patient/1", http.StatusBadRequest, "the request line is not valid"},
		{"outside fhir", good, "GET /admin/users", http.StatusBadRequest, "the request line is not valid"},
		{"unknown type", good, "GET /fhir/Nonsense/1", http.StatusBadRequest, "not a resource type of this FHIR endpoint"},
		{"bad id", good, "GET /fhir/Patient/a_b", http.StatusBadRequest, "not a valid FHIR id"},
		{"markup", good, `GET /fhir/<script>alert(1)</script>`, http.StatusBadRequest, "the request line is not valid"},
		{"huge", good, "GET /fhir/Patient?" + strings.Repeat("a", 10000), http.StatusBadRequest, "longer than"},
		{"unknown resource", good, "GET /fhir/Patient/does-not-exist", http.StatusOK, "does not exist"},
		{"allowed search", good, "GET /fhir/Observation?patient=123", http.StatusOK, "✓ Allowed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.tok, tc.line)
			body := html.UnescapeString(string(r.body))
			if r.status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d, want %d with %q: %.600s", r.status, tc.status, tc.want, r.body)
			}
			if strings.Contains(string(r.body), "<script>alert") {
				t.Fatal("markup from the request line is live")
			}
			if tc.tok != "" && strings.Contains(string(r.body), tc.tok) {
				t.Fatal("the token is in the page")
			}
		})
	}
}
