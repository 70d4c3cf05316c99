package main

import (
	"net/http"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/listener"
)

// What the development HTTP listener lets through beyond the common
// handler (--http-auth=none). The HTTPS listener's client-certificate
// policy (--client-cert-policy) is certauth.go's.

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
