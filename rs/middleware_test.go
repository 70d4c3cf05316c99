package rs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/rs"
)

// stubVerifier answers from a table: a Verifier for the middleware's own
// tests (the real ones are tested above and against smartgate in
// cmd/smartgate).
type stubVerifier map[string]*rs.Claims

func (s stubVerifier) Verify(_ context.Context, tok string) (*rs.Claims, error) {
	if tok == "down" {
		return nil, errors.New("issuer unreachable")
	}
	if c, ok := s[tok]; ok {
		return c, nil
	}
	return nil, rs.ErrInvalidToken
}

func claimsWith(scope, thumb string) *rs.Claims {
	c := &rs.Claims{Subject: "u-1", ClientID: "app", Scope: scope, CertThumbprint: thumb}
	ss, _ := smart.ParseScopes(scope)
	c.Scopes = ss
	return c
}

type answer struct {
	status int
	www    string
	body   map[string]any
	text   string
}

func call(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, www: resp.Header.Get("WWW-Authenticate"), text: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

// TestMiddleware: RFC 6750 at the edge of a protected handler, on a real
// TLS listener: the token from the Authorization header only, its claims
// in the handler's context, each refusal with its status, challenge and
// JSON body; RequireScope by SMART meaning; RFC 8705 bound tokens only
// with their certificate.
func TestMiddleware(t *testing.T) {
	certA, certB := clientCert(t, "a"), clientCert(t, "b")
	thumbA := thumbprint(certA.Leaf)
	v := stubVerifier{
		"obs-read": claimsWith("patient/Observation.read launch/patient", ""),
		"obs-lab":  claimsWith("patient/Observation.rs?category=laboratory", ""),
		"user-all": claimsWith("user/*.cruds", ""),
		"bound":    claimsWith("patient/Observation.rs", thumbA),
	}
	mw := rs.Middleware(v, rs.Options{Realm: "notes"})
	need := rs.RequireScope("patient/Observation.rs", rs.Options{Realm: "notes"})
	mux := http.NewServeMux()
	mux.Handle("/obs", mw(need(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := rs.FromContext(r.Context())
		_, _ = io.WriteString(w, "hello "+c.Subject)
	}))))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	client := func(cert *tls.Certificate) *http.Client {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: tr}
	}
	plain, withA, withB := client(nil), client(&certA), client(&certB)
	req := func(auth string, path ...string) *http.Request {
		p := "/obs"
		if len(path) > 0 {
			p = path[0]
		}
		r, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	twoHeaders := req("Bearer obs-read")
	twoHeaders.Header.Add("Authorization", "Bearer user-all")

	for _, tc := range []struct {
		name   string
		c      *http.Client
		r      *http.Request
		status int
		www    string // prefix of WWW-Authenticate ("" none)
		code   string
	}{
		{"v1 read grants rs", plain, req("Bearer obs-read"), 200, "", ""},
		{"lower-case scheme", plain, req("bearer obs-read"), 200, "", ""},
		{"no token", plain, req(""), 401, `Bearer realm="notes"`, "unauthorized"},
		{"Basic is no token", plain, req("Basic YTpi"), 401, `Bearer realm="notes"`, "unauthorized"},
		{"bad token", plain, req("Bearer nope"), 401, `Bearer realm="notes", error="invalid_token"`, "invalid_token"},
		{"empty bearer", plain, req("Bearer "), 400, `Bearer realm="notes", error="invalid_request"`, "invalid_request"},
		{"two tokens in one header", plain, req("Bearer a b"), 400, `Bearer realm="notes", error="invalid_request"`, "invalid_request"},
		{"two Authorization headers", plain, twoHeaders, 400, `Bearer realm="notes", error="invalid_request"`, "invalid_request"},
		{"token also in the query", plain, req("Bearer obs-read", "/obs?access_token=obs-read"), 400, `Bearer realm="notes", error="invalid_request"`, "invalid_request"},
		{"token only in the query", plain, req("", "/obs?access_token=obs-read"), 400, `Bearer realm="notes", error="invalid_request"`, "invalid_request"},
		{"granular scope is narrower", plain, req("Bearer obs-lab"), 403, `Bearer realm="notes", error="insufficient_scope"`, "insufficient_scope"},
		{"user/ does not cover patient/", plain, req("Bearer user-all"), 403, `Bearer realm="notes", error="insufficient_scope"`, "insufficient_scope"},
		{"issuer down", plain, req("Bearer down"), 503, "", "temporarily_unavailable"},
		{"bound token with its certificate", withA, req("Bearer bound"), 200, "", ""},
		{"bound token without a certificate", plain, req("Bearer bound"), 401, `Bearer realm="notes", error="invalid_token"`, "invalid_token"},
		{"bound token with another certificate", withB, req("Bearer bound"), 401, `Bearer realm="notes", error="invalid_token"`, "invalid_token"},
		{"unbound token with a certificate", withB, req("Bearer obs-read"), 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, tc.c, tc.r)
			if a.status != tc.status || !strings.HasPrefix(a.www, tc.www) || tc.www == "" && a.www != "" {
				t.Fatalf("%d %q %s; want %d %q", a.status, a.www, a.text, tc.status, tc.www)
			}
			if tc.status == 200 {
				if a.text != "hello u-1" {
					t.Errorf("body %q", a.text)
				}
				return
			}
			if a.body["error"] != tc.code || a.body["error_description"] == "" {
				t.Errorf("body %s, want error %s", a.text, tc.code)
			}
			if tc.code == "insufficient_scope" && !strings.Contains(a.www, `scope="patient/Observation.rs"`) {
				t.Errorf("403 challenge %q does not name the scope", a.www)
			}
			if strings.Contains(a.www+a.text, "obs-") {
				t.Errorf("the refusal repeats the token: %q %s", a.www, a.text)
			}
		})
	}
}

// TestRequireScopePanicsOnBadScope: a misspelt scope is a programming
// error caught at start.
func TestRequireScopePanicsOnBadScope(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("RequireScope(patient/Observation.sr) did not panic")
		}
	}()
	rs.RequireScope("patient/Observation.sr", rs.Options{})
}

// TestOptionalToken: with Optional a request without a token passes (no
// claims); a bad token is still refused.
func TestOptionalToken(t *testing.T) {
	h := rs.Middleware(stubVerifier{}, rs.Options{Optional: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := rs.FromContext(r.Context()); ok {
			t.Error("claims without a token")
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 {
		t.Errorf("no token, Optional: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer bad")
	h.ServeHTTP(rec, r)
	if rec.Code != 401 {
		t.Errorf("bad token, Optional: %d", rec.Code)
	}
}

func clientCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
