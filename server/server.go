// Package server runs smartgate's two listeners (the insecure HTTP one and
// the secure HTTPS one) around one handler: TLS 1.2+, generated or
// configured certificates reloadable on SIGHUP, timeouts and size limits,
// request ids, access logs, Prometheus metrics, the health endpoints and a
// graceful shutdown that lets in-flight requests finish.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/smartgate/smartgate/listener"
)

// Options configure a Server.
type Options struct {
	HTTPAddr  string // empty: no HTTP listener
	HTTPSAddr string // empty: no HTTPS listener
	HTTPURL   string
	HTTPSURL  string
	// CertFile and KeyFile name the HTTPS certificate; when empty a
	// self-signed one is generated into DataDir.
	CertFile, KeyFile string
	DataDir           string
	// HTTPSWrap, when set, wraps the HTTPS listener's handler (inside the
	// listener middleware): the client-certificate Verifier. The HTTPS
	// listener always requests client certificates without requiring one
	// and without naming acceptable CAs (so that allow-listed self-signed
	// certificates and RFC 8705 bound tokens work too); the handshake never
	// fails over a missing or unknown certificate: what such a request may
	// do is the --client-cert-policy's decision, made per request, so that
	// discovery stays public (checklist A13, S13).
	HTTPSWrap func(http.Handler) http.Handler
	// HSTS makes the HTTPS listener answer Strict-Transport-Security
	// (HSTSValue) when its certificate is a configured one (CertFile);
	// never with the generated self-signed certificate, since HSTS binds the
	// whole host name, the HTTP listener's included.
	HSTS         bool
	MaxBodyBytes int64
	// Handler serves every request on both listeners.
	Handler http.Handler
	Logger  *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Server is the running pair of listeners.
type Server struct {
	opts    Options
	logger  *slog.Logger
	certs   *certSource
	servers []*http.Server
	lns     []net.Listener
	names   []string
	wg      sync.WaitGroup
	errs    chan error
	// SelfSignedCreated reports whether Start generated a new certificate.
	SelfSignedCreated bool
}

// New checks opts and prepares the listeners without binding them.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Handler == nil {
		return nil, errors.New("server: no handler")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	return &Server{opts: opts, logger: opts.Logger, errs: make(chan error, 2)}, nil
}

func (s *Server) newHTTPServer(info listener.Info, wrap func(http.Handler) http.Handler) *http.Server {
	h := s.opts.Handler
	if wrap != nil {
		h = wrap(h)
	}
	h = listener.Middleware(info, h)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    256 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.Background() },
	}
}

// Start binds the listeners and begins serving. Errors name the address
// (port in use) or the certificate file that failed.
func (s *Server) Start() error {
	if s.opts.HTTPSAddr != "" {
		certFile, keyFile := s.opts.CertFile, s.opts.KeyFile
		if certFile == "" {
			var err error
			certFile, keyFile, s.SelfSignedCreated, err = ensureSelfSigned(s.opts.DataDir, s.opts.Now())
			if err != nil {
				return fmt.Errorf("server: %w", err)
			}
		}
		s.certs = &certSource{certFile: certFile, keyFile: keyFile}
		if err := s.certs.load(); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
	if s.opts.HTTPAddr != "" {
		ln, err := net.Listen("tcp", s.opts.HTTPAddr)
		if err != nil {
			return fmt.Errorf("server: HTTP listener on %s: %w", s.opts.HTTPAddr, err)
		}
		srv := s.newHTTPServer(listener.Info{Name: "http", BaseURL: s.opts.HTTPURL, Loopback: isLoopback(ln.Addr())}, nil)
		s.add("http", srv, ln)
	}
	if s.opts.HTTPSAddr != "" {
		tcfg := &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.certs.get,
			NextProtos:     []string{"h2", "http/1.1"},
			ClientAuth:     tls.RequestClientCert,
		}
		ln, err := net.Listen("tcp", s.opts.HTTPSAddr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("server: HTTPS listener on %s: %w", s.opts.HTTPSAddr, err)
		}
		srv := s.newHTTPServer(listener.Info{Name: "https", BaseURL: s.opts.HTTPSURL, Secure: true, Loopback: isLoopback(ln.Addr())}, s.opts.HTTPSWrap)
		srv.TLSConfig = tcfg
		if s.hsts() {
			srv.Handler = strictTransportSecurity(srv.Handler)
		}
		s.add("https", srv, tls.NewListener(ln, tcfg))
	}
	for i, srv := range s.servers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(s.lns[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errs <- fmt.Errorf("server: %s listener: %w", s.names[i], err)
			}
		}()
	}
	return nil
}

// HSTSValue is the Strict-Transport-Security answer: one year, this host
// only (no includeSubDomains, no preload: those bind names smartgate does
// not serve).
const HSTSValue = "max-age=31536000"

// hsts reports whether the HTTPS listener sends HSTS: asked for, with a
// configured certificate that is not the generated one.
func (s *Server) hsts() bool {
	if !s.opts.HSTS || s.opts.CertFile == "" {
		return false
	}
	generated, _ := SelfSignedPaths(s.opts.DataDir)
	a, err1 := filepath.Abs(s.opts.CertFile)
	b, err2 := filepath.Abs(generated)
	return err1 != nil || err2 != nil || a != b
}

func strictTransportSecurity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTSValue)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) add(name string, srv *http.Server, ln net.Listener) {
	s.servers = append(s.servers, srv)
	s.lns = append(s.lns, ln)
	s.names = append(s.names, name)
}

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Addr returns the bound address of the named listener ("http" or
// "https"), or "" when it is off.
func (s *Server) Addr(name string) string {
	for i, n := range s.names {
		if n == name {
			return s.lns[i].Addr().String()
		}
	}
	return ""
}

// Err delivers a listener failure after Start.
func (s *Server) Err() <-chan error { return s.errs }

// ReloadCertificate re-reads the HTTPS certificate files. On failure the
// old certificate stays in use.
func (s *Server) ReloadCertificate() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.load()
}

// Shutdown stops accepting connections and waits, until ctx ends, for
// in-flight requests to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.wg.Wait()
	return errors.Join(errs...)
}
