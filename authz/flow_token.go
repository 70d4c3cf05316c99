package authz

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// handleToken is the token endpoint: authorization_code, refresh_token,
// client_credentials and (OWin, no client) password.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	base := listener.BaseURL(r)
	ctx := withIssuer(r.Context(), base)
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
		return
	}
	grant := r.PostForm.Get("grant_type")
	if grant == "password" {
		s.handleOWin(w, r, base)
		return
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, newSession())
	err = unavailable(err)
	if err != nil {
		code, _ := errorCode(err)
		clientID := ""
		if ar != nil && ar.GetClient() != nil {
			clientID = ar.GetClient().GetID()
		}
		kind := "token"
		if grant == "refresh_token" {
			kind = "refresh"
		}
		s.audit(r, audit.Event{Kind: kind, ClientID: clientID, Action: grant, Outcome: audit.Failure, Detail: code})
		if code == "server_error" {
			s.log.ErrorContext(ctx, "token request", "err", err, "grant_type", grant)
		}
		challengeBasic(w, r, err)
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	sess := ar.GetSession().(*Session)
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		for _, sc := range ar.GetRequestedScopes() {
			ar.GrantScope(sc)
		}
		sess.Subject = ar.GetClient().GetID()
		sess.Grant = "client_credentials"
		sess.SetExpiresAt(fosite.AccessToken, s.cfg.Now().UTC().Add(s.cfg.BackendTokenTTL).Round(0))
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") && r.PostForm.Get("scope") != "" {
		if err := narrowRefreshScopes(ar, strings.Fields(r.PostForm.Get("scope"))); err != nil {
			s.audit(r, audit.Event{Kind: "refresh", Actor: sess.Subject, ClientID: ar.GetClient().GetID(), Action: grant,
				Outcome: audit.Failure, Detail: "invalid_scope"})
			s.provider.WriteAccessError(ctx, w, ar, err)
			return
		}
	}
	sess.Issuer = base
	sess.Claims.Issuer = base
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if errors.Is(err, errCodeRace) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		// Lost a race with a concurrent redemption of the same code: treat
		// it as code reuse (RFC 6749 §4.1.2) and revoke the grant's tokens.
		now := s.cfg.Now()
		_ = s.st.RevokeTokens(ctx, KindAccess, ar.GetID(), now)
		_ = s.st.RevokeTokens(ctx, KindRefresh, ar.GetID(), now)
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	}
	err = unavailable(err)
	if err != nil {
		code, _ := errorCode(err)
		s.audit(r, audit.Event{Kind: "token", Actor: sess.Subject, ClientID: ar.GetClient().GetID(), Action: grant,
			Outcome: audit.Failure, Detail: code})
		if code == "server_error" {
			s.log.ErrorContext(ctx, "token response", "err", err, "grant_type", grant)
		}
		challengeBasic(w, r, err)
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	for k, v := range sess.contextFields() {
		resp.SetExtra(k, v)
	}
	kind := "token"
	if grant == "refresh_token" {
		kind = "refresh"
	}
	s.audit(r, audit.Event{Kind: kind, Actor: sess.Subject, ClientID: ar.GetClient().GetID(), Patient: sess.patientID(),
		Action: grant, Scopes: strings.Join(ar.GetGrantedScopes(), " "), Outcome: audit.Success})
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// unavailable turns a storage outage into temporarily_unavailable (503),
// so that clients retry instead of treating it as a protocol error.
func unavailable(err error) error {
	if err != nil && errors.Is(err, store.ErrUnavailable) {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err)
	}
	return err
}

// narrowRefreshScopes applies a refresh request's scope parameter (RFC 6749
// §6): every scope must have been granted originally (else invalid_scope);
// the new tokens carry only the requested ones, plus the refresh-permitting
// offline_access / online_access so that the grant can still be refreshed.
func narrowRefreshScopes(ar fosite.AccessRequester, requested []string) error {
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

// challengeBasic adds the WWW-Authenticate challenge that RFC 6749 §5.2
// requires when a client that used HTTP Basic fails to authenticate.
func challengeBasic(w http.ResponseWriter, r *http.Request, err error) {
	if code, _ := errorCode(err); code == "invalid_client" {
		if _, _, ok := r.BasicAuth(); ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="smartgate"`)
		}
	}
}
