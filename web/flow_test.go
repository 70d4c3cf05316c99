package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
)

var checkboxRE = regexp.MustCompile(`<input type="checkbox" id="scope-\d+" name="scope" value="([^"]+)" checked>`)

// TestF9_ConsentUntickedScopeMissingFromDecision drives log-in → consent
// with one scope unticked → the Decision lacks that scope; the decision is
// single use.
func TestF9_ConsentUntickedScopeMissingFromDecision(t *testing.T) {
	e := newEnv(t)
	scopes := "openid fhirUser launch/patient patient/Observation.rs patient/Condition.rs"
	start := authorizeURL("app", scopes)

	loginAt := location(t, e.get(start))
	if !strings.HasPrefix(loginAt, "/login?") {
		t.Fatalf("not sent to log in: %s", loginAt)
	}
	lu, _ := url.Parse(loginAt)
	if got := lu.Query().Get("return_to"); got != start {
		t.Fatalf("return_to = %q, want %q", got, start)
	}
	page := e.get(loginAt)
	wantStatus(t, page, 200)
	r := e.post("/login", url.Values{"csrf_token": {csrfOf(t, page.body)}, "username": {"Pat"},
		"password": {testPassword}, "return_to": {hiddenValue(page.body, "return_to")}})
	if back := location(t, r); back != start {
		t.Fatalf("after log-in went to %q, want %q", back, start)
	}
	consentAt := location(t, e.get(start))
	if !strings.HasPrefix(consentAt, "/consent?req=") {
		t.Fatalf("not sent to consent: %s", consentAt)
	}
	cp := e.get(consentAt)
	wantStatus(t, cp, 200)
	var shown []string
	for _, m := range checkboxRE.FindAllStringSubmatch(cp.body, -1) {
		shown = append(shown, m[1])
	}
	if !slices.Equal(shown, strings.Fields(scopes)) {
		t.Fatalf("checkboxes = %q, want one checked box per scope %q", shown, scopes)
	}
	for _, b := range []string{`<button type="submit" name="decision" value="approve">`, `<button type="submit" name="decision" value="deny"`} {
		if !strings.Contains(cp.body, b) {
			t.Fatalf("consent page lacks %s", b)
		}
	}
	form := url.Values{"csrf_token": {csrfOf(t, cp.body)}, "req": {hiddenValue(cp.body, "req")}, "rev": {hiddenValue(cp.body, "rev")}, "decision": {"approve"},
		"scope": {"openid", "fhirUser", "launch/patient", "patient/Observation.rs", "patient/Unrequested.rs"}}
	resume := location(t, e.post("/consent", form))
	if resume != e.ts.URL+start {
		t.Fatalf("after consent went to %q, want the resume URL", resume)
	}
	d := decodeDecision(t, e.get(resume))
	want := []string{"openid", "fhirUser", "launch/patient", "patient/Observation.rs"}
	if !slices.Equal(d.Scopes, want) {
		t.Fatalf("Decision.Scopes = %q, want %q (Condition unticked, unrequested ignored)", d.Scopes, want)
	}
	if d.Subject != e.users["pat"].ID || d.SessionID == "" || !slices.Equal(d.AMR, []string{"pwd"}) || d.AuthTime.IsZero() {
		t.Fatalf("Decision = %+v", d)
	}
	// E4: a patient user's own record is the launch context.
	if d.Context == nil || d.Context.Patient != "p1" {
		t.Fatalf("Decision.Context = %+v, want patient p1", d.Context)
	}
	c, err := e.db.Consent(context.Background(), d.Subject, "app")
	if err != nil || !slices.Equal(c.Scopes, want) {
		t.Fatalf("stored consent = %+v, %v", c, err)
	}
	if ev := e.audit.find("consent", audit.Success); len(ev) != 1 || ev[0].Scopes != strings.Join(want, " ") {
		t.Fatalf("consent audit = %+v", ev)
	}
	// Single use: the same request again does not get the decision back; the
	// remembered consent lacks Condition, so the page is shown again.
	if again := location(t, e.get(start)); !strings.HasPrefix(again, "/consent?") {
		t.Fatalf("second pass went to %q, want the consent page again", again)
	}
}

// approveAll runs the consent page for the request at start, approving every scope.
func (e *env) approveAll(start string) {
	e.t.Helper()
	consentAt := location(e.t, e.get(start))
	cp := e.get(consentAt)
	wantStatus(e.t, cp, 200)
	form := url.Values{"csrf_token": {csrfOf(e.t, cp.body)}, "req": {hiddenValue(cp.body, "req")}, "rev": {hiddenValue(cp.body, "rev")}, "decision": {"approve"}}
	for _, m := range checkboxRE.FindAllStringSubmatch(cp.body, -1) {
		form.Add("scope", m[1])
	}
	location(e.t, e.post("/consent", form))
}

func TestC13_DenyGivesAccessDenied(t *testing.T) {
	e := newEnv(t)
	start := authorizeURL("app", "openid patient/*.rs")
	e.login("pat", start)
	cp := e.get(location(t, e.get(start)))
	resume := location(t, e.post("/consent", url.Values{"csrf_token": {csrfOf(t, cp.body)},
		"req": {hiddenValue(cp.body, "req")}, "rev": {hiddenValue(cp.body, "rev")}, "decision": {"deny"}, "scope": {"openid"}}))
	r := e.get(resume)
	if r.body != "error=access_denied" {
		t.Fatalf("after deny: %d %q, want ErrAccessDenied", r.StatusCode, r.body)
	}
	if _, err := e.db.Consent(context.Background(), e.users["pat"].ID, "app"); err == nil {
		t.Fatal("a denial stored a consent")
	}
	if len(e.audit.find("consent", audit.Denied)) != 1 {
		t.Fatal("no audit record for the denial")
	}
}

func TestConsentRememberedUnlessPromptConsent(t *testing.T) {
	e := newEnv(t)
	start := authorizeURL("app", "openid patient/*.rs")
	e.login("pat", start)
	e.approveAll(start)
	decodeDecision(t, e.get(start))
	// A new request (other state) with the same scopes skips the page.
	d := decodeDecision(t, e.get(authorizeURL("app", "openid patient/*.rs", "state", "2")))
	if !slices.Equal(d.Scopes, []string{"openid", "patient/*.rs"}) {
		t.Fatalf("remembered decision scopes = %q", d.Scopes)
	}
	// A subset is covered too.
	decodeDecision(t, e.get(authorizeURL("app", "openid", "state", "3")))
	// prompt=consent asks again.
	pc := authorizeURL("app", "openid patient/*.rs", "prompt", "consent")
	if at := location(t, e.get(pc)); !strings.HasPrefix(at, "/consent?") {
		t.Fatalf("prompt=consent went to %q", at)
	}
	e.approveAll(pc)
	decodeDecision(t, e.get(pc))
	// Another client is not covered.
	if at := location(t, e.get(authorizeURL("other", "openid"))); !strings.HasPrefix(at, "/consent?") {
		t.Fatalf("other client went to %q", at)
	}
}

func TestPromptNone(t *testing.T) {
	e := newEnv(t)
	if r := e.get(authorizeURL("app", "openid", "prompt", "none")); r.body != "error=login_required" {
		t.Fatalf("prompt=none, logged out: %d %q", r.StatusCode, r.body)
	}
	e.login("pat", "/")
	if r := e.get(authorizeURL("app", "openid", "prompt", "none")); r.body != "error=consent_required" {
		t.Fatalf("prompt=none, no consent: %d %q", r.StatusCode, r.body)
	}
	e.approveAll(authorizeURL("app", "openid"))
	d := decodeDecision(t, e.get(authorizeURL("app", "openid", "prompt", "none", "state", "n")))
	if d.Subject != e.users["pat"].ID {
		t.Fatalf("decision = %+v", d)
	}
}

func TestPromptLoginAndMaxAgeForceFreshLogin(t *testing.T) {
	e := newEnv(t)
	e.login("pat", "/")
	e.approveAll(authorizeURL("app", "openid"))
	e.clock.Advance(time.Minute)

	pl := authorizeURL("app", "openid", "prompt", "login")
	if at := location(t, e.get(pl)); !strings.HasPrefix(at, "/login?") {
		t.Fatalf("prompt=login went to %q, want /login", at)
	}
	e.clock.Advance(time.Second)
	if back := e.login("pat", pl); back != pl {
		t.Fatalf("log-in returned to %q", back)
	}
	d := decodeDecision(t, e.get(pl))
	if !d.AuthTime.Equal(e.clock.Now()) {
		t.Fatalf("auth_time %v, want the fresh log-in %v", d.AuthTime, e.clock.Now())
	}

	e.clock.Advance(10 * time.Minute)
	ma := authorizeURL("app", "openid", "max_age", "300")
	if at := location(t, e.get(ma)); !strings.HasPrefix(at, "/login?") {
		t.Fatalf("max_age exceeded went to %q, want /login", at)
	}
	e.login("pat", ma)
	decodeDecision(t, e.get(ma))
	// Within max_age: no log-in.
	decodeDecision(t, e.get(authorizeURL("app", "openid", "max_age", "300", "state", "again")))
}

func TestE4_PractitionerPicksPatient(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Patients = patients{{ID: "p1", Name: "Amy Shaw", BirthDate: "1980-01-01"}, {ID: "p2", Name: "Bob Jones"}}
	})
	start := authorizeURL("app", "launch/patient patient/*.rs")
	e.login("doc", start)
	pickAt := location(t, e.get(start))
	if !strings.HasPrefix(pickAt, "/pick-patient?req=") {
		t.Fatalf("went to %q, want the patient picker", pickAt)
	}
	page := e.get(pickAt + "&name=bob")
	wantStatus(t, page, 200)
	if !strings.Contains(page.body, `name="patient" value="p2"`) || strings.Contains(page.body, `value="p1"`) {
		t.Fatalf("name search did not filter:\n%s", page.body)
	}
	req := hiddenValue(page.body, "req")
	bad := e.post("/pick-patient", url.Values{"csrf_token": {csrfOf(t, page.body)}, "req": {req}, "patient": {"nope"}})
	wantStatus(t, bad, http.StatusBadRequest)
	r := e.post("/pick-patient", url.Values{"csrf_token": {csrfOf(t, page.body)}, "req": {req}, "patient": {"p2"}})
	if loc := location(t, r); loc != e.ts.URL+start {
		t.Fatalf("after picking went to %q", loc)
	}
	e.approveAll(start)
	d := decodeDecision(t, e.get(start))
	if d.Context == nil || d.Context.Patient != "p2" {
		t.Fatalf("context = %+v, want p2", d.Context)
	}
}

func TestPendingRequestBoundToBrowser(t *testing.T) {
	e := newEnv(t)
	start := authorizeURL("app", "openid")
	e.login("pat", start)
	consentAt := location(t, e.get(start))
	// Another browser with its own log-in cannot open or answer it.
	other := e.newClient()
	orig := e.client
	e.client = other
	e.login("doc", "/")
	r := e.get(consentAt)
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `class="request-id"`) {
		t.Fatal("error page without request id")
	}
	e.client = orig
	wantStatus(t, e.get(consentAt), 200)
}
