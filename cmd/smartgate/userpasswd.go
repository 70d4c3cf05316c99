package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store"
)

// userPasswd sets a local account's password (interface.md: smartgate user
// passwd --username NAME --password-stdin): the first line of standard
// input, checked by the same policy and hashed with argon2id like every
// other password (account.People), saved under the account's version (a
// concurrent change is not overwritten) and recorded in the audit log.
// Whoever knew the old password is out: the person's log-in sessions end
// and their tokens are revoked. The password is never taken on the command
// line and never printed.
func userPasswd(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("user passwd", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	username := fs.String("username", "", "the account's user name")
	passwordStdin := fs.Bool("password-stdin", false, "read the new password from the first line of standard input")
	cfg, err := loadWithFlags(e, "user passwd", fs, args)
	if err != nil {
		return err
	}
	if *username == "" || !*passwordStdin {
		return usageError{errors.New("--username and --password-stdin are required (passwords are never taken on the command line)")}
	}
	password, err := readSecretLine(e.stdin)
	if err != nil {
		return fmt.Errorf("reading the password: %w", err)
	}
	db, u, err := openAccount(ctx, cfg, *username)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := newPeople(db, account.NewHasher(account.Params{}, 1), nil).ResetPassword(ctx, u.ID, password); err != nil {
		switch {
		case errors.Is(err, account.ErrWeakPassword):
			return usageError{err}
		case errors.Is(err, store.ErrConflict):
			return fmt.Errorf("user %s changed while the password was set; try again: %w", u.UserName, err)
		}
		return err
	}
	if err := db.InsertAudit(ctx, []audit.Event{{At: time.Now(), Kind: "admin", Actor: u.ID,
		Action: "set password", Outcome: audit.Success, Detail: "command line"}}); err != nil {
		return fmt.Errorf("the password was set, but the audit record failed: %w", err)
	}
	fmt.Fprintf(e.stdout, "set the password of user %s; their log-in sessions and tokens have ended\n", u.UserName)
	return nil
}
