package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/store"
)

type linkView struct {
	CSRF     string
	ReturnTo string
	Provider string
	Email    string
	// EmailVerified: the provider marked Email verified (else the page
	// says it is not).
	EmailVerified bool
	User          string
}

// linkPage asks the person who has just logged in whether to link the
// browser's pending identity to their account. A log-in older than the
// pending link (a browser that was already logged in, perhaps as someone
// else) must log in again first.
func (s *Server) linkPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	returnTo := safeReturnTo(r.URL.Query().Get("return_to"))
	u, sess, ok := s.accountUserAt(w, r, b, linkReturn(returnTo))
	if !ok {
		return
	}
	pe, pl, p, ok := s.loadPendingLink(w, r, b, false)
	if !ok {
		return
	}
	if sess.AuthTime.Before(pe.Created) {
		s.save(w, r, b)
		redirect(w, "/login?"+url.Values{"return_to": {linkReturn(returnTo)}}.Encode())
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, http.StatusOK, "link", linkView{CSRF: b.CSRF, ReturnTo: returnTo, Provider: p.Name,
		Email: pl.Identity.Email, EmailVerified: pl.Identity.EmailVerified, User: u.Label()})
}

// linkSubmit links the pending identity (taken: single use) to the
// logged-in account, or drops it (decision=cancel).
func (s *Server) linkSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "link")
	if !ok {
		return
	}
	returnTo := safeReturnTo(r.PostFormValue("return_to"))
	u, sess, ok := s.accountUserAt(w, r, b, linkReturn(returnTo))
	if !ok {
		return
	}
	pe, pl, p, ok := s.loadPendingLink(w, r, b, true)
	if !ok {
		return
	}
	if r.PostFormValue("decision") != "link" {
		redirect(w, returnTo)
		return
	}
	if sess.AuthTime.Before(pe.Created) {
		s.record(r, audit.Event{Kind: "link", Action: "create", Actor: u.ID, Resource: "User/" + u.ID,
			Outcome: audit.Denied, Detail: "provider " + p.ID + ": log-in older than the pending link"})
		s.fail(w, r, http.StatusForbidden, "Please log in to your account again to link it.",
			errors.New("link confirmed by a log-in older than the pending link"))
		return
	}
	if !s.linkTo(w, r, u, p, pl.Identity) {
		return
	}
	if returnTo == defaultLanding {
		returnTo = LinksPath
	}
	redirect(w, returnTo)
}

// loadPendingLink reads (or, with take, takes) browser b's pending link
// and its provider; none (expired, another browser, used) is a 400.
func (s *Server) loadPendingLink(w http.ResponseWriter, r *http.Request, b *browser, take bool) (
	*account.Pending, pendingLink, idp.Provider, bool) {
	var pl pendingLink
	load := s.cfg.Store.Pending
	if take {
		load = s.cfg.Store.TakePending
	}
	pe, err := load(r.Context(), b.BID, pendingLinkID)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusBadRequest, msgNoPendingFed, errors.New("no pending link in this browser"))
		return nil, pl, idp.Provider{}, false
	}
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, wrap("load pending link", err))
		return nil, pl, idp.Provider{}, false
	}
	var p idp.Provider
	ok := json.Unmarshal(pe.Request, &pl) == nil
	if ok {
		p, ok = s.provider(pl.Provider)
	}
	if !ok {
		s.fail(w, r, http.StatusBadRequest, msgNoPendingFed, fmt.Errorf("pending link of unknown provider %q", pl.Provider))
		return nil, pl, idp.Provider{}, false
	}
	return pe, pl, p, true
}

type linkRow struct {
	Provider  string
	Email     string
	Created   string
	LastLogin string
	Issuer    string
	Subject   string
}

type linksView struct {
	CSRF      string
	User      string
	Links     []linkRow
	Providers []idp.Provider
	// LastWay: the account has no password and one link, so unlinking it
	// leaves only an administrator's sign-in code.
	LastWay bool
}

const pageTime = "2006-01-02 15:04 MST"

// linksPage lists the person's linked identities with an unlink form each
// and a link form per configured provider.
func (s *Server) linksPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	u, _, ok := s.accountUserAt(w, r, b, LinksPath)
	if !ok {
		return
	}
	links, err := s.cfg.Linker.LinksOf(r.Context(), u.ID)
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, wrap("links", err))
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v := linksView{CSRF: b.CSRF, User: u.Label(), Providers: s.cfg.Providers, LastWay: u.PasswordHash == "" && len(links) == 1}
	for _, l := range links {
		row := linkRow{Provider: l.Provider, Email: l.Email, Created: l.Created.UTC().Format(pageTime), LastLogin: "never",
			Issuer: l.Issuer, Subject: l.Subject}
		if p, ok := s.provider(l.Provider); ok {
			row.Provider = p.Name
		}
		if !l.LastLogin.IsZero() {
			row.LastLogin = l.LastLogin.UTC().Format(pageTime)
		}
		v.Links = append(v.Links, row)
	}
	s.render(w, r, http.StatusOK, "links", v)
}

// linksStart starts a log-in at the posted provider that links the
// identity to the logged-in account.
func (s *Server) linksStart(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "link provider")
	if !ok {
		return
	}
	u, sess, ok := s.accountUserAt(w, r, b, LinksPath)
	if !ok {
		return
	}
	p, ok := s.provider(r.PostFormValue("provider"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, "There is no such provider.", fmt.Errorf("link of unknown provider %q", r.PostFormValue("provider")))
		return
	}
	if !recentLogIn(sess, s.cfg.Now()) {
		s.record(r, linkStaleEvent(u, p))
		if err := s.save(w, r, b); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		redirect(w, "/login?"+url.Values{"return_to": {LinksPath}, "reason": {reasonLink}}.Encode())
		return
	}
	s.startUpstream(w, r, b, p, LinksPath, u.ID)
}

// linkReauth is how recent the log-in that links a provider from
// LinksPath must be: a browser left logged in does not let whoever sits
// down at it link their own provider account.
const linkReauth = 10 * time.Minute

// reasonLink is the log-in page's reason parameter of a link that asks
// to log in again (the page shows msgLinkReauth).
const reasonLink = "link"

const msgLinkReauth = "Please log in again to link a provider (a link needs a log-in of the last 10 minutes)."

// recentLogIn says whether sess was authenticated at most linkReauth
// before at.
func recentLogIn(sess *account.Session, at time.Time) bool {
	return !sess.AuthTime.Before(at.Add(-linkReauth))
}

// linkStaleEvent is the audit record of a link refused because the
// log-in is too old.
func linkStaleEvent(u *account.User, p idp.Provider) audit.Event {
	return audit.Event{Kind: "link", Action: "create", Actor: u.ID, Resource: "User/" + u.ID,
		Outcome: audit.Denied, Detail: "provider " + p.ID + ": log-in older than 10 minutes, re-authentication asked"}
}

// linksUnlink removes one of the person's links.
func (s *Server) linksUnlink(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "unlink")
	if !ok {
		return
	}
	u, _, ok := s.accountUserAt(w, r, b, LinksPath)
	if !ok {
		return
	}
	err := s.cfg.Linker.Unlink(r.Context(), u.ID, u.ID, r.PostFormValue("issuer"), r.PostFormValue("subject"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, "This link does not exist (any more).", err)
		return
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, wrap("unlink", err))
		return
	}
	redirect(w, LinksPath)
}
