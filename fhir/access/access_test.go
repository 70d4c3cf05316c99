package access

import (
	"slices"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz/smart"
)

func scopes(t *testing.T, s string) smart.Scopes {
	t.Helper()
	ss, bad := smart.ParseScopes(s)
	if len(bad) > 0 {
		t.Fatalf("bad scopes %q", bad)
	}
	return ss
}

const (
	C = smart.Create
	R = smart.Read
	U = smart.Update
	D = smart.Delete
	S = smart.Search
)

// TestDecide covers patient/user/system × v1/v2 × read/search/write, with
// the negative cases (checklist F1, F4, F6, F7, F8, G2, G3, G7, G9, E3).
func TestDecide(t *testing.T) {
	patientApp := func(sc string) *Principal {
		return &Principal{Scopes: scopes(t, sc), Patient: "p1", Roles: []string{account.RolePractitioner}, FHIRUser: "Practitioner/d1"}
	}
	patientUser := func(sc string) *Principal {
		return &Principal{Scopes: scopes(t, sc), Roles: []string{account.RolePatient}, FHIRUser: "Patient/p7"}
	}
	practitioner := func(sc string) *Principal {
		return &Principal{Scopes: scopes(t, sc), Roles: []string{account.RolePractitioner}, FHIRUser: "Practitioner/d1"}
	}
	backend := func(sc string) *Principal {
		return &Principal{Scopes: scopes(t, sc), System: true, Subject: "svc", ClientID: "svc"}
	}
	tests := []struct {
		name       string
		p          *Principal
		perm       smart.Permissions
		typ        string
		allowed    bool
		patients   []string // nil: unrestricted
		restricted bool     // compartment-restricted
	}{
		// patient/ × v1
		{"F1 patient v1 read allows read in compartment", patientApp("patient/Observation.read"), R, "Observation", true, []string{"p1"}, true},
		{"F1 patient v1 read allows search", patientApp("patient/Observation.read"), S, "Observation", true, []string{"p1"}, true},
		{"F4 patient v1 read refuses create", patientApp("patient/Observation.read"), C, "Observation", false, nil, false},
		{"F6 patient v1 read refuses other type", patientApp("patient/Observation.read"), R, "Condition", false, nil, false},
		{"F1 patient v1 write allows update", patientApp("patient/Observation.write"), U, "Observation", true, []string{"p1"}, true},
		{"F1 patient v1 write refuses read", patientApp("patient/Observation.write"), R, "Observation", false, nil, false},
		{"F8 patient v1 wildcard covers any type", patientApp("patient/*.read"), S, "Immunization", true, []string{"p1"}, true},
		// patient/ × v2
		{"G3 patient v2 r allows read", patientApp("patient/Observation.r"), R, "Observation", true, []string{"p1"}, true},
		{"G3 patient v2 r refuses search", patientApp("patient/Observation.r"), S, "Observation", false, nil, false},
		{"G2 patient v2 c allows create only", patientApp("patient/Observation.c"), C, "Observation", true, []string{"p1"}, true},
		{"G2 patient v2 c refuses delete", patientApp("patient/Observation.c"), D, "Observation", false, nil, false},
		{"G2 patient v2 cruds allows delete", patientApp("patient/*.cruds"), D, "Observation", true, []string{"p1"}, true},
		{"E3 patient scope without patient context reaches nothing", &Principal{Scopes: scopes(t, "patient/*.rs"), Roles: []string{account.RolePractitioner}}, R, "Observation", true, []string{}, true},
		{"E3 patient user's patient scopes default to own record", patientUser("patient/*.rs"), S, "Observation", true, []string{"p7"}, true},
		// issue 9 D1: an account with no role counts as a patient
		{"Sec9D1 no-role account with a record stays in own compartment", &Principal{Scopes: scopes(t, "user/*.rs"), FHIRUser: "Patient/p7"}, S, "Observation", true, []string{"p7"}, true},
		{"Sec9D1 no-role account's patient scopes default to own record", &Principal{Scopes: scopes(t, "patient/*.rs"), FHIRUser: "Patient/p7"}, S, "Observation", true, []string{"p7"}, true},
		{"Sec9D1 patient without a record reaches nothing", &Principal{Scopes: scopes(t, "patient/*.rs user/*.rs"), Roles: []string{account.RolePatient}}, S, "Observation", true, []string{}, true},
		// user/ × v1 and v2
		{"F7 practitioner user v1 read reaches everything", practitioner("user/Observation.read"), S, "Observation", true, nil, false},
		{"F7 practitioner user v2 rs reaches everything", practitioner("user/Observation.rs"), R, "Observation", true, nil, false},
		{"F7 practitioner user v2 rs refuses write", practitioner("user/Observation.rs"), U, "Observation", false, nil, false},
		{"G9 patient user's user scopes stay in own compartment", patientUser("user/*.read"), S, "Observation", true, []string{"p7"}, true},
		{"G9 patient user v2 user/*.cruds can write own data only", patientUser("user/*.cruds"), C, "Observation", true, []string{"p7"}, true},
		// system/ × v1 and v2
		{"K14 system v2 rs reaches everything", backend("system/Patient.rs"), S, "Patient", true, nil, false},
		{"K14 system v1 read reaches everything", backend("system/*.read"), R, "Observation", true, nil, false},
		{"K14 system v2 rs refuses other types", backend("system/Patient.rs"), S, "Observation", false, nil, false},
		{"G7 system scopes on a user token reach nothing", practitioner("system/*.rs"), S, "Patient", false, nil, false},
		// mixed: union of contexts
		{"G5 union of patient and user scopes is unrestricted", patientApp("patient/Observation.rs user/Observation.rs"), S, "Observation", true, nil, false},
		{"admin OWin is unrestricted", &Principal{Unrestricted: true}, D, "Patient", true, nil, false},
		{"nil principal", nil, R, "Patient", false, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := Decide(tc.p, tc.perm, tc.typ)
			if g.Allowed != tc.allowed {
				t.Fatalf("Allowed = %v, want %v (grant %+v)", g.Allowed, tc.allowed, g)
			}
			if !tc.allowed {
				return
			}
			ids, limited := g.Patients()
			if limited != tc.restricted {
				t.Fatalf("compartment-limited = %v, want %v (grant %+v)", limited, tc.restricted, g)
			}
			if tc.restricted && !slices.Equal(ids, tc.patients) && !(len(ids) == 0 && len(tc.patients) == 0) {
				t.Fatalf("patients = %q, want %q", ids, tc.patients)
			}
			if g.Unrestricted == tc.restricted {
				t.Fatalf("Unrestricted = %v with restricted = %v", g.Unrestricted, tc.restricted)
			}
		})
	}
}

// TestG4_GranularScopesAdmitOnlyMatchingResources: a category-restricted
// scope admits laboratory observations of the context patient and nothing
// else; two granular scopes are a union (G5).
func TestG4_GranularScopesAdmitOnlyMatchingResources(t *testing.T) {
	lab := "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	vital := "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
	p := &Principal{Scopes: scopes(t, "patient/Observation.rs?category="+lab), Patient: "p1", Roles: []string{account.RolePractitioner}}
	g := Decide(p, R, "Observation")
	if !g.Allowed || g.Unrestricted || len(g.Scopes) != 1 || g.Scopes[0].Query[0].Value != lab {
		t.Fatalf("grant = %+v", g)
	}
	category := func(c string) func([]smart.Param) bool {
		return func(q []smart.Param) bool { return len(q) == 1 && q[0].Name == "category" && q[0].Value == c }
	}
	if !g.Admits(Resource{Patients: []string{"p1"}, Matches: category(lab)}) {
		t.Error("laboratory observation of p1 not admitted")
	}
	if g.Admits(Resource{Patients: []string{"p1"}, Matches: category(vital)}) {
		t.Error("vital-signs observation admitted under a laboratory-only scope")
	}
	if g.Admits(Resource{Patients: []string{"p2"}, Matches: category(lab)}) {
		t.Error("another patient's laboratory observation admitted")
	}
	if g.Admits(Resource{Patients: []string{"p1"}}) {
		t.Error("resource admitted without evaluating the scope's query")
	}
	p.Scopes = scopes(t, "patient/Observation.rs?category="+lab+" patient/Observation.rs?category="+vital)
	g = Decide(p, S, "Observation")
	if len(g.Scopes) != 2 {
		t.Fatalf("union has %d scopes, want 2", len(g.Scopes))
	}
	if !g.Admits(Resource{Patients: []string{"p1"}, Matches: category(vital)}) {
		t.Error("G5: vital-signs not admitted under the union")
	}
}

func TestNotAllowedAdmitsNothing(t *testing.T) {
	var g Grant
	if g.Admits(Resource{Patients: []string{"p1"}}) {
		t.Fatal("zero grant admitted a resource")
	}
}
