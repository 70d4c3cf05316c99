package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/server"
	"github.com/smartgate/smartgate/store/postgres"
	"github.com/smartgate/smartgate/store/sqlite"
)

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(server.LogHandler{Handler: h})
}

// Garbage-collector settings unless GOMEMLIMIT / GOGC say otherwise. Each
// password check (argon2id, m=19 MiB) allocates a 19 MiB buffer, at most
// one per core at a time. With GOGC=100 the heap goal (twice the live heap,
// buffers included) was above the soft limit, so the runtime kept returning
// the freed buffers to the OS and faulting them back in on the next check
// (up to ~1,400 page faults and a third more CPU per log-in). With GOGC=50
// the goal stays under the limit and the buffers are reused in place; the
// limit keeps the peak resident size under 150 MiB.
const (
	defaultMemoryLimit = 104 << 20
	defaultGCPercent   = 50
)

// dbPath is where the database lives in the data folder.
func dbPath(dataDir string) string { return filepath.Join(dataDir, "smartgate.db") }

// openStore makes the data folder (private to the owner: it also holds the
// generated certificates) and opens the database: PostgreSQL when
// --database names one, else the SQLite file in the data folder.
func openStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (database, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if cfg.Database != "" {
		db, err := postgres.Open(ctx, cfg.Database, postgres.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, dbPath(cfg.DataDir), sqlite.Options{Logger: logger, Synchronous: cfg.SQLiteSynchronous, MaxSizeBytes: cfg.MaxDBBytes})
	if err != nil {
		return nil, err
	}
	return db, nil
}

func runServe(ctx context.Context, e *env, args []string) error {
	cfg, rest, err := config.Load("serve", args, e.getenv, e.stderr)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", rest)}
	}
	logger := newLogger(cfg, e.stderr)
	if e.getenv("GOMEMLIMIT") == "" {
		// A soft limit keeps the heap from doubling between collections
		// under bursts of password checks (19 MiB each); GOMEMLIMIT
		// overrides it.
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	db, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			logger.Error("closing the database", "err", err)
		}
	}()

	a, err := newApp(ctx, cfg, db, logger, e)
	if err != nil {
		return err
	}
	defer a.close()

	srv, err := server.New(server.Options{
		HTTPAddr: cfg.HTTPAddr, HTTPSAddr: cfg.HTTPSAddr,
		HTTPURL: cfg.HTTPURL, HTTPSURL: cfg.HTTPSURL,
		CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, DataDir: cfg.DataDir,
		MaxBodyBytes: cfg.MaxBodyBytes, HSTS: cfg.HSTS,
		Handler: a.handler, Logger: logger,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	if srv.SelfSignedCreated {
		certFile, _ := server.SelfSignedPaths(cfg.DataDir)
		logger.Info("generated a self-signed TLS certificate", "file", certFile)
	}
	for _, l := range []struct{ name, url string }{{"http", cfg.HTTPURL}, {"https", cfg.HTTPSURL}} {
		if addr := srv.Addr(l.name); addr != "" {
			logger.Info("listening", "listener", l.name, "addr", addr, "url", l.url)
			fmt.Fprintf(e.stdout, "smartgate %s listening on %s (%s)\n", l.name, addr, l.url)
		}
	}
	a.announce(e.stdout)
	fmt.Fprintln(e.stdout, "smartgate ready")

	for {
		select {
		case <-e.signals:
			if err := srv.ReloadCertificate(); err != nil {
				logger.Error("reloading the TLS certificate failed; keeping the old one", "err", err)
			} else {
				logger.Info("reloaded the TLS certificate")
			}
			continue
		case err := <-srv.Err():
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			srv.Shutdown(sctx)
			cancel()
			return err
		case <-ctx.Done():
		}
		break
	}
	logger.Info("shutting down; waiting for requests in flight", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// app is the wired server: every package's handlers on one mux.
type app struct {
	handler http.Handler
	authz   *authz.Server
	// people is the one account.People of the server (newPeople).
	people *account.People
	// scimAuth decides who may call /scim/v2 (the SCIM handler's
	// scim.Authorizer).
	scimAuth *scimauth.Authorizer
	closers  []func()
	messages []string
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// announce prints what an operator needs once (generated passwords, demo
// log-ins and URLs).
func (a *app) announce(w io.Writer) {
	for _, m := range a.messages {
		fmt.Fprintln(w, m)
	}
}

func runBackup(ctx context.Context, e *env, args []string) error {
	cfg, rest, err := config.Load("backup", args, e.getenv, e.stderr)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{errors.New("usage: smartgate backup [--data DIR] FILE")}
	}
	path := dbPath(cfg.DataDir)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no database at %s: %w", path, err)
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: cfg.SQLiteSynchronous})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, rest[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup written to %s\n", rest[0])
	return nil
}
