// Command smartgate is the SMART on FHIR authorization server with its
// embedded FHIR endpoint. Run it without arguments to serve with the
// embedded defaults; `smartgate help` lists the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/smartgate/smartgate/config"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// env is what a command may use of the process: explicit, so tests can run
// commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// signals delivers SIGHUP (reload) to serve; nil in tests.
	signals <-chan os.Signal
	// upstreamTimeout bounds the calls to identity providers (a test hook
	// for a hanging provider; zero: idp.DefaultTimeout).
	upstreamTimeout time.Duration
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the server (the default)", runServe},
		{"gateway", "the FHIR enforcement point alone, for another issuer's tokens: gateway --upstream URL --issuer URL [--listen ADDR] [--audience URL] [--introspection-url URL --client-id ID --client-secret-env VAR|--client-secret-file F] [--tls-cert F --tls-key F [--client-ca F]]", runGateway},
		{"user", "manage local accounts: user add --username NAME --password-stdin [--role R] [--fhir-user Patient/ID]; user passwd --username NAME --password-stdin; user reset-second-factor --username NAME", runUser},
		{"fhir", "FHIR data: fhir import FILE… (Bundles and NDJSON)", runFHIR},
		{"keys", "signing keys: keys rotate", runKeys},
		{"client", "register an OAuth client: client add [--name N] [--redirect-uri U]... [--scope S] [--grant-types a,b] [--auth-method M] [--jwks-file F | --jwks-uri U] [--launch-uri U] [--public] [--id ID] [--secret-stdin]", runClient},
		{"cert", "the allow-list of trusted client certificates: cert add --file F [--note TEXT]; cert list; cert remove --fingerprint HEX", runCert},
		{"backup", "write a consistent copy of the live database: backup [--data DIR] FILE", runBackup},
		{"migrate", "copy an SQLite deployment into an empty PostgreSQL database: migrate --from DATA_DIR --to postgres://…", runMigrate},
		{"version", "print version and build information", runVersion},
	}
}

// usageError marks errors caused by how the command was called (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, signals: hup}
	os.Exit(run(ctx, e, os.Args[1:]))
}

// run dispatches to a command and maps its error to an exit status:
// 0 success, 2 bad usage or configuration, 1 anything else.
func run(ctx context.Context, e *env, args []string) int {
	name := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		printHelp(e.stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, args)
		var cerr *config.Error
		var uerr usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, config.ErrHelp):
			return 0
		case errors.As(err, &cerr), errors.As(err, &uerr):
			fmt.Fprintf(e.stderr, "smartgate %s: %v\n", name, err)
			return 2
		default:
			fmt.Fprintf(e.stderr, "smartgate %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(e.stderr, "smartgate: unknown command %q\n\n", name)
	printHelp(e.stderr)
	return 2
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: smartgate [command] [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery setting is a flag, an environment variable (SMARTGATE_…) and a key in the --config file; `smartgate serve -h` lists them.")
}

func runVersion(_ context.Context, e *env, _ []string) error {
	fmt.Fprintf(e.stdout, "smartgate %s\n", version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(e.stdout, "go %s\n", bi.GoVersion)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH", "CGO_ENABLED":
				fmt.Fprintf(e.stdout, "%s %s\n", s.Key, s.Value)
			}
		}
	}
	return nil
}
