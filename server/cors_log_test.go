package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCORSRefusedPreflightIsLogged: a preflight from an origin that is not
// allowed leaves one log line with the origin and the path, and nothing of
// the request's credentials; allowed preflights and refused simple requests
// log nothing.
func TestCORSRefusedPreflightIsLogged(t *testing.T) {
	var buf bytes.Buffer
	p := CORSPolicy{OriginAllowed: func(_ context.Context, o string) bool { return o == "https://app.example" },
		Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	send := func(method, origin string, preflight bool) {
		r := httptest.NewRequest(method, "/oauth/token", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Authorization", "Bearer secret-token-value")
		if preflight {
			r.Header.Set("Access-Control-Request-Method", "POST")
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	send(http.MethodOptions, "https://app.example", true)
	send(http.MethodPost, "https://evil.example", false)
	if buf.Len() != 0 {
		t.Fatalf("logged without a refused preflight: %s", buf.String())
	}
	send(http.MethodOptions, "https://evil.example", true)
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "preflight refused") ||
		!strings.Contains(line, "origin=https://evil.example") || !strings.Contains(line, "path=/oauth/token") ||
		strings.Contains(line, "secret-token-value") {
		t.Fatalf("log of a refused preflight: %q", line)
	}
}
