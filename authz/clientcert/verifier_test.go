package clientcert_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/listener"
)

// TestS13_CheckEachCertificate: the Verifier's answer (Trusted, ViaCA,
// Problem) for each kind of certificate the issue names, with trust from
// --client-ca (root + intermediate sent by the client) and the SQLite
// allow-list together.
func TestS13_CheckEachCertificate(t *testing.T) {
	p := newPKI(t)
	v := clientcert.NewVerifier(clientcert.Options{CAs: p.pool(), Allow: p.allowList(t)})
	cases := []struct {
		name    string
		cert    *x509.Certificate
		chain   []*x509.Certificate
		trusted bool
		viaCA   bool
		problem []string // each must be in Problem
	}{
		{"from the CA through the intermediate", p.client, []*x509.Certificate{p.inter}, true, true, nil},
		{"from the CA without the intermediate", p.client, nil, false, false, []string{"not issued by a --client-ca authority", "not on the allow-list"}},
		{"unknown", p.unknown, nil, false, false, []string{"not issued by a --client-ca authority", "not on the allow-list"}},
		{"expired", p.expired, []*x509.Certificate{p.inter}, false, false, []string{"expired (not after", "not on the allow-list"}},
		{"not yet valid", p.notYet, []*x509.Certificate{p.inter}, false, false, []string{"not yet valid (not before"}},
		{"without the clientAuth usage", p.noUsage, []*x509.Certificate{p.inter}, false, false, []string{"not for client authentication"}},
		{"allow-listed self-signed", p.selfSigned, nil, true, false, nil},
		{"allow-listed but expired", p.selfExpired, nil, false, false, []string{"allow-listed but expired"}},
		{"self-signed, not allow-listed", p.selfUnlisted, nil, false, false, []string{"not on the allow-list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peer := clientcert.NewPeer(tc.cert, tc.chain, "tls")
			chains := v.Check(httptest.NewRequest("GET", "/fhir/Patient", nil), peer)
			if peer.Trusted != tc.trusted || peer.ViaCA != tc.viaCA {
				t.Fatalf("Trusted %v ViaCA %v (Problem %q), want %v %v", peer.Trusted, peer.ViaCA, peer.Problem, tc.trusted, tc.viaCA)
			}
			if tc.trusted != (peer.Problem == "") {
				t.Fatalf("Problem %q with Trusted %v", peer.Problem, peer.Trusted)
			}
			for _, want := range tc.problem {
				if !strings.Contains(peer.Problem, want) {
					t.Errorf("Problem %q lacks %q", peer.Problem, want)
				}
			}
			if tc.viaCA != (len(chains) > 0) {
				t.Errorf("verified chains %d with ViaCA %v", len(chains), tc.viaCA)
			}
			if peer.Thumbprint != clientcert.Thumbprint(tc.cert) {
				t.Errorf("thumbprint %s", peer.Thumbprint)
			}
		})
	}
	t.Run("no CA and no allow-list", func(t *testing.T) {
		peer := clientcert.NewPeer(p.client, nil, "tls")
		clientcert.NewVerifier(clientcert.Options{}).Check(httptest.NewRequest("GET", "/", nil), peer)
		if peer.Trusted || !strings.Contains(peer.Problem, "no --client-ca and no allow-list") {
			t.Fatalf("%+v", peer)
		}
	})
}

// harness runs requests through a Verifier configured for a proxy at
// 10.0.0.5 passing X-Client-Cert, and records what the handler saw, the
// log and the reports.
type harness struct {
	v       *clientcert.Verifier
	log     bytes.Buffer
	mu      sync.Mutex
	reports []string
}

const proxyAddr = "10.0.0.5:41000"

func newHarness(t *testing.T, p *pki, header string) *harness {
	h := &harness{}
	proxies, err := reqctx.ParsePrefixes("10.0.0.0/29, ::1")
	if err != nil {
		t.Fatal(err)
	}
	h.v = clientcert.NewVerifier(clientcert.Options{CAs: p.pool(), Allow: p.allowList(t), Header: header,
		TrustedProxy: proxies.Contains,
		Logger:       slog.New(slog.NewTextHandler(&h.log, nil)),
		Report: func(r *http.Request, action, detail string) {
			h.mu.Lock()
			h.reports = append(h.reports, action+": "+detail)
			h.mu.Unlock()
		}})
	return h
}

type seen struct {
	peer   *clientcert.Peer
	header []string // the client-certificate header as the handler saw it
	tls    *tls.ConnectionState
}

// do sends one request: on the HTTPS listener when secure (with the
// direct TLS certificates certs, possibly none), from remote, with the
// header values.
func (h *harness) do(t *testing.T, secure bool, remote string, certs []*x509.Certificate, header string, values ...string) seen {
	t.Helper()
	r := httptest.NewRequest("GET", "https://smartgate.example/fhir/Patient", nil)
	r.RemoteAddr = remote
	info := listener.Info{Name: "http"}
	if secure {
		info = listener.Info{Name: "https", Secure: true}
		r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: certs}
	} else {
		r.TLS = nil
	}
	for _, v := range values {
		r.Header.Add(header, v)
	}
	var s seen
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.peer = clientcert.From(r.Context())
		s.header = r.Header.Values(header)
		s.tls = r.TLS
	})
	listener.Middleware(info, h.v.Middleware(next)).ServeHTTP(httptest.NewRecorder(), r)
	if s.header != nil {
		t.Fatalf("the handler saw %s: %q", header, s.header)
	}
	return s
}

func (h *harness) reported() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reports...)
}

// TestS13_HeaderFromTrustedProxy: behind a TLS-terminating proxy (one of
// --trusted-proxies) the header carries the client certificate, in
// nginx's and Envoy's forms among others; the certificate is checked like
// a direct one (Via "header"), and the proxy's own TLS certificate is
// never the client's.
func TestS13_HeaderFromTrustedProxy(t *testing.T) {
	p := newPKI(t)
	forms := []struct {
		name, value string
		cert        *x509.Certificate
		trusted     bool
		viaCA       bool
	}{
		{"nginx $ssl_client_escaped_cert, leaf and intermediate", nginxEscaped(p.client, p.inter), p.client, true, true},
		{"nginx, leaf only (intermediate not forwarded)", nginxEscaped(p.client), p.client, false, false},
		{"nginx, allow-listed self-signed", nginxEscaped(p.selfSigned), p.selfSigned, true, false},
		{"nginx, unknown", nginxEscaped(p.unknown), p.unknown, false, false},
		{"ALB (+ = / unescaped)", albEscaped(p.client, p.inter), p.client, true, true},
		{"PEM with spaces for line breaks (Apache)", strings.ReplaceAll(pemOf(p.client, p.inter), "\n", " "), p.client, true, true},
		{"Envoy XFCC with Cert and Chain", xfcc(p.client, p.inter), p.client, true, true},
		{"Envoy XFCC with Chain only", `Hash=00;Chain="` + nginxEscaped(p.client, p.inter) + `"`, p.client, true, true},
		{"Envoy XFCC, expired", xfcc(p.expired, p.inter), p.expired, false, false},
		{"RFC 9440 Client-Cert list", ":" + b64(p.client) + ":, :" + b64(p.inter) + ":", p.client, true, true},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			h := newHarness(t, p, "X-Client-Cert")
			// The proxy's own TLS client certificate (here one from the CA)
			// is ignored: the header decides.
			s := h.do(t, true, proxyAddr, []*x509.Certificate{p.noUsage, p.inter}, "X-Client-Cert", f.value)
			if s.peer == nil {
				t.Fatalf("no peer; log: %s", h.log.String())
			}
			if s.peer.Via != "header" || !s.peer.Cert.Equal(f.cert) || s.peer.Trusted != f.trusted || s.peer.ViaCA != f.viaCA {
				t.Fatalf("peer via %s %s trusted %v viaCA %v (%s)", s.peer.Via, s.peer.Cert.Subject, s.peer.Trusted, s.peer.ViaCA, s.peer.Problem)
			}
			if f.viaCA != (len(s.tls.VerifiedChains) > 0) {
				t.Errorf("VerifiedChains %d", len(s.tls.VerifiedChains))
			}
			if len(h.reported()) != 0 {
				t.Errorf("reports: %q", h.reported())
			}
		})
	}
	t.Run("no header from the proxy: no certificate, whatever the proxy's own", func(t *testing.T) {
		h := newHarness(t, p, "X-Client-Cert")
		s := h.do(t, true, proxyAddr, []*x509.Certificate{p.client, p.inter}, "X-Client-Cert")
		if s.peer != nil || len(s.tls.VerifiedChains) != 0 {
			t.Fatalf("peer %+v", s.peer)
		}
		s = h.do(t, true, proxyAddr, []*x509.Certificate{p.client, p.inter}, "X-Client-Cert", "")
		if s.peer != nil {
			t.Fatalf("empty header: peer %+v", s.peer)
		}
	})
	t.Run("IPv6 loopback proxy", func(t *testing.T) {
		h := newHarness(t, p, "X-Client-Cert")
		s := h.do(t, true, "[::1]:5000", nil, "x-client-cert", nginxEscaped(p.client, p.inter))
		if s.peer == nil || !s.peer.Trusted {
			t.Fatalf("peer %+v", s.peer)
		}
	})
}

// TestS13_ForgedHeaderDropped: from a peer that is not a trusted proxy,
// or on the HTTP listener, the header is removed unread, a warning is
// logged and reported (the audit record); the request goes on with the
// direct TLS certificate, if any (Bad input: a forged certificate header
// from an untrusted address).
func TestS13_ForgedHeaderDropped(t *testing.T) {
	p := newPKI(t)
	t.Run("untrusted address, no TLS certificate", func(t *testing.T) {
		h := newHarness(t, p, "X-Client-Cert")
		s := h.do(t, true, "203.0.113.9:5555", nil, "X-Client-Cert", nginxEscaped(p.client, p.inter))
		if s.peer != nil {
			t.Fatalf("forged header believed: %+v", s.peer)
		}
		log := h.log.String()
		if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "forged client-certificate header") || !strings.Contains(log, "203.0.113.9") {
			t.Errorf("log: %s", log)
		}
		if r := h.reported(); len(r) != 1 || !strings.HasPrefix(r[0], clientcert.ActionForgedHeader) || !strings.Contains(r[0], "not a trusted proxy") {
			t.Errorf("reports: %q", r)
		}
	})
	t.Run("untrusted address with its own TLS certificate", func(t *testing.T) {
		h := newHarness(t, p, "X-Client-Cert")
		s := h.do(t, true, "203.0.113.9:5555", []*x509.Certificate{p.unknown}, "X-Client-Cert", nginxEscaped(p.client, p.inter))
		if s.peer == nil || s.peer.Via != "tls" || !s.peer.Cert.Equal(p.unknown) || s.peer.Trusted {
			t.Fatalf("peer %+v", s.peer)
		}
		if len(h.reported()) != 1 {
			t.Errorf("reports: %q", h.reported())
		}
	})
	t.Run("HTTP listener, even from the proxy", func(t *testing.T) {
		h := newHarness(t, p, "X-Client-Cert")
		s := h.do(t, false, proxyAddr, nil, "X-Client-Cert", nginxEscaped(p.client, p.inter))
		if s.peer != nil {
			t.Fatalf("header read on the HTTP listener: %+v", s.peer)
		}
		if r := h.reported(); len(r) != 1 || !strings.Contains(r[0], "HTTP listener") {
			t.Errorf("reports: %q", r)
		}
	})
	t.Run("header not configured: nothing read, direct certificate decides", func(t *testing.T) {
		h := newHarness(t, p, "")
		r := httptest.NewRequest("GET", "/fhir/Patient", nil)
		r.RemoteAddr = proxyAddr
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{p.client, p.inter}}
		r.Header.Set("X-Client-Cert", nginxEscaped(p.selfSigned))
		var peer *clientcert.Peer
		listener.Middleware(listener.Info{Name: "https", Secure: true}, h.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer = clientcert.From(r.Context())
		}))).ServeHTTP(httptest.NewRecorder(), r)
		if peer == nil || peer.Via != "tls" || !peer.Trusted || !peer.ViaCA {
			t.Fatalf("peer %+v", peer)
		}
	})
	t.Run("removed on the HTTP listener", func(t *testing.T) {
		h := newHarness(t, p, "X-Client-Cert")
		r := httptest.NewRequest("GET", "http://localhost/fhir/Patient", nil)
		r.Header.Set("X-Client-Cert", nginxEscaped(p.client))
		var got []string
		var peer *clientcert.Peer
		listener.Middleware(listener.Info{Name: "http"}, h.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, peer = r.Header.Values("X-Client-Cert"), clientcert.From(r.Context())
		}))).ServeHTTP(httptest.NewRecorder(), r)
		if got != nil || peer != nil || len(h.reported()) != 1 {
			t.Fatalf("handler saw %q; reports %q", got, h.reported())
		}
	})
}

// TestS13_MalformedHeaderFromProxy: a trusted proxy's header that does not
// parse gives no certificate, a warning naming the problem and a report;
// never a panic.
func TestS13_MalformedHeaderFromProxy(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		name    string
		values  []string
		problem string
	}{
		{"garbage", []string{"hello world"}, "neither PEM nor base64 DER"},
		{"two XFCC elements", []string{xfcc(p.client, p.inter) + "," + xfcc(p.unknown)}, "several elements"},
		{"header twice", []string{nginxEscaped(p.client), nginxEscaped(p.client)}, "given 2 times"},
		{"unterminated PEM", []string{strings.TrimSuffix(nginxEscaped(p.client), "-----END%20CERTIFICATE-----%0A")}, "END CERTIFICATE----- missing"},
		{"too long", []string{strings.Repeat("A", clientcert.MaxHeaderBytes+1)}, "longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, p, "X-Client-Cert")
			s := h.do(t, true, proxyAddr, nil, "X-Client-Cert", tc.values...)
			if s.peer != nil {
				t.Fatalf("peer %+v", s.peer)
			}
			if !strings.Contains(h.log.String(), tc.problem) {
				t.Errorf("log lacks %q: %s", tc.problem, h.log.String())
			}
			if r := h.reported(); len(r) != 1 || !strings.HasPrefix(r[0], clientcert.ActionUnreadableHeader) || !strings.Contains(r[0], tc.problem) {
				t.Errorf("reports: %q", r)
			}
		})
	}
}

// TestS13_VerifierOnRealTLS: on a real TLS listener (127.0.0.1) that
// requests but does not require a certificate, a client certificate from
// the CA is trusted (via the CA, VerifiedChains set), an allow-listed
// self-signed one is trusted (not via the CA), an unknown one is not, and
// none gives no Peer; the handshake never fails.
func TestS13_VerifierOnRealTLS(t *testing.T) {
	p := newPKI(t)
	v := clientcert.NewVerifier(clientcert.Options{CAs: p.pool(), Allow: p.allowList(t)})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = listener.Middleware(listener.Info{Name: "https", Secure: true}, v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := clientcert.From(r.Context())
		switch {
		case peer == nil:
			io.WriteString(w, "none")
		case peer.Trusted:
			io.WriteString(w, "trusted via="+peer.Via+" ca="+boolString(peer.ViaCA && len(r.TLS.VerifiedChains) > 0))
		default:
			io.WriteString(w, "untrusted: "+peer.Problem)
		}
	})))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	cases := []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"none", nil, "none"},
		{"from the CA", p.tlsCert(p.client, p.inter), "trusted via=tls ca=true"},
		{"allow-listed self-signed", p.tlsCert(p.selfSigned), "trusted via=tls ca=false"},
		{"unknown", p.tlsCert(p.unknown), "untrusted: not issued by a --client-ca authority; not on the allow-list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					if tc.cert == nil {
						return &tls.Certificate{}, nil
					}
					return tc.cert, nil
				}}}}
			resp, err := c.Get(srv.URL + "/fhir/Patient")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tc.want {
				t.Fatalf("%q, want %q", b, tc.want)
			}
		})
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
