package main

// The parts of federated log-in (issue 12) as wired: the connector types,
// the linker, sign-in codes, the local password connector, and what the
// people pages, SCIM and the providers page are given.

import (
	"context"
	"fmt"
	"net/http"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/idp/link"
	"github.com/smartgate/smartgate/idp/local"
	idpoauth2 "github.com/smartgate/smartgate/idp/oauth2"
	idpoidc "github.com/smartgate/smartgate/idp/oidc"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/web"
	peoplepages "github.com/smartgate/smartgate/web/people"
	providerpages "github.com/smartgate/smartgate/web/providers"
)

// connectorTypes is the explicit table of connector types (no init()
// registration): the configuration's type → its opener.
func connectorTypes() map[string]connectorOpener {
	return map[string]connectorOpener{"oidc": openOIDC, "oauth2": openOAuth2}
}

func openOIDC(pr config.Provider, secret string, up upstream) (idp.CallbackConnector, error) {
	c := &idpoidc.Config{
		Issuer:         pr.Issuer,
		ClientID:       pr.ClientID,
		ClientSecret:   secret,
		Scopes:         pr.Scopes,
		Preset:         pr.PresetOrNone(),
		AllowedDomains: pr.AllowedDomains,
		Claims:         pr.Claims,
		HTTPClient:     up.client,
		Now:            up.now,
	}
	conn, err := c.Open(pr.ID, up.logger)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

func openOAuth2(pr config.Provider, secret string, up upstream) (idp.CallbackConnector, error) {
	c := &idpoauth2.Config{
		Issuer:         pr.Issuer,
		AuthURL:        pr.AuthURL,
		TokenURL:       pr.TokenURL,
		UserInfoURL:    pr.UserInfoURL,
		ClientID:       pr.ClientID,
		ClientSecret:   secret,
		Scopes:         pr.Scopes,
		Preset:         pr.PresetOrNone(),
		AllowedDomains: pr.AllowedDomains,
		Claims:         pr.Claims,
		HTTPClient:     up.client,
		Logger:         up.logger,
	}
	conn, err := c.Open(pr.ID, up.logger)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

func newFederation(_ context.Context, d fedDeps) (*federation, error) {
	providers, err := openProviders(d.cfg, d.getenv, connectorTypes(), newUpstream(d.upstreamTimeout, d.logger))
	if err != nil {
		return nil, err
	}
	linker := link.New(link.Config{Store: d.db, People: d.people, Audit: d.audit, Logger: d.logger.With("component", "link")})
	// Failed redemptions count against the log-in throttle per address,
	// with the wrong passwords and second-factor codes.
	codes := account.NewSignInCodes(account.SignInCodesConfig{Store: d.db, Users: d.db, Throttle: d.throttle})
	return &federation{
		providers: providers,
		linker:    linker,
		codes:     codes,
		passwords: local.New(d.authenticator),
	}, nil
}

// peopleConfig gives the users page the links (shown, unlinked there) and
// the sign-in code button.
func (f *federation) peopleConfig(c *peoplepages.Config) {
	c.Links = f.linker
	c.SignIn = f.codes
	c.Providers = f.providers
}

// scimConfig gives SCIM the links (the store's LinksOfUsers) it shows as
// the identities attribute.
func (f *federation) scimConfig(c *scim.Config, db database) {
	c.Links = db
}

// register mounts the providers page (/admin/providers).
func (f *federation) register(mux *http.ServeMux, pages *web.Server, p fedPages) error {
	s, err := providerpages.New(providerpages.Config{
		Pages:     pages,
		Providers: f.providers,
		HTTPBase:  p.httpBase,
		HTTPSBase: p.httpsBase,
		Assets:    p.assets,
		Audit:     p.audit,
		Logger:    p.logger,
	})
	if err != nil {
		return fmt.Errorf("providers page: %w", err)
	}
	s.Register(mux)
	return nil
}
