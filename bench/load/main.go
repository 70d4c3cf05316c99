// Command load is smartgate's bounded HTTP load driver. It loads only
// loopback targets, stops at the first of -d (at most 2 minutes) and -n
// requests, prints a human-readable summary on stderr and one JSON line on
// stdout.
//
// Scenarios:
//
//	issue       POST client_credentials to -url with client_secret_basic
//	introspect  fetch one token from -token-url, then POST it to -url (RFC 7662) with client auth
//	get         GET -url + each line of -paths in turn, with a bearer token from -token-url (if given)
//	password    POST grant_type=password to -url (OWin)
//	raw         -method, -body and -H as given
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/smartgate/smartgate/bench/loadgen"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var (
		scenario  = fs.String("scenario", "raw", "issue | introspect | get | password | raw")
		target    = fs.String("url", "", "target URL (loopback only); for get, the base that -paths are appended to")
		method    = fs.String("method", "GET", "raw: HTTP method")
		body      = fs.String("body", "", "raw: request body (sent with Content-Type application/x-www-form-urlencoded unless -H sets one)")
		clientID  = fs.String("client-id", "bench", "OAuth client id")
		secretEnv = fs.String("client-secret-env", "BENCH_CLIENT_SECRET", "environment variable holding the client secret")
		scope     = fs.String("scope", "system/*.rs", "scope requested by issue and by the token fetched for get/introspect")
		tokenURL  = fs.String("token-url", "", "introspect/get: token endpoint to fetch the token from")
		pathsFile = fs.String("paths", "", "get: file with one path per line")
		username  = fs.String("username", "bench", "password: user name")
		passEnv   = fs.String("password-env", "BENCH_PASSWORD", "password: environment variable holding the password")
		conc      = fs.Int("c", 8, "concurrent workers")
		dur       = fs.Duration("d", 10*time.Second, "measured duration (at most 2m)")
		maxN      = fs.Int("n", 1_000_000, "maximum number of measured requests")
		warmup    = fs.Duration("warmup", time.Second, "warm-up before measuring (at most 10s)")
		timeout   = fs.Duration("timeout", 20*time.Second, "per-request timeout")
		pid       = fs.Int("pid", 0, "server PID whose peak RSS (VmHWM) is reported")
		resetHWM  = fs.Bool("reset-hwm", false, "reset the server's VmHWM before the run (needs ownership of the process)")
		label     = fs.String("label", "", "label of the JSON line")
		hdrs      headers
	)
	fs.Var(&hdrs, "H", "extra header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("-url is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	client := loadgen.Client{ID: *clientID, Secret: os.Getenv(*secretEnv)}
	needSecret := func() error {
		if client.Secret == "" {
			return fmt.Errorf("set the client secret in $%s", *secretEnv)
		}
		return nil
	}
	fetch := func() (string, error) {
		if *tokenURL == "" {
			return "", errors.New("-token-url is required for this scenario")
		}
		if err := needSecret(); err != nil {
			return "", err
		}
		return loadgen.FetchToken(ctx, loadgen.IssueRequest(*tokenURL, client, *scope))
	}

	cfg := loadgen.Config{
		Label: *label, Concurrency: *conc, Duration: *dur, MaxRequests: *maxN,
		Warmup: *warmup, Timeout: *timeout, PID: *pid, ResetHWM: *resetHWM,
	}
	switch *scenario {
	case "issue":
		if err := needSecret(); err != nil {
			return err
		}
		cfg.Request = loadgen.IssueRequest(*target, client, *scope)
		cfg.Check = loadgen.TokenCheck
	case "introspect":
		tok, err := fetch()
		if err != nil {
			return err
		}
		cfg.Request = loadgen.IntrospectRequest(*target, client, tok)
		cfg.Check = loadgen.ActiveCheck
	case "get":
		paths, err := readLines(*pathsFile)
		if err != nil {
			return err
		}
		tok := ""
		if *tokenURL != "" {
			if tok, err = fetch(); err != nil {
				return err
			}
		}
		cfg.Request = loadgen.GetRequest(*target, paths, tok)
	case "password":
		pw := os.Getenv(*passEnv)
		if pw == "" {
			return fmt.Errorf("set the password in $%s", *passEnv)
		}
		cfg.Request = loadgen.PasswordRequest(*target, *username, pw)
		cfg.Check = loadgen.TokenCheck
	case "raw":
		h := http.Header{}
		for _, kv := range hdrs {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				return fmt.Errorf("-H %q: want 'Name: value'", kv)
			}
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		var b []byte
		if *body != "" {
			b = []byte(*body)
			if h.Get("Content-Type") == "" {
				h.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		}
		cfg.Request = loadgen.Request{Method: *method, BaseURL: *target, Header: h, Body: b}
	default:
		return fmt.Errorf("unknown -scenario %q", *scenario)
	}
	if cfg.Label == "" {
		cfg.Label = *scenario
	}
	if *scenario != "raw" && len(hdrs) > 0 {
		for _, kv := range hdrs {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				return fmt.Errorf("-H %q: want 'Name: value'", kv)
			}
			cfg.Request.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, res.String())
	fmt.Println(res.JSON())
	return nil
}

func readLines(path string) ([]string, error) {
	if path == "" {
		return []string{""}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("paths: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("paths: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("paths: %s has no paths", path)
	}
	return out, nil
}
