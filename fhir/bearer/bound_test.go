package bearer_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/internal/testclock"
)

// boundVerifier accepts every token as bound to thumb (RFC 8705) and
// counts its calls.
type boundVerifier struct {
	thumb string
	calls int
}

func (v *boundVerifier) Verify(context.Context, string) (*access.Principal, time.Time, error) {
	v.calls++
	return &access.Principal{Subject: "backend", System: true, CertThumbprint: v.thumb}, time.Now().Add(time.Hour), nil
}

// TestS13_BoundTokenCheckedOnEveryRequest: the Authenticator accepts a
// certificate-bound principal only on a request that presents its
// certificate, also when the verification comes from its cache (the
// certificate belongs to the connection, not to the token).
func TestS13_BoundTokenCheckedOnEveryRequest(t *testing.T) {
	certA := &x509.Certificate{Raw: []byte("certificate A")}
	certB := &x509.Certificate{Raw: []byte("certificate B")}
	v := &boundVerifier{thumb: clientcert.Thumbprint(certA)}
	clock := testclock.New(time.Now())
	a := bearer.New(v, nil, bearer.Options{Now: clock.Now})
	req := func(cert *x509.Certificate) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
		r.Header.Set("Authorization", "Bearer tok")
		if cert != nil {
			r = r.WithContext(clientcert.With(r.Context(), clientcert.NewPeer(cert, nil, "tls")))
		}
		return r
	}
	if _, err := a.Authenticate(req(certA)); err != nil {
		t.Fatalf("with its certificate: %v", err)
	}
	for name, cert := range map[string]*x509.Certificate{"without a certificate": nil, "with another certificate": certB} {
		if _, err := a.Authenticate(req(cert)); !errors.Is(err, fhir.ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := a.Authenticate(req(certA)); err != nil || v.calls != 1 {
		t.Errorf("with its certificate again: %v, verifier calls %d (want 1: cached)", err, v.calls)
	}
}
