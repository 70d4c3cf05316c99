package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/fhir/upstream"
	"github.com/smartgate/smartgate/store/sqlite"
)

// The tests run smartgate's FHIR endpoint twice over real HTTP: as the
// "real" upstream (the embedded endpoint over SQLite, access control off)
// and as the proxy in front of it (the endpoint over upstream.Store, with
// a test authenticator confining every caller to one patient).

// The registry is immutable; the tests share one to save its load time.
var sharedRegistry = sync.OnceValues(search.Load)

func registry(t testing.TB) *search.Registry {
	t.Helper()
	reg, err := sharedRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// The proxy's own credentials, added by Config.Authorize to every upstream
// request, and the client's, which must never be forwarded.
const (
	apiKeyHeader = "X-Api-Key"
	apiKey       = "upstream-key-7"
	clientToken  = "client-token-secret"
)

func addAPIKey(_ context.Context, r *http.Request) error {
	r.Header.Set(apiKeyHeader, apiKey)
	return nil
}

// confined authenticates requests bearing clientToken and confines them to
// one patient's compartment.
type confined struct{ patient string }

func (c confined) Authenticate(r *http.Request) (fhir.Principal, error) {
	if r.Header.Get("Authorization") != "Bearer "+clientToken {
		return nil, fhir.ErrNoToken
	}
	return c, nil
}

func (c confined) Authorize(_ context.Context, req fhir.AccessRequest) error {
	switch {
	case req.Patients == nil && req.Resource == nil:
		return nil // type-level
	case slices.Contains(req.Patients, c.patient):
		return nil
	case req.Incoming:
		return fhir.ErrInsufficientScope
	}
	return fhir.ErrHidden
}

func (c confined) Restrict(context.Context, fhir.Interaction, string) (fhir.Restriction, error) {
	return fhir.Restriction{Patients: []string{c.patient}}, nil
}

// seen is one request an upstream received, with the status it answered.
type seen struct {
	Method  string
	Path    string // decoded
	RawPath string // as sent (escaped)
	Query   string
	Host    string
	Header  http.Header
	Body    []byte
	Status  int
}

func (s seen) String() string { return s.Method + " " + s.RawPath + "?" + s.Query }

// recorder records the requests it serves through next. before, when set,
// runs ahead of next (for an upstream that changes under the proxy).
type recorder struct {
	next   http.Handler
	mu     sync.Mutex
	reqs   []seen
	before func(r *http.Request)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (Hijack).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rc.mu.Lock()
	before := rc.before
	rc.mu.Unlock()
	if before != nil {
		before(r)
	}
	// Recorded before it is served (a hanging handler may outlive the
	// test's look), its status once it is.
	rc.mu.Lock()
	i := len(rc.reqs)
	rc.reqs = append(rc.reqs, seen{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Host: r.Host, Header: r.Header.Clone(), Body: body})
	rc.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	rc.next.ServeHTTP(sw, r)
	rc.mu.Lock()
	if i < len(rc.reqs) { // not reset meanwhile
		rc.reqs[i].Status = sw.status
	}
	rc.mu.Unlock()
}

func (rc *recorder) requests() []seen {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

func (rc *recorder) reset() {
	rc.mu.Lock()
	rc.reqs = nil
	rc.mu.Unlock()
}

func (rc *recorder) setBefore(f func(r *http.Request)) {
	rc.mu.Lock()
	rc.before = f
	rc.mu.Unlock()
}

// writes returns the requests that could have changed the upstream.
func (rc *recorder) writes() []seen {
	var out []seen
	for _, s := range rc.requests() {
		if s.Method != http.MethodGet {
			out = append(out, s)
		}
	}
	return out
}

// realUpstream is smartgate's embedded endpoint over a SQLite store in
// t.TempDir(), access control off, behind a recorder.
type realUpstream struct {
	url  string // FHIR base
	host string
	rec  *recorder
	mux  *http.ServeMux
}

// newRealUpstream serves a copy of the seeded template database (see
// seed): opening and migrating a new database costs seconds under -race.
func newRealUpstream(t testing.TB) *realUpstream {
	t.Helper()
	tmpl, err := seededTemplate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fhir.db")
	if err := os.WriteFile(path, tmpl, 0o600); err != nil {
		t.Fatal(err)
	}
	return serveDB(t, path)
}

// serveDB serves the database at path as a real upstream.
func serveDB(t testing.TB, path string) *realUpstream {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mux := http.NewServeMux()
	fhir.New(fhir.Config{AccessControlOff: true, Registry: registry(t)}, db, nil).Register(mux)
	rec := &recorder{next: mux}
	ts := httptest.NewServer(rec)
	t.Cleanup(ts.Close)
	return &realUpstream{url: ts.URL + "/fhir", host: ts.Listener.Addr().String(), rec: rec, mux: mux}
}

// direct serves a request on the upstream's endpoint without the recorder
// and without HTTP (usable from inside a recorder hook).
func (u *realUpstream) direct(t testing.TB, method, path string, body any) *response {
	t.Helper()
	req := httptest.NewRequest(method, u.url+path, bodyReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	w := httptest.NewRecorder()
	u.mux.ServeHTTP(w, req)
	return newResponse(t, method, path, w.Code, w.Header(), w.Body.Bytes())
}

// observation is an Observation in patient's compartment.
func observation(id, patient string, extra ...any) map[string]any {
	m := map[string]any{
		"resourceType": "Observation",
		"status":       "final",
		"code":         map[string]any{"text": "heart rate"},
		"subject":      map[string]any{"reference": "Patient/" + patient},
	}
	if id != "" {
		m["id"] = id
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func patient(id, family string) map[string]any {
	return map[string]any{"resourceType": "Patient", "id": id, "name": []any{map[string]any{"family": family}}}
}

// seededTemplate is the content of a database seeded through the real
// upstream's own HTTP API: Patients p1 and p2, Observations o1a and o1b
// of p1 and o2 of p2, each at version 1.
var seededTemplate = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "upstream-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "fhir.db")
	t := &setupT{}
	func() {
		defer func() {
			if v := recover(); v != nil && v != errSetup {
				panic(v)
			}
			for i := len(t.cleanups) - 1; i >= 0; i-- {
				t.cleanups[i]()
			}
		}()
		u := serveDB(t, path)
		for _, r := range []map[string]any{
			patient("p1", "One"), patient("p2", "Two"),
			observation("o1a", "p1"), observation("o1b", "p1"), observation("o2", "p2"),
		} {
			call(t, http.MethodPut, u.url+"/"+r["resourceType"].(string)+"/"+r["id"].(string), r).want(t, http.StatusCreated)
		}
	}()
	if t.err != "" {
		return nil, errors.New(t.err)
	}
	return os.ReadFile(path) // closed: the WAL is checkpointed into it
})

// setupT is the testing.TB of work shared by tests (seededTemplate).
type setupT struct {
	testing.TB // nil: only the methods below are called
	cleanups   []func()
	err        string
}

var errSetup = errors.New("setup failed")

func (s *setupT) Helper()           {}
func (s *setupT) Cleanup(f func())  { s.cleanups = append(s.cleanups, f) }
func (s *setupT) TempDir() string   { panic("setupT: no TempDir") }
func (s *setupT) Fatal(args ...any) { s.err = fmt.Sprint(args...); panic(errSetup) }
func (s *setupT) Fatalf(format string, args ...any) {
	s.err = fmt.Sprintf(format, args...)
	panic(errSetup)
}

// observer collects Config.Observe calls.
type observer struct {
	mu    sync.Mutex
	calls []observed
}

type observed struct {
	op     string
	status int
	d      time.Duration
}

func (o *observer) observe(op string, status int, d time.Duration) {
	o.mu.Lock()
	o.calls = append(o.calls, observed{op, status, d})
	o.mu.Unlock()
}

func (o *observer) list() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

// newStore is an upstream.Store over base with the proxy's API key,
// Observe into obs (when not nil) and cfg's changes.
func newStore(t testing.TB, base string, obs *observer, mod func(*upstream.Config)) *upstream.Store {
	t.Helper()
	cfg := upstream.Config{BaseURL: base, Registry: registry(t), Authorize: addAPIKey, Timeout: 10 * time.Second}
	if obs != nil {
		cfg.Observe = obs.observe
	}
	if mod != nil {
		mod(&cfg)
	}
	st, err := upstream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newProxy serves the FHIR endpoint over st, confining callers to patient;
// wrap, when set, wraps its handler. It returns the proxy's FHIR base.
func newProxy(t testing.TB, st fhir.Store, patient string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	fhir.New(fhir.Config{Auth: confined{patient}, Registry: registry(t)}, st, nil).Register(mux)
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL + "/fhir"
}

// env is a seeded real upstream with two proxies over one upstream.Store:
// proxy confines to p1, proxy2 to p2.
type env struct {
	up     *realUpstream
	st     *upstream.Store
	obs    *observer
	proxy  string
	proxy2 string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	up := newRealUpstream(t)
	obs := &observer{}
	st := newStore(t, up.url, obs, nil)
	return &env{up: up, st: st, obs: obs, proxy: newProxy(t, st, "p1", nil), proxy2: newProxy(t, st, "p2", nil)}
}

// response is one HTTP answer, its body decoded when it is JSON.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func bodyReader(body any) io.Reader {
	switch b := body.(type) {
	case nil:
		return nil
	case string:
		return strings.NewReader(b)
	case []byte:
		return bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		return bytes.NewReader(j)
	}
}

func newResponse(t testing.TB, method, url string, status int, header http.Header, raw []byte) *response {
	t.Helper()
	r := &response{status: status, header: header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: %d, body is not JSON: %v: %s", method, url, status, err, raw)
		}
	}
	return r
}

// call sends one request (no credentials unless given in hdr: pairs of
// name, value).
func call(t testing.TB, method, url string, body any, hdr ...string) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, bodyReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return newResponse(t, method, url, resp.StatusCode, resp.Header, raw)
}

// client sends a request with the client's bearer token.
func client(t testing.TB, method, url string, body any, hdr ...string) *response {
	t.Helper()
	return call(t, method, url, body, append([]string{"Authorization", "Bearer " + clientToken}, hdr...)...)
}

func (r *response) want(t testing.TB, status int) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// wantOutcome checks an error answer: status, an OperationOutcome body
// (FHIR JSON) and, when diag is not "", its diagnostics containing diag.
func (r *response) wantOutcome(t testing.TB, status int, diag string) *response {
	t.Helper()
	r.want(t, status)
	if str(r.body, "resourceType") != "OperationOutcome" {
		t.Fatalf("error body is not an OperationOutcome: %s", r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Fatalf("Content-Type %q", ct)
	}
	if d := r.diagnostics(); !strings.Contains(d, diag) {
		t.Fatalf("diagnostics %q, want them to contain %q", d, diag)
	}
	return r
}

func (r *response) diagnostics() string {
	issues, _ := r.body["issue"].([]any)
	if len(issues) == 0 {
		return ""
	}
	return str(issues[0], "diagnostics")
}

// entries returns the Type/id of a Bundle's entries of search mode mode
// ("" for every entry).
func (r *response) entries(mode string) []string {
	var out []string
	list, _ := r.body["entry"].([]any)
	for _, e := range list {
		if mode != "" && str(e, "search", "mode") != mode {
			continue
		}
		res, _ := e.(map[string]any)["resource"].(map[string]any)
		out = append(out, str(res, "resourceType")+"/"+str(res, "id"))
	}
	slices.Sort(out)
	return out
}

// total returns Bundle.total, -1 when absent.
func (r *response) total() int {
	if n, ok := r.body["total"].(float64); ok {
		return int(n)
	}
	return -1
}

func (r *response) link(rel string) string {
	list, _ := r.body["link"].([]any)
	for _, l := range list {
		if str(l, "relation") == rel {
			return str(l, "url")
		}
	}
	return ""
}

func str(v any, path ...string) string {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// deadAddress returns an address nothing listens on.
func deadAddress(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
