package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store/sqlite"
)

// noPages is an Interaction for servers that only serve backend services
// (client_credentials never reaches the authorization endpoint).
type noPages struct{}

func (noPages) Authorize(http.ResponseWriter, *http.Request, *authz.AuthorizeRequest) (*authz.Decision, error) {
	return nil, authz.ErrAccessDenied
}

// backendStack wires authz, the FHIR endpoint, fhir/bearer and this
// bearer.AuthzVerifier the way newApp does, over one SQLite database.
type backendStack struct {
	base string
	db   *sqlite.DB
	as   *authz.Server
}

func newBackendStack(t *testing.T) *backendStack {
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
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	logger := slog.New(slog.DiscardHandler)
	as, err := authz.New(authz.Config{
		BaseURLs:      []string{srv.URL},
		FHIRBaseURLs:  []string{srv.URL + "/fhir"},
		ScopeStrategy: smart.ScopeStrategy,
	}, db, noPages{}, nil, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	as.Register(mux)
	fhir.New(fhir.Config{Auth: bearer.New(bearer.AuthzVerifier{Tokens: as}, reg, bearer.Options{}), Registry: reg}, db, logger).Register(mux)

	// Seed one patient through an endpoint without access control.
	seed := http.NewServeMux()
	fhir.New(fhir.Config{AccessControlOff: true, Registry: reg}, db, logger).Register(seed)
	req := httptest.NewRequest(http.MethodPut, "/fhir/Patient/p1", strings.NewReader(`{"resourceType":"Patient","id":"p1","name":[{"family":"Backend"}]}`))
	req.Header.Set("Content-Type", "application/fhir+json")
	rec := httptest.NewRecorder()
	seed.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated && rec.Code != http.StatusOK {
		t.Fatalf("seed Patient: %d %s", rec.Code, rec.Body)
	}
	return &backendStack{base: srv.URL, db: db, as: as}
}

// backendToken registers a private_key_jwt backend client with ceiling and
// obtains a token for scope with an assertion signed by alg.
func (s *backendStack) backendToken(t *testing.T, alg jose.SignatureAlgorithm, ceiling []string, scope string) string {
	t.Helper()
	var key any
	var pub any
	switch alg {
	case jose.ES384:
		k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		key, pub = k, &k.PublicKey
	default:
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		key, pub = k, &k.PublicKey
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "k1", Algorithm: string(alg), Use: "sig"}}})
	c, _, err := authz.CreateClient(context.Background(), s.db, authz.NewClient{Name: "backend", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: string(set), Scopes: ceiling}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := josejwt.Signed(signer).Claims(josejwt.Claims{Issuer: c.ID, Subject: c.ID, Audience: josejwt.Audience{s.base + "/oauth/token"},
		Expiry: josejwt.NewNumericDate(time.Now().Add(5 * time.Minute)), ID: fmt.Sprintf("jti-%d", time.Now().UnixNano())}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(s.base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {raw}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusOK || m["scope"] != scope {
		t.Fatalf("token: %d %v", resp.StatusCode, m)
	}
	return m["access_token"].(string)
}

func (s *backendStack) do(t *testing.T, method, path, token, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp, m
}

// TestK14_BackendTokenOnFHIR: a token from the Backend Services flow works
// on the FHIR endpoint with its system/ scopes, and only those.
func TestK14_BackendTokenOnFHIR(t *testing.T) {
	s := newBackendStack(t)
	for _, alg := range []jose.SignatureAlgorithm{jose.RS384, jose.ES384} {
		t.Run(string(alg), func(t *testing.T) {
			tok := s.backendToken(t, alg, []string{"system/*.rs"}, "system/Patient.rs")
			resp, m := s.do(t, http.MethodGet, "/fhir/Patient", tok, "")
			if resp.StatusCode != http.StatusOK || m["resourceType"] != "Bundle" || m["total"] != float64(1) {
				t.Fatalf("GET /fhir/Patient: %d %v", resp.StatusCode, m)
			}
			if resp, m := s.do(t, http.MethodGet, "/fhir/Patient/p1", tok, ""); resp.StatusCode != http.StatusOK || m["id"] != "p1" {
				t.Fatalf("GET /fhir/Patient/p1: %d %v", resp.StatusCode, m)
			}
			forbidden := []struct{ method, path, body string }{
				{http.MethodGet, "/fhir/Observation", ""},
				{http.MethodGet, "/fhir/Encounter?patient=p1", ""},
				{http.MethodPost, "/fhir/Patient", `{"resourceType":"Patient","name":[{"family":"New"}]}`},
				{http.MethodPut, "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1"}`},
				{http.MethodDelete, "/fhir/Patient/p1", ""},
			}
			for _, f := range forbidden {
				resp, m := s.do(t, f.method, f.path, tok, f.body)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") ||
					m["resourceType"] != "OperationOutcome" {
					t.Errorf("%s %s: %d %q %v, want 403 insufficient_scope", f.method, f.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), m)
				}
			}
		})
	}
	t.Run("WriteScopeWrites", func(t *testing.T) {
		tok := s.backendToken(t, jose.ES384, []string{"system/Patient.cruds"}, "system/Patient.c")
		resp, m := s.do(t, http.MethodPost, "/fhir/Patient", tok, `{"resourceType":"Patient","name":[{"family":"Created"}]}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST with system/Patient.c: %d %v", resp.StatusCode, m)
		}
		if resp, _ := s.do(t, http.MethodGet, "/fhir/Patient/p1", tok, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("read with system/Patient.c only: %d", resp.StatusCode)
		}
	})
	t.Run("NoOrBadToken", func(t *testing.T) {
		if resp, _ := s.do(t, http.MethodGet, "/fhir/Patient", "", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("no token: %d", resp.StatusCode)
		}
		if resp, _ := s.do(t, http.MethodGet, "/fhir/Patient", "not-a-token", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("bad token: %d", resp.StatusCode)
		}
	})
}
