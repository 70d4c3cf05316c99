package authz

import (
	"context"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/smartgate/smartgate/authz/smart"
)

// clientCredentialsConfig is all of the server's configuration the
// client_credentials grant reads beyond fosite's own.
type clientCredentialsConfig struct {
	// TokenTTL is the lifetime of its tokens (Config.BackendTokenTTL).
	TokenTTL time.Duration
	// Now is the clock.
	Now func() time.Time
}

// clientCredentialsGrant is fosite's client_credentials handler with the
// SMART Backend Services policy: a backend-service token speaks for no
// person and no patient, so it carries system/ scopes only (checklist
// K14, R10), and scim or launch:create for a client an administrator
// allowed them (smart.Privileged). Every one requested is granted (fosite
// has already checked each against the client's ceiling, K9: excess →
// invalid_scope), its subject is the client and it lives Config.TokenTTL. Its access tokens
// are stateless (stateless.go).
type clientCredentialsGrant struct {
	*oauth2.ClientCredentialsGrantHandler
	Policy clientCredentialsConfig
}

var _ fosite.TokenEndpointHandler = (*clientCredentialsGrant)(nil)

// HandleTokenEndpointRequest is fosite's, then the system/-only policy.
func (g *clientCredentialsGrant) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if err := g.ClientCredentialsGrantHandler.HandleTokenEndpointRequest(ctx, ar); err != nil {
		return err
	}
	for _, sc := range ar.GetRequestedScopes() {
		if !strings.HasPrefix(sc, "system/") && !smart.Privileged(sc) {
			return fosite.ErrInvalidScope.WithHintf("The client_credentials grant takes system/ scopes (and scim, launch:create) only, not %q.", sc)
		}
	}
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebugf("unexpected session type %T", ar.GetSession())
	}
	sess.Subject = ar.GetClient().GetID()
	sess.Grant = grantClientCredentials
	sess.SetExpiresAt(fosite.AccessToken, g.Policy.Now().UTC().Add(g.Policy.TokenTTL).Round(0))
	return nil
}
