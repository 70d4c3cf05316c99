//go:build !integrate

package main

// Before the merge of issue 12's parts: the connector types open a
// connector that says it is not built in (the log-in page still shows the
// providers' buttons; a log-in through one is refused as an unreachable
// provider), no linker, no sign-in codes, and the password checker is
// account.Authenticator itself. DELETE THIS FILE AT THE MERGE (and the
// build constraint of federation_integrate.go).

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
	peoplepages "github.com/smartgate/smartgate/web/people"
)

func connectorTypes() map[string]connectorOpener {
	open := func(pr config.Provider, _ string, _ upstream) (idp.CallbackConnector, error) {
		return notBuilt{typ: pr.Type}, nil
	}
	return map[string]connectorOpener{"oidc": open, "oauth2": open}
}

// notBuilt is the connector of a type this build lacks.
type notBuilt struct{ typ string }

func (n notBuilt) err() error {
	return fmt.Errorf("%w: the %s connector is not built in", idp.ErrUnavailable, n.typ)
}

func (n notBuilt) LoginURL(context.Context, idp.State) (string, error) { return "", n.err() }

func (n notBuilt) HandleCallback(context.Context, idp.State, url.Values) (idp.Identity, error) {
	return idp.Identity{}, n.err()
}

func newFederation(_ context.Context, d fedDeps) (*federation, error) {
	providers, err := openProviders(d.cfg, d.getenv, connectorTypes(), newUpstream(d.upstreamTimeout, d.logger))
	if err != nil {
		return nil, err
	}
	return &federation{providers: providers, passwords: d.authenticator}, nil
}

func (f *federation) peopleConfig(*peoplepages.Config) {}

func (f *federation) scimConfig(*scim.Config, *sqlite.DB) {}

func (f *federation) register(*http.ServeMux, *web.Server, fedPages) error { return nil }
