package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
)

// SignInCodePath is where a person enters a sign-in code an administrator
// issued for them.
const SignInCodePath = "/login/code"

// maxSignInCode bounds the posted code (longer is wrong without asking).
const maxSignInCode = 128

const msgBadSignInCode = "This sign-in code is not valid. A code works once and for a short time: " +
	"please ask your administrator for a new one."

type signInCodeView struct {
	CSRF     string
	ReturnTo string
	Error    string
}

func (s *Server) registerSignInCode(mux *http.ServeMux, h func(http.HandlerFunc) http.Handler) {
	if s.cfg.SignInCodes == nil {
		return
	}
	mux.Handle("GET "+SignInCodePath, h(s.signInCodePage))
	mux.Handle("POST "+SignInCodePath, h(s.signInCodeSubmit))
}

func (s *Server) signInCodePage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, http.StatusOK, "signin-code", signInCodeView{CSRF: b.CSRF, ReturnTo: safeReturnTo(r.URL.Query().Get("return_to"))})
}

// signInCodeSubmit redeems the code (single use, throttled by the core)
// and logs its account in with amr ["code"]; a wrong, used or expired
// code gets one message.
func (s *Server) signInCodeSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "sign-in code")
	if !ok {
		return
	}
	ctx := r.Context()
	v := signInCodeView{CSRF: b.CSRF, ReturnTo: safeReturnTo(r.PostFormValue("return_to"))}
	code := strings.TrimSpace(r.PostFormValue("code"))
	err := account.ErrBadCredentials
	var u *account.User
	if code != "" && len(code) <= maxSignInCode {
		u, err = s.cfg.SignInCodes.Redeem(ctx, code, reqctx.ClientAddress(r))
	}
	if err == nil && (u == nil || !u.Active) {
		err = account.ErrBadCredentials
	}
	switch {
	case errors.Is(err, account.ErrThrottled):
		s.record(r, audit.Event{Kind: "login", Action: "signin_code", Outcome: audit.Denied, Detail: "throttled"})
		v.Error = msgThrottled
		s.render(w, r, http.StatusTooManyRequests, "signin-code", v)
		return
	case errors.Is(err, account.ErrBadCredentials):
		s.record(r, audit.Event{Kind: "login", Action: "signin_code", Outcome: audit.Failure, Detail: "bad code"})
		v.Error = msgBadSignInCode
		s.render(w, r, http.StatusUnauthorized, "signin-code", v)
		return
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, msgCodeFailed, err)
		return
	}
	s.logIn(w, r, b, u, amrCode, audit.Event{Kind: "login", Action: "signin_code", Outcome: audit.Success}, v.ReturnTo)
}
