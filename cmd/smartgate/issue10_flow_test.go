package main

// Issue 10's log-in/consent flow through the whole server: the patient
// picker posted again after consent, and the patient shown on the consent
// page.

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account/totp"
)

// step follows the browser's redirects on the server until a page (200) or
// a redirect to the app; it returns the last answer and, for the app, where
// it went.
func (b *flowBrowser) step(p *response, app flowClient) (*response, *url.URL) {
	b.h.t.Helper()
	for range 8 {
		if p.status != http.StatusSeeOther && p.status != http.StatusFound {
			return p, nil
		}
		loc, err := url.Parse(p.header.Get("Location"))
		if err != nil {
			b.h.t.Fatal(err)
		}
		if strings.HasPrefix(loc.String(), app.redirect) {
			return p, loc
		}
		p = b.send("GET", loc.String(), nil)
	}
	b.h.t.Fatal("too many redirects")
	return nil, nil
}

// pickPatient posts the picker page p (a 200 answer) with patient.
func (b *flowBrowser) pickPatient(p *response, patient string) *response {
	b.h.t.Helper()
	if p.status != http.StatusOK || !strings.Contains(string(p.body), `action="/pick-patient"`) {
		b.h.t.Fatalf("not the patient picker: %d %.300s", p.status, p.body)
	}
	return b.send("POST", "/pick-patient", url.Values{"csrf_token": {field(reCSRF, p.body)},
		"req": {field(reReq, p.body)}, "patient": {patient}})
}

// approve posts the consent page p (a 200 answer), allowing every scope.
func (b *flowBrowser) approve(p *response) *response {
	b.h.t.Helper()
	if p.status != http.StatusOK || !strings.Contains(string(p.body), `action="/consent"`) {
		b.h.t.Fatalf("not the consent page: %d %.300s", p.status, p.body)
	}
	f := url.Values{"csrf_token": {field(reCSRF, p.body)}, "req": {field(reReq, p.body)}, "rev": {field(reRev, p.body)}, "decision": {"approve"}}
	for _, m := range reScope.FindAllSubmatch(p.body, -1) {
		f.Add("scope", html.UnescapeString(string(m[1])))
	}
	return b.send("POST", "/consent", f)
}

// TestIssue10D2_ConsentNotReusedForAnotherPatient: a practitioner picks
// patient A and approves the consent page, then (before the browser goes
// on) goes back to the picker and posts it with patient B. The consent
// given while A was in context must not be reused: the consent page is
// shown again, naming B, and the token carries B only after that fresh
// approval. The same holds when the consent page was reached but not yet
// answered.
func TestIssue10D2_ConsentNotReusedForAnotherPatient(t *testing.T) {
	h := newHarness(t)
	a, bp := h.patients["Lind"], h.patients["Yundt"]
	for _, approveFirst := range []bool{true, false} {
		// A client per case: no remembered consent from the case before.
		app := h.confidentialClient(fmt.Sprintf("Picker app %v", approveFirst))
		b := h.browser()
		b.login("doc", userPassword)
		r := b.request(app, "openid launch/patient patient/*.rs", "")
		picker, _ := b.step(b.send("GET", r.url(h.baseA), nil), app)
		pickURL := b.lastPickURL()
		consent, _ := b.step(b.pickPatient(picker, a), app)
		if !strings.Contains(string(consent.body), a) {
			t.Fatalf("approveFirst=%v: the consent page does not name patient A (%s)", approveFirst, a)
		}
		if approveFirst {
			if back := b.approve(consent); back.status != http.StatusSeeOther {
				t.Fatalf("approve: %d", back.status)
			}
		}
		// Back to the picker, and patient B this time.
		again := b.send("GET", pickURL, nil)
		page, back := b.step(b.pickPatient(again, bp), app)
		if back != nil {
			t.Fatalf("approveFirst=%v: after picking B the browser went to the app (%s) without a new consent", approveFirst, back.RawQuery)
		}
		body := string(page.body)
		if !strings.Contains(body, `action="/consent"`) {
			t.Fatalf("approveFirst=%v: after picking B: %d %.300s, want the consent page", approveFirst, page.status, page.body)
		}
		if !strings.Contains(body, bp) || strings.Contains(body, a) {
			t.Fatalf("approveFirst=%v: the consent page after picking B does not name B only", approveFirst)
		}
		_, back = b.step(b.approve(page), app)
		if back == nil {
			t.Fatalf("approveFirst=%v: no redirect to the app after the fresh approval", approveFirst)
		}
		tok := b.exchange(r, back)
		if tok["patient"] != bp {
			t.Fatalf("approveFirst=%v: token patient %v, want B %s", approveFirst, tok["patient"], bp)
		}
	}
}

// lastPickURL is the picker page of the request the browser's last page
// carried.
func (b *flowBrowser) lastPickURL() string {
	b.h.t.Helper()
	id := field(reReq, b.last)
	if id == "" {
		b.h.t.Fatalf("no request id on the last page: %.300s", b.last)
	}
	return "/pick-patient?" + url.Values{"req": {id}}.Encode()
}

// factorCode is the current TOTP code of the base32 secret; nextCode the
// code of the next time step (accepted now, within the allowed clock
// difference, and later than a code just used).
func factorCode(t *testing.T, secret string) string { return codeAt(t, secret, time.Now()) }

func nextCode(t *testing.T, secret string) string {
	return codeAt(t, secret, time.Now().Add(30*time.Second))
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return totp.Code(key, at, totp.Params{})
}

// passwordLogin posts the log-in page (for returnTo) as user and returns
// where the server sent the browser.
func (b *flowBrowser) passwordLogin(user, password, returnTo string) string {
	b.h.t.Helper()
	p := b.send("GET", "/login?"+url.Values{"return_to": {returnTo}}.Encode(), nil)
	r := b.send("POST", "/login", url.Values{"csrf_token": {field(reCSRF, p.body)}, "return_to": {field(reReturnTo, p.body)},
		"username": {user}, "password": {password}})
	if r.status != http.StatusSeeOther {
		b.h.t.Fatalf("log-in as %s: %d %.300s", user, r.status, r.body)
	}
	return r.header.Get("Location")
}

var reSecret = regexp.MustCompile(`data-totp-secret="([A-Z2-7]+)"`)

// TestIssue10SecondFactorRequiredForAdmins: with --admin-second-factor
// required, the administrator (no second factor yet) must enrol before
// reaching /admin/… or completing an authorization; afterwards the
// log-in asks for the code, and the ID token says so (amr otp).
func TestIssue10SecondFactorRequiredForAdmins(t *testing.T) {
	h := newHarness(t, "--admin-second-factor", "required")
	b := h.browser()
	if at := b.passwordLogin("admin", adminPassword, "/admin/clients"); !strings.HasPrefix(at, "/login/enrol?") {
		t.Fatalf("after the password: %s, want the enrolment", at)
	}
	if p := b.send("GET", "/admin/clients", nil); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login/enrol") {
		t.Fatalf("GET /admin/clients with the password only: %d %s", p.status, p.header.Get("Location"))
	}
	app := h.confidentialClient("Admin app")
	r := b.request(app, "openid fhirUser", "")
	if p, back := b.step(b.send("GET", r.url(h.baseA), nil), app); back != nil || !strings.Contains(string(p.body), `action="/login/enrol/begin"`) {
		t.Fatalf("authorize with the password only: %d back=%v %.300s", p.status, back, p.body)
	}
	page := b.send("GET", "/login/enrol?return_to=%2Fadmin%2Fclients", nil)
	begun := b.send("POST", "/login/enrol/begin", url.Values{"csrf_token": {field(reCSRF, page.body)}, "return_to": {"/admin/clients"}})
	secret := field(reSecret, begun.body)
	if begun.status != http.StatusOK || secret == "" {
		t.Fatalf("begin: %d %.300s", begun.status, begun.body)
	}
	done := b.send("POST", "/login/enrol", url.Values{"csrf_token": {field(reCSRF, begun.body)}, "return_to": {"/admin/clients"},
		"code": {factorCode(t, secret)}})
	if done.status != http.StatusOK || strings.Count(string(done.body), "data-recovery-code=") != 10 {
		t.Fatalf("confirm: %d %.300s", done.status, done.body)
	}
	if p := b.send("GET", "/admin/clients", nil); p.status != http.StatusOK {
		t.Fatalf("GET /admin/clients after enrolling: %d", p.status)
	}
	back, err := b.authorize(r, "admin", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	tok := b.exchange(r, back)
	if amr := idTokenAMR(t, tok.str("id_token")); !slices.Equal(amr, []string{"pwd", "otp"}) {
		t.Fatalf("id_token amr %q, want pwd otp", amr)
	}

	// The next log-in asks for the code; a wrong one is refused.
	c := h.browser()
	at := c.passwordLogin("admin", adminPassword, "/admin/clients")
	if !strings.HasPrefix(at, "/login/second-factor?") {
		t.Fatalf("second log-in: %s, want the code", at)
	}
	p := c.send("GET", at, nil)
	if wrong := c.send("POST", "/login/second-factor", url.Values{"csrf_token": {field(reCSRF, p.body)},
		"return_to": {"/admin/clients"}, "code": {"000000"}}); wrong.status != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", wrong.status)
	}
	if p := c.send("GET", "/admin/clients", nil); p.status != http.StatusSeeOther {
		t.Fatalf("GET /admin/clients after a wrong code: %d", p.status)
	}
}

// TestIssue10SecondFactorOptionalForPatients: with the default setting a
// patient logs in with the password alone until they enrol (on
// /account/security); then the log-in asks for the code before the app
// gets its code.
func TestIssue10SecondFactorOptionalForPatients(t *testing.T) {
	h := newHarness(t)
	app := h.confidentialClient("Patient app")
	b := h.browser()
	b.login("lind", userPassword)
	sec := b.send("GET", "/account/security", nil)
	begun := b.send("POST", "/account/security/enrol", url.Values{"csrf_token": {field(reCSRF, sec.body)}})
	secret := field(reSecret, begun.body)
	if secret == "" {
		t.Fatalf("enrol: %d %.300s", begun.status, begun.body)
	}
	if done := b.send("POST", "/account/security/confirm", url.Values{"csrf_token": {field(reCSRF, begun.body)},
		"code": {factorCode(t, secret)}}); done.status != http.StatusOK {
		t.Fatalf("confirm: %d %.300s", done.status, done.body)
	}

	c := h.browser()
	r := c.request(app, "openid launch/patient patient/*.rs", "")
	p, _ := c.step(c.send("GET", r.url(h.baseA), nil), app)
	p = c.send("POST", "/login", url.Values{"csrf_token": {field(reCSRF, p.body)}, "return_to": {field(reReturnTo, p.body)},
		"username": {"lind"}, "password": {userPassword}})
	p, back := c.step(p, app)
	if back != nil || !strings.Contains(string(p.body), `action="/login/second-factor"`) {
		t.Fatalf("after the password: %d back=%v %.300s", p.status, back, p.body)
	}
	// The confirmation used the current step's code: the next step's.
	p = c.send("POST", "/login/second-factor", url.Values{"csrf_token": {field(reCSRF, p.body)},
		"return_to": {field(reReturnTo, p.body)}, "code": {nextCode(t, secret)}})
	p, back = c.step(p, app)
	if back == nil {
		p, back = c.step(c.approve(p), app)
	}
	if back == nil {
		t.Fatalf("no code for the app: %d %.300s", p.status, p.body)
	}
	tok := c.exchange(r, back)
	if tok["patient"] != h.patients["Lind"] || !slices.Contains(idTokenAMR(t, tok.str("id_token")), "otp") {
		t.Fatalf("token patient %v amr %q", tok["patient"], idTokenAMR(t, tok.str("id_token")))
	}
}

// idTokenAMR is the amr claim of an ID token (its signature is authz's
// tests' concern).
func idTokenAMR(t *testing.T, idToken string) []string {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", idToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.AMR
}
