package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/internal/reqctx"
)

// defaultLanding is where a log-in without return_to ends.
const defaultLanding = "/account/apps"

// safeReturnTo accepts only a same-origin relative path ("/x?y"), so that
// return_to cannot send the browser elsewhere (open redirect, RFC 9700
// §4.11). Anything else gives the default landing page.
func safeReturnTo(s string) string {
	if s == "" || len(s) > 4096 || s[0] != '/' || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n\t") {
		return defaultLanding
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return defaultLanding
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return defaultLanding
	}
	return s
}

type loginView struct {
	CSRF     string
	ReturnTo string
	Username string
	Error    string
	// Notice says why the person is asked to log in (again).
	Notice    string
	Providers []idp.Provider
	// SignInCode links SignInCodePath (when sign-in codes are enabled).
	SignInCode bool
}

func (s *Server) loginView(b *browser, returnTo, username, msg string) loginView {
	return loginView{CSRF: b.CSRF, ReturnTo: returnTo, Username: username, Error: msg, Providers: s.loginProviders(),
		SignInCode: s.cfg.SignInCodes != nil}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	q := r.URL.Query()
	hint := q.Get("login_hint")
	if len(hint) > 256 {
		hint = ""
	}
	v := s.loginView(b, safeReturnTo(q.Get("return_to")), hint, "")
	if q.Get("reason") == reasonLink {
		v.Notice = msgLinkReauth
	}
	s.render(w, r, http.StatusOK, "login", v)
}

// Messages for refused log-ins: one for every kind of mismatch, so that the
// page does not tell whether an account exists.
const (
	msgBadLogin  = "The user name or password is not correct."
	msgThrottled = "Too many failed attempts. Please wait a few minutes and try again."
	msgBadForm   = "This form has expired. Please try again."
)

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", err)
		return
	}
	b := s.browser(r)
	returnTo := safeReturnTo(r.PostFormValue("return_to"))
	username := r.PostFormValue("username")
	if len(username) > 256 {
		username = ""
	}
	if !b.checkCSRF(r) {
		s.save(w, r, b)
		s.record(r, audit.Event{Kind: "login", Action: "password", Outcome: audit.Denied, Detail: "csrf token mismatch"})
		s.render(w, r, http.StatusForbidden, "login", s.loginView(b, returnTo, username, msgBadForm))
		return
	}
	ctx := r.Context()
	u, err := s.cfg.Passwords.Authenticate(ctx, username, r.PostFormValue("password"), reqctx.ClientAddress(r))
	switch {
	case errors.Is(err, account.ErrThrottled):
		s.record(r, audit.Event{Kind: "login", Actor: username, Action: "password", Outcome: audit.Denied, Detail: "throttled"})
		s.render(w, r, http.StatusTooManyRequests, "login", s.loginView(b, returnTo, username, msgThrottled))
		return
	case errors.Is(err, account.ErrBadCredentials):
		s.record(r, audit.Event{Kind: "login", Actor: username, Action: "password", Outcome: audit.Failure, Detail: "bad credentials"})
		s.render(w, r, http.StatusUnauthorized, "login", s.loginView(b, returnTo, username, msgBadLogin))
		return
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, "We could not check your log-in right now. Please try again.", err)
		return
	}
	s.logIn(w, r, b, u, "pwd", audit.Event{Kind: "login", Action: "password", Outcome: audit.Success}, returnTo)
}

// logIn completes a log-in of u by method amr, whichever page it came
// from (password, sign-in code, provider): a new session, the cookie, the
// audit record ev (its Actor set to u), then the next step of the log-in
// (second factor, a pending link, returnTo).
func (s *Server) logIn(w http.ResponseWriter, r *http.Request, b *browser, u *account.User, amr string, ev audit.Event, returnTo string) {
	ctx := r.Context()
	sess, err := s.startSession(ctx, b, u, []string{amr})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	ev.Actor = u.ID
	s.record(r, ev)
	s.continueLogin(w, r, u, sess.AMR, s.afterLogin(ctx, b, returnTo))
}
