package smart_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz/smart"
)

func TestNarrowTo(t *testing.T) {
	for _, tc := range []struct {
		name, requested, ceiling, want string
	}{
		{"wider request", "user/*.cruds", "user/*.rs", "user/*.rs"},
		{"narrower type", "user/Observation.rs", "user/*.rs", "user/Observation.rs"},
		{"narrower ceiling type", "user/*.rs", "user/Observation.r", "user/Observation.r"},
		{"v1 read under cruds keeps v1", "user/*.read", "user/*.cruds", "user/*.read"},
		{"v1 all under rs", "user/*.*", "user/*.rs", "user/*.read"},
		{"v1 write under rs", "user/*.write", "user/*.rs", ""},
		{"v1 write under cu", "user/*.write", "user/*.cu", "user/*.cu"},
		{"v1 ceiling", "user/Observation.cruds", "user/*.read", "user/Observation.rs"},
		{"granular request under plain ceiling", "user/Observation.rs?category=laboratory", "user/*.rs",
			"user/Observation.rs?category=laboratory"},
		{"plain request under granular ceiling", "user/Observation.rs", "user/Observation.rs?category=laboratory",
			"user/Observation.rs?category=laboratory"},
		{"granular both, different", "user/Observation.rs?category=vital-signs", "user/Observation.rs?category=laboratory", ""},
		{"patient does not cross to user", "patient/*.rs", "user/*.cruds", ""},
		{"user does not cross to patient", "user/*.rs", "patient/*.cruds", ""},
		{"system does not cross", "system/*.rs", "user/*.cruds patient/*.cruds", ""},
		{"union of ceilings", "user/*.rs", "user/Observation.rs user/Condition.r", "user/Observation.rs user/Condition.r"},
		{"non-resource pass", "openid fhirUser profile launch launch/patient launch/encounter offline_access online_access email",
			"user/Observation.r", "openid fhirUser profile launch launch/patient launch/encounter offline_access online_access email"},
		{"scim needs the ceiling", "openid scim", "user/*.cruds patient/*.cruds", "openid"},
		{"scim under a ceiling with it", "scim user/*.rs", "scim user/*.cruds", "scim user/*.rs"},
		{"case variants of contexts dropped", "USER/*.CRUDS Patient/*.rs sYsTeM/*.rs User/Observation.read user/*.rs openid",
			"user/*.cruds patient/*.cruds system/*.cruds", "user/*.rs openid"},
		{"other slashed scopes pass", "launch/imagingstudy users/x", "user/*.rs", "launch/imagingstudy users/x"},
		{"mixed, order kept", "openid patient/*.cruds user/*.cruds offline_access", "patient/*.rs user/*.r",
			"openid patient/*.rs user/*.r offline_access"},
		{"empty ceiling keeps non-resource only", "openid user/*.rs", "", "openid"},
		{"invalid request token dropped", "user/Foo.zz openid", "user/*.cruds", "openid"},
		{"spellings kept, repeats dropped", "user/*.rs user/*.read user/*.rs", "user/*.rs", "user/*.rs user/*.read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := smart.NarrowTo(strings.Fields(tc.requested), strings.Fields(tc.ceiling))
			if want := strings.Fields(tc.want); !slices.Equal(got, want) {
				t.Errorf("NarrowTo(%q, %q) = %q, want %q", tc.requested, tc.ceiling, got, want)
			}
		})
	}
}

// FuzzNarrowTo checks the property of a ceiling: the result never grants an
// interaction on a type that the request or the ceiling does not grant, and
// lets a non-resource scope through only when it was requested.
func FuzzNarrowTo(f *testing.F) {
	f.Add("user/*.cruds patient/Observation.rs openid", "user/*.rs patient/*.r")
	f.Add("user/Observation.rs?category=laboratory user/*.read", "user/Observation.r user/Condition.cruds")
	f.Add("system/*.*", "system/Patient.s system/Observation.cd")
	f.Add("patient/*.write launch/patient", "patient/Encounter.cruds?status=finished")
	f.Fuzz(func(t *testing.T, requested, ceiling string) {
		got := smart.NarrowTo(strings.Fields(requested), strings.Fields(ceiling))
		req, _ := smart.ParseScopes(requested)
		ceil, _ := smart.ParseScopes(ceiling)
		for _, g := range got {
			sc, err := smart.ParseScope(g)
			if err != nil {
				t.Fatalf("result %q is not a scope: %v", g, err)
			}
			if sc.Kind() != smart.KindResource {
				if !slices.Contains(req, sc) {
					t.Fatalf("non-resource %q was not requested in %q", g, requested)
				}
				continue
			}
			for _, p := range []smart.Permissions{smart.Create, smart.Read, smart.Update, smart.Delete, smart.Search} {
				if !sc.Permissions().Has(p) {
					continue
				}
				if len(req.Allows(sc.Context(), sc.ResourceType(), p)) == 0 {
					t.Fatalf("%q grants %s on %s beyond the request %q", g, p, sc.ResourceType(), requested)
				}
				if len(ceil.Allows(sc.Context(), sc.ResourceType(), p)) == 0 {
					t.Fatalf("%q grants %s on %s beyond the ceiling %q", g, p, sc.ResourceType(), ceiling)
				}
			}
			if !req.Contains(sc) || !ceil.Contains(sc) {
				t.Fatalf("%q is not contained in both the request %q and the ceiling %q", g, requested, ceiling)
			}
		}
	})
}
