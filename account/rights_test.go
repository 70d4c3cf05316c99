package account

import (
	"slices"
	"strings"
	"testing"
)

func TestEffectiveRights(t *testing.T) {
	nurses := Group{DisplayName: "nurses", Ceiling: []string{"user/*.rs"}}
	lab := Group{DisplayName: "lab", Ceiling: []string{"user/Observation.cruds", "patient/Observation.rs"}}
	clinicians := Group{DisplayName: "clinicians", Roles: []string{RolePractitioner}}
	admins := Group{DisplayName: "admins", Roles: []string{RoleAdmin}}
	for _, tc := range []struct {
		name         string
		roles        []string
		groups       []Group
		wantRoles    string
		wantCeiling  string
		mayActOthers bool
	}{
		{"no role, no group", nil, nil, "", "patient/*.cruds user/*.cruds", false},
		{"patient", []string{RolePatient}, nil, "patient", "patient/*.cruds user/*.cruds", false},
		{"practitioner", []string{RolePractitioner}, nil, "practitioner", "user/*.cruds patient/*.cruds", true},
		{"admin", []string{RoleAdmin}, nil, "admin", "system/*.cruds user/*.cruds patient/*.cruds scim launch:create", true},
		{"practitioner in nurses", []string{RolePractitioner}, []Group{nurses}, "practitioner", "user/*.rs", true},
		{"practitioner in nurses and lab", []string{RolePractitioner}, []Group{nurses, lab}, "practitioner",
			"user/*.rs user/Observation.cruds patient/Observation.rs", true},
		{"group without ceiling does not widen", []string{RolePractitioner}, []Group{nurses, clinicians}, "practitioner",
			"user/*.rs", true},
		{"patient in a group granting practitioner", []string{RolePatient}, []Group{clinicians}, "patient practitioner",
			"patient/*.cruds user/*.cruds", true},
		{"no role, group granting practitioner, nurses", nil, []Group{clinicians, nurses}, "practitioner", "user/*.rs", true},
		{"admin through a group", nil, []Group{admins}, "admin", "system/*.cruds user/*.cruds patient/*.cruds scim launch:create", true},
		{"admin ceiling narrowed, scim and launch:create kept", []string{RoleAdmin}, []Group{lab}, "admin", "user/Observation.cruds patient/Observation.rs scim launch:create", true},
		{"practitioner in admins, nurses", []string{RolePractitioner}, []Group{admins, nurses}, "practitioner admin", "user/*.rs scim launch:create", true},
		{"empty ceiling grants nothing", []string{RolePractitioner}, []Group{{DisplayName: "none", Ceiling: []string{}}},
			"practitioner", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := EffectiveRights(&User{Roles: tc.roles}, tc.groups)
			if got := strings.Join(r.Roles, " "); got != tc.wantRoles {
				t.Errorf("roles %q, want %q", got, tc.wantRoles)
			}
			if !slices.Equal(r.Ceiling, strings.Fields(tc.wantCeiling)) {
				t.Errorf("ceiling %q, want %q", r.Ceiling, tc.wantCeiling)
			}
			if got := MayActForOthers(r.Roles); got != tc.mayActOthers {
				t.Errorf("MayActForOthers %v, want %v", got, tc.mayActOthers)
			}
		})
	}
}

// An app acting for a person is never granted system/ scopes: AppLimit is
// Limit without them, from the base ceiling and from a group's.
func TestAppLimit(t *testing.T) {
	for _, tc := range []struct {
		name, limit string
		r           Rights
	}{
		{"admin base", "user/*.cruds patient/*.cruds scim launch:create", Rights{Roles: []string{RoleAdmin}}},
		{"practitioner base", "user/*.cruds patient/*.cruds", Rights{Roles: []string{RolePractitioner}}},
		{"group ceiling with system", "user/*.rs", Rights{Roles: []string{RoleAdmin}, Ceiling: []string{"system/*.rs", "user/*.rs"}}},
		{"empty", "", Rights{Roles: []string{RoleAdmin}, Ceiling: []string{}}},
	} {
		if got := tc.r.AppLimit(); !slices.Equal(got, strings.Fields(tc.limit)) {
			t.Errorf("%s: AppLimit %q, want %q", tc.name, got, tc.limit)
		}
	}
	r := Rights{Roles: []string{RoleAdmin}}
	if !slices.Contains(r.Limit(), "system/*.cruds") {
		t.Errorf("AppLimit changed Limit: %q", r.Limit())
	}
}

func TestValidateCeiling(t *testing.T) {
	for _, ok := range [][]string{nil, {"user/*.rs"}, {"patient/Observation.rs?category=laboratory", "system/*.read"}} {
		if err := ValidateCeiling(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range [][]string{{"openid"}, {"user/*.xyz"}, {"scim"}, {""}, {"launch/patient"}} {
		if err := ValidateCeiling(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
