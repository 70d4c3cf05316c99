package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
)

// userUnlock lifts an account's log-in lockout (interface.md: smartgate
// user unlock --username NAME), of its password and of its second factor,
// in the database: a running server that holds the lockout confirms it
// there before it refuses the next attempt, and so lets that attempt
// through. Recorded in the audit log.
func userUnlock(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("user unlock", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	username := fs.String("username", "", "the account's user name")
	cfg, err := loadWithFlags(e, "user unlock", fs, args)
	if err != nil {
		return err
	}
	if *username == "" {
		return usageError{errors.New("--username is required")}
	}
	db, u, err := openAccount(ctx, cfg, *username)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := account.NewThrottle(account.ThrottleConfig{Lockouts: db, Users: db}).Unlock(ctx, u.UserName); err != nil {
		return err
	}
	if err := db.InsertAudit(ctx, []audit.Event{{At: time.Now(), Kind: "admin", Actor: u.ID,
		Action: "unlock", Outcome: audit.Success, Detail: "command line"}}); err != nil {
		return fmt.Errorf("the lockout was lifted, but the audit record failed: %w", err)
	}
	fmt.Fprintf(e.stdout, "lifted any log-in lockout of user %s\n", u.UserName)
	return nil
}
