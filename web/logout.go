package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store"
)

type logoutView struct {
	CSRF                  string
	User                  string
	PostLogoutRedirectURI string
	State                 string
	ClientID              string
	IDTokenHint           string
}

// logoutPage asks for confirmation (a GET must not end the session: a
// cross-site image could). It carries the OIDC RP-Initiated Logout
// parameters into the form.
func (s *Server) logoutPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	u, _, err := s.current(r.Context(), b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	q := r.URL.Query()
	v := logoutView{CSRF: b.CSRF, PostLogoutRedirectURI: q.Get("post_logout_redirect_uri"), State: q.Get("state"),
		ClientID: q.Get("client_id"), IDTokenHint: q.Get("id_token_hint")}
	if u != nil {
		v.User = u.Label()
	}
	s.render(w, r, http.StatusOK, "logout", v)
}

// logoutSubmit ends the server-side session and the online_access grants
// tied to it (endSession) and, when the client registered it, sends the
// browser to post_logout_redirect_uri with state.
func (s *Server) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "logout")
	if !ok {
		return
	}
	ctx := r.Context()
	u, sess, err := s.current(ctx, b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if b.SID != "" {
		if err := s.endSession(ctx, b.SID); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
	}
	// A new browser id: what the browser had pending (a link waiting for
	// a log-in, log-ins at providers, authorization requests) is not
	// offered to whoever uses the browser next. The pending link is
	// deleted; the others are orphaned and expire.
	if s.cfg.Linker != nil {
		s.dropPendingLink(ctx, b)
	}
	b.BID, b.SID, b.CSRF, b.dirty = randomToken(), "", randomToken(), true
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if u != nil {
		s.record(r, audit.Event{Kind: "logout", Actor: u.ID, Outcome: audit.Success, Detail: "session " + shortID(sess.ID)})
	}
	target := r.PostFormValue("post_logout_redirect_uri")
	if target != "" && s.cfg.PostLogoutRedirectAllowed != nil &&
		s.cfg.PostLogoutRedirectAllowed(ctx, r.PostFormValue("client_id"), r.PostFormValue("id_token_hint"), target) {
		if to, err := url.Parse(target); err == nil {
			if state := r.PostFormValue("state"); state != "" {
				q := to.Query()
				q.Set("state", state)
				to.RawQuery = q.Encode()
			}
			redirect(w, to.String())
			return
		}
	}
	s.render(w, r, http.StatusOK, "loggedout", logoutView{CSRF: b.CSRF})
}

// shortID is a prefix of a session id for audit records (enough to
// correlate, not enough to use).
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// endSession ends log-in session sid and its online_access grants: first
// the grants (so that a failure leaves the session, and the person can try
// again), then the session.
func (s *Server) endSession(ctx context.Context, sid string) error {
	if s.cfg.SessionGrants != nil {
		if err := s.cfg.SessionGrants.RevokeSession(ctx, sid); err != nil {
			return wrap("end the session's online grants", err)
		}
	}
	if err := s.cfg.Store.EndSession(ctx, sid, s.cfg.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return wrap("end session", err)
	}
	return nil
}
