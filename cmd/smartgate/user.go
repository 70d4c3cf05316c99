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

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/store"
)

// splitFlags separates the command's own flags from the server settings
// (--data, --config, …) so that both can be given on one command line.
func splitFlags(args []string, own map[string]bool) (mine, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		if strings.HasPrefix(a, "-") && own[name] {
			mine = append(mine, a)
			if !hasValue && i+1 < len(args) && !isBoolOwn(name) {
				mine = append(mine, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	return mine, rest
}

func isBoolOwn(name string) bool {
	switch name {
	case "password-stdin", "secret-stdin", "public", "require-pkce":
		return true
	}
	return false
}

func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func runUser(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{errors.New("usage: smartgate user add --username NAME --password-stdin [--role admin|practitioner|patient] [--fhir-user Patient/ID]")}
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
	own := map[string]bool{"username": true, "password-stdin": true, "role": true, "fhir-user": true, "given-name": true, "family-name": true, "email": true}
	mine, rest := splitFlags(args[1:], own)
	if err := fs.Parse(mine); err != nil {
		return usageError{err}
	}
	cfg, extra, err := config.Load("user add", rest, e.getenv, e.stderr)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", extra)}
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
	u, err := account.NewLocalUser(ctx, account.NewHasher(account.Params{}, 1), *username, password, roles, *fhirUser)
	if err != nil {
		return usageError{err}
	}
	u.Name = account.Name{GivenName: *given, FamilyName: *family}
	if *given != "" || *family != "" {
		u.Name.Formatted = strings.TrimSpace(*given + " " + *family)
		u.DisplayName = u.Name.Formatted
	}
	if *email != "" {
		u.Emails = []account.Email{{Value: *email, Primary: true, Type: "work"}}
	}
	if err := db.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("a user named %q exists already", u.UserName)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "created user %s (id %s, roles %s)\n", u.UserName, u.ID, strings.Join(u.Roles, ","))
	return nil
}

// bootstrapAdmin creates the administrator on first start: the password
// comes from --admin-password-file, else SMARTGATE_ADMIN_PASSWORD, else it
// is generated and returned to be printed once.
func bootstrapAdmin(ctx context.Context, cfg *config.Config, db account.BootstrapStore, getenv func(string) string) (string, error) {
	password := getenv("SMARTGATE_ADMIN_PASSWORD")
	if cfg.AdminPasswordFile != "" {
		b, err := os.ReadFile(cfg.AdminPasswordFile)
		if err != nil {
			return "", fmt.Errorf("admin password file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	generated, created, err := account.Bootstrap(ctx, db, password)
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
