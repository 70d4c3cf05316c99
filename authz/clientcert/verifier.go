package clientcert

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// Options configure a Verifier.
type Options struct {
	// CAs is the --client-ca pool, or nil.
	CAs *x509.CertPool
	// Allow is the allow-list, or nil.
	Allow AllowList
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Verifier decides, per request, whether the HTTPS listener's client
// certificate is trusted, and records the answer (a Peer) in the request's
// context. The TLS handshake only requests certificates and never fails
// over one, so that discovery stays reachable whatever is presented.
type Verifier struct {
	opts Options
}

// NewVerifier returns a Verifier.
func NewVerifier(opts Options) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{opts: opts}
}

// Middleware puts the request's Peer (or none) in its context. For a
// certificate that chains to the CAs it also sets r.TLS.VerifiedChains,
// where crypto/tls would have.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			certs := r.TLS.PeerCertificates
			p := NewPeer(certs[0], certs[1:], "tls")
			chains := v.Check(r, p)
			cs := *r.TLS
			cs.VerifiedChains = chains
			r = r.WithContext(With(r.Context(), p))
			r.TLS = &cs
		}
		next.ServeHTTP(w, r)
	})
}

// Check decides p.Trusted, p.ViaCA and p.Problem, and returns the verified
// chains when p chains to the CAs.
func (v *Verifier) Check(r *http.Request, p *Peer) [][]*x509.Certificate {
	now := v.opts.Now()
	var problems []error
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
		problems = append(problems, err)
	}
	if v.opts.Allow != nil {
		ok, err := v.opts.Allow.CertificateAllowed(r.Context(), Fingerprint(p.Cert))
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("allow-list: %w", err))
		case ok && now.Before(p.Cert.NotBefore):
			problems = append(problems, errors.New("allow-listed certificate not yet valid"))
		case ok && now.After(p.Cert.NotAfter):
			problems = append(problems, errors.New("allow-listed certificate expired"))
		case ok:
			p.Trusted, p.Problem = true, ""
			return nil
		default:
			problems = append(problems, errors.New("not on the allow-list"))
		}
	}
	if len(problems) == 0 {
		problems = append(problems, errors.New("no client CA and no allow-list configured"))
	}
	p.Trusted, p.Problem = false, errors.Join(problems...).Error()
	return nil
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
