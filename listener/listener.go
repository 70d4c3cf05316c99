// Package listener describes, in a request's context, which of the server's
// interfaces (the insecure HTTP one or the secure HTTPS one) a request came in
// on and under which public base URL, so that discovery documents, issuer
// values and links name the listener that was used.
package listener

import (
	"context"
	"net/http"
	"strings"
)

// Info describes one listener.
type Info struct {
	// Name is "http" or "https".
	Name string
	// BaseURL is the listener's public base URL, without a trailing slash,
	// e.g. "https://localhost:8443".
	BaseURL string
	// Secure reports whether the listener is the TLS one.
	Secure bool
	// Loopback reports whether the listener binds only to loopback addresses.
	Loopback bool
}

type ctxKey struct{}

// With returns a copy of ctx carrying info.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, ctxKey{}, info)
}

// From returns the listener info carried by ctx and whether there was one.
func From(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(ctxKey{}).(Info)
	return info, ok
}

// BaseURL returns the public base URL of the listener that served r. When the
// request carries no listener info (unit tests using httptest directly), it
// derives one from the request itself.
func BaseURL(r *http.Request) string {
	if info, ok := From(r.Context()); ok && info.BaseURL != "" {
		return info.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + strings.TrimSuffix(r.Host, "/")
}

// Middleware returns a handler that stores info in each request's context.
func Middleware(info Info, next http.Handler) http.Handler {
	info.BaseURL = strings.TrimRight(info.BaseURL, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(With(r.Context(), info)))
	})
}
