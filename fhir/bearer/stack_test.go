package bearer_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store/sqlite"
)

// stack is the authorization server, the FHIR endpoint and this package's
// Authenticator over one SQLite file, wired as cmd/smartgate wires them,
// on one httptest server with a test clock.
type stack struct {
	t     *testing.T
	base  string
	db    *sqlite.DB
	as    *authz.Server
	clock *testclock.Clock
	users map[string]*account.User
}

const testPassword = "a long test password"

// noPages is an Interaction that refuses every authorization request: the
// tests get their tokens from the OWin and client_credentials grants.
type noPages struct{}

func (noPages) Authorize(http.ResponseWriter, *http.Request, *authz.AuthorizeRequest) (*authz.Decision, error) {
	return nil, authz.ErrAccessDenied
}

// newStack starts the stack with accounts "prac" (practitioner) and "pat"
// (patient of Patient/p1), and Patients p1 and p2. opts tunes the
// Authenticator (its clock is the stack's).
func newStack(t *testing.T, opts bearer.Options) *stack {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	s := &stack{t: t, base: srv.URL, db: db, clock: testclock.New(time.Unix(1_900_000_000, 0)), users: map[string]*account.User{}}

	hasher := account.NewHasher(account.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	for _, a := range []struct{ name, role, fhirUser string }{
		{"prac", account.RolePractitioner, ""}, {"pat", account.RolePatient, "Patient/p1"},
	} {
		u, err := account.NewLocalUser(ctx, hasher, a.name, testPassword, []string{a.role}, a.fhirUser)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		s.users[a.name] = u
	}
	const patients = `{"resourceType":"Bundle","type":"collection","entry":[
 {"resource":{"resourceType":"Patient","id":"p1","name":[{"family":"One"}]}},
 {"resource":{"resourceType":"Patient","id":"p2","name":[{"family":"Two"}]}}]}`
	if _, err := fhir.Import(ctx, db, strings.NewReader(patients), fhir.ImportOptions{Registry: reg}); err != nil {
		t.Fatal(err)
	}

	logger := slog.New(slog.DiscardHandler)
	accounts := authz.Accounts{Store: db, Passwords: account.NewAuthenticator(db, hasher, account.NewThrottle(account.ThrottleConfig{}))}
	s.as, err = authz.New(authz.Config{
		BaseURLs: []string{srv.URL}, FHIRBaseURLs: []string{srv.URL + "/fhir"},
		OWin: true, ScopeStrategy: smart.ScopeStrategy, Now: s.clock.Now,
	}, db, noPages{}, accounts, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	opts.Now = s.clock.Now
	opts.Audiences = []string{srv.URL + "/fhir"}
	mux := http.NewServeMux()
	s.as.Register(mux)
	fhir.New(fhir.Config{Auth: bearer.New(bearer.AuthzVerifier{Tokens: s.as, Accounts: accounts}, reg, opts), Registry: reg},
		db, logger).Register(mux)
	h = listener.Middleware(listener.Info{Name: "http", BaseURL: srv.URL, Loopback: true}, mux)
	return s
}

// token posts form to the token endpoint and returns the access token.
func (s *stack) token(form url.Values, clientID, secret string) string {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		s.t.Fatalf("token endpoint: %d %s", resp.StatusCode, b)
	}
	return body.AccessToken
}

// owin returns an OWin (password grant) access token of the account.
func (s *stack) owin(user string) string {
	return s.token(url.Values{"grant_type": {"password"}, "username": {user}, "password": {testPassword}}, "", "")
}

// get reads path on the FHIR endpoint with the token; it returns the
// status and the WWW-Authenticate header.
func (s *stack) get(tok, path string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+"/fhir/"+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// wantStatus checks the status of GET path with tok.
func (s *stack) wantStatus(tok, path string, want int, when string) {
	s.t.Helper()
	if got, h := s.get(tok, path); got != want {
		s.t.Fatalf("%s: GET %s = %d (WWW-Authenticate %q), want %d", when, path, got, h, want)
	}
}

// updateUser changes the stored account.
func (s *stack) updateUser(name string, change func(*account.User)) {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.db.User(ctx, s.users[name].ID)
	if err != nil {
		s.t.Fatal(err)
	}
	change(u)
	if err := s.db.UpdateUser(ctx, u); err != nil {
		s.t.Fatal(err)
	}
}
