package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

var generatedPassword = regexp.MustCompile(`generated password: (\S+)`)

func TestFirstStartCreatesAdministratorOnce(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data")}
	p := start(t, dir, nil, args...)
	// The announcement follows the listener lines; wait for the process to
	// have printed it by stopping it.
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	m := generatedPassword.FindStringSubmatch(p.Stdout())
	if m == nil || len(m[1]) < 16 {
		t.Fatalf("first start did not print a generated administrator password:\n%s", p.Stdout())
	}
	if strings.Contains(p.Stderr(), m[1]) {
		t.Fatal("the generated password was written to the log")
	}
	p2 := start(t, dir, nil, args...)
	p2.cmd.Process.Signal(syscall.SIGTERM)
	p2.wait(t)
	if strings.Contains(p2.Stdout(), "administrator") {
		t.Fatalf("second start announced an administrator again:\n%s", p2.Stdout())
	}
}

func TestFirstStartTakesAdministratorPasswordFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, []string{"SMARTGATE_ADMIN_PASSWORD=correct horse battery staple"},
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	if !strings.Contains(p.Stdout(), "configured password") || strings.Contains(p.Stdout(), "correct horse") {
		t.Fatalf("unexpected announcement:\n%s", p.Stdout())
	}
}

func TestUserAdd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	run := func(stdin string, args ...string) (string, int) {
		cmd := exec.Command(binary, append([]string{"user", "add"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(cmd.Environ(), "SMARTGATE_DATA="+data)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return out.String(), code
	}
	out, code := run("a long enough password\n", "--username", "Alice", "--password-stdin", "--role", "practitioner", "--fhir-user", "Practitioner/p1")
	if code != 0 || !strings.Contains(out, "created user alice") {
		t.Fatalf("user add: %d %s", code, out)
	}
	out, code = run("another long password\n", "--username", "ALICE", "--password-stdin")
	if code == 0 || !strings.Contains(out, "exists already") {
		t.Fatalf("duplicate user add: %d %s", code, out)
	}
	out, code = run("short\n", "--username", "bob", "--password-stdin")
	if code != 2 || !strings.Contains(out, "password") {
		t.Fatalf("weak password: %d %s", code, out)
	}
	out, code = run("", "--username", "carol", "--password", "x")
	if code != 2 {
		t.Fatalf("password on the command line accepted: %d %s", code, out)
	}
}
