package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smartgate/smartgate/internal/reqctx"
)

// RequestID returns the sanitised id of the request being served, or "".
func RequestID(ctx context.Context) string { return reqctx.ID(ctx) }

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

func newRequestID() string {
	var b [10]byte
	rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// LogHandler wraps an slog.Handler so that each record logged with a
// request's context carries its request_id.
type LogHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h LogHandler) WithGroup(name string) slog.Handler { return LogHandler{h.Handler.WithGroup(name)} }

// Metrics holds the Prometheus registry of one server process.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
	security *securityCounters
}

// NewMetrics makes a registry with the Go runtime, process and HTTP
// request collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartgate_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smartgate_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smartgate_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.security = newSecurityCounters(reg)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Wrap puts the common middleware around h: panic recovery, request id,
// client address, request body limit, metrics and an access log. The
// request id is the client's X-Request-Id when that is 8 to 64 of
// [A-Za-z0-9._-], else a new one; the client address is the peer's, or
// what the peer forwarded when it is one of trustedProxies (see package
// reqctx). Both go into the request's context for every handler
// (reqctx.ID, reqctx.ClientAddress). The access log names the path only,
// never the query string (it can hold codes or tokens).
func Wrap(h http.Handler, logger *slog.Logger, m *Metrics, maxBody int64, trustedProxies reqctx.Prefixes) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !safeRequestID.MatchString(id) {
			id = newRequestID()
		}
		client := trustedProxies.Client(r)
		ctx := reqctx.With(r.Context(), id, client)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		sw := &statusWriter{ResponseWriter: w}
		if m != nil {
			m.inflight.Inc()
			defer m.inflight.Dec()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.ErrorContext(ctx, "panic serving request", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Cache-Control", "no-store")
					w.WriteHeader(http.StatusInternalServerError)
					fmt.Fprintf(w, `{"error":"server_error","error_description":"internal error, request id %s"}`, id)
					sw.status = http.StatusInternalServerError
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			d := time.Since(start)
			if m != nil {
				m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
				m.duration.WithLabelValues(route, r.Method).Observe(d.Seconds())
			}
			logger.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("route", route), slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes), slog.Duration("duration", d),
				slog.String("remote", r.RemoteAddr), slog.String("client", client))
		}()
		if len(r.TransferEncoding) > 0 {
			// A body without a declared length (chunked, HTTP/1.1 only):
			// served, and the connection closed after the answer. A
			// Transfer-Encoding beside a Content-Length is how requests
			// are smuggled past a proxy that reads the other one; Go
			// drops the Content-Length before a handler could see both
			// and would read the next request from the same connection
			// (RFC 9112 §6.1: close it), so nothing after a chunked body
			// is ever read as a request.
			sw.Header().Set("Connection", "close")
		}
		if r.ContentLength > maxBody {
			// Refused before any handler, but logged and counted like
			// every other answer.
			tooLarge(sw, r.URL.Path)
			return
		}
		h.ServeHTTP(sw, r)
	})
}

// tooLarge answers 413 in the format of the protocol that path belongs to.
func tooLarge(w http.ResponseWriter, path string) {
	refuse(w, path, http.StatusRequestEntityTooLarge, "too-long", "request body too large")
}

// refuse answers status in the format of the protocol that path belongs
// to (FHIR OperationOutcome with issue code ooCode, RFC 7644 SCIM error,
// else an OAuth-style JSON error), never plain text to an API client. msg
// is a constant without quotes.
func refuse(w http.ResponseWriter, path string, status int, ooCode, msg string) {
	var ct, body string
	switch {
	case path == "/fhir" || strings.HasPrefix(path, "/fhir/"):
		ct = "application/fhir+json"
		body = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"` + ooCode + `","diagnostics":"` + msg + `"}]}`
	case path == "/scim/v2" || strings.HasPrefix(path, "/scim/"):
		ct = "application/scim+json; charset=utf-8"
		body = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"` + strconv.Itoa(status) + `","detail":"` + msg + `"}`
	default:
		ct = "application/json"
		body = `{"error":"invalid_request","error_description":"` + msg + `"}`
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// Pinger reports whether a dependency (the store) is ready.
type Pinger interface {
	Ping(ctx context.Context) error
}

// MetricsAccess says who may read /metrics: clients whose address
// (reqctx.ClientAddress) is in Allow, and, when Token is set, any client
// that sends it as a bearer token. Others get 401 with a Bearer challenge
// when a token is configured, else 403.
type MetricsAccess struct {
	Allow reqctx.Prefixes
	Token string
}

func (a MetricsAccess) guard(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(a.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Allow.Contains(reqctx.ClientAddress(r)) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if a.Token == "" {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte("metrics are not available to this address\n"))
			return
		}
		auth := r.Header.Get("Authorization")
		sent := len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ")
		got := ""
		if sent {
			got = strings.TrimSpace(auth[7:])
		}
		sum := sha256.Sum256([]byte(got))
		if sent && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		challenge := `Bearer realm="metrics"`
		if sent {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("metrics need the metrics bearer token\n"))
	})
}

// StoreInfo is what /readyz reports of a store that offers it: its
// backend ("sqlite", "postgres") and schema version.
type StoreInfo interface {
	Backend() string
	SchemaVersion(ctx context.Context) (int, error)
}

// RegisterOps registers /healthz (the process answers), /readyz (the store
// answers and its schema is current) and /metrics (for the readers access
// names).
func RegisterOps(mux *http.ServeMux, store Pinger, m *Metrics, access MetricsAccess, logger *slog.Logger) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			logger.WarnContext(r.Context(), "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"unavailable","checks":{"store":"failing"}}` + "\n"))
			return
		}
		out := map[string]any{"status": "ok", "checks": map[string]string{"store": "ok"}}
		if si, ok := store.(StoreInfo); ok {
			if v, err := si.SchemaVersion(ctx); err == nil {
				out["store"] = map[string]any{"backend": si.Backend(), "schema_version": v}
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	if m != nil {
		mux.Handle("GET /metrics", access.guard(m.Handler()))
	}
}
