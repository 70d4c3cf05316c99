// Package scimauth decides who may call the SCIM API (scim.Authorizer):
// provisioning tokens that an administrator issued for one client, tokens
// carrying the scim scope from a client an administrator allowed SCIM, and
// administrators' own tokens. It also defines the provisioning tokens'
// record and store (Token, TokenStore), which store/sqlite implements and
// the client pages (web/clients) issue, list and revoke.
package scimauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/store"
)

// TouchInterval is how stale a provisioning token's recorded last use may
// get: a use is written only when the last recorded one is older, so a busy
// provisioning client costs one write a minute, not one a request.
const TouchInterval = time.Minute

// Verifier checks access tokens: the authorization server
// (authz.Server.VerifyAccessToken), which returns authz.ErrInactiveToken
// for a token to refuse and an error wrapping store.ErrUnavailable when the
// store is down.
type Verifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*authz.TokenInfo, error)
}

// Clients reads clients (the authorization server's authz.ClientCache, so
// that a disable or an edit on the pages is seen at once).
type Clients interface {
	GetClient(ctx context.Context, id string) (*authz.Client, error)
}

// Accounts reads the current claims of an active account
// (authz.Accounts): store.ErrNotFound for one that is gone or deactivated.
type Accounts interface {
	Claims(ctx context.Context, subject string) (authz.UserClaims, error)
}

// Config holds an Authorizer's dependencies; all but Audit, Logger and Now
// are required.
type Config struct {
	Tokens   TokenStore
	Clients  Clients
	Verifier Verifier
	Accounts Accounts
	Audit    audit.Recorder
	Logger   *slog.Logger
	Now      func() time.Time
}

// Authorizer is the scim.Authorizer of smartgate.
type Authorizer struct {
	cfg Config
}

var _ scim.Authorizer = (*Authorizer)(nil)

// New returns an Authorizer.
func New(cfg Config) (*Authorizer, error) {
	if cfg.Tokens == nil || cfg.Clients == nil || cfg.Verifier == nil || cfg.Accounts == nil {
		return nil, errors.New("scimauth: Tokens, Clients, Verifier and Accounts are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authorizer{cfg: cfg}, nil
}

// AuthorizeSCIM decides who r speaks for, from its bearer token alone:
//
//   - a provisioning token (TokenPrefix) that is not revoked, of a client
//     that exists, is enabled and is allowed SCIM: CallerProvisioning;
//   - an access token the authorization server verifies, issued by the
//     client_credentials grant with the scim scope to a client that is
//     (still) enabled and allowed SCIM: CallerClient;
//   - an administrator's token: CallerAdmin. That is an OWin token of an
//     account with the admin role (an OWin token carries its account's
//     whole rights, interface.md), or a user token with the scim scope of
//     an account with the admin role, from a client (still) allowed SCIM.
//     Not any token of an administrator: a SMART app an administrator once
//     used holds a token of that account too, and must not manage people.
//     The account must be an active administrator now as well: an OWin
//     token's roles are those of its issuing, and a user token of the
//     authorization code flow carries none, so the account's current
//     roles decide (a demoted administrator's tokens stop at once).
//
// No, an unknown, expired or revoked token, a provisioning token of a
// disabled or deleted client: scim.ErrNoCredentials. A valid token without
// that right: scim.ErrForbidden. The store down: an error wrapping
// store.ErrUnavailable. The token is never logged.
func (a *Authorizer) AuthorizeSCIM(r *http.Request) (*scim.Caller, error) {
	tok, ok := authz.BearerToken(r)
	if !ok || tok == "" {
		return nil, scim.ErrNoCredentials
	}
	if IsProvisioningToken(tok) {
		return a.provisioning(r, tok)
	}
	ti, err := a.cfg.Verifier.VerifyAccessToken(r.Context(), tok)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return nil, fmt.Errorf("scimauth: verify access token: %w", err)
	case err != nil:
		return nil, scim.ErrInvalidToken
	case !clientcert.BoundMatches(r.Context(), ti.CertThumbprint):
		// A certificate-bound token without its certificate (RFC 8705 §3).
		a.refuse(r, ti.Subject, ti.ClientID, "certificate-bound access token without its certificate")
		return nil, scim.ErrInvalidToken
	}
	c, err := a.accessCaller(r.Context(), ti)
	if errors.Is(err, scim.ErrForbidden) {
		a.refuse(r, ti.Subject, ti.ClientID, "access token without the right to SCIM")
	}
	return c, err
}

// accessCaller is the caller of a verified access token (the one rule of
// administrators' privileges, authz.Privilege.Caller), or
// scim.ErrForbidden.
func (a *Authorizer) accessCaller(ctx context.Context, ti *authz.TokenInfo) (*scim.Caller, error) {
	pc, err := authz.PrivilegeSCIM.Caller(ctx, ti, a.cfg.Clients, a.cfg.Accounts)
	switch {
	case errors.Is(err, authz.ErrNotPrivileged):
		return nil, scim.ErrForbidden
	case errors.Is(err, authz.ErrInactiveToken):
		return nil, scim.ErrNoCredentials
	case err != nil:
		return nil, fmt.Errorf("scimauth: %w", err)
	case pc.Admin:
		return &scim.Caller{Kind: scim.CallerAdmin, Subject: pc.Subject, ClientID: pc.ClientID}, nil
	}
	return &scim.Caller{Kind: scim.CallerClient, Subject: pc.Subject, ClientID: pc.ClientID}, nil
}

// provisioning authorises a provisioning token.
func (a *Authorizer) provisioning(r *http.Request, tok string) (*scim.Caller, error) {
	ctx := r.Context()
	t, err := a.cfg.Tokens.ProvisioningTokenByHash(ctx, HashToken(tok))
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.refuse(r, "", "", "unknown provisioning token")
		return nil, scim.ErrNoCredentials
	case err != nil:
		return nil, fmt.Errorf("scimauth: provisioning token: %w", err)
	case t.Revoked():
		a.refuse(r, t.ID, t.ClientID, "revoked provisioning token")
		return nil, scim.ErrNoCredentials
	}
	c, err := a.cfg.Clients.GetClient(ctx, t.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.refuse(r, t.ID, t.ClientID, "provisioning token of a deleted client")
		return nil, scim.ErrNoCredentials
	case err != nil:
		return nil, fmt.Errorf("scimauth: client %q: %w", t.ClientID, err)
	case c.Disabled || c.Pending:
		a.refuse(r, t.ID, t.ClientID, "provisioning token of a disabled client")
		return nil, scim.ErrNoCredentials
	case !c.AllowSCIM:
		a.refuse(r, t.ID, t.ClientID, "provisioning token of a client not allowed SCIM")
		return nil, scim.ErrForbidden
	}
	if now := a.cfg.Now(); now.Sub(t.LastUsedAt) >= TouchInterval {
		if err := a.cfg.Tokens.TouchProvisioningToken(ctx, t.ID, now); err != nil {
			// The request is authorised; only the last-use display lags.
			a.cfg.Logger.WarnContext(ctx, "scimauth: record provisioning token use", "token_id", t.ID, "err", err)
		}
	}
	return &scim.Caller{Kind: scim.CallerProvisioning, Subject: t.ClientID, ClientID: t.ClientID}, nil
}

// refuse audits a refused SCIM authorisation (never the token). actor is
// the provisioning token's id or the access token's subject.
func (a *Authorizer) refuse(r *http.Request, actor, clientID, detail string) {
	if a.cfg.Audit == nil {
		return
	}
	a.cfg.Audit.Record(r.Context(), audit.Event{At: a.cfg.Now(), Kind: "scim", Actor: actor, ClientID: clientID,
		Action: "authorize", Outcome: audit.Failure, Detail: detail,
		Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(r.Context())})
}
