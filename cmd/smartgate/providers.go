package main

// The federated identity providers as the program wires them: the
// explicit table of connector types (connectorTypes, in federation*.go),
// and openProviders, which turns the configuration's providers: into the
// []idp.Provider the pages, the linker and the providers page share.

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/idp"
)

// connectorOpener opens the connector of one configured provider, with its
// client secret (read by openProviders) and the upstream client.
type connectorOpener func(pr config.Provider, secret string, up upstream) (idp.CallbackConnector, error)

// upstream is what every connector shares: the one bounded client of
// upstream calls (idp.HTTPClient), the clock and the logger.
type upstream struct {
	client *http.Client
	now    func() time.Time
	logger *slog.Logger
}

// newUpstream is the upstream of the providers; timeout <= 0 is
// idp.DefaultTimeout (env.upstreamTimeout, a test hook, shortens it).
func newUpstream(timeout time.Duration, logger *slog.Logger) upstream {
	return upstream{client: idp.HTTPClient(nil, timeout, 0), now: time.Now, logger: logger}
}

// providerName is pr's button label: display_name, else the preset's
// name, else the id.
func providerName(pr config.Provider) string {
	if pr.DisplayName != "" {
		return pr.DisplayName
	}
	if n := idp.PresetName(pr.Preset); n != "" {
		return n
	}
	return pr.ID
}

// provisioning is pr's provisioning policy (default invite).
func provisioning(pr config.Provider) idp.Provisioning {
	if pr.Provisioning == string(idp.ProvisionAuto) {
		return idp.ProvisionAuto
	}
	return idp.ProvisionInvite
}

// openProviders opens every configured provider, in the file's order,
// with the connector type's opener from types. Nothing is fetched here:
// connectors discover their provider lazily, so an unreachable provider
// shows on its button and the providers page, and the server starts.
func openProviders(cfg *config.Config, getenv func(string) string, types map[string]connectorOpener, up upstream) ([]idp.Provider, error) {
	out := make([]idp.Provider, 0, len(cfg.Providers))
	for _, pr := range cfg.Providers {
		open, ok := types[pr.Type]
		if !ok {
			return nil, fmt.Errorf("provider %s: type %q is not available in this program", pr.ID, pr.Type)
		}
		secret, err := pr.ReadSecret(getenv)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", pr.ID, err)
		}
		logger := up.logger.With(slog.Group("connector", "type", pr.Type, "id", pr.ID))
		conn, err := open(pr, secret, upstream{client: up.client, now: up.now, logger: logger})
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", pr.ID, err)
		}
		out = append(out, idp.Provider{
			ID:           pr.ID,
			Name:         providerName(pr),
			Type:         pr.Type,
			Preset:       pr.PresetOrNone(),
			Issuer:       pr.LinkIssuer(),
			Provisioning: provisioning(pr),
			TrustedEmail: pr.TrustedEmail,
			Connector:    conn,
		})
	}
	return out, nil
}
