package smart_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz/smart"
)

func mustParse(t testing.TB, s string) smart.Scope {
	t.Helper()
	sc, err := smart.ParseScope(s)
	if err != nil {
		t.Fatalf("ParseScope(%q): %v", s, err)
	}
	return sc
}

func mustParseAll(t testing.TB, s string) smart.Scopes {
	t.Helper()
	ss, invalid := smart.ParseScopes(s)
	if len(invalid) > 0 {
		t.Fatalf("ParseScopes(%q): invalid %q", s, invalid)
	}
	return ss
}

// resourceCase is the expected parse of one resource scope.
type resourceCase struct {
	in      string
	ctx     smart.Context
	typ     string
	perms   smart.Permissions
	version smart.Version
	query   string
}

func checkResource(t *testing.T, tc resourceCase) {
	t.Helper()
	sc, err := smart.ParseScope(tc.in)
	if err != nil {
		t.Fatalf("ParseScope(%q): %v", tc.in, err)
	}
	if sc.Kind() != smart.KindResource || sc.Context() != tc.ctx || sc.ResourceType() != tc.typ ||
		sc.Permissions() != tc.perms || sc.Version() != tc.version || sc.Query() != tc.query {
		t.Errorf("ParseScope(%q) = kind %d ctx %v type %q perms %v version %d query %q; want ctx %v type %q perms %v version %d query %q",
			tc.in, sc.Kind(), sc.Context(), sc.ResourceType(), sc.Permissions(), sc.Version(), sc.Query(),
			tc.ctx, tc.typ, tc.perms, tc.version, tc.query)
	}
	if got := sc.String(); got != tc.in {
		t.Errorf("String() = %q, want %q", got, tc.in)
	}
}

const (
	rs    = smart.Read | smart.Search
	cud   = smart.Create | smart.Update | smart.Delete
	cruds = smart.AllPermissions
)

// TestF1_V1Grammar proves checklist F1: the SMART 1.0 grammar
// (patient|user|system)/(Type|*).(read|write|*) parses, with the v1 meaning
// read ⇒ rs, write ⇒ cud, * ⇒ cruds.
func TestF1_V1Grammar(t *testing.T) {
	for _, tc := range []resourceCase{
		{"patient/Observation.read", smart.ContextPatient, "Observation", rs, smart.V1, ""},
		{"patient/*.read", smart.ContextPatient, "*", rs, smart.V1, ""},
		{"user/*.*", smart.ContextUser, "*", cruds, smart.V1, ""},
		{"user/Appointment.write", smart.ContextUser, "Appointment", cud, smart.V1, ""},
		{"system/*.read", smart.ContextSystem, "*", rs, smart.V1, ""},
		{"system/Patient.*", smart.ContextSystem, "Patient", cruds, smart.V1, ""},
	} {
		t.Run(tc.in, func(t *testing.T) { checkResource(t, tc) })
	}
}

// TestG1_V2Grammar proves checklist G1: v2 suffixes are non-empty in-order
// subsets of cruds, optionally followed by a query.
func TestG1_V2Grammar(t *testing.T) {
	for _, tc := range []resourceCase{
		{"patient/Observation.rs", smart.ContextPatient, "Observation", rs, smart.V2, ""},
		{"patient/Observation.r", smart.ContextPatient, "Observation", smart.Read, smart.V2, ""},
		{"user/*.cruds", smart.ContextUser, "*", cruds, smart.V2, ""},
		{"user/Encounter.cu", smart.ContextUser, "Encounter", smart.Create | smart.Update, smart.V2, ""},
		{"system/Patient.s", smart.ContextSystem, "Patient", smart.Search, smart.V2, ""},
		{"patient/Condition.cud", smart.ContextPatient, "Condition", cud, smart.V2, ""},
		{"patient/AllergyIntolerance.d", smart.ContextPatient, "AllergyIntolerance", smart.Delete, smart.V2, ""},
		{"patient/Observation.rs?category=laboratory", smart.ContextPatient, "Observation", rs, smart.V2, "category=laboratory"},
		{"user/Condition.rs?category=problem-list-item&clinical-status=active", smart.ContextUser, "Condition", rs, smart.V2,
			"category=problem-list-item&clinical-status=active"},
	} {
		t.Run(tc.in, func(t *testing.T) { checkResource(t, tc) })
	}
}

// TestG1_RejectsUndefinedSuffixes proves the rejecting branch of checklist
// G1 (out-of-order or undefined interactions) and the other grammar errors.
func TestG1_RejectsUndefinedSuffixes(t *testing.T) {
	for _, in := range []string{
		"patient/Observation.dus", // IG example of an undefined request
		"patient/Observation.sr",  // out of order
		"patient/Observation.rr",  // repeated
		"patient/Observation.x",
		"patient/Observation.",
		"patient/Observation.Read",
		"patient/Observation.crudss",
		"patient/Observation",    // no suffix
		"patient/observation.rs", // not a FHIR type
		"patient/O.rs",           // too short for a type
		"patient/Obs3rvation.rs",
		"patient/" + strings.Repeat("A", 65) + ".rs",
		"patient/.rs",
		"patient/**.rs",
		"patient/Observation.read?category=laboratory", // v1 has no query
		"patient/Observation.rs?",                      // empty query
		"patient/Observation.rs?category",              // no =
		"patient/Observation.rs?=laboratory",           // no name
		"patient/Observation.rs?category=",             // no value
		"patient/Observation.rs?category=a&",           // empty part
		"patient/Observation.rs?category=a&&code=b",
		"patient/Observation.rs?cat/egory=a",    // bad name character
		"patient/Observation.rs?category=%zz",   // bad percent-encoding
		"patient/Observation.rs?category=a%2",   // truncated escape
		"user/*.rs extra",                       // space
		"patient/Observation.rs\n",              // control character
		"patient/Observation.rs?code=\"x\"",     // quote
		"patient/Observation.rs?code=a\\b",      // backslash
		"patient/Observation.rs?code=caf\u00e9", // non-ASCII
		"",
	} {
		t.Run(in, func(t *testing.T) {
			sc, err := smart.ParseScope(in)
			if err == nil {
				t.Fatalf("ParseScope(%q) = %q, want an error", in, sc)
			}
			if !errors.Is(err, smart.ErrInvalidScope) {
				t.Errorf("error %v does not wrap ErrInvalidScope", err)
			}
		})
	}
}

// TestG11_NonResourceScopes proves checklist G11 (and H9 for profile): the
// context and identity scopes parse, have their own kinds and are echoed
// unchanged; other scopes parse as KindOther.
func TestG11_NonResourceScopes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind smart.Kind
	}{
		{"launch", smart.KindLaunch},
		{"launch/patient", smart.KindLaunchPatient},
		{"launch/encounter", smart.KindLaunchEncounter},
		{"openid", smart.KindOpenID},
		{"fhirUser", smart.KindFHIRUser},
		{"profile", smart.KindProfile},
		{"offline_access", smart.KindOfflineAccess},
		{"online_access", smart.KindOnlineAccess},
		{"email", smart.KindOther},
		{"launch/imagingstudy", smart.KindOther},
		{"__profilePhoto.manage", smart.KindOther},
		{"https://ehr.example.org/scopes/profilePhoto.manage", smart.KindOther},
		{"fhiruser", smart.KindOther}, // case matters
		{"Launch", smart.KindOther},
		// Not one of SMART's contexts (they are lower case): an "other"
		// scope, which callers do not grant.
		{"Patient/Observation.rs", smart.KindOther},
	} {
		t.Run(tc.in, func(t *testing.T) {
			sc := mustParse(t, tc.in)
			if sc.Kind() != tc.kind {
				t.Errorf("Kind = %d, want %d", sc.Kind(), tc.kind)
			}
			if sc.String() != tc.in {
				t.Errorf("String = %q, want %q", sc.String(), tc.in)
			}
			if sc.Context() != 0 || sc.Permissions() != 0 || sc.ResourceType() != "" || sc.Version() != 0 || sc.Params() != nil {
				t.Errorf("non-resource scope %q has resource fields", tc.in)
			}
		})
	}
}

// TestG10_LongScopesSurvive proves checklist G10: long granular scopes with
// URLs, '|', '?' inside values and percent-encoding parse and come back byte
// for byte, and their query is offered as decoded, ordered pairs.
func TestG10_LongScopesSurvive(t *testing.T) {
	long := "patient/Observation.rs?code=" + strings.Repeat("http://loinc.org|1234-5,", 200) + "http://loinc.org|9999-9"
	for _, tc := range []struct {
		in     string
		params []smart.Param
	}{
		{
			"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
			[]smart.Param{{"category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}},
		},
		{
			"patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern&clinical-status=http://terminology.hl7.org/CodeSystem/condition-clinical|active",
			[]smart.Param{
				{"category", "http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern"},
				{"clinical-status", "http://terminology.hl7.org/CodeSystem/condition-clinical|active"},
			},
		},
		{
			"patient/Observation.rs?code:in=http://valueset.example.org/ValueSet/diabetes-codes",
			[]smart.Param{{"code:in", "http://valueset.example.org/ValueSet/diabetes-codes"}},
		},
		{
			"user/Observation.rs?code=http%3A%2F%2Floinc.org%7C85354-9&_tag=a%20b+c",
			[]smart.Param{{"code", "http://loinc.org|85354-9"}, {"_tag", "a b+c"}},
		},
		{
			"patient/DocumentReference.r?type=http://x.example/cs?v=1|a=b",
			[]smart.Param{{"type", "http://x.example/cs?v=1|a=b"}},
		},
		{
			"patient/Observation.rs?patient.birthdate=1990",
			[]smart.Param{{"patient.birthdate", "1990"}},
		},
		{long, nil},
	} {
		t.Run(tc.in[:min(len(tc.in), 60)], func(t *testing.T) {
			sc := mustParse(t, tc.in)
			if sc.String() != tc.in {
				t.Fatalf("String() = %q, want %q", sc.String(), tc.in)
			}
			if tc.params != nil && !slices.Equal(sc.Params(), tc.params) {
				t.Errorf("Params() = %q, want %q", sc.Params(), tc.params)
			}
			// The scope also survives a scope parameter round trip.
			ss := mustParseAll(t, "openid "+tc.in+" launch/patient")
			if got := ss.String(); got != "openid "+tc.in+" launch/patient" {
				t.Errorf("Scopes.String() = %q", got)
			}
		})
	}
}

// TestF3_V1EchoedInV1Form proves checklist F3: a granted v1 scope is echoed in
// v1 form, while its meaning is the v2 one.
func TestF3_V1EchoedInV1Form(t *testing.T) {
	for _, tc := range []struct {
		v1, v2 string
	}{
		{"patient/Observation.read", "patient/Observation.rs"},
		{"user/Appointment.write", "user/Appointment.cud"},
		{"user/*.*", "user/*.cruds"},
	} {
		t.Run(tc.v1, func(t *testing.T) {
			a, b := mustParse(t, tc.v1), mustParse(t, tc.v2)
			if a.String() != tc.v1 {
				t.Errorf("String() = %q, want the v1 form %q", a.String(), tc.v1)
			}
			if a.Permissions() != b.Permissions() {
				t.Errorf("permissions %v ≠ %v", a.Permissions(), b.Permissions())
			}
			if !smart.Subset(a, b) || !smart.Subset(b, a) {
				t.Errorf("%s and %s are not equivalent", tc.v1, tc.v2)
			}
			// Granting a v1 request under a v2 ceiling keeps the v1 spelling.
			got := smart.Narrow(a, smart.Scopes{b})
			if got.String() != tc.v1 {
				t.Errorf("Narrow = %q, want %q", got, tc.v1)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	if got := cruds.String(); got != "cruds" {
		t.Errorf("String = %q", got)
	}
	if got := (smart.Read | smart.Delete).String(); got != "rd" {
		t.Errorf("String = %q", got)
	}
	if !rs.Has(smart.Read) || rs.Has(smart.Create) || rs.Has(0) || !rs.Has(rs) || rs.Has(smart.Read|smart.Create) {
		t.Error("Has is wrong")
	}
	for _, c := range []smart.Context{smart.ContextPatient, smart.ContextUser, smart.ContextSystem} {
		sc := mustParse(t, c.String()+"/*.r")
		if sc.Context() != c {
			t.Errorf("context %v did not round-trip", c)
		}
	}
	var zero smart.Scope
	if zero.String() != "" || smart.Describe(zero) != "" || zero.Kind() != 0 {
		t.Error("zero Scope is not empty")
	}
}

func TestParseScopes(t *testing.T) {
	ss, invalid := smart.ParseScopes("  openid fhirUser\tpatient/*.read patient/Observation.sr openid launch  patient/Observation.sr ")
	if got, want := ss.String(), "openid fhirUser patient/*.read launch"; got != want {
		t.Errorf("valid = %q, want %q", got, want)
	}
	if !slices.Equal(invalid, []string{"patient/Observation.sr"}) {
		t.Errorf("invalid = %q", invalid)
	}
	if !slices.Equal(ss.Strings(), []string{"openid", "fhirUser", "patient/*.read", "launch"}) {
		t.Errorf("Strings = %q", ss.Strings())
	}
	if !ss.Has(smart.KindLaunch) || ss.Has(smart.KindOfflineAccess) {
		t.Error("Has is wrong")
	}
	if ss, inv := smart.ParseScopes(""); ss != nil || inv != nil {
		t.Errorf("ParseScopes(\"\") = %v, %v", ss, inv)
	}
}

func TestIsFHIRID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"123", true},
		{"a-B.9", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"a/b", false},
		{"a_b", false},
		{"Patient/1", false},
		{"ü", false},
	} {
		if got := smart.IsFHIRID(tc.in); got != tc.want {
			t.Errorf("IsFHIRID(%q) = %v", tc.in, got)
		}
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"Patient", true}, {"AllergyIntolerance", true}, {"patient", false}, {"P", false}, {"Pa1", false}, {"", false}, {"*", false},
	} {
		if got := smart.IsResourceType(tc.in); got != tc.want {
			t.Errorf("IsResourceType(%q) = %v", tc.in, got)
		}
	}
}

func BenchmarkParseScope(b *testing.B) {
	for _, in := range []string{
		"openid",
		"patient/Observation.read",
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
	} {
		b.Run(in[:min(len(in), 24)], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := smart.ParseScope(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTextMarshaling(t *testing.T) {
	if _, err := (smart.Scope{}).MarshalText(); !errors.Is(err, smart.ErrInvalidScope) {
		t.Errorf("MarshalText(zero) error = %v", err)
	}
	var s smart.Scope
	if err := s.UnmarshalText([]byte("patient/Observation.sr")); !errors.Is(err, smart.ErrInvalidScope) || s != (smart.Scope{}) {
		t.Errorf("UnmarshalText(invalid) = %v, %v", s, err)
	}
	in := "patient/Observation.rs?category=" + labCat
	if err := s.UnmarshalText([]byte(in)); err != nil || s.String() != in {
		t.Errorf("UnmarshalText = %v, %v", s, err)
	}
}
