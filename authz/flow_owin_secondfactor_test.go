package authz_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
)

// secondFactors is the accounts' side of the second factor for these
// tests: what each subject needs, one right code ("246810"), and codes
// that stand for a throttled check ("locked") and a store outage
// ("down"). It records the addresses it was asked from.
type secondFactors struct {
	need      map[string]authz.SecondFactorNeed
	addresses []string
}

func (f *secondFactors) SecondFactorNeed(_ context.Context, subject string) (authz.SecondFactorNeed, error) {
	return f.need[subject], nil
}

func (f *secondFactors) VerifySecondFactor(_ context.Context, subject, code, address string) error {
	f.addresses = append(f.addresses, address)
	switch code {
	case "246810":
		return nil
	case "locked":
		return fmt.Errorf("%w: throttled", authz.ErrAccountLocked)
	case "down":
		return fmt.Errorf("second factor of %s: %w", subject, store.ErrUnavailable)
	}
	return fmt.Errorf("%w: wrong code", authz.ErrInvalidCredentials)
}

// TestIssue10OWinSecondFactor_Handler: the password grant's answers for an
// account that has (alice) or must have (root) a second factor, and for
// one that has none (pat); each refusal is audited with its own detail,
// and the code is never stored.
func TestIssue10OWinSecondFactor_Handler(t *testing.T) {
	cases := []struct {
		name, user, pass, otp string
		status                int
		code, desc            string
		retryAfter            string
		outcome, detail       string
	}{
		{name: "Enrolled/NoCode", user: "alice", pass: "alice-pw", status: 400, code: "invalid_grant",
			desc:    "This account uses a second factor: send its code (or a recovery code) in the otp parameter.",
			outcome: audit.Failure, detail: "second factor missing"},
		{name: "Enrolled/WrongCode", user: "alice", pass: "alice-pw", otp: "135791", status: 400, code: "invalid_grant",
			desc: "The second-factor code is wrong.", outcome: audit.Failure, detail: "bad second factor"},
		{name: "Enrolled/Throttled", user: "alice", pass: "alice-pw", otp: "locked", status: 400, code: "invalid_grant",
			desc: "Too many failed attempts; try again later.", retryAfter: "900", outcome: audit.Denied, detail: "locked"},
		{name: "Enrolled/StoreDown", user: "alice", pass: "alice-pw", otp: "down", status: 503, code: "temporarily_unavailable",
			retryAfter: "5", outcome: audit.Failure, detail: "unavailable"},
		{name: "Enrolled/WrongPasswordRightCode", user: "alice", pass: "nope", otp: "246810", status: 400, code: "invalid_grant",
			desc: "The username or password is wrong.", outcome: audit.Failure, detail: "bad credentials"},
		{name: "Enrolled/RightCode", user: "alice", pass: "alice-pw", otp: "246810", status: 200, outcome: audit.Success},
		{name: "Required/NotEnrolled", user: "root", pass: "root-pw", otp: "246810", status: 400, code: "invalid_grant",
			desc:    "This account must use a second factor and has none: enrol one at /account/security or /login first, then send its code in the otp parameter.",
			outcome: audit.Denied, detail: "second factor not enrolled"},
		{name: "None/NoCode", user: "pat", pass: "pat-pw", status: 200, outcome: audit.Success},
		{name: "None/StrayCode", user: "pat", pass: "pat-pw", otp: "135791", status: 200, outcome: audit.Success},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sf := &secondFactors{need: map[string]authz.SecondFactorNeed{
				"alice-id": authz.SecondFactorEnrolled, "root-id": authz.SecondFactorMissing}}
			e := newEnv(t, func(c *authz.Config) { c.SecondFactor = sf })
			form := url.Values{"grant_type": {"password"}, "username": {tc.user}, "password": {tc.pass}}
			if tc.otp != "" {
				form.Set("otp", tc.otp)
			}
			resp, m := e.postForm("/oauth/token", form, "", "")
			if tc.status == 200 {
				if resp.StatusCode != 200 || len(m) != 3 || m["token_type"] != "bearer" {
					t.Fatalf("owin: %d %v", resp.StatusCode, m)
				}
			} else {
				wantError(t, resp, m, []int{tc.status}, tc.code)
			}
			if tc.desc != "" && m["error_description"] != tc.desc {
				t.Errorf("error_description %q, want %q", m["error_description"], tc.desc)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if tc.otp != "" && tc.user == "alice" && tc.pass == "alice-pw" &&
				(len(sf.addresses) != 1 || sf.addresses[0] == "") {
				t.Errorf("code checked from %q, want once with the client address", sf.addresses)
			}
			evs, err := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "owin"})
			if err != nil || len(evs) != 1 {
				t.Fatalf("owin audit %+v, %v", evs, err)
			}
			actor := tc.user // a success names the subject
			if tc.status == 200 {
				actor += "-id"
			}
			if ev := evs[0]; ev.Outcome != tc.outcome || ev.Detail != tc.detail || ev.Actor != actor {
				t.Errorf("audit %+v, want outcome %s detail %q", ev, tc.outcome, tc.detail)
			}
			wantNoStoredCode(t, e, tc.otp)
		})
	}
}

// wantNoStoredCode fails when a stored token record holds otp or an otp
// parameter.
func wantNoStoredCode(t *testing.T, e *env, otp string) {
	t.Helper()
	ctx := context.Background()
	for _, needle := range []string{`"otp"`, otp} {
		if needle == "" {
			continue
		}
		if tables, err := e.db.TablesHolding(ctx, needle); err != nil || slices.Contains(tables, "oauth_tokens") {
			t.Errorf("a stored token record holds %s (%v, %v)", needle, tables, err)
		}
	}
}

// TestIssue10OWinSecondFactor_NeedUnavailable: when what an account needs
// cannot be found out, no token is issued (fail closed) and the caller is
// told to retry.
func TestIssue10OWinSecondFactor_NeedUnavailable(t *testing.T) {
	e := newEnv(t, func(c *authz.Config) { c.SecondFactor = failingNeed{} })
	resp, m := e.owin("alice", "alice-pw")
	wantError(t, resp, m, []int{503}, "temporarily_unavailable")
	if resp.Header.Get("Retry-After") != "5" || m["error_description"] != "The second factor could not be checked now; try again." {
		t.Errorf("Retry-After %q, %v", resp.Header.Get("Retry-After"), m)
	}
	evs, err := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "owin"})
	if err != nil || len(evs) != 1 || evs[0].Outcome != audit.Failure || evs[0].Detail != "unavailable" {
		t.Fatalf("owin audit %+v, %v", evs, err)
	}
}

type failingNeed struct{}

func (failingNeed) SecondFactorNeed(context.Context, string) (authz.SecondFactorNeed, error) {
	return authz.SecondFactorNone, errors.New("second factors: database is locked")
}

func (failingNeed) VerifySecondFactor(context.Context, string, string, string) error {
	return errors.New("not reached")
}
