package scim_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/store/sqlite"
)

// testPassword is the marker in every password the tests send: no answer
// may ever contain it.
const testPassword = "Sekr3t-pass-"

// tokenAuth is the tests' Authorizer: "Bearer admin-token" is an
// administrator, "Bearer client-token" a SCIM client, any other token is
// forbidden, no token is no credentials.
type tokenAuth struct{}

func (tokenAuth) AuthorizeSCIM(r *http.Request) (*scim.Caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || tok == "":
		return nil, scim.ErrNoCredentials
	case tok == "admin-token":
		return &scim.Caller{Kind: scim.CallerAdmin, Subject: "admin-user-id"}, nil
	case tok == "client-token":
		return &scim.Caller{Kind: scim.CallerClient, Subject: "prov-client", ClientID: "prov-client"}, nil
	}
	return nil, scim.ErrForbidden
}

// events is an audit.Recorder that keeps what it is given.
type events struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

func (e *events) all() []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]audit.Event(nil), e.evs...)
}

// env is one SCIM server on a real SQLite file behind a real HTTP server.
type env struct {
	t       testing.TB
	db      *sqlite.DB
	people  *account.People
	srv     *httptest.Server
	audit   *events
	revoked chan string
	token   string
}

type envOption func(*scim.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvOn(t, sqlite.Options{Synchronous: "NORMAL"}, opts...)
}

// newEnvOn is newEnv on a database opened with dbOpts.
func newEnvOn(t testing.TB, dbOpts sqlite.Options, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), dbOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, audit: &events{}, revoked: make(chan string, 100), token: "admin-token"}
	e.people = account.NewPeople(account.PeopleConfig{
		Store:  db,
		Hasher: account.NewHasher(account.Params{Memory: 64, Time: 1}, 2),
		Revoke: func(_ context.Context, id string) error { e.revoked <- id; return nil },
	})
	cfg := scim.Config{Store: db, People: e.people, Auth: tokenAuth{}, Audit: e.audit, MaxResults: 50,
		Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	mux := http.NewServeMux()
	scim.New(cfg).Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// resp is one answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body as an object.
func (r *resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do sends one request with the env's token (unless a header sets
// Authorization) and checks what every answer must hold: no password,
// the SCIM media type on every body.
func (e *env) do(method, path, body string, hdr ...string) *resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := &resp{status: res.StatusCode, header: res.Header, body: data}
	if strings.Contains(string(data), testPassword) {
		e.t.Errorf("%s %s: a password is in the answer:\n%s", method, path, data)
	}
	if !strings.HasPrefix(path, "/scim/v2/Schemas") && strings.Contains(strings.ToLower(string(data)), `"password"`) {
		e.t.Errorf("%s %s: the password attribute is in the answer:\n%s", method, path, data)
	}
	if len(data) > 0 && res.Header.Get("Content-Type") != scim.ContentType {
		e.t.Errorf("%s %s: Content-Type %q, want %q", method, path, res.Header.Get("Content-Type"), scim.ContentType)
	}
	return r
}

// want fails unless r has status.
func (r *resp) want(t testing.TB, status int) *resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
	return r
}

// wantError checks an RFC 7644 §3.12 error answer.
func (r *resp) wantError(t testing.TB, status int, scimType string) map[string]any {
	t.Helper()
	r.want(t, status)
	m := r.json(t)
	if s, _ := m["schemas"].([]any); len(s) != 1 || s[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("error schemas %v", m["schemas"])
	}
	if m["status"] != itoa(status) {
		t.Errorf("error status %#v, want the string %q", m["status"], itoa(status))
	}
	if got, _ := m["scimType"].(string); got != scimType {
		t.Errorf("scimType %q, want %q (%s)", got, scimType, r.body)
	}
	if d, _ := m["detail"].(string); d == "" {
		t.Errorf("no detail: %s", r.body)
	}
	return m
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// createUser creates a user over SCIM and returns its id.
func (e *env) createUser(body string) (string, *resp) {
	e.t.Helper()
	r := e.do("POST", "/scim/v2/Users", body).want(e.t, http.StatusCreated)
	id, _ := r.json(e.t)["id"].(string)
	if id == "" {
		e.t.Fatalf("no id: %s", r.body)
	}
	return id, r
}

// get returns the string at a dotted path of m ("meta.version").
func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// testLog writes the server's log into the test's.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
