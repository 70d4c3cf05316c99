package access

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/smart"
)

// The checks an Explanation's steps name (Step.Check).
const (
	CheckToken        = "token"               // who the token speaks for, its scopes
	CheckScope        = "scope"               // a scope compared with the interaction and type
	CheckAnonymous    = "anonymous ceiling"   // the anonymous account's type ceiling
	CheckRole         = "role"                // what the account's role lets a scope reach
	CheckUnrestricted = "unrestricted"        // an administrator's OWin token
	CheckCompartment  = "patient compartment" // the patient a scope is confined to
	CheckQuery        = "granular query"      // a granular scope's query on the resource
	CheckOwner        = "record owner"        // whose record written content is
	CheckResource     = "resource"            // what is known of the resource
	CheckGrant        = "grant"               // what the scopes reach together
	CheckVerdict      = "verdict"             // the outcome
)

// maxDetail bounds one step's detail in bytes.
const maxDetail = 300

// Explanation is an access decision step by step, as DecideExplained and
// Grant.AdmitsExplained recorded it while deciding: the same code that
// decides for Decide and Admits, so it cannot disagree with them. It holds
// no token and no resource content: scopes, patient ids, resource types.
type Explanation struct {
	// Principal says whom the token speaks for ("a patient user, record
	// Patient/123", "a backend service", …).
	Principal string `json:"principal"`
	// Patient is the launch-context patient, or "".
	Patient string `json:"patient,omitempty"`
	// Request is the interaction asked for: the SMART letters and the type.
	Request string   `json:"request"`
	Scopes  []string `json:"scopes"`
	Steps   []Step   `json:"steps"`
	// Allowed is the verdict; RefusedBy names the check(s) that said no.
	Allowed   bool   `json:"allowed"`
	RefusedBy string `json:"refused_by,omitempty"`
	// Truncated marks steps (or scopes) cut to keep JSON within
	// audit.MaxTrace.
	Truncated bool `json:"truncated,omitempty"`

	admitFrom int // index of the first step Admits recorded
}

// Step is one step of a decision.
type Step struct {
	Check  string `json:"check"`
	Scope  string `json:"scope,omitempty"`
	Detail string `json:"detail"`
	OK     bool   `json:"ok"`
	// Refused marks the step that said no.
	Refused bool `json:"refused,omitempty"`
}

func newExplanation(p *Principal, perm smart.Permissions, typ string) *Explanation {
	e := &Explanation{Request: fmt.Sprintf("%s on %s", permWords(perm), typeName(typ)), Scopes: []string{}}
	if p == nil {
		e.Principal = "no one (no verified token)"
		return e
	}
	e.Principal = describePrincipal(p)
	e.Patient = p.Patient
	e.Scopes = p.Scopes.Strings()
	if e.Scopes == nil {
		e.Scopes = []string{}
	}
	detail := "the token speaks for " + e.Principal
	if p.Patient != "" {
		detail += "; launch patient Patient/" + p.Patient
	}
	e.add(Step{Check: CheckToken, Detail: detail + "; scopes: " + orNone(strings.Join(e.Scopes, " ")), OK: true})
	for _, s := range p.Scopes {
		e.add(scopeStep(s, perm, typ))
	}
	return e
}

// scopeStep compares one scope with the interaction and type, with the
// matching rule Decide uses (smart.Scopes.Allows).
func scopeStep(s smart.Scope, perm smart.Permissions, typ string) Step {
	st := Step{Check: CheckScope, Scope: s.String()}
	if s.Kind() != smart.KindResource {
		st.Detail = "not a resource scope"
		return st
	}
	st.OK = len(smart.Scopes{s}.Allows(s.Context(), typ, perm)) > 0
	letters := "v2 letters " + s.Permissions().String()
	if s.Version() == smart.V1 {
		letters = "v1 (" + s.Permissions().String() + ")"
	}
	desc := fmt.Sprintf("%s/ context, type %s, %s", s.Context(), s.ResourceType(), letters)
	if q := s.Query(); q != "" {
		desc += ", query " + q
	}
	if st.OK {
		st.Detail = desc + ": grants " + permWords(perm) + " on " + typeName(typ)
	} else {
		st.Detail = desc + ": does not grant " + permWords(perm) + " on " + typeName(typ)
	}
	return st
}

func describePrincipal(p *Principal) string {
	switch {
	case p.Anonymous:
		return "the anonymous account"
	case p.Unrestricted:
		return "an administrator's OWin token (unrestricted)"
	case p.System:
		return "a backend service (client " + orNone(p.ClientID) + ")"
	case account.MayActForOthers(p.Roles):
		return "a user with role " + strings.Join(p.Roles, ", ") + " (may act for others)"
	case p.OwnPatient() != "":
		return "a patient user, record Patient/" + p.OwnPatient()
	}
	return "a patient user without a linked record"
}

func permWords(p smart.Permissions) string {
	switch p {
	case smart.Create:
		return "create (c)"
	case smart.Read:
		return "read (r)"
	case smart.Update:
		return "update (u)"
	case smart.Delete:
		return "delete (d)"
	case smart.Search:
		return "search (s)"
	}
	return p.String()
}

func typeName(t string) string {
	if t == "" || t == "*" {
		return "every type"
	}
	return t
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (e *Explanation) add(s Step) {
	if len(s.Detail) > maxDetail {
		cut := maxDetail
		for cut > 0 && !utf8.RuneStart(s.Detail[cut]) {
			cut--
		}
		s.Detail = s.Detail[:cut] + "…"
	}
	e.Steps = append(e.Steps, s)
}

// The recording methods below are called by decide and admits; each does
// nothing on a nil Explanation (the hot path).

func (e *Explanation) noPrincipal() {
	if e == nil {
		return
	}
	e.add(Step{Check: CheckToken, Detail: "no verified token: nothing is allowed"})
}

func (e *Explanation) unrestricted() {
	if e == nil {
		return
	}
	e.add(Step{Check: CheckUnrestricted, Detail: "an administrator's OWin token reaches every resource, whatever its scopes", OK: true})
}

func (e *Explanation) anonymousCeiling(typ string, inCompartment, excluded bool) {
	if e == nil {
		return
	}
	st := Step{Check: CheckAnonymous, OK: !inCompartment && !excluded}
	switch {
	case inCompartment:
		st.Detail = typeName(typ) + " can be in a patient's compartment: the anonymous account never reaches it, whatever its scopes"
	case excluded:
		st.Detail = typ + " routinely carries a patient's data or a secret: the anonymous account never reaches it"
	default:
		st.Detail = typ + " is in no patient's compartment: the anonymous account may reach it through a system/ or user/ scope"
	}
	e.add(st)
}

func (e *Explanation) anonymousScope(s smart.Scope) {
	if e == nil {
		return
	}
	e.add(Step{Check: CheckRole, Scope: s.String(), OK: true,
		Detail: "the anonymous account: the scope reaches every resource of the type it names"})
}

func (e *Explanation) patientScope(s smart.Scope, p *Principal, patient string) {
	if e == nil {
		return
	}
	st := Step{Check: CheckCompartment, Scope: s.String(), OK: patient != ""}
	switch {
	case patient == "":
		st.Detail = "a patient/ scope with no patient in context reaches nothing"
	case p.Patient != "":
		st.Detail = "confined to the compartment of the launch patient Patient/" + patient
	default:
		st.Detail = "confined to the compartment of the user's own record Patient/" + patient
	}
	e.add(st)
}

func (e *Explanation) userScope(s smart.Scope, p *Principal, others bool) {
	if e == nil {
		return
	}
	st := Step{Check: CheckRole, Scope: s.String(), OK: true}
	switch {
	case others:
		st.Detail = "the account's role (" + strings.Join(p.Roles, ", ") + ") may act for others: the user/ scope reaches every resource it names"
	case p.OwnPatient() != "":
		st.Detail = "a patient user: the user/ scope is confined to their own record Patient/" + p.OwnPatient()
	default:
		st.OK = false
		st.Detail = "a patient user without a linked record: the user/ scope reaches nothing"
	}
	e.add(st)
}

func (e *Explanation) systemScope(s smart.Scope, backend bool) {
	if e == nil {
		return
	}
	st := Step{Check: CheckRole, Scope: s.String(), OK: backend,
		Detail: "a backend service: the system/ scope reaches every resource it names"}
	if !backend {
		st.Detail = "system/ scopes count only for backend-service tokens"
	}
	e.add(st)
}

// decided records Decide's grant.
func (e *Explanation) decided(g Grant) {
	e.Allowed = g.Allowed
	switch {
	case !g.Allowed && e.markFailing(0, len(e.Steps), CheckAnonymous):
	case !g.Allowed && e.markFailing(0, len(e.Steps), CheckRole):
	case !g.Allowed:
		e.add(Step{Check: CheckScope, Refused: true, Detail: "no scope grants " + e.Request})
	case g.Unrestricted:
		e.add(Step{Check: CheckGrant, OK: true, Detail: "granted on every resource of the type"})
	case len(g.Scopes) == 0:
		e.add(Step{Check: CheckGrant, OK: true, Detail: "granted, but no scope reaches any resource: a search finds nothing, a read is refused"})
	default:
		parts := make([]string, 0, len(g.Scopes))
		for _, s := range g.Scopes {
			parts = append(parts, describeScope(s))
		}
		e.add(Step{Check: CheckGrant, OK: true, Detail: "granted on: " + strings.Join(parts, "; or ")})
	}
	e.setRefusedBy()
}

func describeScope(s Scope) string {
	var parts []string
	if s.Patient != "" {
		parts = append(parts, "the compartment of Patient/"+s.Patient)
	}
	if s.Query != nil {
		parts = append(parts, "resources matching "+queryString(s.Query))
	}
	if len(parts) == 0 {
		return "every resource"
	}
	return strings.Join(parts, " and ")
}

func queryString(q []smart.Param) string {
	parts := make([]string, 0, len(q))
	for _, p := range q {
		parts = append(parts, p.Name+"="+p.Value)
	}
	return strings.Join(parts, "&")
}

// markFailing marks the failing steps of check (any check when "") in
// Steps[from:to] as the ones that said no, and reports whether there was one.
func (e *Explanation) markFailing(from, to int, check string) bool {
	found := false
	for i := from; i < to && i < len(e.Steps); i++ {
		st := &e.Steps[i]
		if !st.OK && st.Check != CheckScope && st.Check != CheckToken && (check == "" || st.Check == check) {
			st.Refused = true
			found = true
		}
	}
	return found
}

func (e *Explanation) setRefusedBy() {
	var names []string
	for _, st := range e.Steps {
		if st.Refused && !slices.Contains(names, st.Check) {
			names = append(names, st.Check)
		}
	}
	e.RefusedBy = strings.Join(names, ", ")
	if e.Allowed {
		e.RefusedBy = ""
	}
}

func (e *Explanation) notAllowed() {
	if e == nil {
		return
	}
	e.admitFrom = len(e.Steps)
}

func (e *Explanation) resource(r Resource) {
	if e == nil {
		return
	}
	e.admitFrom = len(e.Steps)
	d := "the resource is in no patient's compartment"
	if len(r.Patients) > 0 {
		d = "the resource is in the compartment of " + patientList(r.Patients)
	}
	e.add(Step{Check: CheckResource, Detail: d, OK: true})
}

func patientList(ids []string) string {
	const most = 10
	parts := make([]string, 0, min(len(ids), most))
	for i, id := range ids {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(ids)-most))
			break
		}
		parts = append(parts, "Patient/"+id)
	}
	return strings.Join(parts, ", ")
}

func (e *Explanation) compartment(_ int, s Scope, r Resource, in bool) {
	if e == nil {
		return
	}
	where := "in no patient's compartment"
	if len(r.Patients) > 0 {
		where = "in the compartment of " + patientList(r.Patients)
	}
	d := "the scope is confined to Patient/" + s.Patient + "; the resource is " + where
	if in {
		d += ": inside"
	} else {
		d += ": outside"
	}
	e.add(Step{Check: CheckCompartment, Detail: d, OK: in})
}

func (e *Explanation) owner(s Scope, r Resource, owned bool) {
	if e == nil {
		return
	}
	d := "the scope is confined to Patient/" + s.Patient + "; "
	switch {
	case !r.Owned:
		d += "the type has no owner element: it cannot be written through a compartment-limited scope"
	case owned:
		d += "the content is that patient's record and in no other patient's compartment"
	default:
		d += "the content's owner element names " + orNone(patientList(r.Owners)) + ": not (only) that patient's record"
	}
	e.add(Step{Check: CheckOwner, Detail: d, OK: owned})
}

func (e *Explanation) query(_ int, s Scope, matches bool) {
	if e == nil {
		return
	}
	d := "the scope's query " + queryString(s.Query) + ": the resource does not match"
	if matches {
		d = "the scope's query " + queryString(s.Query) + ": the resource matches"
	}
	e.add(Step{Check: CheckQuery, Detail: d, OK: matches})
}

func (e *Explanation) reached(_ int, s Scope) {
	if e == nil {
		return
	}
	e.add(Step{Check: CheckVerdict, OK: true, Detail: "reached through " + describeScope(s)})
}

func (e *Explanation) reachedNone(n int) {
	if e == nil {
		return
	}
	if n == 0 {
		if !e.markFailing(0, e.admitFrom, "") {
			e.add(Step{Check: CheckVerdict, Refused: true, Detail: "no scope reaches any resource"})
		}
		return
	}
	if !e.markFailing(e.admitFrom, len(e.Steps), "") {
		e.add(Step{Check: CheckVerdict, Refused: true, Detail: "no scope reaches the resource"})
	}
}

// admitted records Admits' verdict.
func (e *Explanation) admitted(ok bool) {
	if e == nil {
		return
	}
	e.Allowed = ok
	e.setRefusedBy()
}

// Refuse records a refusal decided after the grant (e.g. the owner rule of
// a write, or content the endpoint could not check), naming its check.
func (e *Explanation) Refuse(check, detail string) {
	if e == nil {
		return
	}
	e.add(Step{Check: check, Detail: detail, Refused: true})
	e.Allowed = false
	e.setRefusedBy()
}

// JSON returns the explanation as compact JSON of at most audit.MaxTrace
// bytes: when longer, steps are cut (the ones that said no are kept
// longest), then scopes, and Truncated is set. It is always valid JSON; ""
// for a nil Explanation.
func (e *Explanation) JSON() string {
	if e == nil {
		return ""
	}
	c := *e
	c.Steps = slices.Clone(e.Steps)
	c.Scopes = slices.Clone(e.Scopes)
	for {
		b, err := json.Marshal(&c)
		if err != nil {
			return `{"truncated":true}`
		}
		if len(b) <= audit.MaxTrace {
			return string(b)
		}
		c.Truncated = true
		switch {
		case len(c.Steps) > 0:
			c.Steps = dropOne(c.Steps)
		case len(c.Scopes) > 0:
			c.Scopes = c.Scopes[:len(c.Scopes)-1]
		default:
			return `{"principal":"","request":"","scopes":[],"steps":[],"allowed":` +
				fmt.Sprint(c.Allowed) + `,"truncated":true}`
		}
	}
}

// dropOne removes the last step that did not say no, or else the last.
func dropOne(steps []Step) []Step {
	for i := len(steps) - 1; i >= 0; i-- {
		if !steps[i].Refused {
			return slices.Delete(steps, i, i+1)
		}
	}
	return steps[:len(steps)-1]
}

// ParseExplanation reads what JSON wrote (an audit record's Trace).
func ParseExplanation(s string) (*Explanation, error) {
	if s == "" {
		return nil, errors.New("access: empty trace")
	}
	var e Explanation
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return nil, fmt.Errorf("access: trace: %w", err)
	}
	return &e, nil
}
