package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/idp/link"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// Pages of federated log-in.
const (
	// LinkPath confirms the link of a provider's identity that has no
	// account here to the account the person has just logged in to.
	LinkPath = "/login/link"
	// LinksPath is the person's own page of linked identities.
	LinksPath = "/account/links"
)

// upstreamTTL bounds a log-in at a provider and a pending link.
const upstreamTTL = 10 * time.Minute

// upstreamTimeout bounds the upstream calls of a start (discovery) or of a
// callback (token, keys, userinfo) together; each is bounded by
// idp.HTTPClient too.
const upstreamTimeout = 30 * time.Second

// pendingLinkID is the RequestID of a pending link in account.Pendings.
const pendingLinkID = "idp-link"

// upstreamLogin is a log-in at a provider, stored as an account.Pending
// bound to the browser that started it (RequestID upstreamID(state)).
type upstreamLogin struct {
	Provider string    `json:"provider"`
	State    idp.State `json:"state"`
	ReturnTo string    `json:"return_to"`
	// LinkUser is the account that started a link from LinksPath ("" for
	// a log-in).
	LinkUser string `json:"link_user,omitempty"`
	// Session is sessionTag of the browser's log-in session at the start:
	// a callback after a log-in or log-out in between is refused.
	Session string `json:"session,omitempty"`
	// started is when the log-in was stored (the Pending's Created).
	started time.Time
}

// pendingLink is a verified identity with no account here, waiting for the
// person to log in to their account in the same browser and confirm.
type pendingLink struct {
	Provider string       `json:"provider"`
	Identity idp.Identity `json:"identity"`
}

// upstreamID is the RequestID of the log-in whose state parameter is state
// (the state itself is never a key or a log field).
func upstreamID(state string) string {
	sum := sha256.Sum256([]byte(state))
	return "idp:" + hex.EncodeToString(sum[:])
}

// sessionTag names log-in session sid in an upstream log-in ("" for none).
func sessionTag(sid string) string {
	if sid == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:8])
}

// maxState bounds the state parameter of a callback.
const maxState = 512

// callbackState is the callback's one state parameter, or false when it is
// missing, repeated or too long.
func callbackState(q url.Values) (string, bool) {
	v := q["state"]
	if len(v) != 1 || v[0] == "" || len(v[0]) > maxState {
		return "", false
	}
	return v[0], true
}

// checkProviders refuses provider ids that are not one path segment, are
// repeated, or are one of the pages' own /login/ paths (idp.Reserved).
func checkProviders(ps []idp.Provider) error {
	seen := map[string]bool{}
	for _, p := range ps {
		if p.ID == "" || url.PathEscape(p.ID) != p.ID || idp.Reserved(p.ID) || seen[p.ID] {
			return fmt.Errorf("web: provider id %q is empty, reserved, repeated or not a path segment", p.ID)
		}
		seen[p.ID] = true
	}
	return nil
}

// registerFederated adds the federated log-in's pages (only with a Linker).
func (s *Server) registerFederated(mux *http.ServeMux, h func(http.HandlerFunc) http.Handler) {
	if s.cfg.Linker == nil {
		return
	}
	mux.Handle("GET /login/{id}", h(s.upstreamStart))
	mux.Handle("GET /login/{id}/callback", h(s.upstreamCallback))
	mux.Handle("GET "+LinkPath, h(s.linkPage))
	mux.Handle("POST "+LinkPath, h(s.linkSubmit))
	mux.Handle("GET "+LinksPath, h(s.linksPage))
	mux.Handle("POST "+LinksPath, h(s.linksStart))
	mux.Handle("POST "+LinksPath+"/unlink", h(s.linksUnlink))
}

// provider is the configured provider id.
func (s *Server) provider(id string) (idp.Provider, bool) {
	for _, p := range s.cfg.Providers {
		if p.ID == id && p.Connector != nil {
			return p, true
		}
	}
	return idp.Provider{}, false
}

// loginProviders are the providers the log-in page offers (those
// /login/{id} starts).
func (s *Server) loginProviders() []idp.Provider {
	if s.cfg.Linker == nil {
		return nil
	}
	var out []idp.Provider
	for _, p := range s.cfg.Providers {
		if p.Connector != nil {
			out = append(out, p)
		}
	}
	return out
}

// fedEvent is the audit record of a federated log-in through p.
func fedEvent(p string, outcome, why string) audit.Event {
	d := "provider " + p
	if why != "" {
		d += ": " + why
	}
	return audit.Event{Kind: "login", Action: "federated", Outcome: outcome, Detail: d}
}

// upstreamStart sends the browser to the provider's log-in (GET
// /login/{id}?return_to=…).
func (s *Server) upstreamStart(w http.ResponseWriter, r *http.Request) {
	p, ok := s.provider(r.PathValue("id"))
	if !ok {
		s.fail(w, r, http.StatusNotFound, "There is no such way to log in.", fmt.Errorf("unknown provider %q", r.PathValue("id")))
		return
	}
	s.startUpstream(w, r, s.browser(r), p, safeReturnTo(r.URL.Query().Get("return_to")), "")
}

// startUpstream stores a new log-in at p bound to browser b (for a link of
// account linkUser when not "") and sends the browser to the provider.
func (s *Server) startUpstream(w http.ResponseWriter, r *http.Request, b *browser, p idp.Provider, returnTo, linkUser string) {
	st := idp.NewState(listener.BaseURL(r) + "/login/" + p.ID + "/callback")
	ctx, cancel := context.WithTimeout(r.Context(), upstreamTimeout)
	defer cancel()
	to, err := p.Connector.LoginURL(ctx, st)
	if err != nil {
		s.record(r, fedEvent(p.ID, audit.Failure, "provider unavailable"))
		s.fail(w, r, http.StatusUnauthorized, p.Name+" cannot be reached right now. Please try again later or log in another way.", err)
		return
	}
	raw, err := json.Marshal(upstreamLogin{Provider: p.ID, State: st, ReturnTo: returnTo, LinkUser: linkUser, Session: sessionTag(b.SID)})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", wrap("encode upstream log-in", err))
		return
	}
	now := s.cfg.Now()
	pe := &account.Pending{BrowserID: b.BID, RequestID: upstreamID(st.State), Request: raw, Created: now, ExpiresAt: now.Add(upstreamTTL)}
	if err := s.cfg.Store.PutPending(r.Context(), pe); err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, wrap("store upstream log-in", err))
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	redirect(w, to)
}

// Messages of the federated log-in's pages.
const (
	msgTryAgain     = "We could not complete this right now. Please try again."
	msgBadState     = "This log-in has expired, was already used, or was started in another browser. Please start the log-in again."
	msgUpstream     = "The provider did not complete the log-in. Please try again or log in another way."
	msgUnavailable  = "The provider could not be reached. Please try again later or log in another way."
	msgInvalid      = "Your identity at the provider could not be verified. Please try again or log in another way."
	msgDomain       = "Accounts of your organisation may not log in here."
	msgInactive     = "This account is not active. Please ask your administrator."
	msgElsewhere    = "This provider account is already linked to another account here."
	msgNoLinkUser   = "You are no longer logged in to the account you started linking. Please log in and try again."
	msgNoPendingFed = "No account link is waiting in this browser (it lasts 10 minutes). Please log in with the provider again."
)

// upstreamCallback verifies the provider's answer (GET
// /login/{id}/callback) for the log-in this browser started, and logs the
// person in, links the identity, or explains why not.
func (s *Server) upstreamCallback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, ok := s.provider(id)
	if !ok {
		s.fail(w, r, http.StatusNotFound, "There is no such way to log in.", fmt.Errorf("callback of unknown provider %q", id))
		return
	}
	b := s.browser(r)
	lg, ok := s.takeUpstream(w, r, b, p)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), upstreamTimeout)
	ident, err := p.Connector.HandleCallback(ctx, lg.State, r.URL.Query())
	cancel()
	if err != nil {
		s.upstreamRefused(w, r, p, err)
		return
	}
	if lg.LinkUser != "" {
		s.linkFromCallback(w, r, b, p, lg, ident)
		return
	}
	s.resolveLogin(w, r, b, p, lg, ident)
}

// takeUpstream takes (single use) the log-in at p that the callback's
// state names in browser b; a missing or unknown state, one of another
// browser or another provider is refused with 400 (ok false).
func (s *Server) takeUpstream(w http.ResponseWriter, r *http.Request, b *browser, p idp.Provider) (upstreamLogin, bool) {
	var lg upstreamLogin
	state, ok := callbackState(r.URL.Query())
	if !ok {
		s.record(r, fedEvent(p.ID, audit.Denied, "no state"))
		s.fail(w, r, http.StatusBadRequest, msgBadState, errors.New("callback without one state"))
		return lg, false
	}
	pe, err := s.cfg.Store.TakePending(r.Context(), b.BID, upstreamID(state))
	if errors.Is(err, store.ErrNotFound) {
		s.record(r, fedEvent(p.ID, audit.Denied, "unknown state"))
		s.fail(w, r, http.StatusBadRequest, msgBadState, errors.New("callback state unknown in this browser"))
		return lg, false
	}
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, wrap("take upstream log-in", err))
		return lg, false
	}
	if err := json.Unmarshal(pe.Request, &lg); err != nil || lg.Provider != p.ID || lg.State.State != state {
		s.record(r, fedEvent(p.ID, audit.Denied, "state of another provider"))
		s.fail(w, r, http.StatusBadRequest, msgBadState, fmt.Errorf("callback of %s for a log-in at %q", p.ID, lg.Provider))
		return lg, false
	}
	if lg.LinkUser == "" && lg.Session != sessionTag(b.SID) { // a link checks its account itself (linkFromCallback)
		s.record(r, fedEvent(p.ID, audit.Denied, "the browser logged in or out since the start"))
		s.fail(w, r, http.StatusBadRequest, msgBadState, errors.New("callback after a log-in or log-out in this browser"))
		return lg, false
	}
	lg.ReturnTo = safeReturnTo(lg.ReturnTo)
	lg.started = pe.Created
	return lg, true
}

// upstreamRefused answers a HandleCallback error: 403 for a domain not
// allowed, else 401, with a fixed message per kind (the provider's own
// words are not shown: anyone can put them in a callback URL).
func (s *Server) upstreamRefused(w http.ResponseWriter, r *http.Request, p idp.Provider, err error) {
	status, msg, why, outcome := http.StatusUnauthorized, msgInvalid, "identity not verified", audit.Denied
	switch {
	case errors.Is(err, idp.ErrDomain):
		status, msg, why = http.StatusForbidden, msgDomain, "domain not allowed"
	case errors.Is(err, idp.ErrUpstream):
		msg, why = msgUpstream, "provider error"
	case errors.Is(err, idp.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		msg, why, outcome = msgUnavailable, "provider unavailable", audit.Failure
	}
	s.record(r, fedEvent(p.ID, outcome, why))
	s.fail(w, r, status, msg, err)
}

// resolveLogin logs in the account of ident (Linker.Resolve), or, when it
// has none, keeps the identity as a pending link and explains.
func (s *Server) resolveLogin(w http.ResponseWriter, r *http.Request, b *browser, p idp.Provider, lg upstreamLogin, ident idp.Identity) {
	ctx := r.Context()
	out, err := s.cfg.Linker.Resolve(ctx, p, ident)
	switch {
	case errors.Is(err, link.ErrInactive) || err == nil && out.User != nil && !out.User.Active:
		s.record(r, fedEvent(p.ID, audit.Denied, "account inactive"))
		s.fail(w, r, http.StatusForbidden, msgInactive, errors.New("federated log-in of an inactive account"))
		return
	case errors.Is(err, link.ErrIncomplete):
		s.upstreamRefused(w, r, p, err)
		return
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, wrap("resolve identity", err))
		return
	case out.NeedsAccount || out.User == nil:
		s.needsAccount(w, r, b, p, lg, ident)
		return
	}
	why := ""
	switch {
	case out.Provisioned:
		why = "account provisioned"
	case out.LinkedByEmail:
		why = "linked by trusted email"
	}
	s.logIn(w, r, b, out.User, amrFederated, fedEvent(p.ID, audit.Success, why), lg.ReturnTo)
}

// Session methods of federated and sign-in code log-ins.
const (
	amrFederated = "fed"
	amrCode      = "code"
)

type needsAccountView struct {
	Provider string
	Email    string
	LoginURL string
	CodeURL  string
}

// needsAccount stores ident as the browser's pending link and explains
// (403): log in to your account here to link it, or ask an administrator.
func (s *Server) needsAccount(w http.ResponseWriter, r *http.Request, b *browser, p idp.Provider, lg upstreamLogin, ident idp.Identity) {
	raw, err := json.Marshal(pendingLink{Provider: p.ID, Identity: ident})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", wrap("encode pending link", err))
		return
	}
	now := s.cfg.Now()
	pe := &account.Pending{BrowserID: b.BID, RequestID: pendingLinkID, Request: raw, Created: now, ExpiresAt: now.Add(upstreamTTL)}
	if err := s.cfg.Store.PutPending(r.Context(), pe); err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, wrap("store pending link", err))
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, fedEvent(p.ID, audit.Denied, "no account"))
	back := url.Values{"return_to": {linkReturn(lg.ReturnTo)}}.Encode()
	v := needsAccountView{Provider: p.Name, Email: ident.Email, LoginURL: "/login?" + back}
	if s.cfg.SignInCodes != nil {
		v.CodeURL = SignInCodePath + "?" + back
	}
	s.render(w, r, http.StatusForbidden, "needs-account", v)
}

// linkReturn is the way to LinkPath on the way to returnTo.
func linkReturn(returnTo string) string {
	if u, err := url.Parse(returnTo); err == nil && u.Path == LinkPath {
		return returnTo
	}
	if returnTo == defaultLanding {
		return LinkPath
	}
	return LinkPath + "?" + url.Values{"return_to": {returnTo}}.Encode()
}

// afterLogin is where a log-in (password, sign-in code, provider) of
// browser b goes on to, and it keeps the browser's pending link only for
// the log-in that was started from the needs-account page (returnTo is
// LinkPath): any other log-in drops it, so that an identity left pending
// in a shared browser is never offered to the next person who logs in.
func (s *Server) afterLogin(ctx context.Context, b *browser, returnTo string) string {
	if s.cfg.Linker == nil {
		return returnTo
	}
	if u, err := url.Parse(returnTo); err != nil || u.Path != LinkPath {
		s.dropPendingLink(ctx, b)
	}
	return returnTo
}

// dropPendingLink deletes browser b's pending link, if any.
func (s *Server) dropPendingLink(ctx context.Context, b *browser) {
	if _, err := s.cfg.Store.TakePending(ctx, b.BID, pendingLinkID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("pending link not dropped", "err", err)
	}
}

// linkFromCallback links ident to the account that started the link from
// LinksPath, when this browser is still logged in to it by a log-in at
// most linkReauth older than the start (linksStart's rule, checked again).
func (s *Server) linkFromCallback(w http.ResponseWriter, r *http.Request, b *browser, p idp.Provider, lg upstreamLogin, ident idp.Identity) {
	u, sess, err := s.current(r.Context(), b)
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, err)
		return
	}
	if u == nil || u.ID != lg.LinkUser {
		s.record(r, audit.Event{Kind: "link", Action: "create", Actor: lg.LinkUser, Resource: "User/" + lg.LinkUser,
			Outcome: audit.Denied, Detail: "provider " + p.ID + ": the account is no longer logged in"})
		s.fail(w, r, http.StatusForbidden, msgNoLinkUser, errors.New("link callback without the linking account's session"))
		return
	}
	if !recentLogIn(sess, lg.started) {
		s.record(r, linkStaleEvent(u, p))
		s.fail(w, r, http.StatusForbidden, msgLinkReauth, errors.New("link callback of a log-in older than the re-authentication window"))
		return
	}
	if s.linkTo(w, r, u, p, ident) {
		redirect(w, LinksPath)
	}
}

// linkTo links ident (verified by p) to u, answering the refusals itself.
func (s *Server) linkTo(w http.ResponseWriter, r *http.Request, u *account.User, p idp.Provider, ident idp.Identity) bool {
	err := s.cfg.Linker.Link(r.Context(), u.ID, p, ident)
	switch {
	case errors.Is(err, link.ErrLinkedElsewhere):
		s.record(r, audit.Event{Kind: "link", Action: "create", Actor: u.ID, Resource: "User/" + u.ID,
			Outcome: audit.Denied, Detail: "provider " + p.ID + ": linked to another account"})
		s.fail(w, r, http.StatusForbidden, msgElsewhere, err)
		return false
	case errors.Is(err, link.ErrIncomplete):
		s.upstreamRefused(w, r, p, err)
		return false
	case err != nil:
		s.fail(w, r, http.StatusServiceUnavailable, msgTryAgain, wrap("link identity", err))
		return false
	}
	return true
}
