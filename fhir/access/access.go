// Package access decides what a token may do on the FHIR endpoint. It joins
// the SMART scopes of a token (package authz/smart) with who the token
// speaks for (a patient user, a practitioner, an administrator, a backend
// service) and the launch context, and answers, for each FHIR interaction:
// may it happen at all, and if so on which resources.
//
// The rules (SMART App Launch 2.2, scopes-and-launch-context.html):
//   - patient/ scopes reach only the compartment of the launch patient; with
//     no patient in context they reach nothing (checklist E3);
//   - user/ scopes reach what the person may see: a patient user only their
//     own compartment, a practitioner or administrator everything (scopes
//     delegate, never exceed the user: G9);
//   - system/ scopes reach everything, for backend-service tokens only;
//   - v2 letters map to interactions (c create, r read/vread/instance history,
//     u update/patch, d delete, s search/type history); v1 words map as the
//     2.x IG says (read ⇒ rs, write ⇒ cud, * ⇒ cruds);
//   - granular scopes (?category=…) restrict which resources are reached, and
//     several scopes for one type are a union (G5);
//   - the built-in anonymous account (Principal.Anonymous,
//     --client-cert-policy limit) reaches only types that are in no
//     patient's compartment (InPatientCompartment: a hard ceiling, whatever
//     its scopes; Patient itself is in it) nor AnonymousExcluded (types that
//     carry a patient's data or secrets outside it), and of those what its system/
//     or user/ scopes allow (its patient/ scopes reach nothing: it has no
//     patient).
//
// Package fhir turns a Grant into SQL (compartment join, search clauses) and
// checks single resources with Grant.Admits.
package access

import (
	"slices"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz/smart"
)

// Principal is who a verified token speaks for.
type Principal struct {
	Subject  string // sub: local user id, or the client id for backend services
	ClientID string
	Scopes   smart.Scopes
	// Patient is the launch-context patient id (bare), or "".
	Patient string
	// FHIRUser is the person's own resource, e.g. "Patient/123" or
	// "Practitioner/9", or "".
	FHIRUser string
	// Roles are the account's roles; empty for backend services.
	Roles []string
	// Audience is the token's aud: the FHIR base URL(s) it was issued for.
	Audience []string
	// System marks a backend-service (client_credentials) token.
	System bool
	// Unrestricted marks an administrator's OWin token ("the software is
	// authorised to do anything on the interface").
	Unrestricted bool
	// CertThumbprint is the x5t#S256 of the certificate the token is bound
	// to (RFC 8705), or "" (checked by the authenticator, kept for audit).
	CertThumbprint string
	// Anonymous marks the built-in anonymous account (--client-cert-policy
	// limit): its Scopes are the administrator-set anonymous scopes.
	Anonymous bool
}

// HasRole reports whether the principal's account has role r.
func (p *Principal) HasRole(r string) bool { return slices.Contains(p.Roles, r) }

// SelfPatient returns the patient id of a patient user's own record, or "".
func (p *Principal) SelfPatient() string { return p.selfPatient() }

// OwnPatient returns the patient a person who may not act for others is
// confined to: their own linked record, or "" (no record, or a role that
// may act for others: account.MayActForOthers is the one rule). An account
// with no role counts as a patient.
func (p *Principal) OwnPatient() string {
	if p.System || account.MayActForOthers(p.Roles) {
		return ""
	}
	return p.selfPatient()
}

func (p *Principal) selfPatient() string {
	id, _ := account.PatientOf(p.FHIRUser)
	return id
}

// Scope is one way a grant reaches resources: the resources in Patient's
// compartment (any resource when Patient is ""), further restricted to those
// matching every name=value pair of Query (no restriction when nil).
type Scope struct {
	Patient string
	Query   []smart.Param
}

// Grant answers one (interaction, resource type) question.
type Grant struct {
	// Allowed is false when no scope grants the interaction on the type: the
	// FHIR layer answers 403 insufficient_scope.
	Allowed bool
	// Scopes is the union of ways the grant reaches resources; empty with
	// Allowed means nothing is reachable (e.g. patient/ scopes without a
	// patient in context). Unrestricted is true when one of them reaches
	// everything.
	Scopes       []Scope
	Unrestricted bool
}

// Decide returns what p may do for interaction perm on resourceType.
func Decide(p *Principal, perm smart.Permissions, resourceType string) Grant {
	return decide(p, perm, resourceType, nil)
}

// DecideExplained is Decide, and says step by step how it decided: the
// same code runs, recording each step in the returned Explanation.
func DecideExplained(p *Principal, perm smart.Permissions, resourceType string) (Grant, *Explanation) {
	e := newExplanation(p, perm, resourceType)
	g := decide(p, perm, resourceType, e)
	e.decided(g)
	return g, e
}

// decide is Decide; e, when not nil, records the steps (nil on the hot
// path: nothing is recorded or allocated for it).
func decide(p *Principal, perm smart.Permissions, resourceType string, e *Explanation) Grant {
	if p == nil {
		e.noPrincipal()
		return Grant{}
	}
	if p.Anonymous { // a hard ceiling, before anything else
		return decideAnonymous(p, perm, resourceType, e)
	}
	if p.Unrestricted {
		e.unrestricted()
		return Grant{Allowed: true, Unrestricted: true, Scopes: []Scope{{}}}
	}
	var g Grant
	add := func(s Scope) {
		g.Allowed = true
		if s.Patient == "" && s.Query == nil {
			g.Unrestricted = true
		}
		for _, have := range g.Scopes {
			if have.Patient == s.Patient && slices.Equal(have.Query, s.Query) {
				return
			}
		}
		g.Scopes = append(g.Scopes, s)
	}
	query := func(s smart.Scope) []smart.Param {
		if s.Query() == "" {
			return nil
		}
		return s.Params()
	}
	// patient/ scopes: the launch patient's compartment.
	for _, s := range p.Scopes.Allows(smart.ContextPatient, resourceType, perm) {
		g.Allowed = true
		patient := p.Patient
		if patient == "" {
			patient = p.OwnPatient()
		}
		e.patientScope(s, p, patient)
		if patient == "" {
			continue // no patient in context: nothing reachable (E3)
		}
		add(Scope{Patient: patient, Query: query(s)})
	}
	// user/ scopes: what the person may see.
	for _, s := range p.Scopes.Allows(smart.ContextUser, resourceType, perm) {
		g.Allowed = true
		others := account.MayActForOthers(p.Roles)
		e.userScope(s, p, others)
		switch {
		case others:
			add(Scope{Query: query(s)})
		case p.OwnPatient() != "":
			add(Scope{Patient: p.OwnPatient(), Query: query(s)})
		}
	}
	// system/ scopes: backend services only.
	if p.System {
		for _, s := range p.Scopes.Allows(smart.ContextSystem, resourceType, perm) {
			e.systemScope(s, true)
			add(Scope{Query: query(s)})
		}
	} else if e != nil {
		for _, s := range p.Scopes.Allows(smart.ContextSystem, resourceType, perm) {
			e.systemScope(s, false)
		}
	}
	if g.Unrestricted {
		g.Scopes = []Scope{{}}
	}
	return g
}

// decideAnonymous is Decide for the anonymous account: nothing of a type
// that can be in a patient's compartment, whatever the scopes; of the
// others what a system/ or user/ scope allows, on every resource of the
// type (a query-restricted scope: the resources it matches).
func decideAnonymous(p *Principal, perm smart.Permissions, resourceType string, e *Explanation) Grant {
	inCompartment, excluded := InPatientCompartment(resourceType), AnonymousExcluded(resourceType)
	e.anonymousCeiling(resourceType, inCompartment, excluded)
	if inCompartment || excluded {
		return Grant{}
	}
	var g Grant
	for _, ctx := range []smart.Context{smart.ContextSystem, smart.ContextUser} {
		for _, s := range p.Scopes.Allows(ctx, resourceType, perm) {
			e.anonymousScope(s)
			g.Allowed = true
			sc := Scope{}
			if s.Query() != "" {
				sc.Query = s.Params()
			}
			if sc.Query == nil {
				g.Unrestricted = true
			}
			if !slices.ContainsFunc(g.Scopes, func(h Scope) bool { return slices.Equal(h.Query, sc.Query) }) {
				g.Scopes = append(g.Scopes, sc)
			}
		}
	}
	if g.Unrestricted {
		g.Scopes = []Scope{{}}
	}
	return g
}

// Resource is what Admits needs to know about one stored or incoming
// resource.
type Resource struct {
	// Patients are the ids of the patients in whose compartment the resource
	// is (a Patient is in its own).
	Patients []string
	// Matches reports whether the resource matches a granular scope's query
	// (evaluated with the search machinery: same semantics as searching).
	Matches func(query []smart.Param) bool
	// Owners and Owned are what Owners returns for the content: used by
	// AdmitsWrite only.
	Owners []string
	Owned  bool
}

// Admits reports whether the grant reaches the resource.
func (g Grant) Admits(r Resource) bool { return g.admits(r, nil) }

// AdmitsExplained is Admits, recording its steps in e (the Explanation
// DecideExplained returned for g; nil records nothing).
func (g Grant) AdmitsExplained(r Resource, e *Explanation) bool {
	ok := g.admits(r, e)
	e.admitted(ok)
	return ok
}

func (g Grant) admits(r Resource, e *Explanation) bool {
	if !g.Allowed {
		e.notAllowed()
		return false
	}
	e.resource(r)
	for i, s := range g.Scopes {
		if s.Patient != "" {
			in := slices.Contains(r.Patients, s.Patient)
			e.compartment(i, s, r, in)
			if !in {
				continue
			}
		}
		if s.Query != nil {
			m := r.Matches != nil && r.Matches(s.Query)
			e.query(i, s, m)
			if !m {
				continue
			}
		}
		e.reached(i, s)
		return true
	}
	e.reachedNone(len(g.Scopes))
	return false
}

// Patients returns the compartment patients a search must be limited to, and
// false when some scope reaches resources outside any compartment limit.
func (g Grant) Patients() ([]string, bool) {
	var ids []string
	for _, s := range g.Scopes {
		if s.Patient == "" {
			return nil, false
		}
		if !slices.Contains(ids, s.Patient) {
			ids = append(ids, s.Patient)
		}
	}
	return ids, true
}
