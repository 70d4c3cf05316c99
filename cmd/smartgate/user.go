package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/store"
)

// splitFlags separates the command's own flags from the server settings
// (--data, --config, …) so that both can be given on one command line.
// loadWithFlags parses a command's own flags (those defined on fs) and hands
// every other argument to the settings loader, so that a command takes its
// own options and every server setting in one argument list, in any order.
func loadWithFlags(e *env, name string, fs *flag.FlagSet, args []string) (*config.Config, error) {
	var mine, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		key, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(key)
		if !strings.HasPrefix(a, "-") || f == nil {
			rest = append(rest, a)
			continue
		}
		mine = append(mine, a)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && i+1 < len(args) && !(ok && b.IsBoolFlag()) {
			mine = append(mine, args[i+1])
			i++
		}
	}
	if err := fs.Parse(mine); err != nil {
		return nil, usageError{err}
	}
	cfg, extra, err := config.Load(name, rest, e.getenv, e.stderr)
	if err != nil {
		return nil, err
	}
	if len(extra) > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments %q", extra)}
	}
	return cfg, nil
}

func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func runUser(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "reset-second-factor" {
		return resetSecondFactor(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "passwd" {
		return userPasswd(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "unlock" {
		return userUnlock(ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "add" {
		return usageError{errors.New("usage: smartgate user add --username NAME --password-stdin [--role admin|practitioner|patient] [--fhir-user Patient/ID]\n       smartgate user passwd --username NAME --password-stdin\n       smartgate user unlock --username NAME\n       smartgate user reset-second-factor --username NAME")}
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	username := fs.String("username", "", "user name (case-insensitive, unique)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	role := fs.String("role", "patient", "admin, practitioner or patient (comma-separated for several)")
	fhirUser := fs.String("fhir-user", "", "the person's own FHIR resource, e.g. Patient/123")
	given := fs.String("given-name", "", "given name")
	family := fs.String("family-name", "", "family name")
	email := fs.String("email", "", "e-mail address")
	cfg, err := loadWithFlags(e, "user add", fs, args[1:])
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
	roles := strings.Split(*role, ",")
	logger := newLogger(cfg, io.Discard)
	db, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	u := &account.User{UserName: *username, Active: true, Roles: roles, FHIRUser: *fhirUser,
		Name: account.Name{GivenName: *given, FamilyName: *family}}
	if *given != "" || *family != "" {
		u.Name.Formatted = strings.TrimSpace(*given + " " + *family)
		u.DisplayName = u.Name.Formatted
	}
	if *email != "" {
		u.Emails = []account.Email{{Value: *email, Primary: true, Type: "work"}}
	}
	if password == "" {
		// People.Create takes an empty password as none; a CLI account logs
		// in with one.
		return usageError{fmt.Errorf("%w: at least %d characters", account.ErrWeakPassword, account.MinPasswordLength)}
	}
	if err := newPeople(db, account.NewHasher(account.Params{}, 1), nil).Create(ctx, u, password); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("a user named %q exists already", u.UserName)
		}
		if errors.Is(err, account.ErrInvalidUserName) || errors.Is(err, account.ErrInvalidUser) ||
			errors.Is(err, account.ErrWeakPassword) {
			return usageError{err}
		}
		return err
	}
	fmt.Fprintf(e.stdout, "created user %s (id %s, roles %s)\n", u.UserName, u.ID, strings.Join(u.Roles, ","))
	return nil
}

// openAccount opens the store of cfg and finds the account named userName,
// for the commands that act on one account; the caller closes the store.
func openAccount(ctx context.Context, cfg *config.Config, userName string) (database, *account.User, error) {
	db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return nil, nil, err
	}
	u, err := db.UserByName(ctx, userName)
	if err != nil {
		db.Close()
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("there is no user named %q", userName)
		}
		return nil, nil, err
	}
	return db, u, nil
}

// resetSecondFactor removes an account's second factor and recovery codes
// (the way back for someone, an administrator above all, who lost both the
// device and the codes); the next log-in asks for a password only, or, when
// a second factor is required, enrols a new one. It is recorded in the
// audit log.
func resetSecondFactor(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("user reset-second-factor", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	username := fs.String("username", "", "the account's user name")
	cfg, err := loadWithFlags(e, "user reset-second-factor", fs, args)
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
	err = (&account.SecondFactors{Store: db}).Disable(ctx, u.ID)
	if errors.Is(err, account.ErrNotEnrolled) {
		fmt.Fprintf(e.stdout, "user %s has no second factor; nothing changed\n", u.UserName)
		return nil
	}
	if err != nil {
		return err
	}
	if err := db.InsertAudit(ctx, []audit.Event{{At: time.Now(), Kind: "admin", Actor: u.ID,
		Action: "reset second factor", Outcome: audit.Success, Detail: "command line"}}); err != nil {
		return fmt.Errorf("the second factor was removed, but the audit record failed: %w", err)
	}
	fmt.Fprintf(e.stdout, "removed the second factor and recovery codes of user %s\n", u.UserName)
	return nil
}

// bootstrapAdmin creates the administrator on first start: the password
// comes from --admin-password-file, else SMARTGATE_ADMIN_PASSWORD, else it
// is generated and returned to be printed once.
func bootstrapAdmin(ctx context.Context, cfg *config.Config, people *account.People, getenv func(string) string) (string, error) {
	password := getenv("SMARTGATE_ADMIN_PASSWORD")
	if cfg.AdminPasswordFile != "" {
		b, err := os.ReadFile(cfg.AdminPasswordFile)
		if err != nil {
			return "", fmt.Errorf("admin password file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	generated, created, err := people.Bootstrap(ctx, password)
	if err != nil {
		return "", fmt.Errorf("creating the administrator account: %w", err)
	}
	if created && generated != "" {
		return fmt.Sprintf("created the administrator account %q with the generated password: %s\n(shown only this once; change it after logging in)", account.AdminUserName, generated), nil
	}
	if created {
		return fmt.Sprintf("created the administrator account %q with the configured password", account.AdminUserName), nil
	}
	return "", nil
}
