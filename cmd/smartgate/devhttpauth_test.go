package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/listener"
)

// tokenRequired is the inner authenticator of the tests below: it stands
// for fhir/bearer and refuses every request.
type tokenRequired struct{}

func (tokenRequired) Authenticate(*http.Request) (fhir.Principal, error) { return nil, fhir.ErrNoToken }

// TestDevHTTPAuthOnlyOnTheLoopbackHTTPListener: --http-auth=none lets a
// FHIR request without an Authorization header through only on the plain
// HTTP listener that really bound to loopback; the HTTPS listener (even on
// loopback), an HTTP listener on another address, a request with a token
// and a request with no listener information all go to the real
// authenticator (interface.md "Security defaults"). Over real HTTP and TLS
// connections on 127.0.0.1, with listener.Middleware as the server sets it.
func TestDevHTTPAuthOnlyOnTheLoopbackHTTPListener(t *testing.T) {
	open, _ := fhir.NoAccessControl{}.Authenticate(nil)
	auth := devHTTPAuth{inner: tokenRequired{}}
	show := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := auth.Authenticate(r)
		switch {
		case errors.Is(err, fhir.ErrNoToken):
			io.WriteString(w, "token required")
		case err == nil && p == open:
			io.WriteString(w, "open")
		default:
			io.WriteString(w, "unexpected")
		}
	})
	for _, tc := range []struct {
		name   string
		info   *listener.Info
		tls    bool
		header string
		want   string
	}{
		{"HTTPLoopback", &listener.Info{Name: "http", Loopback: true}, false, "", "open"},
		{"HTTPLoopbackWithToken", &listener.Info{Name: "http", Loopback: true}, false, "Bearer not-a-token", "token required"},
		{"HTTPLoopbackWithOtherAuthorization", &listener.Info{Name: "http", Loopback: true}, false, "Basic YTpi", "token required"},
		{"HTTPNotLoopback", &listener.Info{Name: "http", Loopback: false}, false, "", "token required"},
		{"HTTPSLoopback", &listener.Info{Name: "https", Secure: true, Loopback: true}, true, "", "token required"},
		{"HTTPSNotLoopback", &listener.Info{Name: "https", Secure: true}, true, "", "token required"},
		{"NoListenerInfo", nil, false, "", "token required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler = show
			if tc.info != nil {
				h = listener.Middleware(*tc.info, show)
			}
			srv := httptest.NewUnstartedServer(h)
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/fhir/Patient", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tc.want {
				t.Fatalf("got %q, want %q", b, tc.want)
			}
		})
	}
}
