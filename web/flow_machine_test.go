package web

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
)

// TestNext is the table of the interaction's state machine (flow.go):
// every transition of the diagram, the refused ones included.
func TestNext(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	doc := &account.User{ID: "doc", Roles: []string{account.RolePractitioner}}
	other := &account.User{ID: "doc2", Roles: []string{account.RolePractitioner}}
	pat := &account.User{ID: "pat", FHIRUser: "Patient/p1", Roles: []string{account.RolePatient}}
	norec := &account.User{ID: "norec", Roles: []string{account.RolePatient}}
	sess := &account.Session{ID: "s1", AuthTime: t0.Add(time.Second), AMR: []string{"pwd"}}
	sess2 := &account.Session{ID: "s2", AuthTime: t0.Add(time.Second), AMR: []string{"pwd"}}
	fed := &account.Session{ID: "s3", AuthTime: t0.Add(time.Second), AMR: []string{"fed"}}
	old := &account.Session{ID: "s0", AuthTime: t0.Add(-time.Hour), AMR: []string{"pwd"}}

	req := func(scope ...string) authz.AuthorizeRequest {
		return authz.AuthorizeRequest{ID: "r1", ResumeURL: "https://as/oauth/authorize?x", ClientID: "app", Scopes: scope, MaxAge: -1}
	}
	picker := req("openid", "launch/patient", "patient/*.rs")
	encounter := req("openid", "launch/patient", "launch/encounter", "patient/*.rs")
	// at is a record of request rq that has shown pages and stands in st.
	at := func(rq authz.AuthorizeRequest, st state, mod func(*flow)) flow {
		f := newFlow(rq, t0)
		f.State, f.Subject, f.Rev = st, "doc", 1
		if mod != nil {
			mod(&f)
		}
		return f
	}
	shown := func(pages ...state) func(*flow) { return func(f *flow) { f.Shown = pages } }
	pickedA := func(f *flow) {
		f.Shown, f.Patient = []state{statePatient}, "A"
		f.Context, f.Scopes = &authz.LaunchContext{Patient: "A"}, slices.Clone(f.Req.Scopes)
	}
	decidedA := func(f *flow) {
		pickedA(f)
		f.Shown = append(f.Shown, stateConsent)
		f.Decision = &decision{SessionID: "s1", Scopes: []string{"openid", "patient/*.rs"}}
	}
	resume := func(u *account.User, s *account.Session) resumed {
		ev := resumed{Now: t0.Add(time.Minute), User: u, Session: s, Login: stateDone, Patients: true, Encounters: true}
		if u != nil {
			ev.Rights = account.EffectiveRights(u, nil)
		}
		return ev
	}
	with := func(ev resumed, mod func(*resumed)) resumed { mod(&ev); return ev }
	consent := func(scope ...string) *account.Consent {
		return &account.Consent{UserID: "doc", ClientID: "app", Scopes: scope}
	}

	tests := []struct {
		name    string
		from    flow
		ev      event
		want    state
		refused bool // next answers errIllegal (and the record is unchanged)
		check   func(t *testing.T, f flow)
	}{
		// resume: the log-in
		{name: "start, no session → login", from: newFlow(picker, t0), ev: resume(nil, nil), want: stateLogin},
		{name: "start, password only, enrolled → second factor", from: newFlow(picker, t0),
			ev: with(resume(doc, sess), func(e *resumed) { e.Login = stateSecondFactor }), want: stateSecondFactor},
		{name: "start, required, not enrolled → enrol", from: newFlow(picker, t0),
			ev: with(resume(doc, sess), func(e *resumed) { e.Login = stateEnrol }), want: stateEnrol},
		{name: "start, prompt=login, log-in before the request → login",
			from: func() flow { f := newFlow(picker, t0); f.Req.Prompt = []string{"login"}; return f }(), ev: resume(doc, old), want: stateLogin},
		{name: "start, prompt=login, log-in after the request → picker",
			from: func() flow { f := newFlow(picker, t0); f.Req.Prompt = []string{"login"}; return f }(), ev: resume(doc, sess), want: statePatient},
		{name: "start, max_age exceeded → login",
			from: func() flow { f := newFlow(picker, t0); f.Req.MaxAge = time.Minute; return f }(), ev: resume(doc, old), want: stateLogin},
		{name: "login → log-in made → picker", from: at(picker, stateLogin, nil), ev: resume(doc, sess), want: statePatient},
		{name: "second factor → code given → picker", from: at(picker, stateSecondFactor, nil), ev: resume(doc, sess), want: statePatient},
		{name: "enrol → enrolled → picker", from: at(picker, stateEnrol, nil), ev: resume(doc, sess), want: statePatient},
		// the upstream log-in: the browser is at a provider (no session
		// yet); its callback makes a session with amr fed, which the
		// second factor or its enrolment takes on like a password's.
		{name: "upstream, resumed before the callback → login", from: at(picker, stateUpstream, nil), ev: resume(nil, nil), want: stateLogin},
		{name: "upstream → callback (fed), enrolled → second factor", from: at(picker, stateUpstream, nil),
			ev: with(resume(doc, fed), func(e *resumed) { e.Login = stateSecondFactor }), want: stateSecondFactor},
		{name: "upstream → callback (fed), required, not enrolled → enrol", from: at(picker, stateUpstream, nil),
			ev: with(resume(doc, fed), func(e *resumed) { e.Login = stateEnrol }), want: stateEnrol},
		{name: "upstream → callback (fed), complete → picker", from: at(picker, stateUpstream, nil), ev: resume(doc, fed), want: statePatient},
		{name: "upstream → callback (fed) before the request, prompt=login → login",
			from: at(picker, stateUpstream, func(f *flow) { f.Req.Prompt = []string{"login"} }),
			ev:   resume(doc, &account.Session{ID: "s0", AuthTime: t0.Add(-time.Hour), AMR: []string{"fed"}}), want: stateLogin},
		{refused: true, name: "pick while at the provider → refused", from: at(picker, stateUpstream, shown(statePatient)),
			ev: pickedPatient{User: "doc", Patient: "A"}, want: stateUpstream},
		{name: "second factor still missing stays there", from: at(picker, stateSecondFactor, nil),
			ev: with(resume(doc, sess), func(e *resumed) { e.Login = stateSecondFactor }), want: stateSecondFactor},

		// resume: the launch context
		{name: "practitioner, launch/patient → picker", from: newFlow(picker, t0), ev: resume(doc, sess), want: statePatient,
			check: func(t *testing.T, f flow) {
				if f.Subject != "doc" || !f.shown(statePatient) {
					t.Errorf("subject %q shown %v", f.Subject, f.Shown)
				}
			}},
		{name: "picked → consent for the pick", from: at(picker, stateStart, pickedA), ev: resume(doc, sess), want: stateConsent,
			check: wantPatient("A")},
		{name: "patient user → consent for the own record", from: newFlow(picker, t0), ev: resume(pat, sess), want: stateConsent,
			check: wantPatient("p1")},
		{name: "no picker configured → consent without context", from: newFlow(picker, t0),
			ev: with(resume(doc, sess), func(e *resumed) { e.Patients = false }), want: stateConsent, check: wantPatient("")},
		{name: "patient without a record, launch/patient → failed", from: newFlow(picker, t0), ev: resume(norec, sess), want: stateFailed,
			check: func(t *testing.T, f flow) {
				if f.Failure != msgNoPatientRecord {
					t.Errorf("failure %q", f.Failure)
				}
			}},
		{name: "patient without a record, patient/ scopes only → consent without them",
			from: newFlow(req("openid", "patient/*.rs"), t0), ev: resume(norec, sess), want: stateConsent,
			check: func(t *testing.T, f flow) {
				if !slices.Equal(f.Scopes, []string{"openid"}) || f.Context != nil {
					t.Errorf("scopes %q context %+v", f.Scopes, f.Context)
				}
			}},
		{name: "EHR launch by someone else, for a patient user → failed",
			from: func() flow {
				f := newFlow(picker, t0)
				f.Req.Launch = &authz.LaunchContext{Patient: "p9", LaunchedBy: "admin"}
				return f
			}(), ev: resume(pat, sess), want: stateFailed},
		{name: "EHR launch → consent for the launch's patient",
			from: func() flow { f := newFlow(picker, t0); f.Req.Launch = &authz.LaunchContext{Patient: "p9"}; return f }(),
			ev:   resume(doc, sess), want: stateConsent, check: wantPatient("p9")},
		{name: "launch/encounter, picked → encounter picker", from: at(encounter, stateStart, pickedA), ev: resume(doc, sess),
			want: stateEncounter},
		{name: "launch/encounter, encounter picked → consent with it",
			from: at(encounter, stateStart, func(f *flow) { pickedA(f); f.Encounter, f.EncounterPicked = "e1", true }),
			ev:   resume(doc, sess), want: stateConsent,
			check: func(t *testing.T, f flow) {
				if f.Context == nil || f.Context.Patient != "A" || f.Context.Encounter != "e1" {
					t.Errorf("context %+v", f.Context)
				}
			}},
		{name: "another person resumes → the choices go, picker again", from: at(picker, stateDecided, decidedA),
			ev: resume(other, sess), want: statePatient,
			check: func(t *testing.T, f flow) {
				if f.Subject != "doc2" || f.Patient != "" || f.Decision != nil || f.Rev != 2 || !slices.Equal(f.Shown, []state{statePatient}) {
					t.Errorf("not restarted: %+v", f)
				}
			}},
		{name: "consent reloaded → consent, same revision", from: at(picker, stateConsent, pickedA), ev: resume(doc, sess),
			want: stateConsent, check: func(t *testing.T, f flow) {
				if f.Rev != 1 {
					t.Errorf("rev %d", f.Rev)
				}
			}},

		// resume: consent
		{name: "remembered consent covers → done", from: at(picker, stateStart, pickedA),
			ev:   with(resume(doc, sess), func(e *resumed) { e.Consent = consent("openid", "launch/patient", "patient/*.rs") }),
			want: stateDone, check: wantGranted("openid", "launch/patient", "patient/*.rs")},
		{name: "remembered consent too narrow → consent", from: at(picker, stateStart, pickedA),
			ev: with(resume(doc, sess), func(e *resumed) { e.Consent = consent("openid") }), want: stateConsent},
		{name: "remembered consent, prompt=consent → consent",
			from: at(picker, stateStart, func(f *flow) { pickedA(f); f.Req.Prompt = []string{"consent"} }),
			ev:   with(resume(doc, sess), func(e *resumed) { e.Consent = consent("openid", "launch/patient", "patient/*.rs") }),
			want: stateConsent},
		{name: "remembered consent after going back (reconsent) → consent",
			from: at(picker, stateStart, func(f *flow) { pickedA(f); f.Reconsent = true }),
			ev:   with(resume(doc, sess), func(e *resumed) { e.Consent = consent("openid", "launch/patient", "patient/*.rs") }),
			want: stateConsent},
		{name: "decided → done with the approved scopes", from: at(picker, stateDecided, decidedA), ev: resume(doc, sess),
			want: stateDone, check: func(t *testing.T, f flow) {
				wantGranted("openid", "patient/*.rs")(t, f)
				wantPatient("A")(t, f)
			}},
		{name: "decided: deny → done, denied",
			from: at(picker, stateDecided, func(f *flow) { decidedA(f); f.Decision = &decision{SessionID: "s1", Denied: true} }),
			ev:   resume(doc, sess), want: stateDone, check: func(t *testing.T, f flow) {
				if !f.Denied {
					t.Error("not denied")
				}
			}},
		{name: "decided in another log-in session → consent again", from: at(picker, stateDecided, decidedA),
			ev: resume(doc, sess2), want: stateConsent, check: func(t *testing.T, f flow) {
				if f.Decision != nil {
					t.Error("decision kept")
				}
			}},

		// pick patient
		{name: "picker → start with the patient", from: at(picker, statePatient, shown(statePatient)),
			ev: pickedPatient{User: "doc", Patient: "A"}, want: stateStart, check: func(t *testing.T, f flow) {
				if f.Patient != "A" || f.Rev != 2 {
					t.Errorf("patient %q rev %d", f.Patient, f.Rev)
				}
			}},
		{name: "re-posting the picker → start with the new patient", from: at(picker, stateStart, pickedA),
			ev: pickedPatient{User: "doc", Patient: "B"}, want: stateStart, check: wantPicked("B")},
		{refused: true, name: "encounter pick right after a new patient pick (the page not followed) → refused until resumed",
			from: func() flow {
				f, _ := next(at(encounter, stateEncounter, func(f *flow) {
					pickedA(f)
					f.Shown = append(f.Shown, stateEncounter)
				}), pickedPatient{User: "doc", Patient: "B"})
				return f
			}(),
			ev: pickedEncounter{User: "doc", Encounter: "eA"}, want: stateStart},
		{name: "back to the picker from consent → start, encounter cleared",
			from: at(encounter, stateConsent, func(f *flow) {
				pickedA(f)
				f.Shown = append(f.Shown, stateEncounter, stateConsent)
				f.Encounter, f.EncounterPicked = "e1", true
			}),
			ev: pickedPatient{User: "doc", Patient: "B"}, want: stateStart, check: func(t *testing.T, f flow) {
				wantPicked("B")(t, f)
				if f.EncounterPicked || f.Encounter != "" || f.Reconsent {
					t.Errorf("encounter %q picked %v reconsent %v", f.Encounter, f.EncounterPicked, f.Reconsent)
				}
			}},
		{name: "back to the picker after consent → decision cleared, consent asked again",
			from: at(picker, stateDecided, decidedA), ev: pickedPatient{User: "doc", Patient: "B"}, want: stateStart,
			check: func(t *testing.T, f flow) {
				wantPicked("B")(t, f)
				if f.Decision != nil || !f.Reconsent {
					t.Errorf("decision %+v reconsent %v", f.Decision, f.Reconsent)
				}
			}},
		{refused: true, name: "pick while logging in → refused", from: at(picker, stateLogin, shown(statePatient)),
			ev: pickedPatient{User: "doc", Patient: "A"}, want: stateLogin},
		{refused: true, name: "pick while the second factor is asked → refused", from: at(picker, stateSecondFactor, shown(statePatient)),
			ev: pickedPatient{User: "doc", Patient: "A"}, want: stateSecondFactor},
		{refused: true, name: "pick when no picker was shown → refused", from: at(picker, stateConsent, shown(stateConsent)),
			ev: pickedPatient{User: "doc", Patient: "A"}, want: stateConsent},
		{refused: true, name: "pick by another person → refused", from: at(picker, statePatient, shown(statePatient)),
			ev: pickedPatient{User: "doc2", Patient: "A"}, want: statePatient},
		{refused: true, name: "pick without a patient → refused", from: at(picker, statePatient, shown(statePatient)),
			ev: pickedPatient{User: "doc", Patient: ""}, want: statePatient},

		// pick encounter
		{name: "encounter picker → start with the encounter", from: at(encounter, stateEncounter, inContext(shown(statePatient, stateEncounter))),
			ev: pickedEncounter{User: "doc", Encounter: "e1"}, want: stateStart, check: func(t *testing.T, f flow) {
				if f.Encounter != "e1" || !f.EncounterPicked {
					t.Errorf("encounter %q", f.Encounter)
				}
			}},
		{name: "encounter skipped → start, picked, none", from: at(encounter, stateEncounter, inContext(shown(stateEncounter))),
			ev: pickedEncounter{User: "doc"}, want: stateStart, check: func(t *testing.T, f flow) {
				if f.Encounter != "" || !f.EncounterPicked {
					t.Errorf("encounter %q picked %v", f.Encounter, f.EncounterPicked)
				}
			}},
		{name: "back to the encounter picker after consent → decision cleared",
			from: at(encounter, stateDecided, func(f *flow) { decidedA(f); f.Shown = append(f.Shown, stateEncounter) }),
			ev:   pickedEncounter{User: "doc", Encounter: "e2"}, want: stateStart, check: func(t *testing.T, f flow) {
				if f.Decision != nil || !f.Reconsent || f.Encounter != "e2" {
					t.Errorf("decision %+v encounter %q", f.Decision, f.Encounter)
				}
			}},
		{refused: true, name: "encounter pick when none was shown → refused", from: at(picker, stateConsent, pickedA),
			ev: pickedEncounter{User: "doc", Encounter: "e1"}, want: stateConsent},

		// decide
		{name: "consent approved → decided with the offered scopes ticked", from: at(picker, stateConsent, pickedA),
			ev: decided{User: "doc", Session: "s1", Rev: 1, Scopes: []string{"openid", "patient/*.rs", "patient/Other.rs"}}, want: stateDecided,
			check: func(t *testing.T, f flow) {
				if d := f.Decision; d == nil || d.SessionID != "s1" || d.Denied || !slices.Equal(d.Scopes, []string{"openid", "patient/*.rs"}) {
					t.Errorf("decision %+v", d)
				}
			}},
		{name: "consent denied → decided, denied", from: at(picker, stateConsent, pickedA),
			ev: decided{User: "doc", Session: "s1", Rev: 1, Denied: true, Scopes: []string{"openid"}}, want: stateDecided,
			check: func(t *testing.T, f flow) {
				if d := f.Decision; d == nil || !d.Denied || d.Scopes != nil {
					t.Errorf("decision %+v", d)
				}
			}},
		{name: "consent with the page's revision → decided", from: at(picker, stateConsent, pickedA),
			ev: decided{User: "doc", Session: "s1", Rev: 1}, want: stateDecided},
		{refused: true, name: "consent without the page's revision → refused", from: at(picker, stateConsent, pickedA),
			ev: decided{User: "doc", Session: "s1"}, want: stateConsent},
		{refused: true, name: "consent posted twice → refused", from: at(picker, stateDecided, decidedA),
			ev: decided{User: "doc", Session: "s1", Rev: 1}, want: stateDecided},
		{refused: true, name: "consent page from before a new pick → refused (state)", from: at(picker, stateStart, pickedA),
			ev: decided{User: "doc", Session: "s1", Rev: 1}, want: stateStart},
		{refused: true, name: "consent page from before a new pick → refused (revision)",
			from: at(picker, stateConsent, func(f *flow) { pickedA(f); f.Rev = 3 }),
			ev:   decided{User: "doc", Session: "s1", Rev: 2}, want: stateConsent},
		{refused: true, name: "consent by another person → refused", from: at(picker, stateConsent, pickedA),
			ev: decided{User: "doc2", Session: "s2", Rev: 1}, want: stateConsent},

		// the end
		{refused: true, name: "done takes nothing more", from: at(picker, stateDone, decidedA), ev: resume(doc, sess), want: stateDone},
		{refused: true, name: "failed takes nothing more", from: at(picker, stateFailed, nil), ev: pickedPatient{User: "doc", Patient: "A"},
			want: stateFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := next(tc.from, tc.ev)
			if tc.refused {
				if !errors.Is(err, errIllegal) {
					t.Fatalf("next = %v, want errIllegal", err)
				}
				if !reflect.DeepEqual(got, tc.from) {
					t.Fatalf("a refused event changed the record: %+v", got)
				}
			} else if err != nil {
				t.Fatalf("next: %v", err)
			}
			if got.State != tc.want {
				t.Fatalf("state %s, want %s (%+v)", got.State, tc.want, got)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func wantPatient(id string) func(*testing.T, flow) {
	return func(t *testing.T, f flow) {
		t.Helper()
		if f.patient() != id {
			t.Errorf("patient in context %q, want %q", f.patient(), id)
		}
	}
}

// inContext is set, then patient A in context (as resume leaves a record
// that shows the encounter picker).
func inContext(set func(*flow)) func(*flow) {
	return func(f *flow) {
		set(f)
		f.Context = &authz.LaunchContext{Patient: "A"}
	}
}

func wantPicked(id string) func(*testing.T, flow) {
	return func(t *testing.T, f flow) {
		t.Helper()
		if f.Patient != id || f.Decision != nil {
			t.Errorf("picked %q decision %+v, want %q and none", f.Patient, f.Decision, id)
		}
		// The old patient's launch context and scopes go too, so that
		// nothing (an encounter pick) is checked against them before the
		// next resume works them out for the new patient.
		if f.Context != nil || f.Scopes != nil {
			t.Errorf("context %+v scopes %v kept after a new pick", f.Context, f.Scopes)
		}
	}
}

func wantGranted(scopes ...string) func(*testing.T, flow) {
	return func(t *testing.T, f flow) {
		t.Helper()
		if !slices.Equal(f.Granted, scopes) || f.Denied {
			t.Errorf("granted %q denied %v, want %q", f.Granted, f.Denied, scopes)
		}
	}
}

// TestNextDoesNotShareState: the record next returns shares no slice with
// the one it was given (a refused or replayed event cannot change it).
func TestNextDoesNotShareState(t *testing.T) {
	f := newFlow(authz.AuthorizeRequest{ID: "r", Scopes: []string{"openid"}, MaxAge: -1}, time.Now())
	f.State, f.Subject, f.Shown = statePatient, "doc", []state{statePatient}
	g, err := next(f, pickedPatient{User: "doc", Patient: "A"})
	if err != nil {
		t.Fatal(err)
	}
	g.Shown[0] = stateConsent
	if f.Shown[0] != statePatient || f.Patient != "" {
		t.Fatalf("the input record changed: %+v", f)
	}
}

// TestSessionStep: when a log-in session is complete.
func TestSessionStep(t *testing.T) {
	tests := []struct {
		amr                []string
		enrolled, required bool
		want               state
	}{
		{[]string{"pwd"}, false, false, stateDone},
		{[]string{"pwd"}, true, false, stateSecondFactor},
		{[]string{"pwd"}, true, true, stateSecondFactor},
		{[]string{"pwd"}, false, true, stateEnrol},
		{[]string{"pwd", "otp"}, true, true, stateDone},
		{[]string{"fed"}, true, false, stateSecondFactor},
		{[]string{"fed", "otp"}, false, true, stateDone},
	}
	for _, tc := range tests {
		if got := sessionStep(tc.amr, tc.enrolled, tc.required); got != tc.want {
			t.Errorf("sessionStep(%q, enrolled=%v, required=%v) = %s, want %s", tc.amr, tc.enrolled, tc.required, got, tc.want)
		}
	}
}

// TestLoginStatePages: where each log-in state sends the browser, and what
// prompt=none answers there (the upstream state's page is the log-in page:
// a log-in at a provider is not resumed).
func TestLoginStatePages(t *testing.T) {
	back := "/oauth/authorize?client_id=app"
	for st, want := range map[state]string{
		stateLogin:        "/login?return_to=%2Foauth%2Fauthorize%3Fclient_id%3Dapp",
		stateUpstream:     "/login?return_to=%2Foauth%2Fauthorize%3Fclient_id%3Dapp",
		stateSecondFactor: SecondFactorPath + "?return_to=%2Foauth%2Fauthorize%3Fclient_id%3Dapp",
		stateEnrol:        EnrolPath + "?return_to=%2Foauth%2Fauthorize%3Fclient_id%3Dapp",
		stateDone:         back,
	} {
		if got := loginLocation(st, back); got != want {
			t.Errorf("loginLocation(%s) = %q, want %q", st, got, want)
		}
		if st != stateDone && !errors.Is(promptNoneError(st), authz.ErrLoginRequired) {
			t.Errorf("prompt=none in %s: %v", st, promptNoneError(st))
		}
	}
}
