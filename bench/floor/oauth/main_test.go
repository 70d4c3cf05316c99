package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const testSecret = "0123456789abcdef0123456789abcdef-high-entropy"

func post(t *testing.T, u, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return resp.StatusCode, m
}

func newTestServer(t *testing.T, maxTokens int) *httptest.Server {
	h, err := newServer("bench", testSecret, []string{"system/*.rs"}, maxTokens, time.Hour, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestFloorIssuesES256JWTAndIntrospectsIt(t *testing.T) {
	srv := newTestServer(t, 100)
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}

	status, body := post(t, srv.URL+"/oauth/token", "bench", testSecret, cc)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	tok, _ := body["access_token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS: %q", tok)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]any
	json.Unmarshal(hdr, &h)
	if h["alg"] != "ES256" {
		t.Fatalf("JWT header %s, want alg ES256", hdr)
	}

	status, body = post(t, srv.URL+"/oauth/introspect", "bench", testSecret, url.Values{"token": {tok}})
	if status != http.StatusOK || body["active"] != true || body["scope"] != "system/*.rs" {
		t.Fatalf("introspect: %d %v, want active with scope system/*.rs", status, body)
	}

	tests := []struct {
		name string
		user string
		pass string
		form url.Values
		want int
	}{
		{"wrong secret", "bench", testSecret + "x", cc, http.StatusUnauthorized},
		{"unknown client", "other", testSecret, cc, http.StatusUnauthorized},
		{"scope not allowed", "bench", testSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.cruds"}}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, srv.URL+"/oauth/token", tt.user, tt.pass, tt.form)
			if status != tt.want || body["error"] == nil {
				t.Fatalf("got %d %v, want %d with an OAuth error", status, body, tt.want)
			}
		})
	}
}

func TestFloorMemoryStoreIsBounded(t *testing.T) {
	srv := newTestServer(t, 2)
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}
	var toks []string
	for range 3 {
		_, body := post(t, srv.URL+"/oauth/token", "bench", testSecret, cc)
		toks = append(toks, body["access_token"].(string))
	}
	want := []bool{false, true, true} // the oldest was evicted
	for i, tok := range toks {
		_, body := post(t, srv.URL+"/oauth/introspect", "bench", testSecret, url.Values{"token": {tok}})
		if body["active"] != want[i] {
			t.Errorf("token %d active=%v, want %v", i, body["active"], want[i])
		}
	}
}

func TestBoundedStoreMapsStayBounded(t *testing.T) {
	h, err := newServer("bench", testSecret, []string{"system/*.rs"}, 3, time.Hour, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}
	for range 10 {
		if status, body := post(t, ts.URL+"/oauth/token", "bench", testSecret, cc); status != http.StatusOK {
			t.Fatalf("token: %d %v", status, body)
		}
	}
	st := h.store
	if n, m := len(st.AccessTokens), len(st.AccessTokenRequestIDs); n != 3 || m != 3 {
		t.Fatalf("store holds %d tokens and %d request ids after 10 issues, want 3 and 3", n, m)
	}
}
