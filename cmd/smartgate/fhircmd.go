package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// runFHIR is `smartgate fhir import FILE…`: FHIR Bundles (transaction,
// batch or collection) and NDJSON, each file all-or-nothing per Bundle,
// with a progress line for large files.
func runFHIR(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		return usageError{errors.New("usage: smartgate fhir import [--data DIR] FILE…")}
	}
	cfg, files, err := config.Load("fhir import", args[1:], e.getenv, e.stderr)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError{errors.New("usage: smartgate fhir import [--data DIR] FILE…")}
	}
	logger := newLogger(cfg, io.Discard)
	db, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	reg, err := search.Load()
	if err != nil {
		return err
	}
	// The files go through one pipeline: the next Bundle is parsed and
	// prepared while the previous one is being stored.
	srcs := make([]fhir.ImportSource, len(files))
	sizes := make([]int64, len(files))
	for i, name := range files {
		if st, err := os.Stat(name); err == nil {
			sizes[i] = st.Size()
		}
		srcs[i] = fhir.ImportSource{Name: name, Open: func() (io.ReadCloser, error) { return os.Open(name) }}
	}
	total := 0
	start := time.Now()
	last := start
	err = fhir.ImportAll(ctx, db, srcs, fhir.ImportOptions{Registry: reg, Progress: func(p fhir.ImportProgress) {
		if sizes[p.Source] > 4<<20 && time.Since(last) > time.Second {
			last = time.Now()
			fmt.Fprintf(e.stdout, "%s: %d resources, %.0f%%\n", files[p.Source], p.Resources, 100*float64(p.Bytes)/float64(sizes[p.Source]))
		}
	}}, func(i int, res fhir.ImportResult) {
		total += res.Resources
		fmt.Fprintf(e.stdout, "%s: imported %d resources in %d bundles (%.1fs)\n", files[i], res.Resources, res.Bundles, time.Since(start).Seconds())
		start = time.Now()
	})
	if err != nil {
		return fmt.Errorf("%w (resources stored before the failing bundle or batch stay stored)", err)
	}
	if len(files) > 1 {
		fmt.Fprintf(e.stdout, "imported %d resources from %d files\n", total, len(files))
	}
	return nil
}

// runKeys is `smartgate keys rotate`: new signing keys; retired public keys
// stay in the JWKS until every token they signed has expired.
func runKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usageError{errors.New("usage: smartgate keys rotate [--data DIR]")}
	}
	cfg, rest, err := config.Load("keys rotate", args[1:], e.getenv, e.stderr)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", rest)}
	}
	db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := authz.RotateKeys(ctx, db, time.Now()); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "rotated the signing keys; a running server uses the new ones for tokens it signs from its next key refresh")
	return nil
}
