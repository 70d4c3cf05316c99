package main

// ======================================================================
// The smartgate command-line contract this comparison relies on.
//
// smartgate's CLI is being written by others. Everything compare expects of
// it is in this file, so that a mismatch is fixed here and nowhere else.
// Each function fails loudly (with the command's output) when the command is
// missing or refuses its arguments.
//
// Settings are passed both ways the interface promises: the documented flags
// for serve, and SMARTGATE_DATA for every command (each setting "has a flag
// and an environment variable (SMARTGATE_…)").
// ======================================================================

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

const (
	benchClientID = "bench"
	benchScope    = "system/*.rs"
	benchUser     = "bench"
)

func sgEnv(dataDir string) []string {
	return []string{
		"SMARTGATE_DATA=" + dataDir,
		// Fixed, so that first start does not print a generated one.
		"SMARTGATE_ADMIN_PASSWORD=bench-admin-" + strconv.FormatInt(time.Now().UnixNano(), 36),
	}
}

// smartgateClientAdd registers the confidential benchmark client
// (client_secret_basic, client_credentials, system/*.rs), a resource server
// that may introspect every client's tokens (introspect-person introspects
// an OWin token, which is not its own). Expected invocation:
//
//	smartgate client add --id bench --secret-stdin --grant-types client_credentials --scope system/*.rs --introspect-all
func smartgateClientAdd(ctx context.Context, bin, dataDir, secret string) error {
	_, out, err := runTimed(ctx, bin,
		[]string{"client", "add", "--id", benchClientID, "--secret-stdin",
			"--grant-types", "client_credentials", "--scope", benchScope, "--introspect-all"},
		sgEnv(dataDir), secret+"\n")
	if err != nil {
		return fmt.Errorf("registering the bench client failed; compare expects\n"+
			"  smartgate client add --id bench --secret-stdin --grant-types client_credentials --scope system/*.rs --introspect-all\n"+
			"(secret on stdin, data folder from SMARTGATE_DATA). Fix smartgateClientAdd in bench/cmd/compare/smartgate.go if the CLI differs.\n%w", err)
	}
	_ = out
	return nil
}

// smartgateUserAdd creates the local account used by the OWin password grant.
// Expected invocation (interface.md):
//
//	smartgate user add --username bench --password-stdin --role practitioner
func smartgateUserAdd(ctx context.Context, bin, dataDir, password string) error {
	_, _, err := runTimed(ctx, bin,
		[]string{"user", "add", "--username", benchUser, "--password-stdin", "--role", "practitioner"},
		sgEnv(dataDir), password+"\n")
	if err != nil {
		return fmt.Errorf("creating the bench user failed; compare expects\n"+
			"  smartgate user add --username bench --password-stdin --role practitioner\n"+
			"Fix smartgateUserAdd in bench/cmd/compare/smartgate.go if the CLI differs.\n%w", err)
	}
	return nil
}

// smartgateImport imports the bundle files and returns the command's
// wall-clock time (process start to exit). Expected invocation:
//
//	smartgate fhir import FILE...
func smartgateImport(ctx context.Context, bin, dataDir string, files []string) (time.Duration, error) {
	d, _, err := runTimed(ctx, bin, append([]string{"fhir", "import"}, files...), sgEnv(dataDir), "")
	if err != nil {
		return 0, fmt.Errorf("smartgate fhir import failed; compare expects\n"+
			"  smartgate fhir import FILE...\n"+
			"Fix smartgateImport in bench/cmd/compare/smartgate.go if the CLI differs.\n%w", err)
	}
	return d, nil
}

// smartgateServe starts smartgate with only its HTTP listener, on port, and
// waits for GET /healthz. Expected invocation:
//
//	smartgate serve --data DIR --http-addr 127.0.0.1:PORT --https-addr "" --http-url http://127.0.0.1:PORT EXTRA...
//
// EXTRA is BENCH_SMARTGATE_ARGS split on spaces, by default "--log-level warn"
// (as the anchors ran Hydra: per-request logging is measured only on request).
//
// name names the process (its log, NAME.log, and its peak RSS in the report).
func smartgateServe(ctx context.Context, ps *procSet, name, logDir, bin, dataDir string, port int, extra []string) (*proc, string, error) {
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	args := []string{"serve", "--data", dataDir, "--http-addr", "127.0.0.1:" + strconv.Itoa(port),
		"--https-addr", "", "--http-url", base}
	p, err := ps.start(name, logDir, bin, append(args, extra...), sgEnv(dataDir))
	if err != nil {
		return nil, "", err
	}
	if err := waitHealthy(ctx, p, base+"/healthz"); err != nil {
		return nil, "", fmt.Errorf("smartgate serve: %w", err)
	}
	return p, base, nil
}

// sgDataDir is a fresh data folder under work.
func sgDataDir(work, name string) string { return filepath.Join(work, "sg-"+name) }
