package main

// Tests that run the real smartgate binary as a child process: listeners,
// certificates, configuration errors, signals.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartgate/smartgate/store/postgres/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smartgate-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "smartgate")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building smartgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Run(m) // m.Run, then stops the PostgreSQL server if a test started one
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running smartgate child process.
type proc struct {
	cmd       *exec.Cmd
	mu        sync.Mutex
	out       bytes.Buffer // stdout
	errBuf    bytes.Buffer // stderr
	HTTPAddr  string
	HTTPSAddr string
	done      chan error
}

func (p *proc) Stdout() string { p.mu.Lock(); defer p.mu.Unlock(); return p.out.String() }
func (p *proc) Stderr() string { p.mu.Lock(); defer p.mu.Unlock(); return p.errBuf.String() }

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

var listenLine = regexp.MustCompile(`smartgate (https?) listening on (\S+)`)

// start runs smartgate in dir with args and waits until its listeners are
// up (or it exits).
func start(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	p.cmd.Stderr = lockedWriter{&p.mu, &p.errBuf}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		closed := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			if m := listenLine.FindStringSubmatch(line); m != nil {
				if m[1] == "http" {
					p.HTTPAddr = m[2]
				} else {
					p.HTTPSAddr = m[2]
				}
			}
			p.mu.Unlock()
			if line == "smartgate ready" && !closed {
				closed = true
				close(ready)
			}
		}
		if !closed {
			close(ready)
		}
	}()
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		p.done <- err
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("smartgate did not start in 30s; stderr:\n%s", p.Stderr())
	}
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("smartgate did not exit in 60s")
	}
	return p.cmd.ProcessState.ExitCode()
}

func insecureClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
}

func getOK(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, body)
	}
}

func serverCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// TestDefaultsServeHealthzOnBothListeners runs smartgate exactly as
// `go run ./cmd/smartgate` would (no flags: ./data, 127.0.0.1:8080 and
// :8443), checks /healthz on both listeners, and that the generated
// certificate is made once and reused on restart.
func TestDefaultsServeHealthzOnBothListeners(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, nil)
	if p.HTTPAddr != "127.0.0.1:8080" || p.HTTPSAddr != "127.0.0.1:8443" {
		t.Fatalf("listeners at %q and %q, want the contract defaults; stderr:\n%s", p.HTTPAddr, p.HTTPSAddr, p.Stderr())
	}
	c := insecureClient()
	getOK(t, c, "http://127.0.0.1:8080/healthz")
	getOK(t, c, "https://127.0.0.1:8443/healthz")
	getOK(t, c, "https://127.0.0.1:8443/readyz")
	first := serverCert(t, "127.0.0.1:8443")
	if err := first.VerifyHostname("localhost"); err != nil {
		t.Errorf("certificate not valid for localhost: %v", err)
	}
	if err := first.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("certificate not valid for 127.0.0.1: %v", err)
	}
	if err := first.VerifyHostname("::1"); err != nil {
		t.Errorf("certificate not valid for ::1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "smartgate.db")); err != nil {
		t.Errorf("database not under ./data: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, "data", "smartgate.db"))
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		t.Errorf("database file mode %v is readable by others", st.Mode().Perm())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d; stderr:\n%s", code, p.Stderr())
	}

	p2 := start(t, dir, nil)
	second := serverCert(t, p2.HTTPSAddr)
	if !first.Equal(second) {
		t.Fatal("restart generated a new certificate instead of reusing the first")
	}
	getOK(t, c, "http://127.0.0.1:8080/healthz")
	p2.cmd.Process.Signal(syscall.SIGTERM)
	p2.wait(t)
}

func TestBadConfigurationExitsWithStatus2NamingEveryProblem(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "smartgate.yaml")
	os.WriteFile(cfg, []byte("htp_addr: 1\nacess_token_ttl: 1h\ncode_ttl: forever\n"), 0o600)
	cmd := exec.Command(binary, "serve", "--config", cfg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit = %v, want status 2; output:\n%s", err, out)
	}
	for _, want := range []string{`"htp_addr"`, `"acess_token_ttl"`, `"forever"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output does not name %s:\n%s", want, out)
		}
	}
}

func TestPortInUseFailsClearly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(binary, "--http-addr", ln.Addr().String(), "--https-addr", "127.0.0.1:0", "--data", filepath.Join(dir, "d"))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit = %v, want failure; output:\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(ln.Addr().String())) || !bytes.Contains(out, []byte("address already in use")) {
		t.Fatalf("output does not explain the port clash:\n%s", out)
	}
}

func TestUnreadableCertificateFailsClearly(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	key := filepath.Join(dir, "key.pem")
	os.WriteFile(cert, []byte("not a certificate"), 0o600)
	os.WriteFile(key, []byte("not a key"), 0o600)
	cmd := exec.Command(binary, "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0",
		"--tls-cert", cert, "--tls-key", key, "--data", filepath.Join(dir, "d"))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit = %v, want failure; output:\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(cert)) {
		t.Fatalf("output does not name the certificate file:\n%s", out)
	}
}

func TestUnwritableDataFolderFailsClearly(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	data := filepath.Join(blocker, "data") // a folder under a regular file cannot exist
	cmd := exec.Command(binary, "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--data", data)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit = %v, want failure; output:\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("data folder")) {
		t.Fatalf("output does not name the data folder:\n%s", out)
	}
}

func TestCorruptDatabaseFailsAndIsLeftUntouched(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	db := filepath.Join(data, "smartgate.db")
	junk := bytes.Repeat([]byte("\x00garbage\xff"), 4096)
	os.WriteFile(db, junk, 0o600)
	cmd := exec.Command(binary, "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--data", data)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit = %v, want failure; output:\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(db)) {
		t.Fatalf("output does not name the database file:\n%s", out)
	}
	after, _ := os.ReadFile(db)
	if !bytes.Equal(after, junk) {
		t.Fatal("the corrupt database file was modified")
	}
}

// TestSIGHUPReloadsCertificateWithoutDroppingConnections replaces the
// configured certificate files, sends SIGHUP, and checks that new
// handshakes get the new certificate while a kept-alive connection goes on.
func TestSIGHUPReloadsCertificateWithoutDroppingConnections(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := makeCert(t, dir, "a")
	certB, keyB := makeCert(t, dir, "b")
	cert := filepath.Join(dir, "cert.pem")
	key := filepath.Join(dir, "key.pem")
	copyFile(t, certA, cert)
	copyFile(t, keyA, key)
	p := start(t, dir, nil, "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0",
		"--tls-cert", cert, "--tls-key", key, "--data", filepath.Join(dir, "data"))
	before := serverCert(t, p.HTTPSAddr)
	if before.Subject.CommonName != "a" {
		t.Fatalf("serving %q, want a", before.Subject.CommonName)
	}
	// A kept-alive client connection opened before the reload.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxConnsPerHost: 1}
	kept := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	getOK(t, kept, "https://"+p.HTTPSAddr+"/healthz")

	copyFile(t, certB, cert)
	copyFile(t, keyB, key)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for serverCert(t, p.HTTPSAddr).Subject.CommonName != "b" {
		if time.Now().After(deadline) {
			t.Fatalf("certificate not reloaded after SIGHUP; stderr:\n%s", p.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var reused bool
	req, _ := http.NewRequestWithContext(withConnTrace(context.Background(), &reused), "GET", "https://"+p.HTTPSAddr+"/healthz", nil)
	resp, err := kept.Do(req)
	if err != nil {
		t.Fatalf("kept-alive connection broke after reload: %v", err)
	}
	resp.Body.Close()
	if !reused {
		t.Error("the keep-alive connection was not reused after the reload")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil || !bytes.HasPrefix(out, []byte("smartgate ")) || !bytes.Contains(out, []byte("go go1.")) {
		t.Fatalf("version: %v\n%s", err, out)
	}
}
