package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/rs"
)

const audience = "https://appointments.example/api"

// issuer is an authorization server's keys on a loopback listener, and a
// function that signs access tokens with them.
func issuer(t *testing.T) (*httptest.Server, func(patient, scope string) string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks"})
		case "/jwks":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k", Algorithm: "ES256", Use: "sig"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k"))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(patient, scope string) string {
		claims := map[string]any{"iss": srv.URL, "aud": audience, "sub": "u", "client_id": "app", "scope": scope,
			"exp": time.Now().Add(time.Hour).Unix()}
		if patient != "" {
			claims["patient"] = patient
		}
		b, _ := json.Marshal(claims)
		jws, err := signer.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
	return srv, sign
}

// TestAppointmentsAPI: the example's API over real HTTP with JWTs checked
// against a real (loopback) issuer's keys: each patient books and sees
// only their own appointments; scopes decide reading and booking.
func TestAppointmentsAPI(t *testing.T) {
	is, sign := issuer(t)
	v, err := rs.NewJWKS(rs.JWKSOptions{Issuer: is.URL, Audience: audience, HTTPClient: is.Client()})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(newAPI(v, slog.New(slog.DiscardHandler)))
	defer api.Close()
	do := func(method, token, body string) (int, string) {
		req, _ := http.NewRequest(method, api.URL+"/api/appointments", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ann := sign("ann", "patient/Appointment.read patient/Appointment.c")
	bo := sign("bo", "patient/Appointment.rs")
	if s, b := do("POST", ann, `{"start":"2027-01-05T09:00:00Z","with":"Dr. Who"}`); s != 201 || !strings.Contains(b, `"patient":"ann"`) {
		t.Fatalf("Ann books: %d %s", s, b)
	}
	if s, b := do("GET", ann, ""); s != 200 || !strings.Contains(b, "Dr. Who") {
		t.Fatalf("Ann lists: %d %s", s, b)
	}
	if s, b := do("GET", bo, ""); s != 200 || strings.TrimSpace(b) != "[]" {
		t.Fatalf("Bo lists: %d %s (Ann's appointment must not show)", s, b)
	}
	for name, tc := range map[string]struct {
		method, token, body string
		status              int
	}{
		"Bo may not book":       {"POST", bo, `{"start":"2027-01-05T10:00:00Z","with":"x"}`, 403},
		"no token":              {"GET", "", "", 401},
		"no patient context":    {"GET", sign("", "patient/Appointment.rs"), "", 403},
		"user/ is not patient/": {"GET", sign("ann", "user/Appointment.rs"), "", 403},
		"bad booking":           {"POST", ann, `{"with":"x"}`, 400},
		"token for another API": {"GET", strings.Replace(ann, ".", ".", 1) + "x", "", 401},
	} {
		if s, b := do(tc.method, tc.token, tc.body); s != tc.status {
			t.Errorf("%s: %d %s, want %d", name, s, b, tc.status)
		}
	}
}

// TestFlags: the required flags are named when missing.
func TestFlags(t *testing.T) {
	if err := run([]string{"--issuer", "https://as.example"}); err == nil || !strings.Contains(err.Error(), "--audience") {
		t.Errorf("run without --audience: %v", err)
	}
}
