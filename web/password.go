package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/store"
)

// PasswordPath is the page where a person changes their own password.
const PasswordPath = "/account/password"

// PasswordSetter sets a person's password through the one password policy
// and argon2id hashing; account.People implements it.
type PasswordSetter interface {
	SetPassword(ctx context.Context, id, password string) error
}

var _ PasswordSetter = (*account.People)(nil)

type passwordView struct {
	CSRF string
	User string
	// Federated: the account has no local password (it logs in elsewhere).
	Federated bool
	Changed   bool
	// The error shown next to each field, if any.
	CurrentError, NewError, ConfirmError string
	MinLength                            int
	Security                             bool
}

const (
	msgBadCurrent      = "This is not your current password."
	msgPasswordsDiffer = "The two new passwords are not the same."
	msgPasswordRace    = "Your account changed while the password was being set. Please try again."
)

func (s *Server) registerPassword(mux *http.ServeMux, h func(http.HandlerFunc) http.Handler) {
	if s.cfg.PasswordSetter == nil {
		return
	}
	mux.Handle("GET "+PasswordPath, h(s.passwordPage))
	mux.Handle("POST "+PasswordPath, h(s.passwordSubmit))
}

func (s *Server) passwordView(b *browser, u *account.User) passwordView {
	return passwordView{CSRF: b.CSRF, User: u.Label(), Federated: u.PasswordHash == "",
		MinLength: account.MinPasswordLength, Security: s.cfg.SecondFactor != nil}
}

// passwordPage shows the form (or, for an account without a local
// password, says so).
func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	u, _, ok := s.accountUserAt(w, r, b, PasswordPath)
	if !ok {
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v := s.passwordView(b, u)
	v.Changed = r.URL.Query().Get("changed") == "1" && !v.Federated
	s.render(w, r, http.StatusOK, "password", v)
}

// passwordSubmit changes the password: the new one twice, checked by the
// policy first (a typo costs no attempt), then the current one through
// the log-in's Authenticator and throttle (so that this form guesses no
// faster than the log-in page). On success the person's other sessions
// and the grants made before end; this session stays.
func (s *Server) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "password")
	if !ok {
		return
	}
	u, sess, ok := s.accountUserAt(w, r, b, PasswordPath)
	if !ok {
		return
	}
	v := s.passwordView(b, u)
	if v.Federated {
		s.render(w, r, http.StatusConflict, "password", v)
		return
	}
	next := r.PostFormValue("new_password")
	if err := account.CheckPassword(u.UserName, next); err != nil {
		v.NewError = policyMessage(err)
		s.passwordFailed(w, r, u, http.StatusBadRequest, v, "weak new password")
		return
	}
	if next != r.PostFormValue("confirm_password") {
		v.ConfirmError = msgPasswordsDiffer
		s.passwordFailed(w, r, u, http.StatusBadRequest, v, "new passwords differ")
		return
	}
	if !s.currentPassword(w, r, u, v) {
		return
	}
	err := s.cfg.PasswordSetter.SetPassword(r.Context(), u.ID, next)
	switch {
	case errors.Is(err, account.ErrWeakPassword):
		v.NewError = policyMessage(err)
		s.passwordFailed(w, r, u, http.StatusBadRequest, v, "weak new password")
		return
	case errors.Is(err, store.ErrConflict):
		v.NewError = msgPasswordRace
		s.passwordFailed(w, r, u, http.StatusConflict, v, "changed meanwhile")
		return
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, audit.Event{Kind: "password", Actor: u.ID, Action: "change", Outcome: audit.Success})
	s.revokeEarlierGrants(r.Context(), u, "password changed")
	if err := s.cfg.Store.EndUserSessions(r.Context(), u.ID, sess.ID, s.cfg.Now()); err != nil {
		s.log.Error("password changed: other sessions not ended", "user", u.ID, "err", err)
	}
	redirect(w, PasswordPath+"?changed=1")
}

// currentPassword checks the posted current password of u with the log-in's
// Authenticator, answering the page itself when it is wrong, throttled or
// cannot be checked.
func (s *Server) currentPassword(w http.ResponseWriter, r *http.Request, u *account.User, v passwordView) bool {
	got, err := s.cfg.Passwords.Authenticate(r.Context(), u.UserName, r.PostFormValue("current_password"), reqctx.ClientAddress(r))
	switch {
	case errors.Is(err, account.ErrThrottled):
		v.CurrentError = msgThrottled
		s.passwordFailed(w, r, u, http.StatusTooManyRequests, v, "throttled")
		return false
	case errors.Is(err, account.ErrBadCredentials) || (err == nil && got.ID != u.ID):
		v.CurrentError = msgBadCurrent
		s.passwordFailed(w, r, u, http.StatusUnauthorized, v, "bad current password")
		return false
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, "We could not check your password right now. Please try again.", err)
		return false
	}
	return true
}

// passwordFailed records a refused change (why, never a password) and
// shows the form again with its error.
func (s *Server) passwordFailed(w http.ResponseWriter, r *http.Request, u *account.User, status int, v passwordView, why string) {
	outcome := audit.Failure
	if status == http.StatusTooManyRequests {
		outcome = audit.Denied
	}
	s.record(r, audit.Event{Kind: "password", Actor: u.ID, Action: "change", Outcome: outcome, Detail: why})
	s.render(w, r, status, "password", v)
}

// policyMessage words a CheckPassword error for the page.
func policyMessage(err error) string {
	_, detail, _ := strings.Cut(err.Error(), account.ErrWeakPassword.Error()+": ")
	if detail == "" {
		return "This password does not meet the rules."
	}
	return "This password does not meet the rules: " + detail + "."
}
