package authz

import (
	"context"
	"net/http"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/smart"
)

// refreshGrant is fosite's refresh_token handler (rotation, reuse
// detection: fositeStore) with RFC 6749 §6 scope narrowing, and the
// person's current rights (grantRights): a refresh re-reads the account
// (Users), refuses a deactivated or deleted one, and narrows the new
// tokens to the person's ceiling as it is now.
type refreshGrant struct {
	*oauth2.RefreshTokenGrantHandler
	// Users reads the account (nil: no accounts, nothing re-read).
	Users Users
}

var _ fosite.TokenEndpointHandler = (*refreshGrant)(nil)

// HandleTokenEndpointRequest is fosite's, then the scope parameter.
func (g *refreshGrant) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if g.CanHandleTokenEndpointRequest(ctx, ar) && plainHTTPRefreshRefused(ctx, ar.GetClient()) {
		return errPlainHTTPRedirect
	}
	if err := g.RefreshTokenGrantHandler.HandleTokenEndpointRequest(ctx, ar); err != nil {
		return err
	}
	actor := ""
	if sess, ok := ar.GetSession().(*Session); ok {
		actor = sess.Subject
	}
	if scope := ar.GetRequestForm().Get("scope"); scope != "" {
		if err := narrowRefreshScopes(ar, strings.Fields(scope)); err != nil {
			return err.WithWrap(&refusal{outcome: audit.Failure, detail: err.ErrorField, actor: actor})
		}
	}
	return g.applyRights(ctx, ar)
}

// applyRights applies the person's current rights to a refresh
// (grantRights): an account deactivated, deleted or no longer allowed the
// grant's patient is refused, and the scopes are narrowed to the ceiling
// now. A client's own grant (client_credentials) has no account.
func (g *refreshGrant) applyRights(ctx context.Context, ar fosite.AccessRequester) error {
	sess, ok := ar.GetSession().(*Session)
	req, rok := ar.(*fosite.AccessRequest)
	if !ok || !rok {
		return nil
	}
	ceiling, person, err := grantRights(ctx, g.Users, sess)
	if err != nil || !person {
		return err
	}
	req.GrantedScope = fosite.Arguments(smart.NarrowTo(req.GrantedScope, ceiling))
	return nil
}

// narrowRefreshScopes applies a refresh request's scope parameter (RFC 6749
// §6): every scope must have been granted originally (else invalid_scope);
// the new tokens carry only the requested ones, plus the refresh-permitting
// offline_access / online_access so that the grant can still be refreshed.
func narrowRefreshScopes(ar fosite.AccessRequester, requested []string) *fosite.RFC6749Error {
	original := ar.GetGrantedScopes()
	keep := fosite.Arguments{}
	for _, sc := range requested {
		if !original.Has(sc) {
			return fosite.ErrInvalidScope.WithHintf("The scope %q was not originally granted.", sc)
		}
		if !keep.Has(sc) {
			keep = append(keep, sc)
		}
	}
	for _, sc := range []string{"offline_access", "online_access"} {
		if original.Has(sc) && !keep.Has(sc) {
			keep = append(keep, sc)
		}
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError.WithDebugf("unexpected access request type %T", ar)
	}
	req.GrantedScope = keep
	return nil
}

// identifyPublicRefresh fills in client_id for a refresh request that
// names no client at all, when the refresh token belongs to a public
// client. RFC 6749 requires client_id from unauthenticated clients only in
// the authorization_code grant (§3.2.1); §6 asks for authentication only
// from confidential clients, and the SMART JavaScript client refreshes
// without it. The token stays bound to its client: only that client's id
// is filled in, and a confidential client must still authenticate.
func (s *Server) identifyPublicRefresh(r *http.Request) {
	f := r.PostForm
	if f.Get("client_id") != "" || f.Get("client_assertion") != "" || r.Header.Get("Authorization") != "" {
		return
	}
	tok := f.Get("refresh_token")
	if tok == "" || s.refreshSig == nil {
		return
	}
	ctx := r.Context()
	rec, err := s.st.GetToken(ctx, KindRefresh, hashKey(s.refreshSig.RefreshTokenSignature(ctx, tok)))
	if err != nil {
		return
	}
	c, err := s.st.GetClient(ctx, rec.ClientID)
	if err != nil || !c.Public || c.Disabled {
		return
	}
	f.Set("client_id", c.ID)
	r.Form.Set("client_id", c.ID)
}

// plainHTTPRefreshRefused reports whether a refresh that came over the
// plain-HTTP listener is for a client with a redirect URI that is not
// loopback: the flow that checklist S2 keeps on HTTPS for such a client
// stays there for its refreshes too (decided before the refresh token is
// looked at, so that nothing rotates). Clients without redirect URIs
// (OWin, backend services) are not affected.
func plainHTTPRefreshRefused(ctx context.Context, c fosite.Client) bool {
	return c != nil && plainHTTPNonLoopbackURI(ctx, c.GetRedirectURIs())
}
