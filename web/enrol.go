package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
)

// enrolView is the enrolment page: before Begin a start button
// (BeginAction), after it the key as text and a code form (Action).
type enrolView struct {
	CSRF        string
	ReturnTo    string
	Required    bool
	Error       string
	Secret      string
	URI         string
	Action      string
	BeginAction string
}

type recoveryView struct {
	Codes    []string
	Continue string
}

const msgEnrolAgain = "This set-up has expired. Please start again."

// enrolPage is the forced enrolment of an account that must have a second
// factor and has none, after the password: the log-in completes only once
// it is confirmed.
func (s *Server) enrolPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	returnTo := safeReturnTo(r.URL.Query().Get("return_to"))
	if _, _, ok := s.halfLogin(w, r, b, stateEnrol, returnTo); !ok {
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, http.StatusOK, "enrol", enrolView{CSRF: b.CSRF, ReturnTo: returnTo, Required: true, BeginAction: EnrolPath + "/begin"})
}

func (s *Server) enrolBegin(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "enrol")
	if !ok {
		return
	}
	returnTo := safeReturnTo(r.PostFormValue("return_to"))
	u, _, ok := s.halfLogin(w, r, b, stateEnrol, returnTo)
	if !ok {
		return
	}
	v := enrolView{CSRF: b.CSRF, ReturnTo: returnTo, Required: true, Action: EnrolPath}
	s.begin(w, r, u, v)
}

// begin starts an enrolment for u and shows its key with v's code form.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, u *account.User, v enrolView) {
	e, err := s.cfg.SecondFactor.Begin(r.Context(), u)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v.Secret, v.URI = e.Secret, e.URI
	s.render(w, r, http.StatusOK, "enrol", v)
}

func (s *Server) enrolSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "enrol")
	if !ok {
		return
	}
	returnTo := safeReturnTo(r.PostFormValue("return_to"))
	u, sess, ok := s.halfLogin(w, r, b, stateEnrol, returnTo)
	if !ok {
		return
	}
	v := enrolView{CSRF: b.CSRF, ReturnTo: returnTo, Required: true, Action: EnrolPath, BeginAction: EnrolPath + "/begin"}
	if codes, ok := s.confirm(w, r, u, v); ok && s.upgradeSession(w, r, b, u, sess) {
		s.render(w, r, http.StatusOK, "recovery", recoveryView{Codes: codes, Continue: returnTo})
	}
}

// confirm confirms u's enrolment with the posted code; on a wrong code it
// shows the key (posted back by the page) and the form v again.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request, u *account.User, v enrolView) ([]string, bool) {
	codes, err := s.cfg.SecondFactor.Confirm(r.Context(), u.ID, r.PostFormValue("code"))
	switch {
	case errors.Is(err, account.ErrBadCredentials):
		v.Error, v.Secret, v.URI = msgBadCode, r.PostFormValue("secret"), r.PostFormValue("uri")
		s.render(w, r, http.StatusUnauthorized, "enrol", v)
		return nil, false
	case errors.Is(err, account.ErrNotEnrolled):
		v.Error = msgEnrolAgain
		s.render(w, r, http.StatusConflict, "enrol", v)
		return nil, false
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return nil, false
	}
	s.record(r, audit.Event{Kind: "second-factor", Actor: u.ID, Action: "enrol", Outcome: audit.Success})
	// Grants made on the password alone (by whoever had it before the
	// second factor was set up) end: apps ask for a new log-in.
	s.revokeEarlierGrants(r.Context(), u, "second factor enrolled")
	return codes, true
}

// revokeEarlierGrants ends every grant u holds (all apps' tokens) after a
// change to how u logs in (why, for the log): whoever logged in before it,
// perhaps someone else, must log in again.
func (s *Server) revokeEarlierGrants(ctx context.Context, u *account.User, why string) {
	if s.cfg.Revoker == nil {
		return
	}
	if err := s.cfg.Revoker.RevokeAll(ctx, u.ID, ""); err != nil {
		s.log.Error(why+": earlier grants not revoked", "user", u.ID, "err", err)
	}
}

type securityView struct {
	CSRF     string
	User     string
	Enrolled bool
	Required bool
	Error    string
	Password bool // links PasswordPath
}

// accountUser is the logged-in user of an account page, or (ok=false) the
// browser sent to log in on the way back to SecurityPath.
func (s *Server) accountUser(w http.ResponseWriter, r *http.Request, b *browser) (*account.User, *account.Session, bool) {
	return s.accountUserAt(w, r, b, SecurityPath)
}

// accountUserAt is accountUser for the account page at back.
func (s *Server) accountUserAt(w http.ResponseWriter, r *http.Request, b *browser, back string) (*account.User, *account.Session, bool) {
	u, sess, err := s.current(r.Context(), b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return nil, nil, false
	}
	if u == nil {
		s.toLogin(w, r, b, back)
		return nil, nil, false
	}
	return u, sess, true
}

// securityPage is the person's second factor: set it up, new recovery
// codes, turn it off (with a current code, unless it is required).
func (s *Server) securityPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	u, _, ok := s.accountUser(w, r, b)
	if !ok {
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.showSecurity(w, r, b, u, http.StatusOK, "")
}

func (s *Server) showSecurity(w http.ResponseWriter, r *http.Request, b *browser, u *account.User, status int, msg string) {
	enrolled, err := s.cfg.SecondFactor.Enrolled(r.Context(), u.ID)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, status, "security", securityView{CSRF: b.CSRF, User: u.Label(), Enrolled: enrolled,
		Required: s.secondFactorRequired(u), Error: msg, Password: s.cfg.PasswordSetter != nil})
}

func (s *Server) securityEnrol(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "security")
	if !ok {
		return
	}
	u, _, ok := s.accountUser(w, r, b)
	if !ok {
		return
	}
	if enrolled, err := s.cfg.SecondFactor.Enrolled(r.Context(), u.ID); err != nil || enrolled {
		s.showSecurity(w, r, b, u, http.StatusConflict, "A second factor is set up already.")
		return
	}
	s.begin(w, r, u, enrolView{CSRF: b.CSRF, ReturnTo: SecurityPath, Action: SecurityPath + "/confirm"})
}

// securityConfirm confirms an enrolment from the account page; the session
// then records the second factor (a new session, as at log-in).
func (s *Server) securityConfirm(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "security")
	if !ok {
		return
	}
	u, sess, ok := s.accountUser(w, r, b)
	if !ok {
		return
	}
	v := enrolView{CSRF: b.CSRF, ReturnTo: SecurityPath, Action: SecurityPath + "/confirm"}
	if codes, ok := s.confirm(w, r, u, v); ok && s.upgradeSession(w, r, b, u, sess) {
		s.render(w, r, http.StatusOK, "recovery", recoveryView{Codes: codes, Continue: SecurityPath})
	}
}

// securityRecovery replaces the recovery codes, given a current code (or a
// recovery code): whoever holds only the session must not get codes that
// outlive it (and would then turn the factor off or log in with them).
func (s *Server) securityRecovery(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "security")
	if !ok {
		return
	}
	u, _, ok := s.accountUser(w, r, b)
	if !ok || !s.currentCode(w, r, b, u, "new recovery codes") {
		return
	}
	codes, err := s.cfg.SecondFactor.RegenerateRecovery(r.Context(), u.ID)
	if errors.Is(err, account.ErrNotEnrolled) {
		s.showSecurity(w, r, b, u, http.StatusConflict, "No second factor is set up.")
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, audit.Event{Kind: "second-factor", Actor: u.ID, Action: "new recovery codes", Outcome: audit.Success})
	s.render(w, r, http.StatusOK, "recovery", recoveryView{Codes: codes, Continue: SecurityPath})
}

// currentCode checks the posted code of an enrolled person before a change
// to their second factor (action names it in the audit), answering the
// page itself when the code is wrong, throttled or cannot be checked.
func (s *Server) currentCode(w http.ResponseWriter, r *http.Request, b *browser, u *account.User, action string) bool {
	err := s.cfg.SecondFactor.Verify(r.Context(), u.ID, r.PostFormValue("code"), reqctx.ClientAddress(r))
	switch {
	case errors.Is(err, account.ErrThrottled):
		s.showSecurity(w, r, b, u, http.StatusTooManyRequests, msgThrottled)
		return false
	case errors.Is(err, account.ErrBadCredentials):
		s.record(r, audit.Event{Kind: "second-factor", Actor: u.ID, Action: action, Outcome: audit.Failure, Detail: "bad code"})
		s.showSecurity(w, r, b, u, http.StatusUnauthorized, msgBadCode)
		return false
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, msgCodeFailed, err)
		return false
	}
	return true
}

// securityDisable turns the second factor off, given a current code (or a
// recovery code), unless the account must have one.
func (s *Server) securityDisable(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "security")
	if !ok {
		return
	}
	u, _, ok := s.accountUser(w, r, b)
	if !ok {
		return
	}
	if s.secondFactorRequired(u) {
		s.showSecurity(w, r, b, u, http.StatusForbidden, "Your account must keep its second factor.")
		return
	}
	if !s.currentCode(w, r, b, u, "disable") {
		return
	}
	if err := s.cfg.SecondFactor.Disable(r.Context(), u.ID); err != nil && !errors.Is(err, account.ErrNotEnrolled) {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, audit.Event{Kind: "second-factor", Actor: u.ID, Action: "disable", Outcome: audit.Success})
	redirect(w, SecurityPath)
}
