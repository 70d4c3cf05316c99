package authz

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// errCodeRace: the code was redeemed by a concurrent request between our
// check and our invalidation.
var errCodeRace = errors.New("authz: authorization code already used")

// codeReusedError is what the fosite storage adapter answers for a code
// that was already redeemed (instead of fosite.ErrInvalidatedAuthorizeCode,
// on which fosite's handler revokes the grant but ignores a failure):
// authorizeCodeGrant then revokes the grant's tokens, failing closed.
type codeReusedError struct{ requestID string }

func (e *codeReusedError) Error() string { return "authz: authorization code already used" }

// revokeAttempts and revokePause bound the retries of a reused code's
// revocation within one request.
const (
	revokeAttempts = 3
	revokePause    = 20 * time.Millisecond
)

// authorizeCodeGrant is fosite's authorization_code token handler with
// code reuse failing closed (RFC 6749 §4.1.2, RFC 9700 §4.2.4): a reused
// code (also one lost in a race with a concurrent redemption) revokes
// every access and refresh token of its grant and is answered
// invalid_grant. When the revocation fails (after revokeAttempts tries)
// that is logged at error level, with the grant's request id only, and
// answered server_error (or temporarily_unavailable): the code stays used,
// so the client's retry revokes again.
//
// The exchange applies the person's current rights (grantRights): a code
// of an account deactivated or deleted since the consent, or of one that
// may no longer act for the code's patient, is invalid_grant, and the
// tokens carry the consent's scopes narrowed to the ceiling now.
type authorizeCodeGrant struct {
	*oauth2.AuthorizeExplicitGrantHandler
	Revocations oauth2.TokenRevocationStorage
	Logger      *slog.Logger
	// Users reads the account (nil: no accounts, nothing re-read).
	Users Users
}

var _ fosite.TokenEndpointHandler = (*authorizeCodeGrant)(nil)

// HandleTokenEndpointRequest is fosite's, with code reuse failing closed.
// Over the plain-HTTP listener a code is exchanged only for a loopback
// redirect URI (checklist S2), decided before the code is looked at: the
// request's redirect_uri, or when it has none (allowed for a client with
// one registered URI), every registered one.
func (g *authorizeCodeGrant) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if g.CanHandleTokenEndpointRequest(ctx, ar) && plainHTTPExchangeRefused(ctx, ar) {
		return errPlainHTTPRedirect
	}
	return g.failClosed(ctx, ar, g.AuthorizeExplicitGrantHandler.HandleTokenEndpointRequest(ctx, ar))
}

// plainHTTPExchangeRefused reports whether a code exchange that came over
// the plain-HTTP listener names (or, naming none, may stand for) a redirect
// URI that is not loopback.
func plainHTTPExchangeRefused(ctx context.Context, ar fosite.AccessRequester) bool {
	uris := []string{ar.GetRequestForm().Get("redirect_uri")}
	if uris[0] == "" && ar.GetClient() != nil {
		uris = ar.GetClient().GetRedirectURIs()
	}
	if len(uris) == 0 {
		return plainHTTPNonLoopback(ctx, nil)
	}
	return plainHTTPNonLoopbackURI(ctx, uris)
}

// plainHTTPNonLoopbackURI reports whether the request of ctx came over the
// plain-HTTP listener and one of uris is not a loopback redirect URI (one
// that does not parse counts as not loopback).
func plainHTTPNonLoopbackURI(ctx context.Context, uris []string) bool {
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			pu = nil
		}
		if plainHTTPNonLoopback(ctx, pu) {
			return true
		}
	}
	return false
}

// PopulateTokenEndpointResponse is fosite's under the person's current
// rights, with a lost redemption race failing closed.
func (g *authorizeCodeGrant) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if sess, ok := ar.GetSession().(*Session); ok && g.CanHandleTokenEndpointRequest(ctx, ar) {
		ceiling, person, err := grantRights(ctx, g.Users, sess)
		if err != nil {
			return err
		}
		if person {
			ar = narrowingRequester{AccessRequester: ar, ceiling: ceiling}
		}
	}
	return g.failClosed(ctx, ar, g.AuthorizeExplicitGrantHandler.PopulateTokenEndpointResponse(ctx, ar, resp))
}

// failClosed passes err through unless it says the code was used already.
func (g *authorizeCodeGrant) failClosed(ctx context.Context, ar fosite.AccessRequester, err error) error {
	var reused *codeReusedError
	var requestID string
	switch {
	case errors.As(err, &reused):
		requestID = reused.requestID
	case errors.Is(err, errCodeRace):
		requestID = ar.GetID()
	default:
		return err
	}
	if err := g.revokeGrant(ctx, requestID); err != nil {
		g.Logger.ErrorContext(ctx, "authorization code reused: its grant's tokens could not be revoked",
			"request_id", requestID, "err", err)
		return unavailable(fosite.ErrServerError.WithDescription("The reused authorization code's tokens could not be revoked; try again.").
			WithWrap(err))
	}
	return fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
}

// revokeGrant revokes the access and refresh tokens of a grant, trying
// again on failure.
func (g *authorizeCodeGrant) revokeGrant(ctx context.Context, requestID string) error {
	var err error
	for i := range revokeAttempts {
		if i > 0 {
			g.Logger.WarnContext(ctx, "revoking a reused authorization code's tokens, again", "request_id", requestID, "err", err)
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(i) * revokePause):
			}
		}
		err = errors.Join(g.Revocations.RevokeAccessToken(ctx, requestID), g.Revocations.RevokeRefreshToken(ctx, requestID))
		if err == nil {
			return nil
		}
	}
	return err
}

// launchContextResponse adds the SMART launch context (patient, encounter,
// need_patient_banner, …) of the grant to the token response of an
// authorization (authorization_code) and of its refreshes. It checks
// nothing; the OWin and client_credentials answers carry no context.
type launchContextResponse struct{}

var _ fosite.TokenEndpointHandler = launchContextResponse{}

func (launchContextResponse) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne("authorization_code") || ar.GetGrantTypes().ExactOne("refresh_token")
}

func (launchContextResponse) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (launchContextResponse) HandleTokenEndpointRequest(context.Context, fosite.AccessRequester) error {
	return fosite.ErrUnknownRequest
}

func (h launchContextResponse) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	sess, ok := ar.GetSession().(*Session)
	if !h.CanHandleTokenEndpointRequest(ctx, ar) || !ok {
		return fosite.ErrUnknownRequest
	}
	for k, v := range sess.contextFields() {
		resp.SetExtra(k, v)
	}
	return nil
}
