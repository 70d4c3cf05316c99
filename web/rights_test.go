package web

import (
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
)

// TestLaunchStepRights: the scopes offered are narrowed to the person's
// ceiling, and who may pick or redeem a launch goes by effective roles
// (a group may grant practitioner).
func TestLaunchStepRights(t *testing.T) {
	practitionerGroup := account.Group{DisplayName: "clinicians", Roles: []string{account.RolePractitioner}}
	nurses := account.Group{DisplayName: "nurses", Ceiling: []string{"user/*.rs", "patient/*.rs"}}
	for _, tc := range []struct {
		name            string
		user            account.User
		groups          []account.Group
		scopes          string
		launch          *authz.LaunchContext
		wantScopes      string
		wantUnavailable string
		wantPicker      bool
		wantDenied      bool
	}{
		{name: "practitioner, no group", user: account.User{ID: "d", Roles: []string{"practitioner"}},
			scopes: "openid launch/patient patient/*.cruds user/*.cruds", wantScopes: "openid launch/patient patient/*.cruds user/*.cruds",
			wantPicker: true},
		{name: "practitioner in nurses", user: account.User{ID: "d", Roles: []string{"practitioner"}}, groups: []account.Group{nurses},
			scopes: "openid launch/patient patient/*.cruds user/Observation.rs system/*.rs", wantScopes: "openid launch/patient patient/*.rs user/Observation.rs",
			wantUnavailable: "patient/*.cruds system/*.rs", wantPicker: true},
		{name: "no role, group grants practitioner: picker", user: account.User{ID: "d"}, groups: []account.Group{practitionerGroup},
			scopes: "launch/patient patient/*.rs", wantScopes: "launch/patient patient/*.rs", wantPicker: true},
		{name: "no role, no group, no record: refused", user: account.User{ID: "d"},
			scopes: "launch/patient patient/*.rs", wantDenied: true},
		{name: "group practitioner redeems another's launch", user: account.User{ID: "d"}, groups: []account.Group{practitionerGroup},
			scopes: "launch patient/*.rs", launch: &authz.LaunchContext{Patient: "P1", LaunchedBy: "someone"},
			wantScopes: "launch patient/*.rs"},
		{name: "patient may not redeem another's launch", user: account.User{ID: "d", Roles: []string{"patient"}, FHIRUser: "Patient/P2"},
			scopes: "launch patient/*.rs", launch: &authz.LaunchContext{Patient: "P1", LaunchedBy: "someone"}, wantDenied: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := flow{Req: authz.AuthorizeRequest{Scopes: strings.Fields(tc.scopes), Launch: tc.launch}}
			r := account.EffectiveRights(&tc.user, tc.groups)
			_, scopes, picker, err := launchStep(&tc.user, r, f, true)
			if tc.wantDenied {
				if err == nil {
					t.Fatalf("not refused: %q", scopes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(scopes, strings.Fields(tc.wantScopes)) || picker != tc.wantPicker {
				t.Fatalf("scopes %q picker %v, want %q %v", scopes, picker, tc.wantScopes, tc.wantPicker)
			}
			if got := unavailable(f.Req.Scopes, scopes); !slices.Equal(got, strings.Fields(tc.wantUnavailable)) {
				t.Fatalf("unavailable %q, want %q", got, tc.wantUnavailable)
			}
		})
	}
}
