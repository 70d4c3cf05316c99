package rs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smartgate/smartgate/rs"
)

// FuzzMiddleware: whatever Authorization header and query a request
// carries, the middleware answers 200 (a stub's known token), 400, 401 or
// 403, never panics, and passes no request without verified claims.
func FuzzMiddleware(f *testing.F) {
	for _, s := range []string{"Bearer good", "bearer good", "Bearer", "Bearer  good", "Basic a", "Bearer good extra", "", "Bearer \x00"} {
		f.Add(s, "")
	}
	f.Add("Bearer good", "access_token=x")
	v := stubVerifier{"good": claimsWith("patient/Observation.rs", "")}
	h := rs.Middleware(v, rs.Options{})(rs.RequireScope("patient/Observation.rs", rs.Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := rs.FromContext(r.Context()); !ok {
			panic("handler reached without claims")
		}
	})))
	f.Fuzz(func(t *testing.T, auth, query string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = query
		r.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case 200, 400, 401, 403, 503: // 503: the stub's "down"
		default:
			t.Fatalf("status %d for %q %q", rec.Code, auth, query)
		}
	})
}

// FuzzIntrospectionAnswer: any answer of an introspection endpoint is a
// token's claims, ErrInvalidToken or an error; never a panic.
func FuzzIntrospectionAnswer(f *testing.F) {
	for _, s := range []string{`{"active":true,"exp":1e10,"aud":["a"],"scope":"x"}`, `{"active":true,"aud":1}`,
		`{"active":true,"exp":"x"}`, `{"active":false}`, `null`, `{"active":true,"exp":-1}`, `{"active":true,"scope":["a"]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, answer string) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(answer)) }))
		defer srv.Close()
		v, err := rs.NewIntrospection(rs.IntrospectionOptions{URL: srv.URL, ClientID: "a", ClientSecret: "b", CacheTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := v.Verify(context.Background(), "t"); err == nil && c == nil {
			t.Fatal("no claims and no error")
		}
	})
}
