package authz

import (
	"errors"
	"github.com/smartgate/smartgate/account"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/listener"
)

// owinRetryAfter is the Retry-After of a throttled password grant, in
// seconds: the log-in lockout (account.DefaultLockout).
const owinRetryAfter = "900"

// owinScopes are the scopes of an OWin token for a role: an OWin token
// carries its account's rights (admin: everything; practitioner: all data
// the user may see; patient: their own compartment, with the patient
// context set from their fhirUser).
func owinScopes(role string) []string {
	switch role {
	case account.RoleAdmin:
		return []string{"system/*.cruds", "user/*.cruds"}
	case account.RolePractitioner:
		return []string{"user/*.cruds"}
	case account.RolePatient:
		return []string{"patient/*.cruds"}
	}
	return nil
}

// handleOWin is the OWin password grant: form grant_type=password with
// username and password and no client; local accounts only; every use is
// audited. The PasswordAuthenticator throttles (the one log-in throttle of
// package account, shared with the log-in page: the attempt is counted
// before the password is checked); its lockout is answered 400
// invalid_grant with Retry-After, like a wrong password but with its own
// description.
func (s *Server) handleOWin(w http.ResponseWriter, r *http.Request, base string) {
	ctx := r.Context()
	addr := reqctx.ClientAddress(r)
	username := r.PostForm.Get("username")
	ev := audit.Event{Kind: "owin", Actor: username, ClientID: owinClientID, Action: "password"}
	off := !s.cfg.OWin || s.users == nil
	if info, ok := listener.From(ctx); ok && slices.Contains(s.cfg.OWinOffListeners, info.Name) {
		off = true
	}
	if off {
		ev.Outcome, ev.Detail = audit.Denied, "disabled"
		s.audit(r, ev)
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "The password grant is disabled.")
		return
	}
	if id, _, _ := r.BasicAuth(); (id != "" && id != owinClientID) || r.PostForm.Get("client_assertion") != "" ||
		(r.PostForm.Get("client_id") != "" && r.PostForm.Get("client_id") != owinClientID) {
		// ROPC is not offered to registered (SMART) clients (RFC 9700 §2.4).
		ev.Outcome, ev.Detail = audit.Denied, "client present"
		s.audit(r, ev)
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "The password grant is only for OWin use, without a client.")
		return
	}
	password := r.PostForm.Get("password")
	if username == "" || password == "" {
		ev.Outcome, ev.Detail = audit.Failure, "missing credentials"
		s.audit(r, ev)
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "username and password are required.")
		return
	}
	uc, err := s.users.Authenticate(ctx, username, password, addr)
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidCredentials):
		ev.Outcome, ev.Detail = audit.Failure, "bad credentials"
		s.audit(r, ev)
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "The username or password is wrong.")
		return
	case errors.Is(err, ErrAccountLocked):
		ev.Outcome, ev.Detail = audit.Denied, "locked"
		s.audit(r, ev)
		w.Header().Set("Retry-After", owinRetryAfter)
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Too many failed attempts; try again later.")
		return
	default:
		// The caller went away, or the store failed: not the person's fault,
		// so nothing is counted against the account or the address.
		ev.Outcome, ev.Detail = audit.Failure, "unavailable"
		s.audit(r, ev)
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "owin authenticate", "err", err)
		}
		w.Header().Set("Retry-After", "5")
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The password could not be checked now; try again.")
		return
	}

	sess := newSession()
	sess.Subject = uc.Subject
	sess.Username = uc.Username
	sess.FHIRUser = uc.FHIRUser
	sess.Roles = uc.Roles
	sess.Issuer = base
	sess.Grant = "password"
	now := s.cfg.Now().UTC()
	sess.SetExpiresAt(fosite.AccessToken, now.Add(s.cfg.AccessTokenTTL).Round(0))
	ar := fosite.NewAccessRequest(sess)
	ar.Client = s.owin
	ar.GrantTypes = fosite.Arguments{"password"}
	ar.RequestedAt = now
	seen := map[string]bool{}
	for _, role := range uc.Roles {
		for _, sc := range owinScopes(role) {
			if !seen[sc] {
				seen[sc] = true
				ar.GrantScope(sc)
			}
		}
		if role == account.RolePatient {
			if id, ok := account.PatientOf(uc.FHIRUser); ok {
				sess.Launch = &LaunchContext{Patient: id}
			}
		}
	}
	if hasRole(uc.Roles, account.RolePatient) && sess.Launch == nil {
		// A patient account without a Patient record gets no FHIR rights.
		ar.GrantedScope = fosite.Arguments{}
	}
	tok, sig, err := s.at.GenerateAccessToken(ctx, ar)
	if err == nil {
		err = s.fs.CreateAccessTokenSession(ctx, sig, ar)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "owin token", "err", err)
		ev.Outcome, ev.Detail = audit.Failure, "server error"
		s.audit(r, ev)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	ev.Actor = uc.Subject
	ev.Outcome = audit.Success
	ev.Scopes = strings.Join(ar.GetGrantedScopes(), " ")
	ev.Patient = sess.patientID()
	s.audit(r, ev)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int64(s.cfg.AccessTokenTTL / time.Second),
		"token_type":   "bearer",
	}, true)
}
