package web

import (
	"net/url"
	"strings"
	"testing"
)

// TestConsentPageShowsPatientInContext: the consent page names the patient
// the app will get (name and id) for every launch type that has one: a
// patient's own record, the patient picked in a standalone launch, and the
// patient of an EHR launch; a request without a patient shows none.
func TestConsentPageShowsPatientInContext(t *testing.T) {
	dir := patients{{ID: "p1", Name: "Amy Shaw"}, {ID: "p2", Name: "Bob Jones"}, {ID: "p3", Name: "Cy Tran"}}
	scopes := "openid launch/patient patient/*.rs"
	tests := []struct {
		name, user, start, pick string
		wantID, wantName        string
	}{
		{"patient's own record", "pat", authorizeURL("app", scopes), "", "p1", "Amy Shaw"},
		{"standalone with picker", "doc", authorizeURL("app", scopes), "p2", "p2", "Bob Jones"},
		{"EHR launch", "doc", authorizeURL("app", "openid launch patient/*.rs", "launch_patient", "p3"), "", "p3", "Cy Tran"},
		{"EHR launch by the patient", "pat", authorizeURL("app", "openid launch patient/*.rs", "launch_patient", "p1", "launched_by", "x"), "", "p1", "Amy Shaw"},
		{"no patient wanted", "doc", authorizeURL("app", "openid fhirUser"), "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Patients = dir })
			e.login(tc.user, tc.start)
			at := location(t, e.get(tc.start))
			if tc.pick != "" {
				page := e.get(at)
				wantStatus(t, page, 200)
				location(t, e.post("/pick-patient", url.Values{"csrf_token": {csrfOf(t, page.body)},
					"req": {hiddenValue(page.body, "req")}, "patient": {tc.pick}}))
				at = location(t, e.get(tc.start))
			}
			if !strings.HasPrefix(at, "/consent?") {
				t.Fatalf("went to %q, want the consent page", at)
			}
			cp := e.get(at)
			wantStatus(t, cp, 200)
			if tc.wantID == "" {
				if strings.Contains(cp.body, "data-patient-id") {
					t.Fatalf("a patient is shown for a request without one:\n%s", cp.body)
				}
				return
			}
			want := `data-patient-id="` + tc.wantID + `">Patient record: <strong>` + tc.wantName + ` · <code>` + tc.wantID + `</code>`
			if !strings.Contains(cp.body, want) {
				t.Fatalf("consent page lacks %s:\n%s", want, cp.body)
			}
		})
	}
}

// TestPageOfAnotherPersonsStepsStartsAgain: when another person logs in
// on the browser, a page of the request the first one had reached sends
// the browser to the authorization endpoint, which starts the steps again
// for the new person.
func TestPageOfAnotherPersonsStepsStartsAgain(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Patients = patients{{ID: "p2", Name: "Bob Jones"}} })
	start := authorizeURL("app", "openid launch/patient patient/*.rs")
	e.login("pat", start)
	consentAt := location(t, e.get(start))
	if !strings.HasPrefix(consentAt, "/consent?") {
		t.Fatalf("went to %q", consentAt)
	}
	e.login("doc", "/")
	if to := location(t, e.get(consentAt)); to != e.ts.URL+start {
		t.Fatalf("another person's consent page went to %q, want the authorization endpoint", to)
	}
	if to := location(t, e.get(start)); !strings.HasPrefix(to, "/pick-patient?") {
		t.Fatalf("resumed for the practitioner: %q, want the picker", to)
	}
}
