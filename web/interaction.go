package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
)

// pendingState is what a pending authorization request carries between the
// pages (stored as account.Pending.Request).
type pendingState struct {
	Req      authz.AuthorizeRequest `json:"req"`
	Patient  string                 `json:"patient,omitempty"`   // chosen in the picker
	PickedBy string                 `json:"picked_by,omitempty"` // user who chose it
	// Encounter was chosen (or skipped, when empty) in the encounter picker
	// by EncounterBy for the patient EncounterFor.
	Encounter    string `json:"encounter,omitempty"`
	EncounterFor string `json:"encounter_for,omitempty"`
	EncounterBy  string `json:"encounter_by,omitempty"`
}

// decisionRecord is what the consent page decided (account.Pending.Decision).
type decisionRecord struct {
	SessionID string   `json:"sid"`
	Denied    bool     `json:"denied,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
}

// Authorize implements authz.Interaction: log-in, patient picker and
// consent, in that order, each a 303 to a page whose flow ends at
// req.ResumeURL; the decision, once made, is returned once.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request, req *authz.AuthorizeRequest) (*authz.Decision, error) {
	ctx := r.Context()
	now := s.cfg.Now()
	b := s.browser(r)
	u, sess, err := s.current(ctx, b)
	if err != nil {
		return nil, err
	}
	none := slices.Contains(req.Prompt, "none")

	p, err := s.cfg.Store.Pending(ctx, b.BID, req.ID)
	stored := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, wrap("load pending request", err)
	}
	var st pendingState
	if stored {
		if err := json.Unmarshal(p.Request, &st); err != nil {
			return nil, wrap("decode pending request", err)
		}
	} else {
		p = &account.Pending{BrowserID: b.BID, RequestID: req.ID, Created: now, ExpiresAt: now.Add(s.cfg.PendingTTL)}
	}
	st.Req = *req
	pending := func(location string) (*authz.Decision, error) {
		raw, err := json.Marshal(st)
		if err != nil {
			return nil, wrap("encode pending request", err)
		}
		p.Request = raw
		if err := s.cfg.Store.PutPending(ctx, p); err != nil {
			return nil, wrap("store pending request", err)
		}
		if err := s.save(w, r, b); err != nil {
			return nil, err
		}
		redirect(w, location)
		return nil, authz.ErrInteractionPending
	}

	// 1. Log-in: none yet, or prompt=login / max_age ask for a log-in made
	// after this request started.
	fresh := sess != nil && !sess.AuthTime.Before(p.Created)
	if u == nil || slices.Contains(req.Prompt, "login") && !fresh ||
		req.MaxAge >= 0 && now.Sub(sess.AuthTime) > req.MaxAge && !fresh {
		if none {
			return nil, authz.ErrLoginRequired
		}
		q := url.Values{"return_to": {resumePath(req.ResumeURL)}}
		if req.LoginHint != "" {
			q.Set("login_hint", req.LoginHint)
		}
		return pending("/login?" + q.Encode())
	}

	// 2. Launch context: an EHR launch u may redeem, a patient user's own
	// record, or the picker for those who may act for other patients.
	launch, scopes, next, err := s.launchStep(u, st)
	if err != nil {
		if stored {
			if _, terr := s.cfg.Store.TakePending(ctx, b.BID, req.ID); terr != nil && !errors.Is(terr, store.ErrNotFound) {
				return nil, wrap("drop pending request", terr)
			}
		}
		return nil, err
	}
	if next != "" {
		if none {
			return nil, authz.ErrInteractionRequired
		}
		return pending(next)
	}
	st.Req.Scopes = scopes
	// 2b. Standalone launch/encounter: an encounter of that patient.
	if req.Launch == nil && slices.Contains(req.Scopes, "launch/encounter") && s.cfg.Encounters != nil && launch != nil &&
		launch.Patient != "" && launch.Encounter == "" {
		if st.EncounterBy != u.ID || st.EncounterFor != launch.Patient {
			if none {
				return nil, authz.ErrInteractionRequired
			}
			return pending("/pick-encounter?" + url.Values{"req": {req.ID}}.Encode())
		}
		launch.Encounter = st.Encounter
	}
	decide := func(scopes []string) *authz.Decision {
		return &authz.Decision{Subject: u.ID, AuthTime: sess.AuthTime, AMR: slices.Clone(sess.AMR), Scopes: scopes,
			Context: launch, SessionID: sess.ID}
	}

	// 3. A decision made on the consent page in this session: used once.
	if stored && len(p.Decision) > 0 {
		taken, err := s.cfg.Store.TakePending(ctx, b.BID, req.ID)
		if err == nil {
			var rec decisionRecord
			if json.Unmarshal(taken.Decision, &rec) == nil && rec.SessionID == sess.ID {
				if rec.Denied {
					return nil, authz.ErrAccessDenied
				}
				return decide(rec.Scopes), nil
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, wrap("take decision", err)
		}
		stored, p.Decision = false, nil
		p.Created = now
	}

	// 4. Consent: remembered per user and client, unless prompt=consent.
	c, err := s.cfg.Store.Consent(ctx, u.ID, req.ClientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, wrap("load consent", err)
	}
	if c != nil && c.Covers(st.Req.Scopes) && !slices.Contains(req.Prompt, "consent") {
		if stored {
			if _, err := s.cfg.Store.TakePending(ctx, b.BID, req.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, wrap("drop pending request", err)
			}
		}
		return decide(slices.Clone(st.Req.Scopes)), nil
	}
	if none {
		return nil, authz.ErrConsentRequired
	}
	return pending("/consent?" + url.Values{"req": {req.ID}}.Encode())
}

// Descriptions of the access_denied errors of the launch-context step.
const (
	msgNoPatientRecord = "This account is not linked to a patient record, so the app cannot be given a patient context " +
		"(launch/patient); an administrator can link the account to its Patient record."
	msgForeignLaunch = "This EHR launch was started by someone else; only that person, or someone who may act for " +
		"its patient, may use it."
)

// launchStep decides the launch context of the pending request st for user
// u (step 2 of Authorize), with the scopes that may then be granted:
//   - an EHR launch, if u may redeem it (mayRedeem), else access denied;
//   - when a patient is wanted and the launch names none: a patient user's
//     own record (PatientID), or the patient picked by u if u may act for
//     other patients (next is the picker page until u has picked);
//   - a patient without a linked record gets no patient context: access
//     denied when launch/patient was asked, else the patient/ scopes are
//     dropped.
//
// It reads only u and st, so that it can be a step of a state machine.
func (s *Server) launchStep(u *account.User, st pendingState) (launch *authz.LaunchContext, scopes []string, next string, err error) {
	scopes = st.Req.Scopes
	if st.Req.Launch != nil {
		c := *st.Req.Launch
		if !mayRedeem(u, &c) {
			return nil, nil, "", &authz.DeniedError{Description: msgForeignLaunch}
		}
		launch = &c
	}
	if !wantsPatient(scopes) || launch != nil && launch.Patient != "" {
		return launch, scopes, "", nil
	}
	if pid, ok := u.PatientID(); ok {
		return withPatient(launch, pid), scopes, "", nil
	}
	if u.MayActForOthers() {
		switch {
		case s.cfg.Patients == nil:
			return launch, scopes, "", nil // no picker configured: no context
		case st.Patient == "" || st.PickedBy != u.ID:
			return launch, scopes, "/pick-patient?" + url.Values{"req": {st.Req.ID}}.Encode(), nil
		}
		return withPatient(launch, st.Patient), scopes, "", nil
	}
	if slices.Contains(scopes, "launch/patient") {
		return nil, nil, "", &authz.DeniedError{Description: msgNoPatientRecord}
	}
	return launch, withoutPatientScopes(scopes), "", nil
}

// mayRedeem reports whether u may use the EHR launch lc: the person who
// launched it, or one who may act for its patient.
func mayRedeem(u *account.User, lc *authz.LaunchContext) bool {
	return lc.LaunchedBy != "" && lc.LaunchedBy == u.ID || u.MayActFor(lc.Patient)
}

// contextPatient is the patient of the pending request's launch context
// for user u (launchStep's), or "" when there is none yet.
func (s *Server) contextPatient(u *account.User, st pendingState) string {
	lc, _, next, err := s.launchStep(u, st)
	if err != nil || next != "" || lc == nil {
		return ""
	}
	return lc.Patient
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

// loadPending finds the pending request named by req for the logged-in user
// of this browser, or writes a response (log-in redirect or error page) and
// returns ok=false.
func (s *Server) loadPending(w http.ResponseWriter, r *http.Request, b *browser, reqID string) (
	u *account.User, sess *account.Session, p *account.Pending, st pendingState, ok bool) {
	ctx := r.Context()
	u, sess, err := s.current(ctx, b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if u == nil {
		s.save(w, r, b)
		redirect(w, "/login?"+url.Values{"return_to": {safeReturnTo(r.URL.Path + "?" + url.Values{"req": {reqID}}.Encode())}}.Encode())
		return
	}
	p, err = s.cfg.Store.Pending(ctx, b.BID, reqID)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusBadRequest, "This authorization request has expired or was started in another browser. "+
			"Please go back to the app and try again.", err)
		return
	}
	if err == nil {
		err = json.Unmarshal(p.Request, &st)
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	return u, sess, p, st, true
}

type scopeView struct {
	Value       string
	Description string
	Checked     bool
}

type consentView struct {
	CSRF       string
	ReqID      string
	User       string
	ClientID   string
	ClientName string
	ClientURI  string
	// Initials stand in for the client's logo: its logo_uri is never shown,
	// so that the browser fetches nothing from a third party (issue 9).
	Initials string
	Patient  string
	Scopes   []scopeView
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	reqID := r.URL.Query().Get("req")
	u, _, _, st, ok := s.loadPending(w, r, b, reqID)
	if !ok {
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v := consentView{CSRF: b.CSRF, ReqID: reqID, User: u.Label(), ClientID: st.Req.ClientID, ClientName: st.Req.ClientName,
		ClientURI: st.Req.ClientURI, Patient: s.contextPatient(u, st)}
	if v.ClientName == "" {
		v.ClientName = st.Req.ClientID
	}
	v.Initials = Initials(v.ClientName)
	for _, sc := range st.Req.Scopes {
		v.Scopes = append(v.Scopes, scopeView{Value: sc, Description: s.describe(sc), Checked: true})
	}
	s.render(w, r, http.StatusOK, "consent", v)
}

func (s *Server) consentSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "consent")
	if !ok {
		return
	}
	reqID := r.PostFormValue("req")
	u, sess, p, st, ok := s.loadPending(w, r, b, reqID)
	if !ok {
		return
	}
	ctx := r.Context()
	rec := decisionRecord{SessionID: sess.ID}
	ev := audit.Event{Kind: "consent", Actor: u.ID, ClientID: st.Req.ClientID, Patient: s.contextPatient(u, st)}
	switch r.PostFormValue("decision") {
	case "approve":
		chosen := r.PostForm["scope"]
		for _, sc := range st.Req.Scopes {
			if slices.Contains(chosen, sc) {
				rec.Scopes = append(rec.Scopes, sc)
			}
		}
		if err := s.cfg.Store.PutConsent(ctx, &account.Consent{UserID: u.ID, ClientID: st.Req.ClientID, Scopes: rec.Scopes}); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		ev.Outcome, ev.Scopes = audit.Success, joinScopes(rec.Scopes)
	case "deny":
		rec.Denied = true
		ev.Outcome = audit.Denied
	default:
		s.fail(w, r, http.StatusBadRequest, "Please choose Allow or Deny.", errors.New("consent: no decision"))
		return
	}
	p.Decision, _ = json.Marshal(rec)
	if err := s.cfg.Store.PutPending(ctx, p); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, ev)
	redirect(w, st.Req.ResumeURL)
}

func joinScopes(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
