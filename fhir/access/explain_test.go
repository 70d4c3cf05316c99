package access

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/smart"
)

type principalCase struct {
	name string
	p    func(sc smart.Scopes) *Principal
}

func explainPrincipals() []principalCase {
	return []principalCase{
		{"patient user with record", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, Roles: []string{account.RolePatient}, FHIRUser: "Patient/p7"}
		}},
		{"patient user with record, launch", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, Roles: []string{account.RolePatient}, FHIRUser: "Patient/p7", Patient: "p7"}
		}},
		{"patient user without record", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, Roles: []string{account.RolePatient}}
		}},
		{"account without role", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, FHIRUser: "Patient/p7"}
		}},
		{"practitioner", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, Roles: []string{account.RolePractitioner}, FHIRUser: "Practitioner/d1"}
		}},
		{"practitioner, launch p1", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, Roles: []string{account.RolePractitioner}, FHIRUser: "Practitioner/d1", Patient: "p1"}
		}},
		{"admin", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, Roles: []string{account.RoleAdmin}}
		}},
		{"admin OWin", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, Roles: []string{account.RoleAdmin}, Unrestricted: true}
		}},
		{"backend", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, System: true, Subject: "svc", ClientID: "svc"}
		}},
		{"anonymous", func(sc smart.Scopes) *Principal {
			return &Principal{Scopes: sc, Anonymous: true, Subject: "anonymous"}
		}},
		{"nil", func(smart.Scopes) *Principal { return nil }},
	}
}

var explainScopes = []string{
	"",
	"openid launch/patient",
	"patient/*.read",
	"patient/Observation.read",
	"patient/Observation.rs",
	"patient/Observation.rs?category=laboratory",
	"patient/Patient.cruds",
	"user/*.read",
	"user/Observation.rs",
	"user/Observation.rs?category=laboratory",
	"user/*.write",
	"system/*.read",
	"system/Observation.rs?category=laboratory",
	"system/Organization.rs",
	"system/*.*",
	"patient/Observation.rs?category=vital-signs user/Observation.rs?category=laboratory",
	"patient/*.rs user/Observation.read system/Observation.read",
}

type resourceCase struct {
	name string
	r    Resource
}

func explainResources() []resourceCase {
	lab := func(q []smart.Param) bool {
		for _, p := range q {
			if p.Name == "category" && p.Value != "laboratory" {
				return false
			}
		}
		return true
	}
	none := func([]smart.Param) bool { return false }
	return []resourceCase{
		{"own p7", Resource{Patients: []string{"p7"}, Matches: lab, Owners: []string{"p7"}, Owned: true}},
		{"launch p1", Resource{Patients: []string{"p1"}, Matches: lab, Owners: []string{"p1"}, Owned: true}},
		{"other p9", Resource{Patients: []string{"p9"}, Matches: lab, Owners: []string{"p9"}, Owned: true}},
		{"p7 and p9", Resource{Patients: []string{"p7", "p9"}, Matches: none, Owners: []string{"p7"}, Owned: true}},
		{"no compartment", Resource{Matches: lab}},
		{"no matcher", Resource{Patients: []string{"p7"}}},
	}
}

// TestExplainedEqualsDecide is the key guarantee: over principal kinds ×
// scope kinds × interactions × types × resources, the explained verdicts
// are Decide's, Admits' and AdmitsWrite's, a refusal names the step that
// said no, and the JSON is valid, bounded and reads back.
func TestExplainedEqualsDecide(t *testing.T) {
	perms := []smart.Permissions{C, R, U, D, S}
	types := []string{"Observation", "Patient", "Organization", "Binary", "*"}
	n := 0
	for _, pc := range explainPrincipals() {
		for _, sc := range explainScopes {
			ss, _ := smart.ParseScopes(sc)
			for _, perm := range perms {
				for _, typ := range types {
					p := pc.p(ss)
					want := Decide(p, perm, typ)
					got, e := DecideExplained(p, perm, typ)
					name := pc.name + "|" + sc + "|" + perm.String() + "|" + typ
					if !reflect.DeepEqual(want, got) {
						t.Fatalf("%s: explained grant %+v, Decide %+v", name, got, want)
					}
					if e.Allowed != want.Allowed {
						t.Fatalf("%s: explanation says allowed=%v, Decide %v", name, e.Allowed, want.Allowed)
					}
					checkRefusal(t, name+" (decide)", e)
					for _, rc := range explainResources() {
						for _, write := range []bool{false, true} {
							_, e := DecideExplained(p, perm, typ)
							var admits, explained bool
							if write {
								admits, explained = want.AdmitsWrite(rc.r), want.AdmitsWriteExplained(rc.r, e)
							} else {
								admits, explained = want.Admits(rc.r), want.AdmitsExplained(rc.r, e)
							}
							rn := name + "|" + rc.name
							if admits != explained || e.Allowed != admits {
								t.Fatalf("%s write=%v: Admits %v, explained %v (e.Allowed %v)", rn, write, admits, explained, e.Allowed)
							}
							checkRefusal(t, rn, e)
							n++
						}
					}
				}
			}
		}
	}
	t.Logf("%d admits cases", n)
}

func checkRefusal(t *testing.T, name string, e *Explanation) {
	t.Helper()
	refused := 0
	for _, st := range e.Steps {
		if st.Refused {
			refused++
		}
	}
	switch {
	case e.Allowed && (e.RefusedBy != "" || refused != 0):
		t.Fatalf("%s: allowed, but refused by %q (%d steps)", name, e.RefusedBy, refused)
	case !e.Allowed && (e.RefusedBy == "" || refused == 0):
		t.Fatalf("%s: refused, but no step says so: %+v", name, e.Steps)
	}
	js := e.JSON()
	if len(js) > audit.MaxTrace || !json.Valid([]byte(js)) {
		t.Fatalf("%s: JSON invalid or %d bytes", name, len(js))
	}
	back, err := ParseExplanation(js)
	if err != nil || back.Allowed != e.Allowed || back.RefusedBy != e.RefusedBy {
		t.Fatalf("%s: parse back %+v, %v", name, back, err)
	}
}

// TestExplainFailingStep names the step that said no in the main cases.
func TestExplainFailingStep(t *testing.T) {
	lab := func(q []smart.Param) bool { return q[0].Value == "laboratory" }
	notLab := func([]smart.Param) bool { return false }
	tests := []struct {
		name   string
		p      *Principal
		perm   smart.Permissions
		typ    string
		r      *Resource // nil: decide only
		want   string
		detail string
	}{
		{"patient scope, other patient's record",
			&Principal{Scopes: scopes(t, "patient/*.read"), Roles: []string{account.RolePatient}, FHIRUser: "Patient/lind", Patient: "lind"},
			R, "Observation", &Resource{Patients: []string{"yundt"}}, CheckCompartment, "confined to Patient/lind"},
		{"user scope of a patient, other patient's record",
			&Principal{Scopes: scopes(t, "user/*.read"), Roles: []string{account.RolePatient}, FHIRUser: "Patient/lind"},
			R, "Patient", &Resource{Patients: []string{"yundt"}}, CheckCompartment, "Patient/yundt"},
		{"no scope for the type",
			&Principal{Scopes: scopes(t, "patient/Observation.read"), Patient: "p1"},
			R, "Condition", nil, CheckScope, "no scope grants read (r) on Condition"},
		{"v1 read does not write",
			&Principal{Scopes: scopes(t, "patient/Observation.read"), Patient: "p1"},
			C, "Observation", nil, CheckScope, "create"},
		{"anonymous, compartment type",
			&Principal{Scopes: scopes(t, "system/*.read"), Anonymous: true},
			R, "Observation", nil, CheckAnonymous, "never reaches"},
		{"patient user without record",
			&Principal{Scopes: scopes(t, "user/*.read"), Roles: []string{account.RolePatient}},
			R, "Observation", &Resource{Patients: []string{"p1"}}, CheckRole, "without a linked record"},
		{"patient scope, no patient in context",
			&Principal{Scopes: scopes(t, "patient/*.read"), Roles: []string{account.RolePractitioner}},
			R, "Observation", &Resource{Patients: []string{"p1"}}, CheckCompartment, "no patient in context"},
		{"granular query does not match",
			&Principal{Scopes: scopes(t, "patient/Observation.rs?category=laboratory"), Patient: "p1", Roles: []string{account.RolePractitioner}},
			R, "Observation", &Resource{Patients: []string{"p1"}, Matches: notLab}, CheckQuery, "does not match"},
		{"system scope of a person",
			&Principal{Scopes: scopes(t, "system/*.read"), Roles: []string{account.RolePractitioner}},
			R, "Observation", &Resource{Patients: []string{"p1"}, Matches: lab}, CheckRole, "backend-service"},
		{"resource in no compartment through a patient scope",
			&Principal{Scopes: scopes(t, "patient/*.read"), Patient: "p1"},
			R, "Observation", &Resource{}, CheckCompartment, "no patient's compartment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, e := DecideExplained(tt.p, tt.perm, tt.typ)
			if tt.r != nil {
				g.AdmitsExplained(*tt.r, e)
			}
			if e.Allowed || e.RefusedBy != tt.want {
				t.Fatalf("allowed %v, refused by %q, want %q; steps %+v", e.Allowed, e.RefusedBy, tt.want, e.Steps)
			}
			found := false
			for _, st := range e.Steps {
				if st.Refused && st.Check == tt.want && strings.Contains(st.Detail, tt.detail) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no refused %s step with %q: %+v", tt.want, tt.detail, e.Steps)
			}
		})
	}
}

// TestExplainAllowed: an allowed read says so, with no refused step.
func TestExplainAllowed(t *testing.T) {
	p := &Principal{Scopes: scopes(t, "patient/*.read"), Patient: "lind", Roles: []string{account.RolePatient}, FHIRUser: "Patient/lind"}
	g, e := DecideExplained(p, R, "Observation")
	if !g.AdmitsExplained(Resource{Patients: []string{"lind"}}, e) || !e.Allowed || e.RefusedBy != "" {
		t.Fatalf("%+v", e)
	}
}

// TestExplainJSONBounded: a huge explanation is cut to MaxTrace, stays
// valid JSON, keeps the refusing step and says it was truncated.
func TestExplainJSONBounded(t *testing.T) {
	var sc []string
	for i := 0; i < 400; i++ {
		sc = append(sc, fmt.Sprintf("patient/Observation.rs?code=http://loinc.org|%s%d", strings.Repeat("9", 20), i))
	}
	p := &Principal{Scopes: scopes(t, strings.Join(sc, " ")), Patient: "lind"}
	g, e := DecideExplained(p, R, "Observation")
	g.AdmitsExplained(Resource{Patients: []string{"yundt"}}, e)
	js := e.JSON()
	if len(js) > audit.MaxTrace || !json.Valid([]byte(js)) {
		t.Fatalf("%d bytes, valid %v", len(js), json.Valid([]byte(js)))
	}
	back, err := ParseExplanation(js)
	if err != nil || !back.Truncated || back.RefusedBy != CheckCompartment {
		t.Fatalf("%+v %v", back, err)
	}
	if (*Explanation)(nil).JSON() != "" {
		t.Fatal("nil explanation has JSON")
	}
	if _, err := ParseExplanation("{"); err == nil {
		t.Fatal("bad JSON parsed")
	}
}

// TestDecideNoExplanationAllocs: the explanation adds no allocation to the
// plain Decide + Admits path.
func TestDecideNoExplanationAllocs(t *testing.T) {
	p := &Principal{Scopes: scopes(t, "user/*.read"), Roles: []string{account.RolePractitioner}}
	r := Resource{Patients: []string{"p1"}}
	if n := testing.AllocsPerRun(100, func() {
		g := Decide(p, R, "Observation")
		if !g.Admits(r) {
			t.Fatal("refused")
		}
	}); n > 3 { // as before explanations: Allows' result, the grant's scopes
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkDecideAdmits(b *testing.B) {
	ss, _ := smart.ParseScopes("patient/*.read user/Observation.rs?category=laboratory")
	p := &Principal{Scopes: ss, Patient: "p1", Roles: []string{account.RolePractitioner}}
	r := Resource{Patients: []string{"p2"}, Matches: func([]smart.Param) bool { return false }}
	b.ReportAllocs()
	for b.Loop() {
		g := Decide(p, R, "Observation")
		g.Admits(r)
	}
}
