package explain

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/store"
)

type fakePages struct{}

func (fakePages) RequireRole(next http.Handler, _ ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		next.ServeHTTP(w, r)
	})
}
func (fakePages) CSRFToken(http.ResponseWriter, *http.Request) (string, error) { return "csrf", nil }
func (fakePages) Fail(w http.ResponseWriter, _ *http.Request, status int, msg string, _ error) {
	http.Error(w, msg, status)
}

type fakeAudit map[int64]audit.Event

func (f fakeAudit) AuditEvent(_ context.Context, id int64) (audit.Event, error) {
	if ev, ok := f[id]; ok {
		return ev, nil
	}
	return audit.Event{}, store.ErrNotFound
}

type fakeTokens struct{ err error }

func (f fakeTokens) Verify(_ context.Context, tok string) (*access.Principal, error) {
	if f.err != nil {
		return nil, f.err
	}
	if tok != "good-token" {
		return nil, errors.New("fhir: invalid token: bearer: inactive token")
	}
	ss, _ := smart.ParseScopes("patient/*.read")
	return &access.Principal{Scopes: ss, Patient: "lind", FHIRUser: "Patient/lind"}, nil
}

func (fakeTokens) Explain(_ context.Context, p *access.Principal, req fhir.AccessRequest) (*access.Explanation, error) {
	g, e := access.DecideExplained(p, smart.Read, req.Type)
	if req.ID != "" && !g.AdmitsExplained(access.Resource{Patients: req.Patients}, e) {
		return e, fhir.ErrHidden
	}
	return e, nil
}

type fakeResources struct{ err error }

func (f fakeResources) StoredAccessRequest(_ context.Context, in fhir.Interaction, typ, id string, _ int64) (fhir.AccessRequest, error) {
	if f.err != nil {
		return fhir.AccessRequest{}, f.err
	}
	return fhir.AccessRequest{Interaction: in, Type: typ, ID: id, Patients: []string{"yundt"}, Resource: []byte(`{}`)}, nil
}

func newTestServer(t *testing.T, tokens Tokens, res Resources) *http.ServeMux {
	t.Helper()
	ss, _ := smart.ParseScopes("patient/*.read")
	g, e := access.DecideExplained(&access.Principal{Scopes: ss, Patient: "lind"}, smart.Read, "Observation")
	g.AdmitsExplained(access.Resource{Patients: []string{"<b>yundt</b>"}}, e)
	s, err := New(Config{Pages: fakePages{}, Audit: fakeAudit{1: {ID: 1, Kind: "fhir", Outcome: audit.Denied, Trace: e.JSON()},
		2: {ID: 2, Kind: "login"}, 3: {ID: 3, Trace: "{not json"}},
		Tokens: tokens, Resources: res, IsType: func(t string) bool { return t == "Observation" || t == "Patient" },
		Assets: os.DirFS("../..")})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

func do(mux *http.ServeMux, method, target string, f url.Values) *httptest.ResponseRecorder {
	var req *http.Request
	if f != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w
}

func TestIssue15ExplainPages(t *testing.T) {
	mux := newTestServer(t, fakeTokens{}, fakeResources{})
	w := do(mux, "GET", "/admin/audit/1/explain", nil)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "✗ refused here") || !strings.Contains(body, `data-check="patient compartment" data-refused`) {
		t.Fatalf("%d %s", w.Code, body)
	}
	if strings.Contains(body, "<b>yundt") || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("markup in the trace is live, or the page may be cached")
	}
	if w := do(mux, "GET", "/admin/audit/2/explain", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "data-no-trace") {
		t.Fatalf("no trace: %d", w.Code)
	}
	if w := do(mux, "GET", "/admin/audit/3/explain", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "cannot be read") {
		t.Fatalf("bad trace: %d", w.Code)
	}
	for _, id := range []string{"4", "0", "x", "99999999999999999999999"} {
		if w := do(mux, "GET", "/admin/audit/"+id+"/explain", nil); w.Code != 404 {
			t.Errorf("id %s: %d", id, w.Code)
		}
	}
	w = do(mux, "POST", "/admin/explain", url.Values{"token": {"Bearer good-token"}, "request": {"GET /fhir/Observation/1"}})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `data-check="patient compartment" data-refused`) || strings.Contains(w.Body.String(), "good-token") {
		t.Fatalf("pasted: %d %s", w.Code, w.Body.String())
	}
	w = do(mux, "POST", "/admin/explain", url.Values{"token": {"bad"}, "request": {"GET /fhir/Observation/1"}})
	if w.Code != 400 || !strings.Contains(w.Body.String(), "the token is not valid: bearer: inactive token") {
		t.Fatalf("bad token: %d %s", w.Code, w.Body.String())
	}
	for _, tc := range []struct {
		tokens Tokens
		res    Resources
		status int
		want   string
	}{
		{fakeTokens{err: store.ErrUnavailable}, fakeResources{}, 503, "cannot be checked now"},
		{fakeTokens{}, fakeResources{err: store.ErrUnavailable}, 503, "cannot be read now"},
		{fakeTokens{}, fakeResources{err: store.ErrNotFound}, 200, "does not exist"},
	} {
		mux := newTestServer(t, tc.tokens, tc.res)
		w := do(mux, "POST", "/admin/explain", url.Values{"token": {"good-token"}, "request": {"GET /fhir/Observation/1"}})
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%d, want %d %q", w.Code, tc.status, tc.want)
		}
	}
}
