package web

// The page where people change their own password, on the real SQLite
// store over real HTTP, with account.People setting the password.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store/sqlite"
)

const newPassword = "a new and long password"

func newPasswordEnv(t *testing.T) *env {
	return newEnv(t, func(c *Config) {
		c.PasswordSetter = account.NewPeople(account.PeopleConfig{Store: c.Store.(*sqlite.DB),
			Hasher: account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 2)})
	})
}

// postPassword posts the form of the password page in the browser e.client.
func (e *env) postPassword(current, next, again string) resp {
	e.t.Helper()
	page := e.get(PasswordPath)
	wantStatus(e.t, page, http.StatusOK)
	return e.post(PasswordPath, url.Values{"csrf_token": {csrfOf(e.t, page.body)},
		"current_password": {current}, "new_password": {next}, "confirm_password": {again}})
}

func (e *env) passwordWorks(user, password string) bool {
	e.t.Helper()
	_, err := e.srv.cfg.Passwords.Authenticate(context.Background(), user, password, "10.9.9.9")
	if err != nil && !errors.Is(err, account.ErrBadCredentials) {
		e.t.Fatal(err)
	}
	return err == nil
}

func TestPasswordPageNeedsALogIn(t *testing.T) {
	e := newPasswordEnv(t)
	if loc := location(t, e.get(PasswordPath)); !strings.HasPrefix(loc, "/login?") || !strings.Contains(loc, url.QueryEscape(PasswordPath)) {
		t.Fatalf("GET without a session: Location %q, want the log-in on the way back", loc)
	}
	r := e.post(PasswordPath, url.Values{"current_password": {testPassword}, "new_password": {newPassword}, "confirm_password": {newPassword}})
	wantStatus(t, r, http.StatusForbidden)
	e.login("pat", "/account/apps")
	r = e.post(PasswordPath, url.Values{"csrf_token": {"forged"}, "current_password": {testPassword},
		"new_password": {newPassword}, "confirm_password": {newPassword}})
	wantStatus(t, r, http.StatusForbidden)
	if !e.passwordWorks("pat", testPassword) {
		t.Fatal("the password changed without a valid CSRF token")
	}
}

func TestPasswordChangeEndsOtherSessionsAndGrants(t *testing.T) {
	e := newPasswordEnv(t)
	pat := e.users["pat"]
	e.login("pat", "/account/apps")
	other := e.newClient() // the same person (or whoever has the password) elsewhere
	mine := e.client
	e.client = other
	e.login("pat", "/account/apps")
	e.client = mine
	apps := e.get("/account/apps")
	wantStatus(t, apps, http.StatusOK)
	if !strings.Contains(apps.body, `href="/account/password"`) {
		t.Fatalf("the apps page does not link the password page:\n%s", apps.body)
	}
	page := e.get(PasswordPath)
	for _, want := range []string{`name="current_password"`, `autocomplete="new-password"`, `name="confirm_password"`, "At least 12 characters"} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("password page lacks %q:\n%s", want, page.body)
		}
	}

	if loc := location(t, e.postPassword(testPassword, newPassword, newPassword)); loc != PasswordPath+"?changed=1" {
		t.Fatalf("after the change: Location %q", loc)
	}
	done := e.get(PasswordPath + "?changed=1")
	wantStatus(t, done, http.StatusOK)
	if !strings.Contains(done.body, `data-changed="true"`) {
		t.Fatalf("no confirmation after the change:\n%s", done.body)
	}
	wantStatus(t, e.get("/account/apps"), http.StatusOK) // this session stays
	e.client = other
	if r := e.get("/account/apps"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the other session after the change: %d, want a redirect to log in", r.StatusCode)
	}
	e.client = mine
	if got := e.revoked.all(); len(got) != 1 || got[0] != (revocation{pat.ID, ""}) {
		t.Fatalf("revocations = %v, want every grant of pat", got)
	}
	if e.passwordWorks("pat", testPassword) || !e.passwordWorks("pat", newPassword) {
		t.Fatal("after the change the old password should fail and the new one work")
	}
	stored, err := e.db.User(context.Background(), pat.ID)
	if err != nil || !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
		t.Fatalf("stored hash %q, %v; want argon2id", stored.PasswordHash, err)
	}
	if ok := e.audit.find("password", audit.Success); len(ok) != 1 || ok[0].Actor != pat.ID || ok[0].Action != "change" {
		t.Fatalf("audit = %+v, want one successful change by pat", ok)
	}
	for _, ev := range e.audit.evs {
		if strings.Contains(ev.Detail, newPassword) || strings.Contains(ev.Detail, testPassword) {
			t.Fatalf("a password in the audit log: %+v", ev)
		}
	}
}

func TestPasswordChangeRefusals(t *testing.T) {
	e := newPasswordEnv(t)
	e.login("pat", "/account/apps")
	for _, tc := range []struct {
		name, current, next, again string
		status                     int
		field, msg                 string
	}{
		{"too short", testPassword, "short", "short", http.StatusBadRequest, "new_password-error", "at least 12 characters"},
		{"not the same twice", testPassword, newPassword, newPassword + "!", http.StatusBadRequest, "confirm_password-error", msgPasswordsDiffer},
		{"wrong current", "not my password", newPassword, newPassword, http.StatusUnauthorized, "current_password-error", msgBadCurrent},
	} {
		r := e.postPassword(tc.current, tc.next, tc.again)
		if r.StatusCode != tc.status || !strings.Contains(r.body, `id="`+tc.field+`" class="error" role="alert">`+tc.msg) &&
			!strings.Contains(r.body, `id="`+tc.field+`" class="error" role="alert">This password does not meet the rules: `+tc.msg) {
			t.Errorf("%s: %d, want %d with %q next to %s:\n%s", tc.name, r.StatusCode, tc.status, tc.msg, tc.field, r.body)
		}
		if strings.Contains(r.body, tc.current) || strings.Contains(r.body, tc.next) && len(tc.next) > 5 {
			t.Errorf("%s: the page shows a password back", tc.name)
		}
	}
	if !e.passwordWorks("pat", testPassword) {
		t.Fatal("a refused change changed the password")
	}
	if n := len(e.audit.find("password", audit.Failure)); n != 3 {
		t.Fatalf("%d failed changes audited, want 3", n)
	}
	if len(e.revoked.all()) != 0 {
		t.Fatal("a refused change revoked grants")
	}
}

// TestPasswordChangeThrottled: the current password is checked by the
// log-in's throttle, so the page guesses no faster than the log-in page:
// after three wrong ones (newEnv's limit), even the right one is refused,
// and the log-in page is locked as well.
func TestPasswordChangeThrottled(t *testing.T) {
	e := newPasswordEnv(t)
	e.login("pat", "/account/apps")
	for range 3 {
		wantStatus(t, e.postPassword("a wrong guess", newPassword, newPassword), http.StatusUnauthorized)
	}
	r := e.postPassword(testPassword, newPassword, newPassword)
	if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.body, msgThrottled) {
		t.Fatalf("right current password after three wrong: %d, want 429 with %q", r.StatusCode, msgThrottled)
	}
	if _, err := e.srv.cfg.Passwords.Authenticate(context.Background(), "pat", testPassword, "10.1.1.1"); !errors.Is(err, account.ErrThrottled) {
		t.Fatalf("log-in after the page's wrong guesses: %v, want ErrThrottled", err)
	}
	if n := len(e.audit.find("password", audit.Denied)); n != 1 {
		t.Fatalf("%d throttled changes audited, want 1", n)
	}
}

// TestPasswordPageWithoutLocalPassword: an account that logs in elsewhere
// (no local password) is told so, and cannot set one here.
func TestPasswordPageWithoutLocalPassword(t *testing.T) {
	ctx := context.Background()
	e := newPasswordEnv(t)
	e.login("doc", "/account/apps")
	csrf := csrfOf(t, e.get(PasswordPath).body)
	doc, err := e.db.User(ctx, e.users["doc"].ID)
	if err != nil {
		t.Fatal(err)
	}
	doc.PasswordHash = "" // as a federated account has
	if err := e.db.UpdateUser(ctx, doc); err != nil {
		t.Fatal(err)
	}
	page := e.get(PasswordPath)
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.body, `data-local="false"`) || strings.Contains(page.body, `name="new_password"`) {
		t.Fatalf("page of an account without a password:\n%s", page.body)
	}
	r := e.post(PasswordPath, url.Values{"csrf_token": {csrf},
		"current_password": {""}, "new_password": {newPassword}, "confirm_password": {newPassword}})
	wantStatus(t, r, http.StatusConflict)
	if stored, _ := e.db.User(ctx, doc.ID); stored.PasswordHash != "" {
		t.Fatal("a password was set on an account without one")
	}
}
