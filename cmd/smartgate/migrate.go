package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/smartgate/smartgate/store/postgres"
	"github.com/smartgate/smartgate/store/sqlite"
)

// runMigrate is `smartgate migrate --from DATA_DIR --to postgres://…`: it
// copies an SQLite deployment into an empty PostgreSQL database (issue
// 16), checks every table's row count, and refuses a target that holds
// data. Run it while no server uses the SQLite file.
func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "the data folder of the SQLite deployment")
	to := fs.String("to", "", "the empty PostgreSQL database: postgres://USER@HOST:PORT/DB?…")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *from == "" || *to == "" {
		return usageError{errors.New("usage: smartgate migrate --from DATA_DIR --to postgres://USER@HOST:PORT/DB")}
	}
	if err := postgres.CheckURL(*to); err != nil {
		return usageError{fmt.Errorf("--to: %w", err)}
	}
	path := dbPath(*from)
	if _, err := os.Stat(path); err != nil {
		return usageError{fmt.Errorf("--from: no database at %s", path)}
	}
	src, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, *to, postgres.Options{})
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := dst.Import(ctx, src)
	if err != nil {
		return err
	}
	var tables []string
	var total int64
	for t, n := range counts {
		tables, total = append(tables, t), total+n
	}
	slices.Sort(tables)
	for _, t := range tables {
		fmt.Fprintf(e.stdout, "%-28s %d\n", t, counts[t])
	}
	fmt.Fprintf(e.stdout, "copied %d rows of %d tables from %s to %s\n", total, len(tables), path, postgres.Redact(*to))
	return nil
}
