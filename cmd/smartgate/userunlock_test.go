package main

// smartgate user unlock against a running server: the whole server (newApp)
// locks an account after ten wrong passwords; the command, with its own
// database handle and its own throttle (what another process has), lifts
// the lockout in the database; the server's next log-in with the right
// password succeeds at once, on the log-in page and on the OWin grant.

import (
	"context"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
)

// lockOut sends wrong passwords for user until the server refuses the right
// one.
func (h *harness) lockOut(user string) {
	h.t.Helper()
	web, csrf := h.loginForm()
	for i := range account.DefaultMaxPerAccount {
		if o, err := h.try(guess{web: i%2 == 0, user: user, password: "wrong password"}, web, csrf); err != nil || o != verified {
			h.t.Fatalf("wrong password %d: %v %v, want it checked", i, o, err)
		}
	}
	for _, onPage := range []bool{true, false} {
		if o, err := h.try(guess{web: onPage, user: user, password: userPassword}, web, csrf); err != nil || o != throttled {
			h.t.Fatalf("right password after the lockout (log-in page %v): %v %v, want throttled", onPage, o, err)
		}
	}
}

func TestUserUnlockLiftsARunningServersLockout(t *testing.T) {
	h := newHarness(t)
	data := h.cfg.DataDir
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no --username", nil, 2, "--username is required"},
		{"unknown user", []string{"--username", "nobody"}, 1, "no user named"},
	} {
		out, errOut, code := runInProcess(t, data, "", append([]string{"user", "unlock"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errOut, tc.out) {
			t.Errorf("%s: exit %d, output %q; want %d and %q", tc.name, code, out+errOut, tc.code, tc.out)
		}
	}

	unlock := func() {
		t.Helper()
		out, errOut, code := runInProcess(t, data, "", "user", "unlock", "--username", "DOC")
		if code != 0 || !strings.Contains(out, "lifted any log-in lockout of user doc") {
			t.Fatalf("user unlock: exit %d, %q %q", code, out, errOut)
		}
	}
	web, csrf := h.loginForm()
	h.lockOut("doc")
	unlock()
	if o, err := h.try(guess{web: true, user: "doc", password: userPassword}, web, csrf); err != nil || o != accepted {
		t.Fatalf("log-in page after user unlock: %v %v, want accepted at once", o, err)
	}
	h.lockOut("doc")
	unlock()
	h.owin("doc", userPassword)

	events, err := h.db.AuditEvents(context.Background(), audit.Filter{Kind: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		if ev.Action == "unlock" && ev.Detail == "command line" && ev.Outcome == audit.Success {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d unlock audit events, want 2: %+v", n, events)
	}
}
