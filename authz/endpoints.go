package authz

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// handleIntrospect is RFC 7662 introspection. The caller authenticates as
// a confidential client (any method) or with a bearer token of a
// client_credentials grant (a resource server). An unknown, expired or
// revoked token answers 200 {"active":false}, and so does a person's token
// whose account is deactivated or deleted, and a token issued to
// another client unless an administrator allowed the caller to introspect
// every client's tokens (Client.IntrospectAll; RFC 7662 §4: no error, so
// that the endpoint is no oracle for scanning tokens).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	base := listener.BaseURL(r)
	ctx := withIssuer(r.Context(), base)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
		return
	}
	caller, ok := s.introspectionCaller(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="smartgate", Bearer realm="smartgate"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Introspection requires client authentication.")
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The token parameter is missing.")
		return
	}
	use := fosite.AccessToken
	if r.PostForm.Get("token_type_hint") == "refresh_token" {
		use = fosite.RefreshToken
	}
	tu, ar, err := s.provider.IntrospectToken(ctx, token, use, newSession())
	if errors.Is(err, store.ErrUnavailable) {
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Please retry.")
		return
	}
	if err != nil || !caller.mayIntrospect(ar.GetClient().GetID()) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false}, true)
		return
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"active": false}, true)
		return
	}
	// A person's token is inactive with its account (CurrentAccount), also
	// if its revocation was missed.
	if _, _, err := CurrentAccount(ctx, s.users, sess.Grant, sess.Subject); errors.Is(err, store.ErrUnavailable) {
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Please retry.")
		return
	} else if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"active": false}, true)
		return
	}
	out := map[string]any{
		"active":    true,
		"scope":     strings.Join(ar.GetGrantedScopes(), " "),
		"client_id": ar.GetClient().GetID(),
		"iat":       ar.GetRequestedAt().Unix(),
	}
	if tu == fosite.RefreshToken {
		out["token_type"] = "refresh_token"
		if exp := sess.GetExpiresAt(fosite.RefreshToken); !exp.IsZero() {
			out["exp"] = exp.Unix()
		}
	} else {
		out["token_type"] = "Bearer"
		out["exp"] = sess.GetExpiresAt(fosite.AccessToken).Unix()
	}
	sub := sess.GetSubject()
	if sub == "" {
		sub = ar.GetClient().GetID()
	}
	out["sub"] = sub
	if sess.Username != "" {
		out["username"] = sess.Username
	}
	if sess.Issuer != "" {
		out["iss"] = sess.Issuer
	}
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		out["aud"] = []string(aud)
	} else if len(s.cfg.FHIRBaseURLs) > 0 {
		out["aud"] = s.cfg.FHIRBaseURLs
	}
	if sess.FHIRUser != "" {
		if v, ok := sess.Claims.Extra["fhirUser"].(string); ok {
			out["fhirUser"] = v
		} else {
			out["fhirUser"] = sess.FHIRUser
		}
	}
	for k, v := range sess.contextFields() {
		out[k] = v
	}
	if sess.CertThumbprint != "" {
		// RFC 8705 §3.2, whatever certificate the caller presents: the
		// resource server compares it with its own request's.
		out["cnf"] = cnfClaim(sess.CertThumbprint)
	}
	writeJSON(w, http.StatusOK, out, true)
}

// introspector is an authenticated introspection caller.
type introspector struct {
	clientID string
	all      bool // Client.IntrospectAll
}

// mayIntrospect reports whether the caller may learn about a token issued
// to clientID.
func (c introspector) mayIntrospect(clientID string) bool {
	return c.all || clientID == c.clientID
}

// introspectionCaller authenticates the caller: a confidential client, or a
// resource server with an active client_credentials token of its own. A
// person's token (an administrator's included) is no credential here.
func (s *Server) introspectionCaller(r *http.Request) (introspector, bool) {
	ctx := r.Context()
	id := ""
	if tok, ok := bearer(r); ok {
		ti, err := s.VerifyAccessToken(ctx, tok)
		if err != nil || ti.Grant != grantClientCredentials {
			return introspector{}, false
		}
		id = ti.ClientID
	} else {
		c, err := s.authenticateClient(ctx, r, r.PostForm)
		if err != nil || c.IsPublic() {
			return introspector{}, false
		}
		id = c.GetID()
	}
	fc, err := s.client(ctx, id)
	if err != nil || fc.c.Public {
		return introspector{}, false
	}
	return introspector{clientID: fc.c.ID, all: fc.c.IntrospectAll}, true
}

func hasRole(roles []string, role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// BearerToken returns the RFC 6750 §2.1 bearer token of r's Authorization
// header, and whether there was one (other resource servers of this
// process, such as the SCIM endpoint, read it the same way).
func BearerToken(r *http.Request) (string, bool) { return bearer(r) }

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

// handleRevoke is RFC 7009 revocation (fosite): the client authenticates
// like at the token endpoint; unknown tokens answer 200; another client's
// token is refused and left alone.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	base := listener.BaseURL(r)
	ctx := withIssuer(r.Context(), base)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	err := s.provider.NewRevocationRequest(ctx, r)
	clientID := r.PostForm.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		clientID = u
	}
	outcome, detail := audit.Success, ""
	if err != nil {
		outcome = audit.Failure
		detail, _ = errorCode(err)
	}
	s.audit(r, audit.Event{Kind: "revoke", ClientID: clientID, Action: r.PostForm.Get("token_type_hint"), Outcome: outcome, Detail: detail})
	challengeBasic(w, r, err)
	s.provider.WriteRevocationResponse(ctx, w, err)
}

// handleUserinfo is the OIDC UserInfo endpoint.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	base := listener.BaseURL(r)
	ctx := withIssuer(r.Context(), base)
	tok, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="smartgate"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "A bearer access token is required.")
		return
	}
	tu, ar, err := s.provider.IntrospectToken(ctx, tok, fosite.AccessToken, newSession())
	var sess *Session
	if err == nil && tu == fosite.AccessToken {
		sess, _ = ar.GetSession().(*Session)
	}
	// A certificate-bound token only with its certificate (RFC 8705 §3).
	bindingOK := sess != nil && clientcert.BoundMatches(ctx, sess.CertThumbprint)
	if sess != nil && !bindingOK {
		s.logBindingRefusal(ctx, "userinfo: certificate-bound access token without its certificate", ar.GetClient().GetID())
	}
	if !bindingOK {
		w.Header().Set("WWW-Authenticate", `Bearer realm="smartgate", error="invalid_token"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "The access token is not active.")
		return
	}
	granted := ar.GetGrantedScopes()
	if !granted.Has("openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="smartgate", error="insufficient_scope", scope="openid"`)
		writeOAuthError(w, http.StatusForbidden, "insufficient_scope", "The openid scope is required.")
		return
	}
	out := map[string]any{"sub": sess.GetSubject()}
	if s.users != nil {
		uc, err := s.users.Claims(ctx, sess.GetSubject())
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="smartgate", error="invalid_token"`)
			writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "The user no longer exists.")
			return
		}
		if granted.Has("profile") {
			if uc.Name != "" {
				out["name"] = uc.Name
			}
			if uc.Username != "" {
				out["preferred_username"] = uc.Username
			}
		}
		if granted.Has("email") && uc.Email != "" {
			out["email"] = uc.Email
		}
	}
	if v, ok := sess.Claims.Extra["fhirUser"]; ok {
		out["fhirUser"] = v
	}
	writeJSON(w, http.StatusOK, out, true)
}

// handleJWKS publishes the public signing keys (current and recently retired).
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	set, err := s.keys.public(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "jwks", "err", err)
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The key set is not available.")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, set, false)
}

// Discovery returns the RFC 8414 / OIDC discovery document for a listener
// base URL (also used by the SMART configuration).
func (s *Server) Discovery(base string) map[string]any {
	d := map[string]any{
		"issuer":                                           base,
		"authorization_endpoint":                           base + "/oauth/authorize",
		"token_endpoint":                                   base + "/oauth/token",
		"userinfo_endpoint":                                base + "/oauth/userinfo",
		"jwks_uri":                                         base + "/oauth/jwks",
		"introspection_endpoint":                           base + "/oauth/introspect",
		"revocation_endpoint":                              base + "/oauth/revoke",
		"end_session_endpoint":                             base + "/logout",
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{AlgIDToken},
		"token_endpoint_auth_methods_supported":            authMethods(base),
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "RS384", "ES256", "ES384"},
		"introspection_endpoint_auth_methods_supported":    authMethods(base),
		"revocation_endpoint_auth_methods_supported":       authMethods(base),
		"code_challenge_methods_supported":                 []string{"S256"},
		"scopes_supported":                                 []string{"openid", "fhirUser", "profile", "email", "offline_access", "online_access", "launch", "launch/patient", "launch/encounter"},
		"claims_supported":                                 []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser", "profile", "name", "email", "sid"},
		"authorization_response_iss_parameter_supported":   true,
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  false,
		"claims_parameter_supported":                       false,
		"access_token_signing_alg_values_supported":        []string{AlgAccessToken},
		"ui_locales_supported":                             []string{"en"},
	}
	if s.cfg.RegistrationPath != "" {
		d["registration_endpoint"] = base + s.cfg.RegistrationPath
	}
	s.mtlsDiscovery(d, base)
	return d
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	d := s.Discovery(listener.BaseURL(r))
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, d, false)
}
