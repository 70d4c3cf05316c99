// Package pgtest runs a real PostgreSQL server for tests: initdb into a
// temporary folder, pg_ctl start on a free 127.0.0.1 port, one fresh
// database per test, pg_ctl stop at the end. Never a mock.
//
// A test package that uses it calls Run from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
// and each test asks for a database with URL(t). The server starts on the
// first URL call (a run that needs none starts none). The binaries are
// found on PATH or under /usr/lib/postgresql/*/bin (Debian's package);
// when they are missing the test is skipped, except with CI=true, where it
// fails. As root, the server runs as the unprivileged postgres (or nobody)
// account, since PostgreSQL refuses to run as root.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is the one server of a test binary.
type cluster struct {
	once sync.Once
	err  error
	dir  string
	bin  string
	port int
	cred *syscall.Credential
	seq  atomic.Int64
}

var shared cluster

// Run runs m's tests and stops the server if one was started; it returns
// m.Run's exit code.
func Run(m *testing.M) int {
	code := m.Run()
	shared.stop()
	return code
}

// URL returns the URL of a new, empty database that is dropped when t
// ends.
func URL(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.err = shared.start() })
	if shared.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: PostgreSQL is needed in CI: %v", shared.err)
		}
		t.Skipf("pgtest: no PostgreSQL: %v", shared.err)
	}
	name := fmt.Sprintf("sg_%d_%d", os.Getpid(), shared.seq.Add(1))
	ctx := context.Background()
	if err := shared.admin(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := shared.admin(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return shared.url(name)
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://smartgate@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// admin runs one statement on the maintenance database.
func (c *cluster) admin(ctx context.Context, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}

// Binaries returns the folder that holds initdb and pg_ctl.
func Binaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("initdb and pg_ctl are neither on PATH nor under /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// credential is the account the server runs as: nil (this one) unless
// this one is root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and there is no postgres or nobody account to run PostgreSQL as")
}

func (c *cluster) start() error {
	bin, err := Binaries()
	if err != nil {
		return err
	}
	c.bin = bin
	if c.cred, err = credential(); err != nil {
		return err
	}
	// A short path: the Unix socket's must fit in 107 bytes.
	if c.dir, err = os.MkdirTemp("", "sgpg"); err != nil {
		return err
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(c.dir, "data")
	if out, err := c.run("initdb", "-D", data, "-U", "smartgate", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	for attempt := 0; attempt < 5; attempt++ {
		if c.port, err = freePort(); err != nil {
			return err
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", c.port, c.dir)
		var out []byte
		out, err = c.run("pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			return nil
		}
		err = fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	return err
}

func (c *cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

func (c *cluster) stop() {
	if c.dir == "" {
		return
	}
	if c.err == nil {
		c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	}
	os.RemoveAll(c.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
