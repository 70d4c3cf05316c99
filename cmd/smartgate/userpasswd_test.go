package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/config"
)

// smartgate user passwd (interface.md) sets the password that log-ins then
// check: the new one works, the old one does not, the policy holds, the
// password is never printed, and the change is audited.
func TestUserPasswd(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	cli := func(stdin string, args ...string) (string, int) {
		var out bytes.Buffer
		e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &out,
			getenv: func(k string) string {
				if k == "SMARTGATE_DATA" {
					return data
				}
				return ""
			}}
		code := run(ctx, e, args)
		return out.String(), code
	}
	if out, code := cli("the first long password\n", "user", "add", "--username", "nora", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, out)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		out         string
	}{
		{"no --password-stdin", "x\n", []string{"--username", "nora"}, 2, "--password-stdin"},
		{"no --username", "x\n", []string{"--password-stdin"}, 2, "--username"},
		{"too short", "short\n", []string{"--username", "nora", "--password-stdin"}, 2, "at least"},
		{"same as the user name", "nora\n", []string{"--username", "nora", "--password-stdin"}, 2, ""},
		{"unknown user", "a second long password\n", []string{"--username", "nobody", "--password-stdin"}, 1, "no user named"},
		{"set", "a second long password\n", []string{"--username", "NORA", "--password-stdin"}, 0, "set the password of user nora"},
	} {
		out, code := cli(tc.stdin, append([]string{"user", "passwd"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.out) {
			t.Errorf("%s: exit %d, output %q; want %d and %q", tc.name, code, out, tc.code, tc.out)
		}
		if strings.Contains(out, "long password") {
			t.Errorf("%s: the password was printed: %q", tc.name, out)
		}
	}

	cfg, _, err := config.Load("serve", []string{"--data", data}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openSQLiteStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	auth := account.NewAuthenticator(db, account.NewHasher(account.Params{}, 1), account.NewThrottle(account.ThrottleConfig{}))
	if _, err := auth.Authenticate(ctx, "nora", "a second long password", "127.0.0.1"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := auth.Authenticate(ctx, "nora", "the first long password", "127.0.0.1"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("the old password: %v, want ErrBadCredentials", err)
	}
	events, err := db.AuditEvents(ctx, audit.Filter{Kind: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events {
		found = found || ev.Action == "set password"
		if strings.Contains(ev.Detail, "long password") {
			t.Fatalf("the password is in the audit log: %+v", ev)
		}
	}
	if !found {
		t.Fatalf("no audit event for the password change: %+v", events)
	}
}

// TestUserPasswdEndsSessionsAndTokens: after `smartgate user passwd`, run
// against a running server's database, whoever knew the old password is
// out: the person's log-in session on the pages has ended, their token is
// refused at the FHIR endpoint, and the old password no longer works.
func TestUserPasswdEndsSessionsAndTokens(t *testing.T) {
	h := newHarness(t)
	browser := h.pageSession("doc", userPassword)
	if r := h.page(browser, "GET", h.baseA+"/account/apps", nil); r.status != http.StatusOK {
		t.Fatalf("/account/apps before: %d", r.status)
	}
	old := h.owin("doc", userPassword)
	const next = "a brand new password for doc"
	out, errOut, code := runInProcess(t, h.cfg.DataDir, next+"\n", "user", "passwd", "--username", "doc", "--password-stdin")
	if code != 0 || !strings.Contains(out, "set the password of user doc") {
		t.Fatalf("user passwd: exit %d, %q %q", code, out, errOut)
	}
	if r := h.page(browser, "GET", h.baseA+"/account/apps", nil); r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "/login") {
		t.Fatalf("/account/apps after user passwd: %d %q, want a redirect to log in", r.status, r.header.Get("Location"))
	}
	if r := h.do("GET", h.baseA+"/fhir/Practitioner?_count=1", old, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("FHIR with the token from before: %d, want 401", r.status)
	}
	if o, err := h.try(guess{user: "doc", password: userPassword}, nil, ""); err != nil || o != verified {
		t.Fatalf("OWin with the old password: %v %v, want it refused", o, err)
	}
	if r := h.do("GET", h.baseA+"/fhir/Practitioner?_count=1", h.owin("doc", next), nil); r.status != http.StatusOK {
		t.Fatalf("FHIR with a token from the new password: %d %.200s", r.status, r.body)
	}
}
