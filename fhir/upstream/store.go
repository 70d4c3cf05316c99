package upstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
)

// Defaults of Config.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 64 << 20
)

// Config configures a Store.
type Config struct {
	// BaseURL is the upstream's FHIR base (http or https, no query).
	BaseURL string
	// Client sends the upstream requests (its Transport carries a client
	// certificate, when the upstream wants one); nil: a client of its own.
	// It must not follow redirects to other hosts: the Store's own client
	// follows none.
	Client *http.Client
	// Authorize, when set, adds the proxy's own credentials to each
	// upstream request (a static header, a client-credentials token).
	Authorize func(ctx context.Context, r *http.Request) error
	// Timeout bounds each upstream request (default DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes bounds an upstream answer (default
	// DefaultMaxResponseBytes); a larger one is a 502.
	MaxResponseBytes int64
	// Registry evaluates compartments and search parameters on what comes
	// back; nil loads the embedded one.
	Registry *search.Registry
	// Observe, when set, is told about every upstream request: the
	// operation (read, vread, history, search, write, transaction), the
	// upstream's status (0 when there was none) and how long it took.
	Observe func(op string, status int, d time.Duration)
	Logger  *slog.Logger
	Now     func() time.Time
}

// Store is a fhir.Store over an upstream FHIR server.
type Store struct {
	cfg    Config
	base   *url.URL
	client *http.Client
	reg    *search.Registry
	logger *slog.Logger
	now    func() time.Time
	key    [32]byte      // seals cursors
	writes chan struct{} // one write transaction at a time

	bufs sync.Pool // *bytes.Buffer for reading answers

	capMu    sync.Mutex // the upstream's CapabilityStatement (Capability)
	capDoc   map[string]any
	capErr   error
	capUntil time.Time
}

var (
	_ fhir.Store            = (*Store)(nil)
	_ fhir.CapabilitySource = (*Store)(nil)
)

// New returns a Store for cfg.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("upstream: base URL %q is not an http(s) URL without query", cfg.BaseURL)
	}
	s := &Store{cfg: cfg, base: u, client: cfg.Client, reg: cfg.Registry, logger: cfg.Logger, now: cfg.Now,
		writes: make(chan struct{}, 1)}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = DefaultTimeout
	}
	if s.cfg.MaxResponseBytes <= 0 {
		s.cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if s.client == nil {
		s.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	// Never follow the upstream's redirects: a read is answered from what
	// this base says, or not at all.
	c := *s.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &c
	if s.reg == nil {
		if s.reg, err = search.Load(); err != nil {
			return nil, err
		}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	if _, err := rand.Read(s.key[:]); err != nil {
		return nil, err
	}
	return s, nil
}

// Base returns the upstream FHIR base URL.
func (s *Store) Base() string { return s.base.String() }

// answer is one upstream response, read in full (bounded).
type answer struct {
	status int
	header http.Header
	body   []byte
}

// call is one upstream request: method, a path relative to the base (no
// leading slash; "" is the base itself) and its query.
type call struct {
	op, method, path string
	query            url.Values
	rawQuery         string // used when query is nil (a sealed next link)
	body             []byte
	contentType      string
	ifMatch          string
}

// do sends c. Transport failures, timeouts and oversized answers are
// ErrBadGateway / ErrGatewayTimeout (details logged, not returned).
func (s *Store) do(ctx context.Context, c call) (*answer, error) {
	u := *s.base
	if c.path != "" {
		u.Path += "/" + c.path
	}
	u.RawQuery = c.rawQuery
	if c.query != nil {
		u.RawQuery = c.query.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if c.body != nil {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.ifMatch != "" {
		req.Header.Set("If-Match", c.ifMatch)
	}
	if s.cfg.Authorize != nil {
		if err := s.cfg.Authorize(ctx, req); err != nil {
			s.logger.ErrorContext(ctx, "upstream: credentials", "op", c.op, "err", err)
			return nil, fmt.Errorf("%w: no credentials for it", fhir.ErrBadGateway)
		}
	}
	start := time.Now()
	a, err := s.roundTrip(ctx, req)
	if s.cfg.Observe != nil {
		status := 0
		if a != nil {
			status = a.status
		}
		s.cfg.Observe(c.op, status, time.Since(start))
	}
	if err != nil {
		return nil, s.transportError(ctx, c, err)
	}
	return a, nil
}

func (s *Store) roundTrip(ctx context.Context, req *http.Request) (*answer, error) {
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// Read into a pooled buffer and keep an exact-size copy: one
	// allocation per answer instead of io.ReadAll's doublings.
	buf := s.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			s.bufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, s.cfg.MaxResponseBytes+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > s.cfg.MaxResponseBytes {
		return nil, errTooLarge
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: bytes.Clone(buf.Bytes())}, nil
}

var errTooLarge = errors.New("answer larger than the limit")

func (s *Store) transportError(ctx context.Context, c call, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		s.logger.WarnContext(ctx, "upstream: timeout", "op", c.op, "path", c.path, "timeout", s.cfg.Timeout)
		return fmt.Errorf("%w (%s)", fhir.ErrGatewayTimeout, s.cfg.Timeout)
	case ctx.Err() != nil:
		return ctx.Err() // the client went away
	case errors.Is(err, errTooLarge):
		s.logger.WarnContext(ctx, "upstream: answer too large", "op", c.op, "path", c.path, "limit", s.cfg.MaxResponseBytes)
		return fmt.Errorf("%w: its answer is larger than %d bytes", fhir.ErrBadGateway, s.cfg.MaxResponseBytes)
	}
	s.logger.WarnContext(ctx, "upstream: request failed", "op", c.op, "path", c.path, "err", err)
	return fmt.Errorf("%w: it could not be reached", fhir.ErrBadGateway)
}

// statusError maps an upstream answer that is not a success.
func (s *Store) statusError(ctx context.Context, op string, a *answer) error {
	switch a.status {
	case http.StatusNotFound, http.StatusGone:
		return store.ErrNotFound
	case http.StatusConflict, http.StatusPreconditionFailed:
		return store.ErrConflict
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return fmt.Errorf("upstream busy (%d): %w", a.status, store.ErrUnavailable)
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired:
		// The proxy's own credentials, not the client's: never the
		// client's 401.
		s.logger.ErrorContext(ctx, "upstream: refused smartgate's credentials", "op", op, "status", a.status)
		return fmt.Errorf("%w: it refused smartgate's credentials", fhir.ErrBadGateway)
	}
	if a.status >= 400 && a.status < 500 {
		return &fhir.UpstreamRefusal{Status: a.status, Diagnostics: diagnostics(a.body)}
	}
	s.logger.WarnContext(ctx, "upstream: error status", "op", op, "status", a.status)
	return fmt.Errorf("%w: status %d", fhir.ErrBadGateway, a.status)
}

// diagnostics returns the first issue's diagnostics (or details.text) of an
// OperationOutcome, bounded; "" when body is not one.
func diagnostics(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return ""
	}
	d := oo.Issue[0].Diagnostics
	if d == "" {
		d = oo.Issue[0].Details.Text
	}
	if len(d) > 500 {
		d = d[:500] + "…"
	}
	return d
}

// garbage is the error for an answer that is not what was asked for.
func (s *Store) garbage(ctx context.Context, op, why string) error {
	s.logger.WarnContext(ctx, "upstream: unusable answer", "op", op, "why", why)
	return fmt.Errorf("%w: %s", fhir.ErrBadGateway, why)
}

// Ping asks the upstream for its CapabilityStatement (readiness).
func (s *Store) Ping(ctx context.Context) error {
	a, err := s.do(ctx, call{op: "metadata", method: http.MethodGet, path: "metadata"})
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return s.statusError(ctx, "metadata", a)
	}
	return nil
}

// Capability implements fhir.CapabilitySource: the upstream's
// CapabilityStatement, kept for 5 minutes (30 s after a failure).
func (s *Store) Capability(ctx context.Context) (map[string]any, error) {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	if s.now().Before(s.capUntil) {
		return s.capDoc, s.capErr
	}
	s.capDoc, s.capErr, s.capUntil = nil, nil, s.now().Add(30*time.Second)
	a, err := s.do(ctx, call{op: "metadata", method: http.MethodGet, path: "metadata"})
	switch {
	case err != nil:
		s.capErr = err
	case a.status != http.StatusOK:
		s.capErr = s.statusError(ctx, "metadata", a)
	default:
		var doc map[string]any
		if json.Unmarshal(a.body, &doc) != nil || doc["resourceType"] != "CapabilityStatement" {
			s.capErr = s.garbage(ctx, "metadata", "its /metadata is not a CapabilityStatement")
		} else {
			s.capDoc, s.capUntil = doc, s.now().Add(5*time.Minute)
		}
	}
	return s.capDoc, s.capErr
}
