package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/internal/reqctx"
)

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

// opsServer serves RegisterOps behind Wrap (as cmd/smartgate does) on a
// loopback listener and returns its base URL.
func opsServer(t *testing.T, store Pinger, access MetricsAccess) string {
	t.Helper()
	mux := http.NewServeMux()
	m := NewMetrics()
	logger := slog.New(slog.DiscardHandler)
	RegisterOps(mux, store, m, access, logger)
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0", Handler: Wrap(mux, logger, m, 1<<20, nil)})
	return "http://" + s.Addr("http")
}

func fetch(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, string(b)
}

// TestHealthAndReadiness: /healthz answers while the process runs;
// /readyz answers 503 while the store does not, without saying why.
func TestHealthAndReadiness(t *testing.T) {
	up := opsServer(t, pinger{}, MetricsAccess{})
	down := opsServer(t, pinger{errors.New("disk /var/lib/secret is full")}, MetricsAccess{})
	for _, tc := range []struct {
		url  string
		code int
		body string
	}{
		{up + "/healthz", 200, `"status":"ok"`},
		{up + "/readyz", 200, `"store":"ok"`},
		{down + "/healthz", 200, `"status":"ok"`},
		{down + "/readyz", 503, `"store":"failing"`},
	} {
		code, h, body := fetch(t, tc.url, "")
		if code != tc.code || !strings.Contains(body, tc.body) || strings.Contains(body, "secret") ||
			h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %s", tc.url, code, h, body)
		}
	}
}

// TestMetricsAccess: /metrics is for the allowed addresses and for the
// metrics token; others get 401 with a Bearer challenge when a token is
// configured, else 403. Requests are counted by route pattern.
func TestMetricsAccess(t *testing.T) {
	loopback, err := reqctx.ParsePrefixes("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	other, err := reqctx.ParsePrefixes("192.0.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		access    MetricsAccess
		token     string
		code      int
		challenge string
	}{
		{"allowed address", MetricsAccess{Allow: loopback}, "", 200, ""},
		{"other address, no token configured", MetricsAccess{Allow: other}, "", 403, ""},
		{"right token", MetricsAccess{Allow: other, Token: "metrics-token-1234"}, "metrics-token-1234", 200, ""},
		{"no token sent", MetricsAccess{Allow: other, Token: "metrics-token-1234"}, "", 401, `Bearer realm="metrics"`},
		{"wrong token", MetricsAccess{Allow: other, Token: "metrics-token-1234"}, "metrics-token-12345", 401,
			`Bearer realm="metrics", error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := opsServer(t, pinger{}, tc.access)
			fetch(t, base+"/healthz", "")
			code, h, body := fetch(t, base+"/metrics", tc.token)
			if code != tc.code || h.Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("%d %q, want %d %q", code, h.Get("WWW-Authenticate"), tc.code, tc.challenge)
			}
			if code == 200 && !strings.Contains(body, `smartgate_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`) {
				t.Fatalf("metrics do not count GET /healthz: %.2000s", body)
			}
			if code != 200 && strings.Contains(body, "smartgate_") {
				t.Fatalf("refused metrics leak: %s", body)
			}
		})
	}
}
