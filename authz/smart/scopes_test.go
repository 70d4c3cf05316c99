package smart_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz/smart"
)

const (
	labCat   = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	vitalCat = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
)

// TestG5_AllowsUnionOfGranularScopes proves checklist G5 (and G3, F8): Allows
// returns every scope that allows the interaction, so the FHIR layer can
// union their queries; a scope without a query lifts the restriction.
func TestG5_AllowsUnionOfGranularScopes(t *testing.T) {
	granted := mustParseAll(t, strings.Join([]string{
		"launch/patient",
		"patient/Observation.rs?category=" + labCat,
		"patient/Observation.rs?category=" + vitalCat,
		"patient/Condition.r",
		"patient/Patient.read",
		"user/Practitioner.rs",
		"patient/*.c",
	}, " "))
	for _, tc := range []struct {
		name string
		ctx  smart.Context
		typ  string
		p    smart.Permissions
		want []string
	}{
		{"union of two categories", smart.ContextPatient, "Observation", smart.Search, []string{
			"patient/Observation.rs?category=" + labCat, "patient/Observation.rs?category=" + vitalCat}},
		{"G3 read without search allows read", smart.ContextPatient, "Condition", smart.Read, []string{"patient/Condition.r"}},
		{"G3 read without search denies search", smart.ContextPatient, "Condition", smart.Search, nil},
		{"v1 read allows search", smart.ContextPatient, "Patient", smart.Search, []string{"patient/Patient.read"}},
		{"F8 wildcard covers any type", smart.ContextPatient, "MedicationRequest", smart.Create, []string{"patient/*.c"}},
		{"wildcard does not add read", smart.ContextPatient, "MedicationRequest", smart.Read, nil},
		{"contexts never cross", smart.ContextUser, "Observation", smart.Read, nil},
		{"user scope in user context", smart.ContextUser, "Practitioner", smart.Read, []string{"user/Practitioner.rs"}},
		{"user scope not in patient context", smart.ContextPatient, "Practitioner", smart.Read, nil},
		{"no write from read scopes", smart.ContextPatient, "Observation", smart.Update, nil},
		{"empty interaction allows nothing", smart.ContextPatient, "Observation", 0, nil},
		{"combined interactions need one scope with all", smart.ContextPatient, "Condition", smart.Read | smart.Search, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := granted.Allows(tc.ctx, tc.typ, tc.p)
			if fmt.Sprint(got.Strings()) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("Allows(%v, %s, %v) = %q, want %q", tc.ctx, tc.typ, tc.p, got.Strings(), tc.want)
			}
		})
	}
	// A resource-level scope next to granular ones lifts the restriction.
	withAll := append(granted, mustParse(t, "patient/Observation.rs"))
	got := withAll.Allows(smart.ContextPatient, "Observation", smart.Read)
	unrestricted := false
	for _, s := range got {
		unrestricted = unrestricted || s.Query() == ""
	}
	if len(got) != 3 || !unrestricted {
		t.Errorf("Allows = %q, want the two granular scopes and the unrestricted one", got.Strings())
	}
}

func TestSubset(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"patient/Observation.rs", "patient/Observation.rs", true},
		{"patient/Observation.r", "patient/Observation.rs", true},
		{"patient/Observation.rs", "patient/Observation.r", false},
		{"patient/Observation.read", "patient/Observation.rs", true},
		{"patient/Observation.rs", "patient/Observation.read", true},
		{"patient/Observation.write", "patient/Observation.rs", false},
		{"patient/Observation.cud", "patient/Observation.write", true},
		{"patient/Observation.rs", "patient/*.read", true},
		{"patient/*.rs", "patient/Observation.rs", false},
		{"patient/*.r", "patient/*.*", true},
		{"patient/Condition.rs", "patient/Observation.rs", false},
		// Contexts never cross, in either direction.
		{"patient/Observation.rs", "user/Observation.rs", false},
		{"user/Observation.rs", "patient/Observation.rs", false},
		{"user/Observation.rs", "system/*.cruds", false},
		{"system/Observation.rs", "user/*.cruds", false},
		// Queries: narrower than unrestricted, equal to the same pairs.
		{"patient/Observation.rs?category=" + labCat, "patient/Observation.rs", true},
		{"patient/Observation.rs?category=" + labCat, "patient/*.read", true},
		{"patient/Observation.rs", "patient/Observation.rs?category=" + labCat, false},
		{"patient/Observation.rs?category=" + labCat, "patient/Observation.rs?category=" + vitalCat, false},
		{"patient/Observation.r?category=" + labCat, "patient/Observation.rs?category=" + labCat, true},
		{"patient/Observation.rs?a=1&b=2", "patient/Observation.rs?b=2&a=1", true},
		{"patient/Observation.rs?a=x%7Cy", "patient/Observation.rs?a=x|y", true},
		{"patient/Observation.rs?a=1&b=2", "patient/Observation.rs?a=1", false}, // not compared by implication
		{"patient/Observation.rs?a=1", "patient/Observation.rs?a=1&b=2", false},
		{"patient/Observation.rs?a=1&a=1", "patient/Observation.rs?a=1", false},
		// Non-resource scopes: only themselves.
		{"openid", "openid", true},
		{"launch/patient", "launch", false},
		{"launch", "launch/patient", false},
		{"email", "email", true},
		{"email", "profile", false},
		{"openid", "user/*.*", false},
		{"patient/*.rs", "offline_access", false},
	} {
		t.Run(tc.a+" ⊆ "+tc.b, func(t *testing.T) {
			if got := smart.Subset(mustParse(t, tc.a), mustParse(t, tc.b)); got != tc.want {
				t.Errorf("Subset = %v, want %v", got, tc.want)
			}
		})
	}
	if smart.Subset(smart.Scope{}, smart.Scope{}) {
		t.Error("zero scopes are subsets")
	}
}

// TestR7_RefreshScopeBeyondGrant proves the scope side of checklist R3 and
// R7: on refresh, every requested scope must be contained in the original
// grant; one that is not makes the request invalid_scope.
func TestR7_RefreshScopeBeyondGrant(t *testing.T) {
	original := mustParseAll(t, "launch/patient openid fhirUser offline_access patient/Observation.read patient/Condition.rs?category=problem-list-item")
	for _, tc := range []struct {
		requested string
		ok        bool
	}{
		{original.String(), true}, // R3: the same scopes
		{"patient/Observation.read", true},
		{"patient/Observation.rs", true}, // v2 spelling of the same grant
		{"patient/Observation.s openid", true},
		{"patient/Observation.rs?category=" + labCat, true}, // narrower
		{"patient/Condition.r?category=problem-list-item", true},
		{"patient/Condition.rs", false}, // wider than the granular grant
		{"patient/Observation.write", false},
		{"patient/*.read", false},
		{"user/Observation.read", false},
		{"online_access", false},
		{"email", false},
	} {
		t.Run(tc.requested, func(t *testing.T) {
			req := mustParseAll(t, tc.requested)
			ok := true
			for _, r := range req {
				ok = ok && original.Contains(r)
			}
			if ok != tc.ok {
				t.Errorf("all contained = %v, want %v", ok, tc.ok)
			}
			// The fosite strategy answers the same, scope by scope.
			ok = true
			for _, r := range req {
				ok = ok && smart.ScopeStrategy(original.Strings(), r.String())
			}
			if ok != tc.ok {
				t.Errorf("ScopeStrategy: all granted = %v, want %v", ok, tc.ok)
			}
		})
	}
}

func TestContainsUnionOfInteractions(t *testing.T) {
	ss := mustParseAll(t, "patient/Observation.r patient/*.s user/Observation.cud")
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"patient/Observation.rs", true}, // r from one entry, s from another (IG #scope-equivalence)
		{"patient/Observation.read", true},
		{"patient/Condition.rs", false},
		{"patient/Condition.s", true},
		{"patient/Observation.rsc", false},
		{"patient/Observation.crs", false},
		{"user/Observation.write", true},
		{"user/Observation.cruds", false},
	} {
		s, err := smart.ParseScope(tc.s)
		if err != nil {
			if tc.want {
				t.Errorf("ParseScope(%q): %v", tc.s, err)
			}
			continue
		}
		if got := ss.Contains(s); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.s, got, tc.want)
		}
	}
	if ss.Contains(smart.Scope{}) {
		t.Error("Contains(zero) = true")
	}
}

// TestNarrow covers granting a request under a ceiling (a client's allowed
// scopes, a role's ceiling, the user's choices on the consent page).
func TestNarrow(t *testing.T) {
	for _, tc := range []struct {
		name, requested, ceiling, want string
	}{
		{"contained: kept as requested", "patient/Observation.read", "patient/*.cruds", "patient/Observation.read"},
		{"contained by a union", "patient/Observation.rs", "patient/Observation.r patient/*.s", "patient/Observation.rs"},
		{"perms narrowed, v1 kept when it has a word", "patient/*.*", "patient/*.rs", "patient/*.read"},
		{"perms narrowed to no v1 word: v2 form", "patient/*.*", "patient/*.r", "patient/*.r"},
		{"v2 request stays v2", "patient/*.cruds", "patient/*.read", "patient/*.rs"},
		{"wildcard request, typed ceiling: one per type", "patient/*.cruds", "patient/Observation.rs patient/Condition.r",
			"patient/Observation.rs patient/Condition.r"},
		{"same type merged", "patient/*.cruds", "patient/Observation.r patient/Observation.s", "patient/Observation.rs"},
		{"covered results dropped", "patient/*.cruds", "patient/Observation.rs patient/*.rs", "patient/*.rs"},
		{"ceiling query applied", "patient/Observation.rs", "patient/Observation.rs?category=" + labCat,
			"patient/Observation.rs?category=" + labCat},
		{"ceiling query on v1 request gives v2", "patient/Observation.read", "patient/Observation.rs?category=" + labCat,
			"patient/Observation.rs?category=" + labCat},
		{"request query kept", "patient/Observation.cruds?category=" + labCat, "patient/Observation.rs",
			"patient/Observation.rs?category=" + labCat},
		{"different queries: nothing", "patient/Observation.rs?category=" + vitalCat, "patient/Observation.rs?category=" + labCat, ""},
		{"contexts never cross", "user/*.rs", "patient/*.cruds", ""},
		{"system never from user ceiling", "system/*.read", "user/*.* patient/*.*", ""},
		{"other type: nothing", "patient/Condition.rs", "patient/Observation.rs", ""},
		{"no common perms: nothing", "patient/Observation.write", "patient/Observation.rs", ""},
		{"non-resource present", "openid", "openid fhirUser", "openid"},
		{"non-resource absent", "offline_access", "online_access patient/*.*", ""},
		{"empty ceiling", "patient/*.rs", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ceiling, _ := smart.ParseScopes(tc.ceiling)
			got := smart.Narrow(mustParse(t, tc.requested), ceiling)
			if got.String() != tc.want {
				t.Errorf("Narrow(%s, %q) = %q, want %q", tc.requested, tc.ceiling, got, tc.want)
			}
			// Soundness: everything returned is within both.
			req := smart.Scopes{mustParse(t, tc.requested)}
			for _, g := range got {
				if !ceiling.Contains(g) || !req.Contains(g) {
					t.Errorf("result %s is not within request and ceiling", g)
				}
			}
		})
	}
	if got := smart.Narrow(smart.Scope{}, mustParseAll(t, "openid")); got != nil {
		t.Errorf("Narrow(zero) = %v", got)
	}
}

// TestRoleCeilings shows the role ceilings authz builds: a patient user may
// only have patient/ scopes, a practitioner user/ and patient/ scopes, and
// system/ scopes only come from a client_credentials ceiling (F2, G7).
func TestRoleCeilings(t *testing.T) {
	const nonResource = "launch launch/patient launch/encounter openid fhirUser profile offline_access online_access"
	requested := mustParseAll(t, "openid fhirUser launch/patient offline_access user/*.rs patient/*.* system/*.read")
	for _, tc := range []struct {
		role, ceiling, want string
	}{
		{"patient", nonResource + " patient/*.cruds", "openid fhirUser launch/patient offline_access patient/*.*"},
		{"practitioner", nonResource + " user/*.cruds patient/*.cruds", "openid fhirUser launch/patient offline_access user/*.rs patient/*.*"},
		{"backend", "system/*.rs", "system/*.read"},
		{"read-only patient", nonResource + " patient/*.rs", "openid fhirUser launch/patient offline_access patient/*.read"},
	} {
		t.Run(tc.role, func(t *testing.T) {
			got := requested.Intersect(mustParseAll(t, tc.ceiling))
			if got.String() != tc.want {
				t.Errorf("Intersect = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestG10_ScopeStrategy checks the fosite scope strategy (checklist G10's
// fosite note): exact matches, v1/v2 equivalence, narrower scopes, and no
// matches across contexts or for non-resource scopes that are absent.
func TestG10_ScopeStrategy(t *testing.T) {
	haystack := []string{"openid", "fhirUser", "launch/patient", "patient/*.read", "user/Observation.rs", "not a scope", "patient/Observation.sr", ""}
	for _, tc := range []struct {
		needle string
		want   bool
	}{
		{"openid", true},
		{"fhirUser", true},
		{"not a scope", true},            // exact string match (fosite's exact strategy)
		{"patient/Observation.sr", true}, // exact, although invalid
		{"patient/Observation.rs", true},
		{"patient/Observation.read", true},
		{"patient/Observation.rs?category=" + labCat, true},
		{"patient/*.rs", true},
		{"patient/*.cruds", false},
		{"patient/Observation.write", false},
		{"user/Observation.read", true},
		{"user/Observation.rs?category=" + labCat, true},
		{"user/Condition.rs", false},
		{"system/*.read", false},
		{"launch", false},
		{"launch/encounter", false},
		{"offline_access", false},
		{"profile", false},
		{"patient/Observation.dus", false},
		{"", true}, // exact match of the empty haystack entry
		{"patient", false},
	} {
		t.Run(tc.needle, func(t *testing.T) {
			if got := smart.ScopeStrategy(haystack, tc.needle); got != tc.want {
				t.Errorf("ScopeStrategy(%q) = %v, want %v", tc.needle, got, tc.want)
			}
		})
	}
	if smart.ScopeStrategy(nil, "openid") || smart.ScopeStrategy(nil, "") {
		t.Error("nil haystack granted something")
	}
}

func BenchmarkScopeStrategy(b *testing.B) {
	haystack := []string{"openid", "fhirUser", "launch", "launch/patient", "offline_access",
		"patient/Patient.rs", "patient/Condition.rs", "patient/Observation.rs", "patient/Encounter.rs",
		"user/*.cruds", "patient/*.read"}
	for _, needle := range []string{
		"openid",
		"patient/Observation.read",
		"patient/Observation.rs?category=" + labCat,
		"patient/MedicationRequest.c",
	} {
		b.Run(needle[:min(len(needle), 24)], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				smart.ScopeStrategy(haystack, needle)
			}
		})
	}
}

func TestParseScopesManyRepeats(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "patient/Observation.rs?code=%d openid x%%%d ", i%100, i%50)
	}
	ss, invalid := smart.ParseScopes(b.String())
	if len(ss) != 151 || len(invalid) != 0 {
		t.Fatalf("got %d scopes and %d invalid, want 151 and 0", len(ss), len(invalid))
	}
	if ss[0].String() != "patient/Observation.rs?code=0" || ss[1].String() != "openid" || ss[2].String() != "x%0" {
		t.Errorf("order not kept: %q", ss[:3].Strings())
	}
	got := ss.Intersect(mustParseAll(t, "patient/*.read openid"))
	if len(got) != 101 {
		t.Errorf("Intersect kept %d scopes, want 101", len(got))
	}
}
