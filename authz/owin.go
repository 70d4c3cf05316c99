package authz

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/listener"
)

// owinScopes are the scopes of an OWin token for a role: an OWin token
// carries its account's rights (admin: everything; practitioner: all data
// the user may see; patient: their own compartment, with the patient
// context set from their fhirUser).
func owinScopes(role string) []string {
	switch role {
	case "admin":
		return []string{"system/*.cruds", "user/*.cruds"}
	case "practitioner":
		return []string{"user/*.cruds"}
	case "patient":
		return []string{"patient/*.cruds"}
	}
	return nil
}

// handleOWin is the OWin password grant: form grant_type=password with
// username and password and no client; local accounts only; failures are
// throttled per account and per address with lockout; every use is audited.
func (s *Server) handleOWin(w http.ResponseWriter, r *http.Request, base string) {
	ctx := r.Context()
	addr := clientAddress(r)
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
	key := strings.ToLower(username)
	if s.throttle.locked("u:"+key) || s.throttle.locked("a:"+addr) {
		ev.Outcome, ev.Detail = audit.Denied, "locked"
		s.audit(r, ev)
		w.Header().Set("Retry-After", "900")
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Too many failed attempts; try again later.")
		return
	}
	uc, err := s.users.Authenticate(ctx, username, password)
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidCredentials):
		// Only a wrong user name or password counts towards the lockout.
		s.throttle.fail("u:" + key)
		s.throttle.fail("a:" + addr)
		ev.Outcome, ev.Detail = audit.Failure, "bad credentials"
		s.audit(r, ev)
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "The username or password is wrong.")
		return
	case errors.Is(err, ErrAccountLocked):
		ev.Outcome, ev.Detail = audit.Denied, "locked"
		s.audit(r, ev)
		w.Header().Set("Retry-After", "900")
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
	s.throttle.reset("u:" + key)

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
		if role == "patient" {
			if id, ok := strings.CutPrefix(uc.FHIRUser, "Patient/"); ok && id != "" {
				sess.Launch = &LaunchContext{Patient: id}
			}
		}
	}
	if hasRole(uc.Roles, "patient") && sess.Launch == nil {
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

// throttle counts failures per key (account or address) within a window
// and locks the key for a while once there are too many. It is in memory:
// a restart forgets it, which only ever loosens it.
type throttle struct {
	max     int
	window  time.Duration
	lockout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	first       time.Time
	failures    int
	lockedUntil time.Time
}

func newThrottle(max int, window, lockout time.Duration, now func() time.Time) *throttle {
	return &throttle{max: max, window: window, lockout: lockout, now: now, entries: map[string]*throttleEntry{}}
}

func (t *throttle) locked(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	return e != nil && t.now().Before(e.lockedUntil)
}

func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.entries) > 100000 {
		for k, e := range t.entries {
			if now.Sub(e.first) > t.window && now.After(e.lockedUntil) {
				delete(t.entries, k)
			}
		}
	}
	e := t.entries[key]
	if e == nil || now.Sub(e.first) > t.window {
		e = &throttleEntry{first: now}
		t.entries[key] = e
	}
	e.failures++
	if e.failures >= t.max {
		e.lockedUntil = now.Add(t.lockout)
		e.failures = 0
		e.first = now
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}
