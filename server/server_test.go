package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/smartgate/smartgate/authz/clientcert"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/listener"
)

// startServer starts a Server on loopback ports with h (both listeners
// unless opts names addresses) and stops it at the end of the test.
func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// tlsClient trusts any server certificate and presents certs.
func tlsClient(certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: certs}}}
}

// issue makes a certificate for name signed by parent (self-signed when
// parent is nil) and returns it with its key.
func issue(t *testing.T, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: true, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// writePair writes cert and key as PEM files in dir and returns their paths.
func writePair(t *testing.T, dir, name string, cert *x509.Certificate, key *ecdsa.PrivateKey) (string, string) {
	t.Helper()
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cf, kf
}

// TestListenerTimeoutsAndHeaderLimit: every listener's http.Server has the
// timeouts that keep slow or idle clients from holding connections
// (header 10 s, whole request 2 min, response 5 min, idle 2 min) and a
// 256 KiB header limit.
func TestListenerTimeoutsAndHeaderLimit(t *testing.T) {
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
	if len(s.servers) != 2 {
		t.Fatalf("%d listeners, want 2", len(s.servers))
	}
	for i, srv := range s.servers {
		if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 2*time.Minute ||
			srv.WriteTimeout != 5*time.Minute || srv.IdleTimeout != 2*time.Minute || srv.MaxHeaderBytes != 256<<10 {
			t.Errorf("%s listener: header %v, read %v, write %v, idle %v, max header %d", s.names[i],
				srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
		}
	}
}

// TestHeaderTooLarge: a request whose headers pass the limit is answered
// 431 over a real connection, and the handler never sees it.
func TestHeaderTooLarge(t *testing.T) {
	called := false
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })})
	base := "http://" + s.Addr("http")
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 300<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || called {
		t.Fatalf("300 KiB header: %d (handler called %v), want 431", resp.StatusCode, called)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 200<<10))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("200 KiB header: %d, want 200", resp.StatusCode)
	}
}

// TestBodyLimit: Wrap refuses a declared body over the limit with 413
// before the handler runs, and cuts an undeclared (chunked) one at the
// limit; after a chunked body the connection is closed (request
// smuggling: nothing after it is read as a request).
func TestBodyLimit(t *testing.T) {
	const limit = 1 << 10
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprint(w, n)
	}), slog.New(slog.DiscardHandler), nil, limit, nil)
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", Handler: h})
	base := "http://" + s.Addr("http")
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"at the limit", limit, false, http.StatusOK},
		{"declared over the limit", limit + 1, false, http.StatusRequestEntityTooLarge},
		{"chunked at the limit", limit, true, http.StatusOK},
		{"chunked over the limit", limit + 1, true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(make([]byte, tc.size))
			if tc.chunked {
				body = io.MultiReader(body) // no length: sent chunked
			}
			resp, err := http.Post(base+"/", "application/octet-stream", body)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%d bytes: %d %s, want %d", tc.size, resp.StatusCode, b, tc.want)
			}
			if tc.chunked && !resp.Close {
				t.Error("connection kept open after a chunked request")
			}
			if tc.want == http.StatusOK && string(b) != fmt.Sprint(tc.size) {
				t.Fatalf("handler read %s bytes, want %d", b, tc.size)
			}
		})
	}
}

// TestRequestID: the answer carries X-Request-Id, the client's own when it
// is 8 to 64 of [A-Za-z0-9._-], else a new one; the handler sees the same
// id in its context, and log records made with that context carry it.
func TestRequestID(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(LogHandler{slog.NewTextHandler(&logs, nil)})
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, RequestID(r.Context()))
	}), logger, nil, 1<<20, nil)
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", Handler: h})
	base := "http://" + s.Addr("http")
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"client id kept", "abc-123_x.y", true},
		{"none sent", "", false},
		{"too short", "abc", false},
		{"too long", strings.Repeat("a", 65), false},
		{"unsafe characters", "abc\"<script>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+"/x", nil)
			if tc.sent != "" {
				req.Header.Set("X-Request-Id", tc.sent)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			id := resp.Header.Get("X-Request-Id")
			if string(b) != id || !safeRequestID.MatchString(id) || (id == tc.sent) != tc.kept {
				t.Fatalf("sent %q: header %q, handler saw %q (kept: want %v)", tc.sent, id, b, tc.kept)
			}
			if !strings.Contains(logs.String(), "request_id="+id) {
				t.Fatalf("access log lacks request_id=%s: %s", id, logs.String())
			}
		})
	}
}

// TestAccessLogLeavesOutQuery: the access log names the path, never the
// query string (it can hold codes and tokens).
func TestAccessLogLeavesOutQuery(t *testing.T) {
	var logs bytes.Buffer
	h := Wrap(http.NotFoundHandler(), slog.New(slog.NewTextHandler(&logs, nil)), nil, 1<<20, nil)
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", Handler: h})
	resp, err := http.Get("http://" + s.Addr("http") + "/oauth/callback?code=SECRETCODE&state=s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(logs.String(), "path=/oauth/callback") || strings.Contains(logs.String(), "SECRETCODE") {
		t.Fatalf("access log: %s", logs.String())
	}
}

// TestPanicAnswers500: a handler that panics gets a JSON 500 naming the
// request id (no stack trace to the client), and the panic is logged.
func TestPanicAnswers500(t *testing.T) {
	var logs bytes.Buffer
	h := Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		slog.New(slog.NewTextHandler(&logs, nil)), NewMetrics(), 1<<20, nil)
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", Handler: h})
	resp, err := http.Get("http://" + s.Addr("http") + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(string(b), `"error":"server_error"`) || !strings.Contains(string(b), id) || strings.Contains(string(b), "goroutine") {
		t.Fatalf("panic: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if !strings.Contains(logs.String(), "panic serving request") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
}

// TestListenerInfo: each listener tells the handler which one it is, under
// which public base URL, whether it is the TLS one and whether it is on
// loopback.
func TestListenerInfo(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := listener.From(r.Context())
		fmt.Fprintf(w, "%v %s %s %v %v", ok, info.Name, info.BaseURL, info.Secure, info.Loopback)
	})
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0",
		HTTPURL: "http://localhost:8080/", HTTPSURL: "https://gate.example", Handler: h})
	for _, tc := range []struct{ url, want string }{
		{"http://" + s.Addr("http") + "/", "true http http://localhost:8080 false true"},
		{"https://" + s.Addr("https") + "/", "true https https://gate.example true true"},
	} {
		resp, err := tlsClient().Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want {
			t.Errorf("%s: %q, want %q", tc.url, b, tc.want)
		}
	}
}

// TestHSTS: Strict-Transport-Security only on the HTTPS listener, only
// when asked for and only with a configured certificate (never with the
// generated self-signed one, which would bind the HTTP listener's host).
func TestHSTS(t *testing.T) {
	dir := t.TempDir()
	cert, key := issue(t, "gate", nil, nil, false, x509.ExtKeyUsageServerAuth)
	cf, kf := writePair(t, dir, "gate", cert, key)
	for _, tc := range []struct {
		name     string
		hsts     bool
		cert     bool
		wantTLS  string
		wantHTTP string
	}{
		{"configured certificate", true, true, HSTSValue, ""},
		{"not asked for", false, true, "", ""},
		{"self-signed certificate", true, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", HSTS: tc.hsts, Handler: http.NotFoundHandler()}
			if tc.cert {
				opts.CertFile, opts.KeyFile = cf, kf
			}
			s := startServer(t, opts)
			for _, l := range []struct{ url, want string }{
				{"https://" + s.Addr("https") + "/", tc.wantTLS}, {"http://" + s.Addr("http") + "/", tc.wantHTTP},
			} {
				resp, err := tlsClient().Get(l.url)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Strict-Transport-Security"); got != l.want {
					t.Errorf("%s: Strict-Transport-Security %q, want %q", l.url, got, l.want)
				}
			}
		})
	}
}

// TestTLSMinimumAndReload: the HTTPS listener refuses TLS 1.1, serves the
// configured certificate, and after ReloadCertificate new connections get
// the new one; a reload from broken files keeps the old one.
func TestTLSMinimumAndReload(t *testing.T) {
	dir := t.TempDir()
	first, firstKey := issue(t, "first", nil, nil, false, x509.ExtKeyUsageServerAuth)
	cf, kf := writePair(t, dir, "gate", first, firstKey)
	s := startServer(t, Options{HTTPSAddr: "127.0.0.1:0", CertFile: cf, KeyFile: kf, Handler: http.NotFoundHandler()})
	addr := s.Addr("https")
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake accepted")
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	second, secondKey := issue(t, "second", nil, nil, false, x509.ExtKeyUsageServerAuth)
	writePair(t, dir, "gate", second, secondKey)
	if err := s.ReloadCertificate(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "second" {
		t.Fatalf("after reload served %q, want second", got)
	}
	os.WriteFile(cf, []byte("not a certificate"), 0o600)
	if err := s.ReloadCertificate(); err == nil {
		t.Fatal("reload from a broken file succeeded")
	}
	if got := served(); got != "second" {
		t.Fatalf("after a failed reload served %q, want second", got)
	}
}

// TestClientCertificates: with a client CA the HTTPS handshake asks for a
// certificate but never fails over one; the handler sees verified chains
// only for a certificate from the CA meant for client authentication.
func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := issue(t, "client CA", nil, nil, true, 0)
	caFile, _ := writePair(t, dir, "ca", ca, caKey)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS != nil && len(r.TLS.VerifiedChains) > 0)
	})
	pool, err := clientcert.LoadCAPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	v := clientcert.NewVerifier(clientcert.Options{CAs: pool})
	s := startServer(t, Options{HTTPSAddr: "127.0.0.1:0", HTTPSWrap: v.Middleware, Handler: h})
	pair := func(c *x509.Certificate, k *ecdsa.PrivateKey) tls.Certificate {
		return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k}
	}
	good, goodKey := issue(t, "lab", ca, caKey, false, x509.ExtKeyUsageClientAuth)
	serverOnly, serverOnlyKey := issue(t, "web", ca, caKey, false, x509.ExtKeyUsageServerAuth)
	other, otherKey := issue(t, "stranger", nil, nil, false, x509.ExtKeyUsageClientAuth)
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		want  string
	}{
		{"from the CA", []tls.Certificate{pair(good, goodKey)}, "true"},
		{"none", nil, "false"},
		{"unknown issuer", []tls.Certificate{pair(other, otherKey)}, "false"},
		{"not for client authentication", []tls.Certificate{pair(serverOnly, serverOnlyKey)}, "false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tlsClient(tc.certs...).Get("https://" + s.Addr("https") + "/")
			if err != nil {
				t.Fatalf("handshake failed: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tc.want {
				t.Fatalf("verified: %s, want %s", b, tc.want)
			}
		})
	}
}

// TestShutdownDrainsInFlight: Shutdown waits for a request in flight to
// finish (it is answered in full) and refuses new connections.
func TestShutdownDrainsInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		fmt.Fprint(w, "done")
	})
	s, err := New(Options{HTTPAddr: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr("http")
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", s.Addr("http"))
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepts connections during shutdown")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if b := <-got; b != "done" {
		t.Fatalf("in-flight request got %q, want done", b)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestStartErrors: a port in use and a bad certificate file are named.
func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s, _ := New(Options{HTTPAddr: busy.Addr().String(), Handler: http.NotFoundHandler()})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("port in use: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "missing.pem")
	s, _ = New(Options{HTTPSAddr: "127.0.0.1:0", CertFile: bad, KeyFile: bad, Handler: http.NotFoundHandler()})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("missing certificate: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a handler succeeded")
	}
}

// TestTooLargeIsLoggedAndCounted: a request refused for its declared body
// size is in the access log and the metrics like any other answer.
func TestTooLargeIsLoggedAndCounted(t *testing.T) {
	var logs bytes.Buffer
	m := NewMetrics()
	h := Wrap(http.NotFoundHandler(), slog.New(slog.NewTextHandler(&logs, nil)), m, 16, nil)
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", Handler: h})
	resp, err := http.Post("http://"+s.Addr("http")+"/fhir/Patient", "application/json", strings.NewReader(strings.Repeat("x", 17)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("%d, X-Request-Id %q; want 413 with a request id", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	if !strings.Contains(logs.String(), "status=413") || !strings.Contains(logs.String(), "path=/fhir/Patient") {
		t.Fatalf("access log lacks the 413: %q", logs.String())
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `smartgate_http_requests_total{code="413",method="POST",route="unmatched"} 1`) {
		t.Fatalf("metrics lack the 413: %.3000s", rec.Body.String())
	}
}

// TestBodyLimitAnswersInTheProtocolsFormat: a declared body over the limit
// is refused in the format of the endpoint it was sent to (FHIR
// OperationOutcome, RFC 7644 §3.12 SCIM error, OAuth-style JSON), never as
// plain text.
func TestBodyLimitAnswersInTheProtocolsFormat(t *testing.T) {
	const limit = 16
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("handler reached for %s", r.URL.Path)
	}), slog.New(slog.DiscardHandler), nil, limit, nil)
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", Handler: h})
	base := "http://" + s.Addr("http")
	for _, tc := range []struct{ path, ct, field, want string }{
		{"/fhir/Patient", "application/fhir+json", "resourceType", "OperationOutcome"},
		{"/scim/v2/Users", "application/scim+json; charset=utf-8", "status", "413"},
		{"/oauth/token", "application/json", "error", "invalid_request"},
	} {
		resp, err := http.Post(base+tc.path, "application/json", bytes.NewReader(make([]byte, limit+1)))
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != tc.ct || err != nil ||
			body[tc.field] != tc.want {
			t.Errorf("%s: %d %q %v (%v), want 413 %q with %s=%s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"),
				body, err, tc.ct, tc.field, tc.want)
		}
	}
}
