package main

import (
	"net/http"
	"strings"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/listener"
)

// What each network listener lets through beyond the common handler: the
// development HTTP listener without tokens (--http-auth=none) and the
// HTTPS listener's client-certificate policy (--client-cert-policy).

// devHTTPAuth implements --http-auth=none: on the HTTP listener (which
// config allows only on loopback) a FHIR request without an Authorization
// header may do everything; a request that carries a token is still checked.
// On the HTTPS listener nothing changes.
type devHTTPAuth struct{ inner fhir.Authenticator }

func (d devHTTPAuth) Authenticate(r *http.Request) (fhir.Principal, error) {
	if info, ok := listener.From(r.Context()); ok && info.Name == "http" && info.Loopback && r.Header.Get("Authorization") == "" {
		return fhir.NoAccessControl{}.Authenticate(r)
	}
	return d.inner.Authenticate(r)
}

// openPaths stay reachable without a client certificate (checklist A13:
// discovery and the CapabilityStatement are public; health checks too).
func openPath(p string) bool {
	switch {
	case strings.HasPrefix(p, "/.well-known/"), p == "/fhir/metadata", strings.HasPrefix(p, "/fhir/.well-known/"),
		p == "/oauth/jwks", p == "/healthz", p == "/readyz", strings.HasPrefix(p, "/static/"):
		return true
	}
	return false
}

// clientCertPolicy implements --client-cert-policy=reject on the HTTPS
// listener: a request with no verified client certificate is answered 401,
// except for the public documents. "allow" changes nothing. ("limit", the
// built-in anonymous account, is refused at start until it is built.)
func clientCertPolicy(cfg *config.Config, next http.Handler) http.Handler {
	if cfg.ClientCertPolicy != "reject" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := listener.From(r.Context())
		if !ok || !info.Secure || openPath(r.URL.Path) || (r.TLS != nil && len(r.TLS.VerifiedChains) > 0) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("WWW-Authenticate", `Bearer realm="smartgate", error="invalid_request", error_description="a client certificate is required"`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client","error_description":"a trusted client certificate is required on this interface"}` + "\n"))
	})
}
