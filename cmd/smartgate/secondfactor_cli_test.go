package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/account/totp"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/config"
)

// smartgate user reset-second-factor removes an enrolled second factor
// and its recovery codes, records it in the audit log, and says so when
// there is nothing to remove or no such user.
func TestUserResetSecondFactor(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	cli := func(args ...string) (string, int) {
		var out bytes.Buffer
		e := &env{stdin: strings.NewReader("a long enough password\n"), stdout: &out, stderr: &out,
			getenv: func(k string) string {
				if k == "SMARTGATE_DATA" {
					return data
				}
				return ""
			}}
		code := run(ctx, e, args)
		return out.String(), code
	}
	if out, code := cli("user", "add", "--username", "root", "--password-stdin", "--role", "admin"); code != 0 {
		t.Fatalf("user add: %d %s", code, out)
	}
	cfg, _, err := config.Load("serve", []string{"--data", data}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openSQLiteStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.UserByName(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	sf := &account.SecondFactors{Store: db}
	en, err := sf.Begin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := totp.DecodeSecret(en.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sf.Confirm(ctx, u.ID, totp.Code(secret, time.Now(), totp.Params{})); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, code := cli("user", "reset-second-factor", "--username", "ROOT")
	if code != 0 || !strings.Contains(out, "removed the second factor") {
		t.Fatalf("reset: %d %s", code, out)
	}
	if strings.Contains(out, en.Secret) {
		t.Fatal("the secret was printed")
	}
	db, err = openSQLiteStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ok, err := (&account.SecondFactors{Store: db}).Enrolled(ctx, u.ID); ok || err != nil {
		t.Fatalf("Enrolled after the reset = %v, %v", ok, err)
	}
	if hs, err := db.RecoveryCodes(ctx, u.ID); len(hs) != 0 || err != nil {
		t.Fatalf("%d recovery codes after the reset, %v", len(hs), err)
	}
	evs, err := db.AuditEvents(ctx, audit.Filter{Kind: "admin", Actor: u.ID})
	if err != nil || len(evs) != 1 || evs[0].Action != "reset second factor" {
		t.Fatalf("audit after the reset: %+v, %v", evs, err)
	}

	if out, code := cli("user", "reset-second-factor", "--username", "root"); code != 0 || !strings.Contains(out, "has no second factor") {
		t.Fatalf("reset without a second factor: %d %s", code, out)
	}
	if out, code := cli("user", "reset-second-factor", "--username", "nobody"); code != 1 || !strings.Contains(out, "no user named") {
		t.Fatalf("reset of an unknown user: %d %s", code, out)
	}
	if out, code := cli("user", "reset-second-factor"); code != 2 {
		t.Fatalf("reset without --username: %d %s", code, out)
	}
}
