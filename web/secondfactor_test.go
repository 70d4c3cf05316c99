package web

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/account/totp"
	"github.com/smartgate/smartgate/store/sqlite"
)

// newFactorEnv is newEnv with the real second factor on the test's SQLite
// store (3 failures lock for 10 minutes); required says who must have one.
func newFactorEnv(t *testing.T, required func(*account.User) bool) *env {
	t.Helper()
	var sf *account.SecondFactors
	e := newEnv(t, func(c *Config) {
		sf = &account.SecondFactors{Store: c.Store.(*sqlite.DB), Now: c.Now,
			Throttle: account.NewThrottle(account.ThrottleConfig{MaxPerAccount: 3, MaxPerAddress: 100, Lockout: 10 * time.Minute, Now: c.Now})}
		c.SecondFactor, c.SecondFactorRequired = sf, required
	})
	e.sf = sf
	return e
}

func adminsOnly(u *account.User) bool { return u.HasRole(account.RoleAdmin) }

// code is the current TOTP code of the base32 secret.
func (e *env) code(secret string) string {
	e.t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return totp.Code(key, e.clock.Now(), totp.Params{})
}

// enrol gives user a confirmed second factor through the core and returns
// its secret and recovery codes; the clock then moves on a step.
func (e *env) enrol(user string) (string, []string) {
	e.t.Helper()
	ctx := context.Background()
	en, err := e.sf.Begin(ctx, e.users[user])
	if err != nil {
		e.t.Fatal(err)
	}
	codes, err := e.sf.Confirm(ctx, e.users[user].ID, e.code(en.Secret))
	if err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	return en.Secret, codes
}

// postCode posts the second-factor page at (a path) with code.
func (e *env) postCode(at, code string) resp {
	e.t.Helper()
	page := e.get(at)
	wantStatus(e.t, page, http.StatusOK)
	if !strings.Contains(page.body, `name="code"`) || !strings.Contains(page.body, `<button type="submit">`) {
		e.t.Fatalf("no code form:\n%s", page.body)
	}
	return e.post(SecondFactorPath, url.Values{"csrf_token": {csrfOf(e.t, page.body)}, "code": {code},
		"return_to": {hiddenValue(page.body, "return_to")}})
}

func wantLocationPrefix(t *testing.T, r resp, prefix string) string {
	t.Helper()
	loc := location(t, r)
	if !strings.HasPrefix(loc, prefix) {
		t.Fatalf("went to %q, want %s…", loc, prefix)
	}
	return loc
}

// TestSecondFactorAskedAfterPassword: an enrolled patient's log-in asks
// for the code; until it is given the session is logged in nowhere (pages,
// authorization, prompt=none); a wrong code is refused; the right one
// completes the log-in, recorded as amr pwd+otp.
func TestSecondFactorAskedAfterPassword(t *testing.T) {
	e := newFactorEnv(t, nil)
	secret, _ := e.enrol("pat")
	start := authorizeURL("app", "openid patient/*.rs")
	at := wantLocationPrefix(t, e.passwordLogin("pat", start), SecondFactorPath+"?")

	// Password only: not logged in.
	wantLocationPrefix(t, e.get("/account/apps"), SecondFactorPath+"?")
	wantLocationPrefix(t, e.get(start), SecondFactorPath+"?")
	if r := e.get(authorizeURL("app", "openid", "prompt", "none")); r.body != "error=login_required" {
		t.Fatalf("prompt=none with a password-only session: %d %q", r.StatusCode, r.body)
	}

	wantStatus(t, e.postCode(at, "000000"), http.StatusUnauthorized)
	if back := location(t, e.postCode(at, e.code(secret))); back != start {
		t.Fatalf("after the code went to %q, want %q", back, start)
	}
	e.approveAll(start)
	d := decodeDecision(t, e.get(start))
	if !slices.Equal(d.AMR, []string{"pwd", "otp"}) || d.Subject != e.users["pat"].ID {
		t.Fatalf("decision %+v, want amr pwd otp", d)
	}
	wantStatus(t, e.get("/account/apps"), http.StatusOK)
	// The page knows the log-in is complete.
	wantLocationPrefix(t, e.get(at), start)
}

// TestSecondFactorWrongCodesThrottled: wrong codes count like wrong
// passwords; once the account is locked even the right code is refused
// (429) until the lockout ends.
func TestSecondFactorWrongCodesThrottled(t *testing.T) {
	e := newFactorEnv(t, nil)
	secret, _ := e.enrol("pat")
	at := wantLocationPrefix(t, e.passwordLogin("pat", "/account/apps"), SecondFactorPath+"?")
	for range 3 {
		wantStatus(t, e.postCode(at, "123456"), http.StatusUnauthorized)
	}
	r := e.postCode(at, e.code(secret))
	wantStatus(t, r, http.StatusTooManyRequests)
	if !strings.Contains(r.body, msgThrottled) {
		t.Fatalf("throttled page lacks the message:\n%s", r.body)
	}
	wantLocationPrefix(t, e.get("/account/apps"), SecondFactorPath)
	e.clock.Advance(11 * time.Minute)
	if back := location(t, e.postCode(at, e.code(secret))); back != "/account/apps" {
		t.Fatalf("after the lockout: %q", back)
	}
}

// TestSecondFactorRecoveryCodeOnce: a recovery code logs in once.
func TestSecondFactorRecoveryCodeOnce(t *testing.T) {
	e := newFactorEnv(t, nil)
	_, recovery := e.enrol("pat")
	at := wantLocationPrefix(t, e.passwordLogin("pat", "/account/apps"), SecondFactorPath+"?")
	if back := location(t, e.postCode(at, recovery[0])); back != "/account/apps" {
		t.Fatalf("recovery code: went to %q", back)
	}
	wantStatus(t, e.get("/account/apps"), http.StatusOK)

	e.client = e.newClient()
	at = wantLocationPrefix(t, e.passwordLogin("pat", "/account/apps"), SecondFactorPath+"?")
	wantStatus(t, e.postCode(at, recovery[0]), http.StatusUnauthorized)
	if back := location(t, e.postCode(at, recovery[1])); back != "/account/apps" {
		t.Fatalf("second recovery code: went to %q", back)
	}
}

var (
	secretRE   = regexp.MustCompile(`data-totp-secret="([A-Z2-7]+)"`)
	recoveryRE = regexp.MustCompile(`data-recovery-code="([^"]+)"`)
)

// TestSecondFactorRequiredAdminEnrolsBeforeAdminPage: an administrator
// who must have a second factor and has none enrols it (key shown as text
// and as an otpauth URI, a code confirms it, the recovery codes are shown
// once) before the log-in completes; until then /admin is out of reach.
func TestSecondFactorRequiredAdminEnrolsBeforeAdminPage(t *testing.T) {
	e := newFactorEnv(t, adminsOnly)
	at := wantLocationPrefix(t, e.passwordLogin("root", "/admin"), EnrolPath+"?")
	wantLocationPrefix(t, e.get("/admin"), EnrolPath+"?")
	wantLocationPrefix(t, e.get(SecondFactorPath+"?return_to=%2Fadmin"), EnrolPath+"?")

	page := e.get(at)
	wantStatus(t, page, http.StatusOK)
	begun := e.post(EnrolPath+"/begin", url.Values{"csrf_token": {csrfOf(t, page.body)}, "return_to": {hiddenValue(page.body, "return_to")}})
	wantStatus(t, begun, http.StatusOK)
	m := secretRE.FindStringSubmatch(begun.body)
	if m == nil || !strings.Contains(begun.body, "otpauth://totp/") {
		t.Fatalf("enrolment page without the key and its URI:\n%s", begun.body)
	}
	secret := m[1]
	form := url.Values{"csrf_token": {csrfOf(t, begun.body)}, "return_to": {"/admin"}, "secret": {secret},
		"uri": {hiddenValue(begun.body, "uri")}}
	form.Set("code", "000000")
	wrong := e.post(EnrolPath, form)
	wantStatus(t, wrong, http.StatusUnauthorized)
	if !strings.Contains(wrong.body, secret) {
		t.Fatal("the key is not shown again after a wrong code")
	}
	wantLocationPrefix(t, e.get("/admin"), EnrolPath)
	form.Set("code", e.code(secret))
	done := e.post(EnrolPath, form)
	wantStatus(t, done, http.StatusOK)
	if codes := recoveryRE.FindAllStringSubmatch(done.body, -1); len(codes) != account.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown, want %d:\n%s", len(codes), account.RecoveryCodeCount, done.body)
	}
	if !strings.Contains(done.body, `href="/admin"`) {
		t.Fatal("no way on to /admin from the recovery codes")
	}
	if r := e.get("/admin"); r.StatusCode != http.StatusOK || r.body != "admin page" {
		t.Fatalf("GET /admin after enrolling: %d %q", r.StatusCode, r.body)
	}

	// The next log-in asks for the code.
	e.client = e.newClient()
	e.clock.Advance(time.Minute)
	at = wantLocationPrefix(t, e.passwordLogin("root", "/admin"), SecondFactorPath+"?")
	wantLocationPrefix(t, e.get("/admin"), SecondFactorPath)
	if back := location(t, e.postCode(at, e.code(secret))); back != "/admin" {
		t.Fatalf("after the code: %q", back)
	}
	wantStatus(t, e.get("/admin"), http.StatusOK)
}

// TestSecondFactorPasswordOnlyCannotReachAdminOrConsent: an enrolled
// administrator with only the password reaches neither /admin nor an
// authorization, and cannot post the consent page of a request either.
func TestSecondFactorPasswordOnlyCannotReachAdminOrConsent(t *testing.T) {
	e := newFactorEnv(t, nil)
	secret, _ := e.enrol("root")
	// A complete log-in first, up to the consent page.
	start := authorizeURL("app", "openid")
	at := wantLocationPrefix(t, e.passwordLogin("root", start), SecondFactorPath)
	location(t, e.postCode(at, e.code(secret)))
	consentAt := wantLocationPrefix(t, e.get(start), "/consent?")
	cp := e.get(consentAt)
	wantStatus(t, cp, http.StatusOK)
	// A new password-only log-in in the same browser.
	e.clock.Advance(time.Minute)
	wantLocationPrefix(t, e.passwordLogin("root", "/admin"), SecondFactorPath)
	wantLocationPrefix(t, e.get("/admin"), SecondFactorPath)
	r := e.post("/consent", url.Values{"csrf_token": {csrfOf(t, e.get("/logout").body)}, "req": {hiddenValue(cp.body, "req")}, "rev": {hiddenValue(cp.body, "rev")},
		"decision": {"approve"}, "scope": {"openid"}})
	wantLocationPrefix(t, r, SecondFactorPath)
	wantLocationPrefix(t, e.get(start), SecondFactorPath)
	if _, err := e.db.Consent(context.Background(), e.users["root"].ID, "app"); err == nil {
		t.Fatal("a password-only session stored a consent")
	}
}

// TestAccountSecurityPage: a person enrols from /account/security (linked
// from the apps page), gets recovery codes once, stays logged in (the
// session now records the second factor), makes new recovery codes (the
// old ones stop working) and turns the second factor off with a current
// code only; every form needs the CSRF token.
func TestAccountSecurityPage(t *testing.T) {
	e := newFactorEnv(t, nil)
	e.login("pat", "/account/apps")
	apps := e.get("/account/apps")
	wantStatus(t, apps, http.StatusOK)
	if !strings.Contains(apps.body, `href="/account/security"`) {
		t.Fatal("the apps page does not link /account/security")
	}
	page := e.get(SecurityPath)
	wantStatus(t, page, http.StatusOK)
	csrf := csrfOf(t, page.body)
	wantStatus(t, e.post(SecurityPath+"/enrol", url.Values{"csrf_token": {"forged"}}), http.StatusForbidden)
	begun := e.post(SecurityPath+"/enrol", url.Values{"csrf_token": {csrf}})
	wantStatus(t, begun, http.StatusOK)
	m := secretRE.FindStringSubmatch(begun.body)
	if m == nil {
		t.Fatalf("no key:\n%s", begun.body)
	}
	secret := m[1]
	done := e.post(SecurityPath+"/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(secret)}})
	wantStatus(t, done, http.StatusOK)
	first := recoveryRE.FindAllStringSubmatch(done.body, -1)
	if len(first) != account.RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(first))
	}
	// The grants made on the password alone end with the enrolment.
	if got := e.revoked.all(); !slices.Contains(got, revocation{e.users["pat"].ID, ""}) {
		t.Fatalf("revocations after enrolling: %v, want every grant of pat", got)
	}
	// Still logged in: the session records the second factor.
	page = e.get(SecurityPath)
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.body, `data-enrolled="true"`) {
		t.Fatalf("not shown as enrolled:\n%s", page.body)
	}
	csrf = csrfOf(t, page.body) // the session, and so the token, is new
	d := e.sessionAMR()
	if !slices.Equal(d, []string{"pwd", "otp"}) {
		t.Fatalf("session amr %q", d)
	}

	// New recovery codes need a current code, not the session alone (a
	// taken-over session must not mint codes that outlive it).
	e.clock.Advance(time.Minute)
	wantStatus(t, e.post(SecurityPath+"/recovery", url.Values{"csrf_token": {csrf}}), http.StatusUnauthorized)
	wantStatus(t, e.post(SecurityPath+"/recovery", url.Values{"csrf_token": {csrf}, "code": {"000000"}}), http.StatusUnauthorized)
	again := e.post(SecurityPath+"/recovery", url.Values{"csrf_token": {csrf}, "code": {e.code(secret)}})
	wantStatus(t, again, http.StatusOK)
	if n := len(recoveryRE.FindAllStringSubmatch(again.body, -1)); n != account.RecoveryCodeCount {
		t.Fatalf("%d new recovery codes", n)
	}
	if err := e.sf.Verify(context.Background(), e.users["pat"].ID, first[0][1], ""); err == nil {
		t.Fatal("an old recovery code still works after new ones were made")
	}

	e.clock.Advance(time.Minute)
	wantStatus(t, e.post(SecurityPath+"/disable", url.Values{"csrf_token": {csrf}, "code": {"000000"}}), http.StatusUnauthorized)
	wantStatus(t, e.post(SecurityPath+"/disable", url.Values{"csrf_token": {"forged"}, "code": {e.code(secret)}}), http.StatusForbidden)
	if loc := location(t, e.post(SecurityPath+"/disable", url.Values{"csrf_token": {csrf}, "code": {e.code(secret)}})); loc != SecurityPath {
		t.Fatalf("after disabling: %q", loc)
	}
	if on, err := e.sf.Enrolled(context.Background(), e.users["pat"].ID); on || err != nil {
		t.Fatalf("still enrolled: %v %v", on, err)
	}
	// The next log-in asks for the password only.
	e.client = e.newClient()
	if back := e.login("pat", "/account/apps"); back != "/account/apps" {
		t.Fatalf("log-in after disabling went to %q", back)
	}
}

// TestAccountSecurityRequiredCannotDisable: an account that must have a
// second factor cannot turn it off.
func TestAccountSecurityRequiredCannotDisable(t *testing.T) {
	e := newFactorEnv(t, adminsOnly)
	secret, _ := e.enrol("root")
	at := wantLocationPrefix(t, e.passwordLogin("root", SecurityPath), SecondFactorPath)
	location(t, e.postCode(at, e.code(secret)))
	page := e.get(SecurityPath)
	wantStatus(t, page, http.StatusOK)
	if strings.Contains(page.body, `action="/account/security/disable"`) {
		t.Fatal("the page offers to turn off a required second factor")
	}
	e.clock.Advance(time.Minute)
	wantStatus(t, e.post(SecurityPath+"/disable", url.Values{"csrf_token": {csrfOf(t, page.body)}, "code": {e.code(secret)}}),
		http.StatusForbidden)
	if on, _ := e.sf.Enrolled(context.Background(), e.users["root"].ID); !on {
		t.Fatal("a required second factor was turned off")
	}
}

// sessionAMR is the amr of the browser's log-in session (through a
// decision, as authz sees it).
func (e *env) sessionAMR() []string {
	e.t.Helper()
	start := authorizeURL("app", "openid", "state", "amr")
	e.approveAll(start)
	return decodeDecision(e.t, e.get(start)).AMR
}
