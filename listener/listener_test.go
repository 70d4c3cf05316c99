package listener_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smartgate/smartgate/listener"
)

// serve answers one GET /x by h on a real loopback server (TLS when
// secure) and returns the body and the server's URL.
func serve(t *testing.T, h http.Handler, secure bool) (body, url string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if secure {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b), srv.URL
}

func TestWithAndFrom(t *testing.T) {
	if _, ok := listener.From(context.Background()); ok {
		t.Fatal("From of a bare context found info")
	}
	in := listener.Info{Name: "https", BaseURL: "https://gate.example", Secure: true, Loopback: false}
	got, ok := listener.From(listener.With(context.Background(), in))
	if !ok || got != in {
		t.Fatalf("From(With(info)) = %+v, %v; want %+v", got, ok, in)
	}
}

// TestMiddlewareOverHTTP: behind Middleware a handler reads the
// listener's info (its base URL without a trailing slash) from the request
// context, over real HTTP and TLS connections.
func TestMiddlewareOverHTTP(t *testing.T) {
	show := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := listener.From(r.Context())
		fmt.Fprintf(w, "%v|%s|%v|%s", ok, info.Name, info.Secure, listener.BaseURL(r))
	})
	for _, tc := range []struct {
		name string
		info listener.Info
		tls  bool
		want string
	}{
		{"http", listener.Info{Name: "http", BaseURL: "http://localhost:8080/"}, false, "true|http|false|http://localhost:8080"},
		{"https", listener.Info{Name: "https", BaseURL: "https://gate.example//", Secure: true}, true, "true|https|true|https://gate.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := serve(t, listener.Middleware(tc.info, show), tc.tls); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBaseURLWithoutInfo: a request that carries no listener info (or
// info without a base URL) gets a base URL from its own scheme and Host.
func TestBaseURLWithoutInfo(t *testing.T) {
	show := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, listener.BaseURL(r)) })
	for _, tc := range []struct {
		name string
		h    http.Handler
		tls  bool
	}{
		{"plain, no info", show, false},
		{"TLS, no info", show, true},
		{"info without a base URL", listener.Middleware(listener.Info{Name: "http"}, show), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, url := serve(t, tc.h, tc.tls); got != url {
				t.Fatalf("BaseURL = %q, want %q", got, url)
			}
		})
	}
}
