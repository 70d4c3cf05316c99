package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/internal/reqctx"
)

// The secure interface (issue 13): the HTTPS listener's client-certificate
// Verifier, and what the --client-cert-policy does with its answer.

// newCertVerifier makes the Verifier the HTTPS listener runs in front of
// the handler: trust from --client-ca and the allow-list (the store), the
// certificate from --client-cert-header when a --trusted-proxies peer
// sends it; a forged header is logged and audited (kind
// "client-certificate"). It first checks the start-up rule: a policy that
// rejects in any case needs something to trust.
func newCertVerifier(ctx context.Context, cfg *config.Config, db database, logger *slog.Logger, rec audit.Recorder) (*clientcert.Verifier, error) {
	if err := checkCertTrust(ctx, cfg, db); err != nil {
		return nil, err
	}
	opts := clientcert.Options{Allow: db, Header: cfg.ClientCertHeader, Logger: logger.With("component", "clientcert")}
	if cfg.ClientCA != "" {
		pool, err := clientcert.LoadCAPool(cfg.ClientCA)
		if err != nil {
			return nil, err
		}
		opts.CAs = pool
	}
	if len(cfg.TrustedProxies) > 0 {
		opts.TrustedProxy = cfg.TrustedProxies.Contains
	}
	opts.Report = func(r *http.Request, action, detail string) {
		outcome := audit.Denied
		if action == clientcert.ActionUnreadableHeader {
			outcome = audit.Failure
		}
		rec.Record(r.Context(), audit.Event{At: time.Now(), Kind: "client-certificate", Action: action, Outcome: outcome,
			Resource: r.URL.Path, Detail: detail, Address: reqctx.PeerAddress(r)})
	}
	return clientcert.NewVerifier(opts), nil
}

// checkCertTrust is the start-up rule (issue 13, Build 1): a
// --client-cert-policy that says reject in any case needs --client-ca or a
// non-empty allow-list, else every certificate would be refused.
func checkCertTrust(ctx context.Context, cfg *config.Config, db database) error {
	if !cfg.CertPolicy().Rejects() || cfg.ClientCA != "" {
		return nil
	}
	n, err := db.CountTrustedCertificates(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return &config.Error{Problems: []string{"client-cert-policy " + cfg.CertPolicy().String() +
		" rejects, but nothing is trusted: give --client-ca (a PEM bundle of client CAs) or put certificates on the allow-list (/admin/certificates)"}}
}
