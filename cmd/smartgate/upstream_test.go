package main

// Proxy mode's own credentials for the upstream (upstream.go): a client
// certificate with a client-credentials token from the upstream's own
// token endpoint, and a static header from a file, against real TLS and
// HTTP servers on loopback.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// credentialCheckingUpstream is an upstream FHIR server that records the
// credentials of each request and answers Patient/p1 to the right ones.
type credentialCheckingUpstream struct {
	mu     sync.Mutex
	auth   []string // Authorization of each request
	apiKey []string // X-Api-Key of each request
	certs  []string // SHA-256 of the client certificate ("" none)
	want   func(r *http.Request) bool
}

func (u *credentialCheckingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cert := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		cert = hex.EncodeToString(sum[:])
	}
	u.mu.Lock()
	u.auth, u.apiKey, u.certs = append(u.auth, r.Header.Get("Authorization")), append(u.apiKey, r.Header.Get("X-Api-Key")), append(u.certs, cert)
	u.mu.Unlock()
	if !u.want(r) {
		http.Error(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login"}]}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Write([]byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"3"}}`))
}

func TestIssue14UpstreamCredentials(t *testing.T) {
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	clientCertFile, clientKeyFile := makeCert(t, dir, "smartgate-to-upstream")
	pair, err := tls.LoadX509KeyPair(clientCertFile, clientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pair.Certificate[0])
	clientThumb := hex.EncodeToString(sum[:])

	// The upstream's own token endpoint (client_secret_basic).
	var tokenCalls atomic.Int32
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok || id != "up-client" || secret != "up-secret-123" || r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != "system/*.read" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"upstream-token-1","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(tokens.Close)

	up := &credentialCheckingUpstream{want: func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer upstream-token-1" && r.TLS != nil && len(r.TLS.PeerCertificates) == 1
	}}
	ts := httptest.NewUnstartedServer(up)
	ts.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	caFile := filepath.Join(dir, "upstream-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600)
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("up-secret-123\n"), 0o600)

	newStore := func(t *testing.T, u config.Upstream) fhir.Store {
		t.Helper()
		u.URL, u.Timeout = ts.URL+"/fhir", 5*time.Second
		st, err := newFHIRUpstream(context.Background(), u, reg, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	read := func(st fhir.Store) error {
		_, err := st.ReadResource(context.Background(), "Patient", "p1")
		return err
	}

	t.Run("client certificate and client-credentials token", func(t *testing.T) {
		st := newStore(t, config.Upstream{CA: caFile, Cert: clientCertFile, Key: clientKeyFile,
			TokenURL: tokens.URL + "/token", ClientID: "up-client", ClientSecretFile: secretFile, Scope: "system/*.read"})
		before := tokenCalls.Load()
		for range 3 {
			if err := read(st); err != nil {
				t.Fatalf("read through the upstream: %v", err)
			}
		}
		if n := tokenCalls.Load() - before; n != 1 {
			t.Errorf("token endpoint called %d times for 3 reads; want once (the token is reused until it expires)", n)
		}
		up.mu.Lock()
		last := len(up.certs) - 1
		if up.certs[last] != clientThumb {
			t.Errorf("upstream saw client certificate %q, want %s", up.certs[last], clientThumb)
		}
		up.mu.Unlock()
	})
	t.Run("a wrong client secret is a 502, never the client's 401", func(t *testing.T) {
		bad := filepath.Join(dir, "bad-secret")
		os.WriteFile(bad, []byte("wrong"), 0o600)
		st := newStore(t, config.Upstream{CA: caFile, Cert: clientCertFile, Key: clientKeyFile,
			TokenURL: tokens.URL + "/token", ClientID: "up-client", ClientSecretFile: bad, Scope: "system/*.read"})
		if err := read(st); !errors.Is(err, fhir.ErrBadGateway) {
			t.Errorf("read: %v, want ErrBadGateway", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		st := newStore(t, config.Upstream{CA: caFile, TokenURL: tokens.URL + "/token", ClientID: "up-client",
			ClientSecretFile: secretFile, Scope: "system/*.read"})
		if err := read(st); !errors.Is(err, fhir.ErrBadGateway) {
			t.Errorf("read without the certificate the upstream requires: %v, want ErrBadGateway", err)
		}
	})
	t.Run("an upstream certificate from no trusted CA", func(t *testing.T) {
		st := newStore(t, config.Upstream{Cert: clientCertFile, Key: clientKeyFile,
			TokenURL: tokens.URL + "/token", ClientID: "up-client", ClientSecretFile: secretFile, Scope: "system/*.read"})
		if err := read(st); !errors.Is(err, fhir.ErrBadGateway) {
			t.Errorf("read from an untrusted upstream certificate: %v, want ErrBadGateway", err)
		}
	})
	t.Run("static header from a file", func(t *testing.T) {
		keyed := &credentialCheckingUpstream{want: func(r *http.Request) bool { return r.Header.Get("X-Api-Key") == "k-123" }}
		plain := httptest.NewServer(keyed)
		t.Cleanup(plain.Close)
		hf := filepath.Join(dir, "header")
		os.WriteFile(hf, []byte("X-Api-Key: k-123\n"), 0o600)
		st, err := newFHIRUpstream(context.Background(), config.Upstream{URL: plain.URL + "/fhir", Timeout: 5 * time.Second, HeaderFile: hf},
			reg, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := read(st); err != nil {
			t.Fatalf("read with the header: %v", err)
		}
		if keyed.auth[0] != "" {
			t.Errorf("an Authorization header went upstream: %q", keyed.auth[0])
		}
	})
}
