package rs_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartgate/smartgate/rs"
)

// testIntrospection is an RFC 7662 endpoint on a real loopback listener:
// it checks the caller's client_secret_basic credentials and answers from
// answers (by token; missing: inactive); calls counts requests.
type testIntrospection struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers map[string]map[string]any
	calls   atomic.Int32
}

func newIntrospection(t *testing.T) *testIntrospection {
	t.Helper()
	ti := &testIntrospection{answers: map[string]map[string]any{}}
	ti.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ti.calls.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok || id != "rs%3Aone" && id != "rs:one" || secret != "s3cret%2Bpart" && secret != "s3cret+part" || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("token_type_hint") != "access_token" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ti.mu.Lock()
		a, found := ti.answers[r.PostForm.Get("token")]
		ti.mu.Unlock()
		if !found {
			a = map[string]any{"active": false}
		}
		_ = json.NewEncoder(w).Encode(a)
	}))
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIntrospection) set(token string, answer map[string]any) {
	ti.mu.Lock()
	ti.answers[token] = answer
	ti.mu.Unlock()
}

func activeAnswer(exp time.Time) map[string]any {
	return map[string]any{"active": true, "iss": "https://as.example", "sub": "u-1", "client_id": "app",
		"aud": testAudience, "scope": "patient/Observation.rs", "patient": "p1", "exp": exp.Unix(),
		"cnf": map[string]string{"x5t#S256": "thumb"}}
}

func newIntrospector(t *testing.T, ti *testIntrospection, clk *clock, mod func(*rs.IntrospectionOptions)) *rs.Introspection {
	t.Helper()
	opts := rs.IntrospectionOptions{URL: ti.srv.URL, ClientID: "rs:one", ClientSecret: "s3cret+part",
		Issuer: "https://as.example", Audience: testAudience, Now: clk.Now}
	if mod != nil {
		mod(&opts)
	}
	v, err := rs.NewIntrospection(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestIntrospectionVerify: active answers give their claims (cnf
// included); inactive, another audience or issuer, and expired answers are
// ErrInvalidToken; a refused caller is not (the resource server's problem).
func TestIntrospectionVerify(t *testing.T) {
	ti := newIntrospection(t)
	clk := newClock()
	v := newIntrospector(t, ti, clk, nil)
	exp := time.Now().Add(time.Hour)
	ti.set("good", activeAnswer(exp))
	ti.set("no-iss-no-exp", with(activeAnswer(exp), "iss", nil, "exp", nil))
	ti.set("other-aud", with(activeAnswer(exp), "aud", "https://other.example/fhir"))
	ti.set("other-iss", with(activeAnswer(exp), "iss", "https://evil.example"))
	ti.set("expired", with(activeAnswer(time.Now().Add(-time.Hour))))
	ti.set("active-string", with(activeAnswer(exp), "active", "true"))
	c, err := v.Verify(context.Background(), "good")
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "u-1" || c.ClientID != "app" || c.Patient != "p1" || c.CertThumbprint != "thumb" || !c.HasScope("patient/Observation.read") {
		t.Errorf("claims %+v", c)
	}
	if c, err := v.Verify(context.Background(), "no-iss-no-exp"); err != nil || !c.Expiry.IsZero() {
		t.Errorf("iss and exp are optional in RFC 7662: %+v %v", c, err)
	}
	if c, err := v.Verify(context.Background(), "active-string"); err == nil {
		t.Errorf("a malformed answer (active a string) was taken: %+v", c)
	}
	for _, tok := range []string{"unknown", "other-aud", "other-iss", "expired"} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, rs.ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", tok, err)
		}
	}
	bad := newIntrospector(t, ti, clk, func(o *rs.IntrospectionOptions) { o.ClientSecret = "wrong" })
	if _, err := bad.Verify(context.Background(), "good"); err == nil || errors.Is(err, rs.ErrInvalidToken) {
		t.Errorf("refused caller: %v, want an error that is not ErrInvalidToken", err)
	}
}

// TestIntrospectionCache: an active answer is reused for CacheTTL, never
// past the token's exp; an inactive one for NegativeTTL; so a revocation
// is seen within CacheTTL.
func TestIntrospectionCache(t *testing.T) {
	ti := newIntrospection(t)
	clk := newClock()
	v := newIntrospector(t, ti, clk, nil)
	ti.set("tok", activeAnswer(time.Now().Add(time.Hour)))
	for range 5 {
		if _, err := v.Verify(context.Background(), "tok"); err != nil {
			t.Fatal(err)
		}
	}
	if n := ti.calls.Load(); n != 1 {
		t.Fatalf("%d introspection calls for five checks within CacheTTL, want 1", n)
	}
	ti.set("tok", map[string]any{"active": false}) // revoked
	clk.advance(4 * time.Second)
	if _, err := v.Verify(context.Background(), "tok"); err != nil {
		t.Fatalf("within CacheTTL the cached answer stands: %v", err)
	}
	clk.advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), "tok"); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("revoked token after CacheTTL: %v", err)
	}
	calls := ti.calls.Load()
	v.Verify(context.Background(), "tok")
	if ti.calls.Load() != calls {
		t.Error("inactive answer not cached for NegativeTTL")
	}
	clk.advance(1100 * time.Millisecond)
	v.Verify(context.Background(), "tok")
	if ti.calls.Load() != calls+1 {
		t.Error("inactive answer cached past NegativeTTL")
	}

	// A token that expires in 2 s is not reused after it.
	ti.set("short", activeAnswer(clk.Now().Add(2*time.Second)))
	short := newIntrospector(t, ti, clk, func(o *rs.IntrospectionOptions) { o.Leeway = time.Nanosecond })
	if _, err := short.Verify(context.Background(), "short"); err != nil {
		t.Fatal(err)
	}
	clk.advance(3 * time.Second)
	if _, err := short.Verify(context.Background(), "short"); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("expired token served from the cache: %v", err)
	}
}
