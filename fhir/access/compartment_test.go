package access

import (
	"slices"
	"testing"

	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir/search"
)

// TestS13_CompartmentTableMatchesRegistry: InPatientCompartment says what
// the search registry reads from the embedded R4 Patient
// CompartmentDefinition, for every resource type the registry knows.
func TestS13_CompartmentTableMatchesRegistry(t *testing.T) {
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	in := 0
	for _, typ := range reg.Types() {
		if got, want := InPatientCompartment(typ), reg.InPatientCompartment(typ); got != want {
			t.Errorf("InPatientCompartment(%s) = %v, the registry says %v", typ, got, want)
		}
		if InPatientCompartment(typ) {
			in++
		}
	}
	if in < 60 {
		t.Errorf("only %d types in the compartment: the registry's type list looks incomplete", in)
	}
}

// TestS13_AnonymousCeiling: the anonymous account reaches no type of the
// Patient compartment whatever its scopes (Patient included), reaches the
// others as its system/ or user/ scopes allow, and its patient/ scopes
// reach nothing.
func TestS13_AnonymousCeiling(t *testing.T) {
	anon := func(sc string) *Principal {
		return &Principal{Anonymous: true, Subject: "anonymous", Scopes: scopes(t, sc)}
	}
	tests := []struct {
		name         string
		p            *Principal
		perm         smart.Permissions
		typ          string
		allowed      bool
		unrestricted bool
	}{
		{"default reads Organization", anon("system/*.rs"), R, "Organization", true, true},
		{"default searches Practitioner", anon("system/*.rs"), S, "Practitioner", true, true},
		{"default refuses create", anon("system/*.rs"), C, "Organization", false, false},
		{"Patient is in the compartment", anon("system/*.cruds"), R, "Patient", false, false},
		{"Observation is in the compartment", anon("system/Observation.rs"), S, "Observation", false, false},
		{"wildcard type is refused", anon("system/*.rs"), S, "*", false, false},
		{"system history is refused", anon("system/*.rs"), S, "", false, false},
		{"user/ scopes count", anon("user/Medication.rs"), R, "Medication", true, true},
		{"patient/ scopes reach nothing", anon("patient/*.rs"), R, "Organization", false, false},
		{"no scopes, nothing", anon(""), R, "Organization", false, false},
		{"Binary carries documents", anon("system/*.rs"), R, "Binary", false, false},
		{"Subscription may hold credentials", anon("system/Subscription.rs"), S, "Subscription", false, false},
		{"write when the administrator grants it", anon("system/Organization.cu"), U, "Organization", true, true},
		{"query-restricted", anon("system/Organization.rs?active=true"), S, "Organization", true, false},
		{"unrestricted flag does not lift the ceiling", &Principal{Anonymous: true, Unrestricted: true, Scopes: scopes(t, "system/*.rs")}, R, "Patient", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := Decide(tc.p, tc.perm, tc.typ)
			if g.Allowed != tc.allowed || g.Unrestricted != tc.unrestricted {
				t.Errorf("Decide = %+v, want allowed=%v unrestricted=%v", g, tc.allowed, tc.unrestricted)
			}
			if tc.typ == "Organization" && tc.name == "query-restricted" &&
				(len(g.Scopes) != 1 || !slices.Equal(g.Scopes[0].Query, []smart.Param{{Name: "active", Value: "true"}})) {
				t.Errorf("scopes %+v, want the active=true query", g.Scopes)
			}
		})
	}
}
