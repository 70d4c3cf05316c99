package main

// Regression tests of issue 9's log-in/consent defects (D1, D6, D7) and the
// client logos, through the whole server with real pages and real tokens.

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/testclock"
)

// addUserCLI creates an account the way `smartgate user add … --password-stdin`
// does, on the harness's data folder.
func (h *harness) addUserCLI(args ...string) {
	h.t.Helper()
	var out bytes.Buffer
	e := &env{stdin: strings.NewReader(userPassword + "\n"), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	if err := runUser(context.Background(), e, append([]string{"add", "--data", h.cfg.DataDir, "--password-stdin"}, args...)); err != nil {
		h.t.Fatalf("user add %v: %v\n%s", args, err, out.String())
	}
}

func grantedScopes(tr tokenResponse) []string { return strings.Fields(tr.str("scope")) }

func hasPatientScope(scopes []string) bool {
	return slices.ContainsFunc(scopes, func(s string) bool { return strings.HasPrefix(s, "patient/") })
}

// TestSec9D1_PatientWithoutRecordGetsNoPicker: an account made by
// `smartgate user add --username u --password-stdin` (role patient, no
// fhirUser) and an account with no role at all see no patient picker; with
// launch/patient the authorization ends with access_denied and a
// description; without it the token carries no patient/ scope and no
// patient, and reads no one's chart.
func TestSec9D1_PatientWithoutRecordGetsNoPicker(t *testing.T) {
	h := newHarness(t)
	h.addUserCLI("--username", "u")
	// "norole" (an account with no role) is one of the harness's accounts.
	other := h.patients["Yundt"]
	app := flowClient{id: h.public, redirect: redirectURI}
	for _, user := range []string{"u", "norole"} {
		b := h.browser()
		b.pick = other // what a picker, if one were shown, would choose
		r := b.request(app, "openid fhirUser launch/patient patient/*.rs", "")
		back, err := b.authorize(r, user, userPassword)
		if err != nil {
			t.Fatalf("%s, launch/patient: %v", user, err)
		}
		if slices.Contains(b.visited, "/pick-patient") {
			t.Errorf("%s, launch/patient: the patient picker was shown (%v)", user, b.visited)
		}
		q := back.Query()
		if q.Get("code") != "" || q.Get("error") != "access_denied" || q.Get("error_description") == "" {
			t.Errorf("%s, launch/patient: want error=access_denied with a description, got %s", user, back.RawQuery)
		}

		r = b.request(app, "openid patient/*.rs", "")
		back, err = b.authorize(r, user, userPassword)
		if err != nil {
			t.Fatalf("%s, patient/ scopes only: %v", user, err)
		}
		if slices.Contains(b.visited, "/pick-patient") {
			t.Errorf("%s, patient/ scopes only: the patient picker was shown", user)
		}
		tok := b.exchange(r, back)
		if scopes := grantedScopes(tok); hasPatientScope(scopes) || tok["patient"] != nil {
			t.Errorf("%s: token with patient/ scopes or a patient: scope %q patient %v", user, tok.str("scope"), tok["patient"])
		}
		if st := h.do("GET", "Patient/"+other, tok.str("access_token"), nil).status; st == http.StatusOK {
			t.Errorf("%s: the token read Patient/%s", user, other)
		}
	}
	// The roles that may act for other patients still get the picker and a
	// token for the chosen patient.
	for _, login := range [][2]string{{"doc", userPassword}, {"admin", adminPassword}} {
		b := h.browser()
		b.pick = h.patients["Gerhold"]
		r := b.request(app, "openid launch/patient patient/*.rs", "")
		back, err := b.authorize(r, login[0], login[1])
		if err != nil {
			t.Fatalf("%s: %v", login[0], err)
		}
		if !slices.Contains(b.visited, "/pick-patient") {
			t.Errorf("%s: no patient picker (%v)", login[0], b.visited)
		}
		tok := b.exchange(r, back)
		if tok["patient"] != h.patients["Gerhold"] || !hasPatientScope(grantedScopes(tok)) {
			t.Fatalf("%s: patient %v scope %q", login[0], tok["patient"], tok.str("scope"))
		}
		if st := h.do("GET", "Patient/"+h.patients["Gerhold"], tok.str("access_token"), nil).status; st != http.StatusOK {
			t.Fatalf("%s: GET the picked patient: %d", login[0], st)
		}
	}
}

// TestSec9D1_ForgedPickerPostRefused: a patient without a linked record
// who posts the picker form anyway (with the browser's own CSRF token and a
// live request) is refused, and the request still gets no patient.
func TestSec9D1_ForgedPickerPostRefused(t *testing.T) {
	h := newHarness(t)
	h.addUserCLI("--username", "u")
	other := h.patients["Yundt"]
	app := flowClient{id: h.public, redirect: redirectURI}
	b := h.browser()
	b.login("u", userPassword)
	r := b.request(app, "openid patient/*.rs", "")
	// Walk to the first page the request shows (consent now, the picker
	// before the fix) and take its request id and CSRF token.
	p := b.send("GET", r.url(h.baseA), nil)
	for p.status == http.StatusSeeOther && !strings.HasPrefix(p.header.Get("Location"), redirectURI) {
		p = b.send("GET", p.header.Get("Location"), nil)
	}
	req, csrf := field(reReq, p.body), field(reCSRF, p.body)
	if req == "" || csrf == "" {
		t.Fatalf("no page with a request: %d %.300s", p.status, p.body)
	}
	if got := b.send("GET", "/pick-patient?req="+url.QueryEscape(req), nil); got.status != http.StatusForbidden {
		t.Errorf("GET /pick-patient as a patient: %d, want 403", got.status)
	}
	forged := b.send("POST", "/pick-patient", url.Values{"csrf_token": {csrf}, "req": {req}, "patient": {other}})
	if forged.status != http.StatusForbidden {
		t.Fatalf("forged picker POST: %d, want 403 (%.200s)", forged.status, forged.body)
	}
	back, err := b.authorize(r, "u", userPassword)
	if err != nil {
		t.Fatal(err)
	}
	if tok := b.exchange(r, back); tok["patient"] != nil || hasPatientScope(grantedScopes(tok)) {
		t.Fatalf("after a forged pick: patient %v scope %q", tok["patient"], tok.str("scope"))
	}
}

// TestSec9D6_LogoutEndsOnlineGrants: after log-out, the tokens of a grant
// with online_access (and no offline_access) are inactive at introspection
// at once, the refresh token is refused at once, and the FHIR endpoint
// refuses the access token once its revalidation bound (5 s) has passed; a
// grant with offline_access outlives the session.
func TestSec9D6_LogoutEndsOnlineGrants(t *testing.T) {
	h := newHarness(t)
	app := h.confidentialClient("Online app")
	clock := testclock.New(time.Now())
	fhirSrv := h.fhirWithClock(clock, 5*time.Second)
	read := func(tok string) int {
		return h.do("GET", fhirSrv.URL+"/fhir/Patient/"+h.patients["Lind"], tok, nil).status
	}
	b := h.browser()
	grant := func(scope string) tokenResponse {
		r := b.request(app, scope, "")
		back, err := b.authorize(r, "doc", userPassword)
		if err != nil {
			t.Fatal(err)
		}
		return b.exchange(r, back)
	}
	online := grant("openid online_access user/Patient.rs")
	offline := grant("openid offline_access user/Patient.rs")
	if online.str("refresh_token") == "" || offline.str("refresh_token") == "" {
		t.Fatalf("no refresh tokens: %v / %v", online, offline)
	}
	if st := read(online.str("access_token")); st != http.StatusOK {
		t.Fatalf("FHIR read before log-out: %d", st)
	}

	b.logout()

	in, _ := h.clientPost(app, "/oauth/introspect", url.Values{"token": {online.str("access_token")}})
	if in["active"] != false {
		t.Errorf("online access token after log-out: introspection %v", in)
	}
	in, _ = h.clientPost(app, "/oauth/introspect", url.Values{"token": {online.str("refresh_token")}})
	if in["active"] != false {
		t.Errorf("online refresh token after log-out: introspection %v", in)
	}
	if tr, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {online.str("refresh_token")}}); st != http.StatusBadRequest || tr["error"] != "invalid_grant" {
		t.Errorf("refresh of the online grant after log-out: %d %v", st, tr)
	}
	if st := h.do("GET", "Patient/"+h.patients["Lind"], online.str("access_token"), nil).status; st != http.StatusUnauthorized {
		t.Errorf("FHIR (not cached) after log-out: %d, want 401", st)
	}
	clock.Advance(5*time.Second + time.Millisecond)
	if st := read(online.str("access_token")); st != http.StatusUnauthorized {
		t.Errorf("FHIR after the revalidation bound: %d, want 401", st)
	}

	if st := read(offline.str("access_token")); st != http.StatusOK {
		t.Errorf("offline grant's access token after log-out: %d", st)
	}
	if tr, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {offline.str("refresh_token")}}); st != http.StatusOK {
		t.Errorf("offline grant's refresh after log-out: %d %v", st, tr)
	}
}

// ehrLaunch makes an EHR launch on /admin/launch in browser b (logged in as
// an administrator) and returns the launch value.
func (b *flowBrowser) ehrLaunch(c flowClient, patient string) string {
	b.h.t.Helper()
	p := b.send("GET", "/admin/launch", nil)
	if p.status != http.StatusOK {
		b.h.t.Fatalf("GET /admin/launch: %d", p.status)
	}
	r := b.send("POST", "/admin/launch", url.Values{"csrf_token": {field(reCSRF, p.body)}, "client_id": {c.id},
		"patient": {patient}, "need_patient_banner": {"true"}})
	loc, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || err != nil || loc.Query().Get("launch") == "" {
		b.h.t.Fatalf("POST /admin/launch: %d %s %.300s", r.status, r.header.Get("Location"), r.body)
	}
	return loc.Query().Get("launch")
}

// TestSec9D7_LaunchBoundToLauncher: a launch the administrator made for
// OTHER cannot be redeemed by the demo patient in another session (an
// OAuth error with a description, no code), and the attempt does not use
// the launch up: the administrator still redeems it. Those who may act
// for the launch's patient may redeem it too.
func TestSec9D7_LaunchBoundToLauncher(t *testing.T) {
	h := newHarness(t)
	app := h.confidentialClient("EHR app")
	other := h.patients["Yundt"]
	admin := h.browser()
	admin.login("admin", adminPassword)
	value := admin.ehrLaunch(app, other)

	patient := h.browser()
	r := patient.request(app, "openid launch patient/*.rs", value)
	back, err := patient.authorize(r, "lind", userPassword)
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	if q.Get("code") != "" || (q.Get("error") != "access_denied" && q.Get("error") != "invalid_request") || q.Get("error_description") == "" {
		t.Fatalf("the patient redeemed another person's launch: %s", back.RawQuery)
	}

	r = admin.request(app, "openid launch patient/*.rs", value)
	back, err = admin.authorize(r, "admin", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if tok := admin.exchange(r, back); tok["patient"] != other {
		t.Fatalf("the launcher's own redemption: %v", tok)
	}
	// A practitioner (who may act for any patient) may redeem a launch the
	// administrator made; a patient whose own record the launch names may
	// too.
	for _, tc := range []struct{ user, patient string }{{"doc", h.patients["Yundt"]}, {"lind", h.patients["Lind"]}} {
		value := admin.ehrLaunch(app, tc.patient)
		b := h.browser()
		r := b.request(app, "openid launch patient/*.rs", value)
		back, err := b.authorize(r, tc.user, userPassword)
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		if tok := b.exchange(r, back); tok["patient"] != tc.patient {
			t.Fatalf("%s: %v", tc.user, tok)
		}
	}
}

// TestSec9T_LogosNotFetchedFromThirdParties: a client's logo_uri is never
// put in front of the browser on the consent page or the administrator's
// client list (the browser would fetch it from a third party, telling it who
// is about to grant what), and the pages' CSP allows images from smartgate
// only.
func TestSec9T_LogosNotFetchedFromThirdParties(t *testing.T) {
	h := newHarness(t)
	const logo = "https://logo-tracker.example/app.png"
	c, _, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "Logo app",
		RedirectURIs: []string{redirectURI}, LogoURI: logo, TokenEndpointAuthMethod: authz.AuthNone}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	app := flowClient{id: c.ID, redirect: redirectURI}
	check := func(where string, p *response) {
		t.Helper()
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", where, p.status)
		}
		if strings.Contains(string(p.body), "logo-tracker.example") {
			t.Errorf("%s shows the remote logo:\n%s", where, p.body)
		}
		csp := p.header.Get("Content-Security-Policy")
		for _, d := range strings.Split(csp, ";") {
			if f := strings.Fields(d); len(f) > 0 && f[0] == "img-src" && !slices.Equal(f[1:], []string{"'self'"}) {
				t.Errorf("%s: CSP %q lets images come from elsewhere", where, csp)
			}
		}
	}
	b := h.browser()
	b.login("admin", adminPassword)
	r := b.request(app, "openid user/Patient.rs", "")
	p := b.send("GET", r.url(h.baseA), nil)
	for p.status == http.StatusSeeOther {
		p = b.send("GET", p.header.Get("Location"), nil)
	}
	if !strings.Contains(string(p.body), `action="/consent"`) {
		t.Fatalf("no consent page: %d %.300s", p.status, p.body)
	}
	check("consent page", p)
	check("client list", b.send("GET", "/admin/clients", nil))
}

// TestSec9D6_NewLogInEndsPreviousSessionsOnlineGrants: a log-in in a
// browser ends the session that was there (someone else at the same
// computer, or a fresh log-in), and with it that session's online_access
// grants, as a log-out would.
func TestSec9D6_NewLogInEndsPreviousSessionsOnlineGrants(t *testing.T) {
	h := newHarness(t)
	app := h.confidentialClient("Online app")
	b := h.browser()
	r := b.request(app, "openid online_access user/Patient.rs", "")
	back, err := b.authorize(r, "doc", userPassword)
	if err != nil {
		t.Fatal(err)
	}
	online := b.exchange(r, back)
	b.login("admin", adminPassword)
	if in, _ := h.clientPost(app, "/oauth/introspect", url.Values{"token": {online.str("access_token")}}); in["active"] != false {
		t.Errorf("the previous session's online access token: %v", in)
	}
	if tr, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {online.str("refresh_token")}}); st != http.StatusBadRequest {
		t.Errorf("refresh of the previous session's online grant: %d %v", st, tr)
	}
}
