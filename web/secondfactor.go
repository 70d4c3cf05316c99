package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
)

// SecondFactors is what the pages need of the second factor (TOTP with
// recovery codes); *account.SecondFactors implements it.
type SecondFactors interface {
	// Enrolled reports whether the user has a confirmed second factor.
	Enrolled(ctx context.Context, userID string) (bool, error)
	// Begin starts (or starts again) an unconfirmed enrolment.
	Begin(ctx context.Context, u *account.User) (account.Enrolment, error)
	// Confirm confirms it with a current code and returns the recovery
	// codes (shown once).
	Confirm(ctx context.Context, userID, code string) ([]string, error)
	// Verify checks a code or a recovery code, throttled: nil,
	// account.ErrBadCredentials or account.ErrThrottled.
	Verify(ctx context.Context, userID, code, address string) error
	RegenerateRecovery(ctx context.Context, userID string) ([]string, error)
	Disable(ctx context.Context, userID string) error
}

var _ SecondFactors = (*account.SecondFactors)(nil)

// Pages of the second factor in the log-in.
const (
	// SecondFactorPath asks for the code after the password.
	SecondFactorPath = "/login/second-factor"
	// EnrolPath is the forced enrolment of an account that must have a
	// second factor and has none (EnrolPath+"/begin" starts it).
	EnrolPath = "/login/enrol"
	// SecurityPath is the person's page for their second factor.
	SecurityPath = "/account/security"
)

// registerSecondFactor adds the second factor's pages (only when one is
// configured).
func (s *Server) registerSecondFactor(mux *http.ServeMux, h func(http.HandlerFunc) http.Handler) {
	if s.cfg.SecondFactor == nil {
		return
	}
	mux.Handle("GET "+SecondFactorPath, h(s.secondFactorPage))
	mux.Handle("POST "+SecondFactorPath, h(s.secondFactorSubmit))
	mux.Handle("GET "+EnrolPath, h(s.enrolPage))
	mux.Handle("POST "+EnrolPath+"/begin", h(s.enrolBegin))
	mux.Handle("POST "+EnrolPath, h(s.enrolSubmit))
	mux.Handle("GET "+SecurityPath, h(s.securityPage))
	mux.Handle("POST "+SecurityPath+"/enrol", h(s.securityEnrol))
	mux.Handle("POST "+SecurityPath+"/confirm", h(s.securityConfirm))
	mux.Handle("POST "+SecurityPath+"/recovery", h(s.securityRecovery))
	mux.Handle("POST "+SecurityPath+"/disable", h(s.securityDisable))
}

// factorStep is how far a session of u with methods amr has got
// (sessionStep): stateDone, stateSecondFactor or stateEnrol.
func (s *Server) factorStep(ctx context.Context, u *account.User, amr []string) (state, error) {
	if s.cfg.SecondFactor == nil || slices.Contains(amr, amrOTP) {
		return stateDone, nil
	}
	enrolled, err := s.cfg.SecondFactor.Enrolled(ctx, u.ID)
	if err != nil {
		return stateLogin, wrap("second factor", err)
	}
	return sessionStep(amr, enrolled, s.secondFactorRequired(u)), nil
}

func (s *Server) secondFactorRequired(u *account.User) bool {
	return s.cfg.SecondFactorRequired != nil && s.cfg.SecondFactorRequired(u)
}

// loginLocation is the page of log-in step st on the way to returnTo
// (returnTo itself once the log-in is complete).
func loginLocation(st state, returnTo string) string {
	back := url.Values{"return_to": {returnTo}}.Encode()
	switch st {
	case stateLogin, stateUpstream: // a log-in at a provider is not resumed: another starts at /login
		return "/login?" + back
	case stateSecondFactor:
		return SecondFactorPath + "?" + back
	case stateEnrol:
		return EnrolPath + "?" + back
	}
	return returnTo
}

// toLogin sends a browser that is not logged in to where its log-in stands
// (the log-in page, or the second factor of a session that has passed the
// password), on the way to returnTo.
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request, b *browser, returnTo string) {
	_, _, st, err := s.loggedIn(r.Context(), b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if st == stateDone { // logged in meanwhile: the log-in page takes it from there
		st = stateLogin
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	redirect(w, loginLocation(st, safeReturnTo(returnTo)))
}

// continueLogin sends the browser on after a log-in step of u's session
// with methods amr: to the second factor or its enrolment while it lacks
// one, else to returnTo.
func (s *Server) continueLogin(w http.ResponseWriter, r *http.Request, u *account.User, amr []string, returnTo string) {
	st, err := s.factorStep(r.Context(), u, amr)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	redirect(w, loginLocation(st, returnTo))
}

// halfLogin loads the browser's session for a second-factor page: it must
// be at step want, else the browser is sent where its log-in stands
// (ok=false).
func (s *Server) halfLogin(w http.ResponseWriter, r *http.Request, b *browser, want state, returnTo string) (
	*account.User, *account.Session, bool) {
	u, sess, st, err := s.loggedIn(r.Context(), b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return nil, nil, false
	}
	if st != want {
		s.save(w, r, b)
		redirect(w, loginLocation(st, returnTo))
		return nil, nil, false
	}
	return u, sess, true
}

type secondFactorView struct {
	CSRF     string
	ReturnTo string
	User     string
	Error    string
}

// Messages of the second-factor pages.
const (
	msgBadCode    = "The code is not correct or has been used already."
	msgCodeFailed = "We could not check your code right now. Please try again."
)

func (s *Server) secondFactorPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	returnTo := safeReturnTo(r.URL.Query().Get("return_to"))
	u, _, ok := s.halfLogin(w, r, b, stateSecondFactor, returnTo)
	if !ok {
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, http.StatusOK, "second-factor", secondFactorView{CSRF: b.CSRF, ReturnTo: returnTo, User: u.Label()})
}

// secondFactorSubmit checks the code (throttled by the core) and, when it
// is right, replaces the password-only session with one that records the
// second factor (amr otp, RFC 8176), then goes on to return_to.
func (s *Server) secondFactorSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "second factor")
	if !ok {
		return
	}
	returnTo := safeReturnTo(r.PostFormValue("return_to"))
	u, sess, ok := s.halfLogin(w, r, b, stateSecondFactor, returnTo)
	if !ok {
		return
	}
	v := secondFactorView{CSRF: b.CSRF, ReturnTo: returnTo, User: u.Label()}
	err := s.cfg.SecondFactor.Verify(r.Context(), u.ID, r.PostFormValue("code"), reqctx.ClientAddress(r))
	switch {
	case errors.Is(err, account.ErrThrottled):
		s.record(r, audit.Event{Kind: "login", Actor: u.ID, Action: amrOTP, Outcome: audit.Denied, Detail: "throttled"})
		v.Error = msgThrottled
		s.render(w, r, http.StatusTooManyRequests, "second-factor", v)
		return
	case errors.Is(err, account.ErrBadCredentials):
		s.record(r, audit.Event{Kind: "login", Actor: u.ID, Action: amrOTP, Outcome: audit.Failure, Detail: "bad code"})
		v.Error = msgBadCode
		s.render(w, r, http.StatusUnauthorized, "second-factor", v)
		return
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, msgCodeFailed, err)
		return
	}
	if !s.upgradeSession(w, r, b, u, sess) {
		return
	}
	s.record(r, audit.Event{Kind: "login", Actor: u.ID, Action: amrOTP, Outcome: audit.Success})
	redirect(w, returnTo)
}

// upgradeSession records that u's session sess has passed the second
// factor: a new session with the methods of sess and otp (the session id
// changes with the level of authentication), and the cookie saved.
func (s *Server) upgradeSession(w http.ResponseWriter, r *http.Request, b *browser, u *account.User, sess *account.Session) bool {
	amr := slices.Clone(sess.AMR)
	if !slices.Contains(amr, amrOTP) {
		amr = append(amr, amrOTP)
	}
	if _, err := s.startSession(r.Context(), b, u, amr); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return false
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return false
	}
	return true
}
