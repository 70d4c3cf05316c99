package web

import (
	"bytes"
	"flag"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/idp"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenPages renders every page with fixed data and compares it with
// testdata/<name>.golden.html (go test ./web -run Golden -update rewrites).
func TestGoldenPages(t *testing.T) {
	e := newEnv(t)
	const token = "CSRF-TOKEN"
	scopes := []scopeView{
		{Value: "openid", Description: smart.DescribeScope("openid"), Checked: true},
		{Value: "launch/patient", Description: smart.DescribeScope("launch/patient"), Checked: true},
		{Value: "patient/Observation.rs?category=laboratory", Description: smart.DescribeScope("patient/Observation.rs?category=laboratory"), Checked: true},
	}
	pages := []struct {
		name, tmpl string
		data       any
	}{
		{"login", "login", loginView{CSRF: token, ReturnTo: "/oauth/authorize?client_id=app&scope=openid", Providers: []idp.Provider{{ID: "google", Name: "Google"}, {ID: "hl7", Name: "HL7.org"}}}},
		{"login_error", "login", loginView{CSRF: token, ReturnTo: defaultLanding, Username: "pat", Error: msgBadLogin}},
		{"consent", "consent", consentView{CSRF: token, ReqID: "req-1", User: "Pat Patient", ClientID: "app",
			ClientName: `Growth <b>Chart</b> & "Co"`, ClientURI: "https://app.example/", Initials: Initials(`Growth <b>Chart</b> & "Co"`),
			Patient: "p1", PatientName: "Amy Shaw", Rev: 2, Scopes: scopes}},
		{"logout", "logout", logoutView{CSRF: token, User: "Pat Patient", PostLogoutRedirectURI: "https://app.example/bye", State: "s", ClientID: "app"}},
		{"loggedout", "loggedout", logoutView{CSRF: token}},
		{"apps", "apps", appsView{CSRF: token, User: "Pat Patient", Apps: []appView{{ClientID: "app", ClientName: "Growth Chart",
			Updated: "2026-01-02 03:04 UTC", Scopes: scopes[:2]}}}},
		{"apps_empty", "apps", appsView{CSRF: token, User: "Pat Patient"}},
		{"pick", "pick", pickView{CSRF: token, ReqID: "req-1", User: "Dr. Doc", ClientName: "Growth Chart", Query: "sh",
			Patients: []PatientSummary{{ID: "p1", Name: "Amy Shaw", BirthDate: "1980-01-01"}, {ID: "p2", Name: "Bo Shore"}}}},
		{"pick_encounter", "pick-encounter", pickEncounterView{CSRF: token, ReqID: "req-1", User: "Dr. Doc", ClientName: "Growth <b>Chart</b>",
			Patient: "p1", Encounters: []EncounterSummary{{ID: "e1", Patient: "p1", Label: "Check-up", Date: "2026-01-02"}, {ID: "e2", Patient: "p1"}}}},
		{"pick_encounter_empty", "pick-encounter", pickEncounterView{CSRF: token, ReqID: "req-1", User: "Dr. Doc", ClientName: "Growth Chart", Patient: "p1"}},
		{"second_factor", "second-factor", secondFactorView{CSRF: token, ReturnTo: "/admin", User: "Pat Patient", Error: msgBadCode}},
		{"enrol_start", "enrol", enrolView{CSRF: token, ReturnTo: "/admin", Required: true, BeginAction: EnrolPath + "/begin"}},
		{"enrol_key", "enrol", enrolView{CSRF: token, ReturnTo: "/admin", Required: true, Action: EnrolPath,
			Secret: "JBSWY3DPEHPK3PXP", URI: "otpauth://totp/smartgate:root?issuer=smartgate&secret=JBSWY3DPEHPK3PXP"}},
		{"recovery", "recovery", recoveryView{Codes: []string{"abcd-efgh-ijkl", "mnop-qrst-uvwx"}, Continue: "/admin"}},
		{"security_enrolled", "security", securityView{CSRF: token, User: "Pat Patient", Enrolled: true}},
		{"security_required", "security", securityView{CSRF: token, User: "Admin", Required: true, Error: msgBadCode}},
		{"password", "password", passwordView{CSRF: token, User: "Pat Patient", MinLength: account.MinPasswordLength, Security: true}},
		{"password_errors", "password", passwordView{CSRF: token, User: "Pat Patient", MinLength: account.MinPasswordLength,
			CurrentError: msgBadCurrent, NewError: "This password does not meet the rules: at least 12 characters.", ConfirmError: msgPasswordsDiffer}},
		{"password_changed", "password", passwordView{CSRF: token, User: "Pat Patient", MinLength: account.MinPasswordLength, Changed: true}},
		{"password_federated", "password", passwordView{CSRF: token, User: "Pat Patient", Federated: true}},
		{"login_federated", "login", loginView{CSRF: token, ReturnTo: "/oauth/authorize?client_id=app&scope=openid launch", SignInCode: true,
			Providers: []idp.Provider{{ID: "google", Name: "Google"}, {ID: "facebook", Name: "Facebook"},
				{ID: "hl7", Name: "HL7.org", Connector: downIdP{}}}}},
		{"signin_code", "signin-code", signInCodeView{CSRF: token, ReturnTo: "/oauth/authorize?client_id=app", Error: msgBadSignInCode}},
		{"needs_account", "needs-account", needsAccountView{Provider: "HL7.org", Email: "pat@example.org",
			LoginURL: "/login?return_to=%2Flogin%2Flink", CodeURL: "/login/code?return_to=%2Flogin%2Flink"}},
		{"link", "link", linkView{CSRF: token, ReturnTo: "/account/links", Provider: "HL7.org", Email: "pat@example.org", User: "Pat <Patient>"}},
		{"link_verified", "link", linkView{CSRF: token, ReturnTo: "/account/links", Provider: "HL7.org", Email: "pat@example.org",
			EmailVerified: true, User: "Pat Patient"}},
		{"login_reauth", "login", loginView{CSRF: token, ReturnTo: LinksPath, Notice: msgLinkReauth}},
		{"links", "links", linksView{CSRF: token, User: "Pat Patient", LastWay: true, Providers: []idp.Provider{{ID: "google", Name: "Google"}},
			Links: []linkRow{{Provider: "HL7.org", Email: "pat@example.org", Created: "2026-01-02 03:04 UTC", LastLogin: "never",
				Issuer: "https://id.hl7.org", Subject: "s-1"}}}},
		{"links_empty", "links", linksView{CSRF: token, User: "Pat Patient"}},
		{"apps_links", "apps", appsView{CSRF: token, User: "Pat Patient", Links: true, Security: true}},
		{"error", "error", errorView{Status: 400, Message: "This authorization request has expired.", RequestID: "0123456789abcdef"}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			got, err := e.srv.execute(p.tmpl, p.data)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", p.name+".golden.html")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run with -update after checking):\n%s", p.name, path, got)
			}
		})
	}
}

// downIdP is a connector whose last discovery failed (the log-in page says
// so next to its button).
type downIdP struct{ idp.CallbackConnector }

func (downIdP) Status() idp.Status { return idp.Status{Err: "discovery: connection refused"} }
