package smart_test

import (
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz/smart"
)

// FuzzParseScope checks that ParseScope never panics, that an accepted scope
// prints back as exactly its input and parses again to an equal Scope, that
// every derived function is total on it, and that ScopeStrategy never panics
// on arbitrary input and agrees with Subset.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"patient/Observation.read",
		"patient/*.read",
		"user/*.*",
		"user/Appointment.write",
		"system/*.rs",
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
		"patient/Condition.rs?category=a,b&clinical-status=active",
		"user/Observation.rs?code=http%3A%2F%2Floinc.org%7C85354-9",
		"patient/Observation.dus",
		"patient/Observation.sr",
		"patient/Observation.rs?category=%zz",
		"launch",
		"launch/patient",
		"launch/encounter",
		"openid",
		"fhirUser",
		"profile",
		"offline_access",
		"online_access",
		"email",
		"__profilePhoto.manage",
		"",
		"patient/",
		"patient/.",
		"user/X.?",
	} {
		f.Add(s, "patient/*.read user/Observation.rs openid")
	}
	f.Fuzz(func(t *testing.T, s, hay string) {
		haystack := strings.Fields(hay)
		granted := smart.ScopeStrategy(haystack, s) // must not panic
		sc, err := smart.ParseScope(s)
		if err != nil {
			if sc != (smart.Scope{}) {
				t.Fatalf("ParseScope(%q) failed but returned %v", s, sc)
			}
			return
		}
		out := sc.String()
		if out != s {
			t.Fatalf("ParseScope(%q).String() = %q", s, out)
		}
		again, err := smart.ParseScope(out)
		if err != nil {
			t.Fatalf("ParseScope(String()) of %q: %v", s, err)
		}
		if again != sc {
			t.Fatalf("round trip of %q changed the scope: %#v ≠ %#v", s, again, sc)
		}
		if !smart.Subset(sc, sc) {
			t.Fatalf("%q is not a subset of itself", s)
		}
		_ = smart.Describe(sc)
		_ = sc.Params()
		if !smart.ScopeStrategy([]string{s}, s) {
			t.Fatalf("ScopeStrategy does not grant %q to itself", s)
		}
		// Whatever a valid haystack entry grants by Subset, the strategy grants.
		for _, h := range haystack {
			if hs, err := smart.ParseScope(h); err == nil && smart.Subset(sc, hs) && !granted {
				t.Fatalf("ScopeStrategy(%q, %q) = false, but %q ⊆ %q", haystack, s, s, h)
			}
		}
		// Narrowing by itself keeps the scope; by anything stays within it.
		if got := smart.Narrow(sc, smart.Scopes{sc}); len(got) != 1 || got[0] != sc {
			t.Fatalf("Narrow(%q, itself) = %v", s, got)
		}
		ceiling, _ := smart.ParseScopes(hay)
		for _, n := range smart.Narrow(sc, ceiling) {
			if !smart.Subset(n, sc) && !(smart.Scopes{sc}).Contains(n) {
				t.Fatalf("Narrow(%q, %q) gave %q, wider than the request", s, hay, n)
			}
			if !ceiling.Contains(n) {
				t.Fatalf("Narrow(%q, %q) gave %q, beyond the ceiling", s, hay, n)
			}
			if p, err := smart.ParseScope(n.String()); err != nil || p != n {
				t.Fatalf("Narrow(%q, %q) gave %q, which does not round-trip: %v", s, hay, n, err)
			}
		}
	})
}
