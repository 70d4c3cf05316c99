package web

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
)

// The interaction of one authorization request is a state machine. Its
// record (flow, stored as account.Pending.Request, bound to the browser)
// holds everything the pages learned; the handlers load it, apply one event
// with next, store it and send the browser where its state says. next is
// pure: the handlers do the I/O first and pass what they learned in the
// event.
//
//	                 ┌─────────────── resume (no session, prompt=login, max_age) ──────────────────┐
//	                 ▼                                                                             │
//	start ──resume──▶ login ─(/login: password, /login/code)─▶ second_factor ─(code)──────┐        │
//	  │                  ├────────────────────────────────────▶ enrol ─(confirm)───────────┤        │
//	  │                  └─(/login/{id})─▶ upstream ─(callback)─▶ second_factor/enrol/done ─┤        │
//	  │ ◀──────────────────────────── resume ◀─────────────────────────────────────────────┘        │
//	  ├──resume──▶ patient ──pick──▶ start                                                         │
//	  ├──resume──▶ encounter ──pick──▶ start                                                       │
//	  ├──resume──▶ consent ──decide──▶ decided ──resume (same session)──▶ done                     │
//	  ├──resume (remembered consent covers)──▶ done                                                │
//	  └──resume (launch refused)──▶ failed                                                         │
//	encounter, consent, decided ──pick patient (back to the picker)──▶ start ──────────────────────┘
//	consent, decided ──pick encounter (back to the encounter picker)──▶ start
//
// Every transition clears the fields of the later steps: another person
// clears the picks and the decision; a patient pick clears the encounter
// and the decision; an encounter pick clears the decision. A decision
// cleared by going back also stops a remembered consent (which is that very
// decision, made for the other patient) from skipping the consent page.
// The log-in states (login, upstream, second_factor, enrol) are where the
// browser's log-in session stands (sessionStep); the session, not this
// record, holds the log-in. upstream is a log-in at a federated provider:
// the browser is at the provider, its state (the state parameter, nonce
// and PKCE verifier) is a Pending of its own bound to the browser
// (federated.go), and the callback either starts a session with amr
// ["fed"], which sessionStep takes on like a password's, or leaves the
// browser at login. A request resumed while its browser is at upstream is
// where a browser without a session is: login (its page is the log-in
// page, loginLocation; a log-in at a provider is not resumed, the person
// starts another).
type state string

// States of an authorization request's interaction.
const (
	stateStart        state = "start"         // received or changed: the authorization endpoint takes the next step
	stateLogin        state = "login"         // waits for a log-in (/login)
	stateUpstream     state = "upstream"      // waits for the provider's callback (/login/{id}/callback)
	stateSecondFactor state = "second_factor" // waits for the second factor (/login/second-factor)
	stateEnrol        state = "enrol"         // waits for the forced enrolment of a second factor (/login/enrol)
	statePatient      state = "patient"       // waits for the patient picker (/pick-patient)
	stateEncounter    state = "encounter"     // waits for the encounter picker (/pick-encounter)
	stateConsent      state = "consent"       // waits for the consent page (/consent)
	stateDecided      state = "decided"       // the consent page answered; the authorization endpoint takes it
	stateDone         state = "done"          // the decision goes to authz, once; the record is deleted
	stateFailed       state = "failed"        // the request is refused (Failure); the record is deleted
)

// flow is the one record of an authorization request's interaction.
type flow struct {
	State state                  `json:"state"`
	Req   authz.AuthorizeRequest `json:"req"`
	// Created is when the record was made (a log-in after it is fresh for
	// prompt=login and max_age).
	Created time.Time `json:"created"`
	// Rev counts the changes of the choices (picks, person); the consent
	// page carries it, so that a page shown before a change is refused.
	Rev int `json:"rev"`
	// Subject is the person the later steps were taken by.
	Subject string `json:"subject,omitempty"`
	// Shown are the pages this request has shown to Subject (going back to
	// one is a legal transition).
	Shown []state `json:"shown,omitempty"`
	// Patient was chosen in the picker.
	Patient string `json:"patient,omitempty"`
	// Encounter was chosen (or skipped, when empty) in the encounter picker.
	Encounter       string `json:"encounter,omitempty"`
	EncounterPicked bool   `json:"encounter_picked,omitempty"`
	// Decision is what the consent page decided.
	Decision *decision `json:"decision,omitempty"`
	// Reconsent: a decision was cleared by going back, so a remembered
	// consent does not skip the consent page.
	Reconsent bool `json:"reconsent,omitempty"`

	// Derived by the last resume (for the pages and the outcome):
	// the launch context and the scopes that may be granted.
	Context *authz.LaunchContext `json:"context,omitempty"`
	Scopes  []string             `json:"scopes,omitempty"`
	// Unavailable are the requested scopes the person's rights do not
	// allow as asked (left out, or narrowed to what Scopes offers).
	Unavailable []string `json:"unavailable,omitempty"`
	// Failure describes why the request was refused (state failed).
	Failure string `json:"failure,omitempty"`
	// Granted are the scopes of the outcome (state done); Denied when the
	// person refused.
	Granted []string `json:"granted,omitempty"`
	Denied  bool     `json:"denied,omitempty"`
}

// decision is what the consent page decided, in which log-in session.
type decision struct {
	SessionID string   `json:"sid"`
	Denied    bool     `json:"denied,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
}

// newFlow is the record of a new request.
func newFlow(req authz.AuthorizeRequest, now time.Time) flow {
	return flow{State: stateStart, Req: req, Created: now}
}

// shown reports whether the request has shown page st.
func (f *flow) shown(st state) bool { return slices.Contains(f.Shown, st) }

// show enters page state st.
func (f *flow) show(st state) {
	f.State = st
	if !f.shown(st) {
		f.Shown = append(f.Shown, st)
	}
}

// clearDecision drops the consent page's answer; a remembered consent no
// longer skips the page when there was one.
func (f *flow) clearDecision() {
	if f.Decision != nil {
		f.Reconsent = true
	}
	f.Decision = nil
}

// restartFor clears every choice when the person changes.
func (f *flow) restartFor(subject string) {
	if f.Subject == subject {
		return
	}
	f.Subject, f.Shown, f.Patient, f.Encounter, f.EncounterPicked = subject, nil, "", "", false
	f.Context, f.Scopes, f.Unavailable = nil, nil, nil
	f.Decision, f.Reconsent = nil, false
	f.Rev++
}

// event is what a handler learned: resumed, pickedPatient, pickedEncounter
// or decided.
type event interface{ name() string }

// resumed: the authorization endpoint was called (again) for the request.
type resumed struct {
	Now time.Time
	// User and Session are the browser's log-in (nil: none); Login is how
	// far that log-in has got (sessionStep); Rights are User's effective
	// rights (roles through groups included, and the scope ceiling).
	User    *account.User
	Session *account.Session
	Login   state
	Rights  account.Rights
	// Consent is the person's remembered consent for the client (or nil).
	Consent *account.Consent
	// Patients and Encounters report whether the pickers are configured.
	Patients, Encounters bool
}

// pickedPatient: the patient picker was posted by User.
type pickedPatient struct{ User, Patient string }

// pickedEncounter: the encounter picker was posted by User (Encounter ""
// skips).
type pickedEncounter struct{ User, Encounter string }

// decided: the consent page was posted by User in Session. Rev is the
// revision the page showed; it must be the record's.
type decided struct {
	User, Session string
	Rev           int
	Denied        bool
	Scopes        []string
}

func (resumed) name() string         { return "resume" }
func (pickedPatient) name() string   { return "pick patient" }
func (pickedEncounter) name() string { return "pick encounter" }
func (decided) name() string         { return "decide" }

// errIllegal is a transition the record's state does not allow.
var errIllegal = errors.New("web: illegal transition")

func illegal(f flow, ev event) error {
	return fmt.Errorf("%w: %s in state %s", errIllegal, ev.name(), f.State)
}

// next applies ev to f: the new record, or f unchanged with an error
// wrapping errIllegal when f's state does not allow ev.
func next(f flow, ev event) (flow, error) {
	if f.State == stateDone || f.State == stateFailed {
		return f, illegal(f, ev)
	}
	f.Shown, f.Scopes, f.Granted = slices.Clone(f.Shown), slices.Clone(f.Scopes), slices.Clone(f.Granted)
	switch ev := ev.(type) {
	case resumed:
		return resume(f, ev), nil
	case pickedPatient:
		if !f.mayGoBackTo(statePatient) || ev.User != f.Subject || ev.Patient == "" {
			return f, illegal(f, ev)
		}
		f.Patient, f.Encounter, f.EncounterPicked = ev.Patient, "", false
		// The launch context and scopes were the old patient's: until the
		// next resume works them out again, no later step may use them
		// (an encounter picked now would be checked against the old one).
		f.Context, f.Scopes = nil, nil
		f.clearDecision()
		f.State, f.Rev = stateStart, f.Rev+1
		return f, nil
	case pickedEncounter:
		// An encounter belongs to the patient in context: none until
		// resume has worked the context out (again, after a new pick).
		if !f.mayGoBackTo(stateEncounter) || ev.User != f.Subject || f.patient() == "" {
			return f, illegal(f, ev)
		}
		f.Encounter, f.EncounterPicked = ev.Encounter, true
		f.clearDecision()
		f.State, f.Rev = stateStart, f.Rev+1
		return f, nil
	case decided:
		if f.State != stateConsent || ev.User != f.Subject || ev.Rev != f.Rev {
			return f, illegal(f, ev)
		}
		d := &decision{SessionID: ev.Session, Denied: ev.Denied}
		if !ev.Denied {
			for _, sc := range f.Scopes {
				if slices.Contains(ev.Scopes, sc) {
					d.Scopes = append(d.Scopes, sc)
				}
			}
		}
		f.Decision, f.State = d, stateDecided
		return f, nil
	}
	return f, illegal(f, ev)
}

// mayGoBackTo reports whether page st may be posted: the request has shown
// it and is past the log-in, not done.
func (f *flow) mayGoBackTo(st state) bool {
	switch f.State {
	case stateStart, statePatient, stateEncounter, stateConsent, stateDecided:
		return f.shown(st)
	}
	return false
}

// resume takes the next step of f: the log-in, the launch context, the
// encounter, the consent page's decision, a remembered consent, or the
// consent page.
func resume(f flow, ev resumed) flow {
	f.Failure, f.Granted, f.Denied = "", nil, false
	if st := loginStep(f, ev); st != stateDone {
		f.State = st
		return f
	}
	f.restartFor(ev.User.ID)
	launch, scopes, picker, err := launchStep(ev.User, ev.Rights, f, ev.Patients)
	if err != nil {
		var de *authz.DeniedError
		errors.As(err, &de)
		f.State, f.Failure = stateFailed, de.Description
		return f
	}
	f.Context, f.Scopes, f.Unavailable = launch, scopes, unavailable(f.Req.Scopes, scopes)
	if picker {
		f.show(statePatient)
		return f
	}
	if wantsEncounter(f.Req, launch, ev.Encounters) {
		if !f.EncounterPicked {
			f.show(stateEncounter)
			return f
		}
		launch.Encounter = f.Encounter
	}
	if d := f.Decision; d != nil {
		if d.SessionID == ev.Session.ID {
			f.State, f.Granted, f.Denied = stateDone, slices.Clone(d.Scopes), d.Denied
			return f
		}
		f.Decision = nil // made in another log-in session: ask again
	}
	if c := ev.Consent; c != nil && c.Covers(f.Scopes) && !f.Reconsent && !slices.Contains(f.Req.Prompt, "consent") {
		f.State, f.Granted = stateDone, slices.Clone(f.Scopes)
		return f
	}
	f.show(stateConsent)
	return f
}

// unavailable are the requested scopes not offered as asked.
func unavailable(requested, offered []string) []string {
	var out []string
	for _, sc := range requested {
		if !slices.Contains(offered, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// loginStep is where the browser's log-in stands for f: a log-in (none, or
// not fresh enough for prompt=login or max_age), the second factor or its
// enrolment (ev.Login), or stateDone when it is complete.
func loginStep(f flow, ev resumed) state {
	if ev.User == nil || ev.Session == nil {
		return stateLogin
	}
	fresh := !ev.Session.AuthTime.Before(f.Created)
	if slices.Contains(f.Req.Prompt, "login") && !fresh ||
		f.Req.MaxAge >= 0 && ev.Now.Sub(ev.Session.AuthTime) > f.Req.MaxAge && !fresh {
		return stateLogin
	}
	return ev.Login
}

// sessionStep is how far a log-in session with methods amr has got: the
// second factor when the account is enrolled (or required to be) and the
// session lacks it (RFC 8176 "otp"), its enrolment when it is required but
// not enrolled, else stateDone.
func sessionStep(amr []string, enrolled, required bool) state {
	switch {
	case slices.Contains(amr, amrOTP) || !enrolled && !required:
		return stateDone
	case enrolled:
		return stateSecondFactor
	}
	return stateEnrol
}

// amrOTP is the RFC 8176 method of a one-time password (the second factor).
const amrOTP = "otp"

// wantsEncounter reports whether a standalone launch with launch/encounter
// needs the encounter picker for launch's patient.
func wantsEncounter(req authz.AuthorizeRequest, launch *authz.LaunchContext, picker bool) bool {
	return picker && req.Launch == nil && slices.Contains(req.Scopes, "launch/encounter") && launch != nil &&
		launch.Patient != "" && launch.Encounter == ""
}

// patient is the patient in the launch context of the last resume, or "".
func (f *flow) patient() string {
	if f.Context == nil {
		return ""
	}
	return f.Context.Patient
}

// clientName names the client on the pages (its id when it has no name).
func (f *flow) clientName() string {
	if f.Req.ClientName != "" {
		return f.Req.ClientName
	}
	return f.Req.ClientID
}
