package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORS(t *testing.T) {
	registered := "https://app.example"
	p := CORSPolicy{OriginAllowed: func(_ context.Context, o string) bool { return o == registered }}
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	tests := []struct {
		name, method, path, origin string
		preflight                  bool
		wantACAO                   string
	}{
		{"A12 discovery from any origin", "GET", "/.well-known/smart-configuration", "https://x.example", false, "*"},
		{"A12 fhir discovery from any origin", "GET", "/fhir/.well-known/smart-configuration", "https://x.example", false, "*"},
		{"B6 metadata from any origin", "GET", "/fhir/metadata", "https://x.example", false, "*"},
		{"D16 token from registered origin", "POST", "/oauth/token", registered, false, registered},
		{"D16 token preflight from registered origin", "OPTIONS", "/oauth/token", registered, true, registered},
		{"token from unregistered origin", "POST", "/oauth/token", "https://evil.example", false, ""},
		{"token preflight from unregistered origin", "OPTIONS", "/oauth/token", "https://evil.example", true, ""},
		{"X4 FHIR read from registered origin", "GET", "/fhir/Patient/1", registered, false, registered},
		{"X4 FHIR preflight from registered origin", "OPTIONS", "/fhir/Patient/1", registered, true, registered},
		{"pages never", "GET", "/login", registered, false, ""},
		{"admin never", "POST", "/admin/clients", registered, false, ""},
		{"null origin never", "POST", "/oauth/token", "null", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			r.Header.Set("Origin", tc.origin)
			if tc.preflight {
				r.Header.Set("Access-Control-Request-Method", "POST")
				r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, tc.wantACAO)
			}
			if w.Header().Get("Access-Control-Allow-Credentials") != "" {
				t.Fatal("credentials must never be allowed")
			}
			if tc.preflight {
				if w.Code != http.StatusNoContent {
					t.Fatalf("preflight status %d", w.Code)
				}
				if tc.wantACAO != "" && w.Header().Get("Access-Control-Allow-Headers") == "" {
					t.Fatal("preflight lacks Access-Control-Allow-Headers")
				}
			}
		})
	}
}

func TestOriginOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://App.Example:8443/cb?x=1": "https://app.example:8443",
		"http://127.0.0.1:5000/":          "http://127.0.0.1:5000",
		"com.example.app:/cb":             "",
		"not a url":                       "",
	} {
		if got := OriginOf(in); got != want {
			t.Errorf("OriginOf(%q) = %q, want %q", in, got, want)
		}
	}
}
