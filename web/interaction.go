package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/store"
)

// Authorize implements authz.Interaction as the state machine of flow.go:
// it loads the request's record, applies the resumed event with what it
// learned (the log-in session, the remembered consent), and then either
// returns the outcome (once: the record is taken) or stores the record and
// sends the browser to the page of its state.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request, req *authz.AuthorizeRequest) (*authz.Decision, error) {
	ctx := r.Context()
	b := s.browser(r)
	ev, err := s.resumeEvent(ctx, b, req.ClientID)
	if err != nil {
		return nil, err
	}
	p, f, stored, err := s.loadFlow(ctx, b.BID, req)
	if err != nil {
		return nil, err
	}
	f, _ = next(f, ev) // a stored record is never done or failed
	if terminal(f.State) && stored {
		// Single use: the outcome is that of the record taken from the store.
		taken, err := s.cfg.Store.TakePending(ctx, b.BID, req.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			f, p = newFlow(*req, ev.Now), s.newPending(b.BID, req.ID, ev.Now)
		case err != nil:
			return nil, wrap("take pending request", err)
		default:
			if f, err = decodeFlow(taken.Request, req); err != nil {
				return nil, err
			}
		}
		f, _ = next(f, ev)
	}
	switch f.State {
	case stateDone:
		if f.Denied {
			return nil, authz.ErrAccessDenied
		}
		return &authz.Decision{Subject: ev.User.ID, AuthTime: ev.Session.AuthTime, AMR: slices.Clone(ev.Session.AMR),
			Scopes: f.Granted, Context: f.Context, SessionID: ev.Session.ID}, nil
	case stateFailed:
		return nil, &authz.DeniedError{Description: f.Failure}
	}
	if slices.Contains(req.Prompt, "none") {
		return nil, promptNoneError(f.State)
	}
	if err := s.putFlow(ctx, p, f); err != nil {
		return nil, err
	}
	if err := s.save(w, r, b); err != nil {
		return nil, err
	}
	redirect(w, f.location())
	return nil, authz.ErrInteractionPending
}

// terminal reports whether st ends the request's record.
func terminal(st state) bool { return st == stateDone || st == stateFailed }

// promptNoneError is the OIDC error of prompt=none when the request waits
// in state st.
func promptNoneError(st state) error {
	switch st {
	case stateLogin, stateUpstream, stateSecondFactor, stateEnrol:
		return authz.ErrLoginRequired
	case stateConsent:
		return authz.ErrConsentRequired
	}
	return authz.ErrInteractionRequired
}

// resumeEvent gathers what the resumed event needs: the browser's log-in
// (how far it has got) and the person's remembered consent for clientID.
func (s *Server) resumeEvent(ctx context.Context, b *browser, clientID string) (resumed, error) {
	ev := resumed{Now: s.cfg.Now(), Patients: s.cfg.Patients != nil, Encounters: s.cfg.Encounters != nil}
	u, sess, step, err := s.loggedIn(ctx, b)
	if err != nil || u == nil {
		ev.Login = stateLogin
		return ev, err
	}
	ev.User, ev.Session, ev.Login = u, sess, step
	if ev.Rights, err = s.rights(ctx, u); err != nil {
		return ev, err
	}
	c, err := s.cfg.Store.Consent(ctx, u.ID, clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return ev, wrap("load consent", err)
	}
	ev.Consent = c
	return ev, nil
}

// location is the page of f's state, or the authorization endpoint (to
// take the next step) when none.
func (f *flow) location() string {
	req := url.Values{"req": {f.Req.ID}}.Encode()
	switch f.State {
	case stateLogin, stateUpstream:
		back := url.Values{"return_to": {resumePath(f.Req.ResumeURL)}}
		if f.Req.LoginHint != "" {
			back.Set("login_hint", f.Req.LoginHint)
		}
		return "/login?" + back.Encode()
	case stateSecondFactor, stateEnrol:
		return loginLocation(f.State, resumePath(f.Req.ResumeURL))
	case statePatient:
		return "/pick-patient?" + req
	case stateEncounter:
		return "/pick-encounter?" + req
	case stateConsent:
		return "/consent?" + req
	}
	return f.Req.ResumeURL
}

func (s *Server) newPending(bid, reqID string, now time.Time) *account.Pending {
	return &account.Pending{BrowserID: bid, RequestID: reqID, Created: now, ExpiresAt: now.Add(s.cfg.PendingTTL)}
}

// loadFlow loads the record of req for browser bid (with req's current
// parameters), or makes a new one (stored false).
func (s *Server) loadFlow(ctx context.Context, bid string, req *authz.AuthorizeRequest) (*account.Pending, flow, bool, error) {
	now := s.cfg.Now()
	p, err := s.cfg.Store.Pending(ctx, bid, req.ID)
	if errors.Is(err, store.ErrNotFound) {
		return s.newPending(bid, req.ID, now), newFlow(*req, now), false, nil
	}
	if err != nil {
		return nil, flow{}, false, wrap("load pending request", err)
	}
	f, err := decodeFlow(p.Request, req)
	return p, f, err == nil, err
}

// decodeFlow reads a stored record; req, when not nil, replaces its request
// (the authorization endpoint validated it again).
func decodeFlow(raw []byte, req *authz.AuthorizeRequest) (flow, error) {
	var f flow
	if err := json.Unmarshal(raw, &f); err != nil {
		return flow{}, wrap("decode pending request", err)
	}
	if f.State == "" || terminal(f.State) {
		return flow{}, fmt.Errorf("web: pending request in state %q", f.State)
	}
	if req != nil {
		f.Req = *req
	}
	return f, nil
}

// putFlow stores f as p's record.
func (s *Server) putFlow(ctx context.Context, p *account.Pending, f flow) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return wrap("encode pending request", err)
	}
	p.Request, p.Decision = raw, nil
	if err := s.cfg.Store.PutPending(ctx, p); err != nil {
		return wrap("store pending request", err)
	}
	return nil
}

// Descriptions of the access_denied errors of the launch-context step.
const (
	msgNoPatientRecord = "This account is not linked to a patient record, so the app cannot be given a patient context " +
		"(launch/patient); an administrator can link the account to its Patient record."
	msgForeignLaunch = "This EHR launch was started by someone else; only that person, or someone who may act for " +
		"its patient, may use it."
)

// launchStep decides the launch context of request f for user u with
// effective rights r (a step of resume), with the scopes that may then be
// granted:
//   - the requested scopes narrowed to r's ceiling for apps (smart.NarrowTo
//     under Rights.AppLimit: no system/ scope), so that the consent page
//     offers only what may be granted;
//   - an EHR launch, if u may redeem it (mayRedeem), else access denied;
//   - when a patient is wanted and the launch names none: a patient user's
//     own record (PatientID), or the patient u picked if u may act for
//     other patients by r's roles (picker is true until u has picked; with
//     no picker configured, no context);
//   - a patient without a linked record gets no patient context: access
//     denied when launch/patient was asked, else the patient/ scopes are
//     dropped.
//
// It reads only its arguments (D1 of issue 9).
func launchStep(u *account.User, r account.Rights, f flow, pickerOn bool) (launch *authz.LaunchContext, scopes []string, picker bool, err error) {
	scopes = smart.NarrowTo(f.Req.Scopes, r.AppLimit())
	if f.Req.Launch != nil {
		c := *f.Req.Launch
		if !mayRedeem(u, r, &c) {
			return nil, nil, false, &authz.DeniedError{Description: msgForeignLaunch}
		}
		launch = &c
	}
	if !wantsPatient(scopes) || launch != nil && launch.Patient != "" {
		return launch, scopes, false, nil
	}
	if pid, ok := u.PatientID(); ok {
		return withPatient(launch, pid), scopes, false, nil
	}
	if account.MayActForOthers(r.Roles) {
		switch {
		case !pickerOn:
			return launch, scopes, false, nil // no picker configured: no context
		case f.Patient == "" || f.Subject != u.ID:
			return launch, scopes, true, nil
		}
		return withPatient(launch, f.Patient), scopes, false, nil
	}
	if slices.Contains(scopes, "launch/patient") {
		return nil, nil, false, &authz.DeniedError{Description: msgNoPatientRecord}
	}
	return launch, withoutPatientScopes(scopes), false, nil
}

// mayRedeem reports whether u, with effective rights r, may use the EHR
// launch lc: the person who launched it, or one who may act for its
// patient with r's roles (account.User.MayActForWith).
func mayRedeem(u *account.User, r account.Rights, lc *authz.LaunchContext) bool {
	return lc.LaunchedBy != "" && lc.LaunchedBy == u.ID || u.MayActForWith(r.Roles, lc.Patient)
}

func withPatient(l *authz.LaunchContext, id string) *authz.LaunchContext {
	if l == nil {
		l = &authz.LaunchContext{}
	}
	l.Patient = id
	return l
}

// withoutPatientScopes is scopes without the patient/ ones.
func withoutPatientScopes(scopes []string) []string {
	return slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return strings.HasPrefix(s, "patient/") })
}

// wantsPatient reports whether the request needs a patient in context:
// launch/patient, or any patient/ scope (a patient/ scope granted without a
// patient context would reach nothing: the IG lets the server infer
// launch/patient, checklist E3).
func wantsPatient(scopes []string) bool {
	for _, s := range scopes {
		if s == "launch/patient" || strings.HasPrefix(s, "patient/") {
			return true
		}
	}
	return false
}

// resumePath turns the absolute ResumeURL into the relative path the log-in
// page accepts as return_to.
func resumePath(resume string) string {
	u, err := url.Parse(resume)
	if err != nil {
		return defaultLanding
	}
	return safeReturnTo(u.RequestURI())
}

// loadPending finds the record of request reqID for the logged-in user of
// this browser, or writes a response (log-in redirect or error page) and
// returns ok=false.
func (s *Server) loadPending(w http.ResponseWriter, r *http.Request, b *browser, reqID string) (
	u *account.User, sess *account.Session, p *account.Pending, f flow, ok bool) {
	ctx := r.Context()
	u, sess, err := s.current(ctx, b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if u == nil {
		s.toLogin(w, r, b, r.URL.Path+"?"+url.Values{"req": {reqID}}.Encode())
		return
	}
	p, err = s.cfg.Store.Pending(ctx, b.BID, reqID)
	if err == nil {
		f, err = decodeFlow(p.Request, nil)
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && f.State == "" {
		s.fail(w, r, http.StatusBadRequest, "This authorization request has expired or was started in another browser. "+
			"Please go back to the app and try again.", err)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	return u, sess, p, f, true
}

// onPage reports whether request f (loaded for u) may show page: when it
// is at another step the browser is sent there, and when its steps were
// taken by another person, to the authorization endpoint (which starts
// them again for u).
func (s *Server) onPage(w http.ResponseWriter, r *http.Request, b *browser, u *account.User, f flow, page state) bool {
	if f.Subject == u.ID && (f.State == page || f.mayGoBackTo(page)) {
		return true
	}
	to := f.location()
	if f.Subject != u.ID {
		to = f.Req.ResumeURL
	}
	s.save(w, r, b)
	redirect(w, to)
	return false
}

// move answers a page's event: with err from next (errIllegal: the state
// did not allow it) a 409 error page, else the new record f stored and a
// 303 to where its state leads. It reports whether f was stored.
func (s *Server) move(w http.ResponseWriter, r *http.Request, p *account.Pending, f flow, err error) bool {
	if errors.Is(err, errIllegal) {
		s.fail(w, r, http.StatusConflict, "This step of the authorization request is over or has changed. "+
			"Please go back to the app and try again.", err)
		return false
	}
	if err == nil {
		err = s.putFlow(r.Context(), p, f)
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return false
	}
	redirect(w, f.location())
	return true
}

type scopeView struct {
	Value       string
	Description string
	Checked     bool
}

type consentView struct {
	CSRF       string
	ReqID      string
	Rev        int
	User       string
	ClientID   string
	ClientName string
	ClientURI  string
	// Initials stand in for the client's logo: its logo_uri is never shown,
	// so that the browser fetches nothing from a third party (issue 9).
	Initials string
	// Patient is the patient in context (bare id) and PatientName its name
	// when the directory knows it.
	Patient     string
	PatientName string
	Scopes      []scopeView
	// Unavailable are requested scopes that the person's rights do not
	// allow as asked (left out, or offered narrowed in Scopes).
	Unavailable []scopeView
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	reqID := r.URL.Query().Get("req")
	u, _, _, f, ok := s.loadPending(w, r, b, reqID)
	if !ok || !s.onPage(w, r, b, u, f, stateConsent) {
		return
	}
	if f.State != stateConsent { // answered or changed: the browser goes on
		s.save(w, r, b)
		redirect(w, f.location())
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v := consentView{CSRF: b.CSRF, ReqID: reqID, Rev: f.Rev, User: u.Label(), ClientID: f.Req.ClientID,
		ClientName: f.Req.ClientName, ClientURI: f.Req.ClientURI}
	if f.Context != nil {
		v.Patient = f.Context.Patient
		v.PatientName = s.patientName(r.Context(), v.Patient)
	}
	if v.ClientName == "" {
		v.ClientName = f.Req.ClientID
	}
	v.Initials = Initials(v.ClientName)
	for _, sc := range f.Scopes {
		v.Scopes = append(v.Scopes, scopeView{Value: sc, Description: s.describe(sc), Checked: true})
	}
	for _, sc := range f.Unavailable {
		v.Unavailable = append(v.Unavailable, scopeView{Value: sc, Description: s.describe(sc)})
	}
	s.render(w, r, http.StatusOK, "consent", v)
}

// patientName is the name of the patient with id in the directory, or ""
// (no directory, unknown id, or a failure, which is logged: the page then
// shows the id alone).
func (s *Server) patientName(ctx context.Context, id string) string {
	if id == "" || s.cfg.Patients == nil {
		return ""
	}
	p, err := s.cfg.Patients.Patient(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("consent page: patient name", "err", err)
		}
		return ""
	}
	return p.Name
}

func (s *Server) consentSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "consent")
	if !ok {
		return
	}
	u, sess, p, f, ok := s.loadPending(w, r, b, r.PostFormValue("req"))
	if !ok {
		return
	}
	ev := decided{User: u.ID, Session: sess.ID, Scopes: r.PostForm["scope"]}
	// The revision the page showed is required: a page shown before a
	// later pick (another tab, the back button) must not decide.
	n, err := strconv.Atoi(r.PostFormValue("rev"))
	if err != nil || n <= 0 {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", fmt.Errorf("consent: rev %q", r.PostFormValue("rev")))
		return
	}
	ev.Rev = n
	switch r.PostFormValue("decision") {
	case "approve":
	case "deny":
		ev.Denied = true
	default:
		s.fail(w, r, http.StatusBadRequest, "Please choose Allow or Deny.", errors.New("consent: no decision"))
		return
	}
	g, err := next(f, ev)
	rec := audit.Event{Kind: "consent", Actor: u.ID, ClientID: f.Req.ClientID, Outcome: audit.Denied}
	if err == nil && g.Context != nil {
		rec.Patient = g.Context.Patient
	}
	if err == nil && !ev.Denied {
		err = s.cfg.Store.PutConsent(r.Context(), &account.Consent{UserID: u.ID, ClientID: f.Req.ClientID, Scopes: g.Decision.Scopes})
		rec.Outcome, rec.Scopes = audit.Success, strings.Join(g.Decision.Scopes, " ")
	}
	if s.move(w, r, p, g, err) {
		s.record(r, rec)
	}
}
