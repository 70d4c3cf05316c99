package securetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store/sqlite"
)

func thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// proc is a running smartgate process.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	errBuf bytes.Buffer
	done   chan struct{}
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

// startProc runs smartgate with args and waits for "smartgate ready".
func startProc(dir string, env []string, args ...string) (*proc, error) {
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	p.cmd.Stderr = lockedWriter{&p.mu, &p.errBuf}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if line == "smartgate ready" && !sent {
				sent = true
				ready <- true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	go func() {
		p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	select {
	case ok := <-ready:
		if !ok {
			<-p.done
			return nil, fmt.Errorf("smartgate %s exited before it was ready (%v); stderr:\n%s", strings.Join(args, " "), p.cmd.ProcessState, p.Stderr())
		}
	case <-time.After(40 * time.Second):
		p.stop()
		return nil, fmt.Errorf("smartgate did not start in 40s; stderr:\n%s", p.Stderr())
	}
	return p, nil
}

func (p *proc) stop() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a loopback address nobody listens on now (the listener
// URLs must name the port before the process starts).
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// newRequestID is an X-Request-Id the server keeps (8 to 64 of
// [A-Za-z0-9._-]): the key from a request to its log lines and audit
// records.
func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "s13-" + hex.EncodeToString(b)
}

// answer is one HTTP exchange's result, from Go or from curl.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
	ID     string // the request id sent
}

func (a *answer) String() string {
	b := a.Body
	if len(b) > 600 {
		b = b[:600]
	}
	return fmt.Sprintf("%d %s", a.Status, b)
}

// json decodes the body (nil when it is not a JSON object).
func (a *answer) json() map[string]any {
	var m map[string]any
	if json.Unmarshal(a.Body, &m) != nil {
		return nil
	}
	return m
}

// bundleIDs returns "Type/id" of each entry of a searchset Bundle, and
// whether the body is a Bundle at all.
func (a *answer) bundleIDs() ([]string, bool) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal(a.Body, &b) != nil || b.ResourceType != "Bundle" {
		return nil, false
	}
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource.ResourceType+"/"+e.Resource.ID)
	}
	return out, true
}

// client is a Go HTTPS client that trusts the test's server CA and
// presents cert (nil: no certificate).
func httpsClient(p *pki, cert *pemCert) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(p.ServerCA.Cert)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c := cert.TLS
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Timeout: 15 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends one request with c; hdr are name, value pairs.
func do(t *testing.T, c *http.Client, method, u string, body io.Reader, hdr ...string) *answer {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	id := newRequestID()
	req.Header.Set("X-Request-Id", id)
	req.Header.Set("Accept", "application/json, application/fhir+json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &answer{Status: resp.StatusCode, Header: resp.Header, Body: b, ID: id}
}

// curl runs curl against the HTTPS listener, trusting the server CA,
// presenting cert (nil: none); args are curl's further arguments (-H,
// -d…), the URL last.
func curl(t *testing.T, p *pki, cert *pemCert, args ...string) *answer {
	t.Helper()
	needCurl(t)
	dir := t.TempDir()
	hdrFile, bodyFile := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	id := newRequestID()
	full := []string{"-sS", "--max-time", "15", "--cacert", p.ServerCA.CertFile,
		"-D", hdrFile, "-o", bodyFile, "-w", "%{http_code}",
		"-H", "X-Request-Id: " + id, "-H", "Accept: application/json, application/fhir+json"}
	if cert != nil {
		full = append(full, "--cert", cert.CertFile, "--key", cert.KeyFile)
	}
	full = append(full, args...)
	cmd := exec.Command(curlBin, full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(full, " "), err, stderr.String())
	}
	status, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	a := &answer{Status: status, Header: http.Header{}, ID: id}
	a.Body, _ = os.ReadFile(bodyFile)
	raw, _ := os.ReadFile(hdrFile)
	// With -D, every response (a 100 Continue too) is written; keep the last.
	blocks := strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n\n")
	last := ""
	for _, b := range blocks {
		if strings.TrimSpace(b) != "" {
			last = b
		}
	}
	for _, line := range strings.Split(last, "\n")[1:] {
		if k, v, ok := strings.Cut(line, ":"); ok {
			a.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return a
}

// logRecords are the process's JSON log records.
func (s *server) logRecords() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(s.p.Stderr(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// wantRefusalLogged: besides the access log line ("request"), the server
// wrote a log line for the request that says why it refused, carrying its
// request id (the certificate Verifier's lines too: it runs inside the
// request-id middleware).
func (s *server) wantRefusalLogged(t *testing.T, a *answer, hint ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var mine []map[string]any
		for _, r := range s.logRecords() {
			if r["request_id"] != a.ID {
				continue
			}
			if r["msg"] != "request" {
				return
			}
			mine = append(mine, r)
		}
		if time.Now().After(deadline) {
			t.Errorf("request %s (answered %d): no log line saying why it was refused%s; only %v", a.ID, a.Status, strings.Join(hint, ""), mine)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantRefusalAudited: an audit record of request id with the outcome
// denied or failure.
func (s *server) wantRefusalAudited(t *testing.T, a *answer) audit.Event {
	t.Helper()
	db := s.store(t)
	deadline := time.Now().Add(5 * time.Second)
	var seen []audit.Event
	for {
		evs, err := db.AuditEvents(context.Background(), audit.Filter{Limit: 1000})
		if err != nil {
			t.Fatalf("reading the audit records: %v", err)
		}
		seen = seen[:0]
		for _, ev := range evs {
			if ev.RequestID != a.ID {
				continue
			}
			seen = append(seen, ev)
			if ev.Outcome == audit.Denied || ev.Outcome == audit.Failure {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("request %s (answered %d): no audit record of the refusal; records of it: %+v", a.ID, a.Status, seen)
			return audit.Event{}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// store opens the process's SQLite database (WAL: readable while the
// server writes) to read its audit records.
func (s *server) store(t *testing.T) *sqlite.DB {
	t.Helper()
	s.dbOnce.Do(func() {
		s.db, s.dbErr = sqlite.Open(context.Background(), filepath.Join(s.data, "smartgate.db"), sqlite.Options{})
	})
	if s.dbErr != nil {
		t.Fatalf("opening %s's database: %v", s.name, s.dbErr)
	}
	return s.db
}

// wantUnauthorized: 401 with a WWW-Authenticate challenge.
func wantUnauthorized(t *testing.T, what string, a *answer) {
	t.Helper()
	if a.Status != http.StatusUnauthorized {
		t.Errorf("%s: %s, want 401", what, a)
		return
	}
	if a.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s: 401 without WWW-Authenticate (RFC 6750 §3)", what)
	}
}

var bearerError = regexp.MustCompile(`error="([^"]*)"`)

// wantInvalidToken: 401 with WWW-Authenticate: Bearer … error="invalid_token".
func wantInvalidToken(t *testing.T, what string, a *answer) {
	t.Helper()
	wantUnauthorized(t, what, a)
	ch := a.Header.Get("WWW-Authenticate")
	if m := bearerError.FindStringSubmatch(ch); a.Status == 401 && (m == nil || m[1] != "invalid_token") {
		t.Errorf("%s: WWW-Authenticate %q, want Bearer error=\"invalid_token\" (RFC 6750 §3.1)", what, ch)
	}
}
