package clientcert

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/smartgate/smartgate/listener"
)

// Options configure a Verifier.
type Options struct {
	// CAs is the --client-ca pool, or nil.
	CAs *x509.CertPool
	// Allow is the allow-list, or nil.
	Allow AllowList
	// Header is --client-cert-header: the request header in which a
	// TLS-terminating proxy passes the client certificate (ParseHeader's
	// forms); "" reads none.
	Header string
	// TrustedProxy reports whether a TCP peer (http.Request.RemoteAddr,
	// "host:port") is one of --trusted-proxies; nil: none is.
	TrustedProxy func(remoteAddr string) bool
	// Logger receives a warning for each client-certificate header that is
	// dropped or unreadable (nil: discarded).
	Logger *slog.Logger
	// Report, when set, is told of the same (for the audit log): action
	// ActionForgedHeader or ActionUnreadableHeader, and a short detail.
	Report func(r *http.Request, action, detail string)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// What Options.Report is told.
const (
	// ActionForgedHeader: the header came from a peer that is not a trusted
	// proxy, or on the HTTP listener; it was removed and not read.
	ActionForgedHeader = "forged client-certificate header dropped"
	// ActionUnreadableHeader: a trusted proxy sent a header that
	// ParseHeader refuses; the request goes on as without a certificate.
	ActionUnreadableHeader = "unreadable client-certificate header"
)

// Verifier decides, per request, whether the HTTPS listener's client
// certificate is trusted, and records the answer (a Peer) in the request's
// context. The TLS handshake only requests certificates and never fails
// over one, so that discovery stays reachable whatever is presented.
//
// Where the certificate comes from:
//   - From a peer that is a trusted proxy, when Header is set: the header
//     alone decides (Via "header"); without it (or empty) the request has no
//     certificate. The proxy's own TLS client certificate, if it sends one,
//     is the proxy's and never the client's.
//   - From any other peer: the TLS handshake's certificate (Via "tls"). A
//     Header sent by such a peer is forged: removed, not read, logged and
//     reported.
//   - On the HTTP listener (listener.From says not Secure; without listener
//     information, a request without TLS): never a certificate, and the
//     Header, from whoever, is dropped the same way.
//
// The header is always removed before the request goes on: handlers never
// see it.
type Verifier struct {
	opts   Options
	header string // canonical
}

// NewVerifier returns a Verifier.
func NewVerifier(opts Options) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{opts: opts}
	if opts.Header != "" {
		v.header = http.CanonicalHeaderKey(opts.Header)
	}
	return v
}

// secure reports whether r came in on the HTTPS listener.
func secure(r *http.Request) bool {
	if info, ok := listener.From(r.Context()); ok {
		return info.Secure && r.TLS != nil
	}
	return r.TLS != nil
}

// Middleware puts the request's Peer (or none) in its context. For a
// certificate that chains to the CAs it also sets r.TLS.VerifiedChains,
// where crypto/tls would have (and clears it otherwise: the handshake
// verified nothing). On the HTTP listener it only removes the Header (a
// forged one there is logged and reported), so that no handler ever sees
// it. It runs inside the request-id middleware (server.Wrap), so that its
// log lines and reports carry the request's id and client address.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var values []string
		if v.header != "" {
			if values = r.Header.Values(v.header); values != nil {
				r.Header.Del(v.header)
			}
		}
		if !secure(r) {
			if values != nil {
				v.drop(r, "on the HTTP listener")
			}
			next.ServeHTTP(w, r)
			return
		}
		var p *Peer
		fromProxy := v.header != "" && v.opts.TrustedProxy != nil && v.opts.TrustedProxy(r.RemoteAddr)
		switch {
		case fromProxy:
			p = v.fromHeader(r, values)
		case values != nil:
			v.drop(r, "from "+r.RemoteAddr+", not a trusted proxy")
			fallthrough
		default:
			if certs := r.TLS.PeerCertificates; len(certs) > 0 {
				p = NewPeer(certs[0], certs[1:], "tls")
			}
		}
		cs := *r.TLS
		cs.VerifiedChains = nil
		if p != nil {
			cs.VerifiedChains = v.Check(r, p)
			r = r.WithContext(With(r.Context(), p))
		}
		r.TLS = &cs
		next.ServeHTTP(w, r)
	})
}

// fromHeader reads a trusted proxy's header values (nil: no certificate).
func (v *Verifier) fromHeader(r *http.Request, values []string) *Peer {
	switch {
	case len(values) == 0:
		return nil
	case len(values) > 1:
		v.unreadable(r, fmt.Sprintf("%s given %d times", v.header, len(values)))
		return nil
	case strings.TrimSpace(values[0]) == "":
		return nil
	}
	leaf, chain, err := ParseHeader(values[0])
	if err != nil {
		v.unreadable(r, err.Error())
		return nil
	}
	return NewPeer(leaf, chain, "header")
}

func (v *Verifier) drop(r *http.Request, why string) {
	v.opts.Logger.WarnContext(r.Context(), "dropped a forged client-certificate header", "header", v.header,
		"remote", r.RemoteAddr, "why", why, "path", r.URL.Path)
	if v.opts.Report != nil {
		v.opts.Report(r, ActionForgedHeader, v.header+" "+why)
	}
}

func (v *Verifier) unreadable(r *http.Request, problem string) {
	v.opts.Logger.WarnContext(r.Context(), "unreadable client-certificate header from a trusted proxy; no certificate", "header", v.header,
		"remote", r.RemoteAddr, "problem", problem, "path", r.URL.Path)
	if v.opts.Report != nil {
		v.opts.Report(r, ActionUnreadableHeader, problem)
	}
}

// Check decides p.Trusted, p.ViaCA and p.Problem, and returns the verified
// chains when p chains to the CAs. Problem names every reason, "; "
// separated: for the CA (expired, not yet valid, not for client
// authentication, not issued by a --client-ca authority) and for the
// allow-list (not on it, on it but expired or not yet valid).
func (v *Verifier) Check(r *http.Request, p *Peer) [][]*x509.Certificate {
	now := v.opts.Now()
	var problems []string
	if v.opts.CAs != nil {
		inter := x509.NewCertPool()
		for _, c := range p.Chain {
			inter.AddCert(c)
		}
		chains, err := p.Cert.Verify(x509.VerifyOptions{Roots: v.opts.CAs, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err == nil {
			p.Trusted, p.ViaCA, p.Problem = true, true, ""
			return chains
		}
		problems = append(problems, caProblem(p.Cert, now, err))
	}
	if v.opts.Allow != nil {
		ok, err := v.opts.Allow.CertificateAllowed(r.Context(), Fingerprint(p.Cert))
		switch {
		case err != nil:
			problems = append(problems, "allow-list unavailable: "+err.Error())
		case ok && now.Before(p.Cert.NotBefore):
			problems = append(problems, "allow-listed but not yet valid (not before "+p.Cert.NotBefore.UTC().Format(time.RFC3339)+")")
		case ok && now.After(p.Cert.NotAfter):
			problems = append(problems, "allow-listed but expired (not after "+p.Cert.NotAfter.UTC().Format(time.RFC3339)+")")
		case ok:
			p.Trusted, p.Problem = true, ""
			return nil
		default:
			problems = append(problems, "not on the allow-list")
		}
	}
	if len(problems) == 0 {
		problems = append(problems, "no --client-ca and no allow-list configured")
	}
	p.Trusted, p.ViaCA, p.Problem = false, false, strings.Join(problems, "; ")
	return nil
}

// caProblem says in words why x509 verification against the CAs failed.
func caProblem(leaf *x509.Certificate, now time.Time, err error) string {
	var inv x509.CertificateInvalidError
	var unk x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired && now.Before(leaf.NotBefore):
		return "not yet valid (not before " + leaf.NotBefore.UTC().Format(time.RFC3339) + ")"
	case errors.As(err, &inv) && inv.Reason == x509.Expired && now.After(leaf.NotAfter):
		return "expired (not after " + leaf.NotAfter.UTC().Format(time.RFC3339) + ")"
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		return "not for client authentication (extended key usage)"
	case errors.As(err, &unk):
		return "not issued by a --client-ca authority"
	}
	return "--client-ca: " + err.Error()
}

// LoadCAPool reads a PEM bundle of CA certificates.
func LoadCAPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("client CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("client CA bundle %s holds no PEM certificate", file)
	}
	return pool, nil
}
