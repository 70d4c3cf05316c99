package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smartgate/smartgate/account"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// DefaultOpenRegistrationScopes is the scope ceiling of clients registered
// without an initial access token (Config.OpenRegistration): identity,
// launch context and read access, never writes or system/ scopes.
func DefaultOpenRegistrationScopes() []string {
	return []string{"openid", "fhirUser", "profile", "offline_access", "online_access",
		"launch", "launch/patient", "launch/encounter", "patient/*.rs", "user/*.rs"}
}

func parseScopeList(list []string) smart.Scopes {
	ss, _ := smart.ParseScopes(strings.Join(list, " "))
	return ss
}

// defaultScopesFor is what a registration without scope gets: the backend
// ceiling for a client_credentials-only client, else the user-facing one.
func defaultScopesFor(grants []string) smart.Scopes {
	if len(grants) > 0 && !slices.Contains(grants, registration.GrantAuthorizationCode) {
		return parseScopeList(DefaultBackendScopes())
	}
	return parseScopeList(DefaultUserScopes())
}

// AdminPolicy is the registration policy of an administrator (initial
// access token, the admin pages, the CLI): confidential clients (the RFC
// 8705 certificate methods among them), any valid scope (checklist DCR7),
// and client_credentials with a client secret (RFC
// 6749 §4.4) for provisioning clients and resource servers that are not
// SMART Backend Services; such a client's system/ scopes are granted only
// when an administrator also sets Client.AllowSystemScopes
// (GrantableScopes). m is the request, whose grant types choose the
// default scopes.
func AdminPolicy(m registration.Metadata) registration.Policy {
	return registration.Policy{AnyScope: true, AllowConfidential: true, DefaultScopes: defaultScopesFor(m.GrantTypes),
		AllowSymmetricBackend: true, AllowCertificateAuth: true}
}

// CeilingPolicy is the policy of a registration capped by ceiling (open
// registration, people's own apps): only the authorization code and refresh
// token grants, scopes narrowed to the ceiling; confidential clients only
// when allowConfidential.
func CeilingPolicy(ceiling []string, allowConfidential bool) registration.Policy {
	c := parseScopeList(ceiling)
	return registration.Policy{Scopes: c, DefaultScopes: c, AllowConfidential: allowConfidential,
		GrantTypes: []string{registration.GrantAuthorizationCode, registration.GrantRefreshToken}}
}

func (s *Server) openScopes() []string {
	if len(s.cfg.OpenRegistrationScopes) == 0 {
		return DefaultOpenRegistrationScopes()
	}
	return s.cfg.OpenRegistrationScopes
}

// PolicyCeiling is the Ceiling of a client registered under
// CeilingPolicy(scopes, …) with authentication method method.
func PolicyCeiling(scopes []string, method string) *Ceiling {
	return &Ceiling{Scopes: slices.Clone(scopes), AuthMethod: method,
		GrantTypes: []string{registration.GrantAuthorizationCode, registration.GrantRefreshToken}}
}

// UpdatePolicy is the policy of an RFC 7592 update made with c's
// registration access token: only c's ceiling (RFC 7592 §2.2 lets the
// server refuse or replace values). Requested scopes are narrowed to the
// ceiling scope by scope with the SMART grammar (smart.Scopes.Intersect,
// v1 and v2 alike), as at registration, and an update without scope gets
// the ceiling's; a grant type outside the ceiling is refused; the method
// may stay, become none (a public client can do less), or switch between
// the two secret methods, and anything else is refused (all with
// invalid_client_metadata). Widening needs an administrator.
func UpdatePolicy(c *Client) registration.Policy {
	ceil := c.ceiling()
	scopes := parseScopeList(ceil.Scopes)
	return registration.Policy{
		Scopes: scopes, DefaultScopes: scopes,
		GrantTypes:        append([]string{}, ceil.GrantTypes...), // never nil: nil would allow every grant
		AllowConfidential: ceil.AuthMethod != AuthNone,
		AuthMethods:       updateMethods(ceil.AuthMethod),
		// A symmetric backend only exists because an administrator made it.
		AllowSymmetricBackend: UsesSecret(ceil.AuthMethod) && slices.Contains(ceil.GrantTypes, registration.GrantClientCredentials),
		// Certificate methods only exist because an administrator chose one.
		AllowCertificateAuth: ceil.AuthMethod == AuthTLSClientAuth || ceil.AuthMethod == AuthSelfSignedTLSClientAuth,
	}
}

// updateMethods lists the methods an update may choose under a ceiling
// method, the ceiling's first. A confidential client never becomes public
// through its registration access token: that token alone would then
// redeem codes (with a redirect URI it added) without the client's secret
// or key, under consents people gave the confidential client.
func updateMethods(ceiling string) []string {
	switch ceiling {
	case AuthClientSecretBasic:
		return []string{AuthClientSecretBasic, AuthClientSecretPost}
	case AuthClientSecretPost:
		return []string{AuthClientSecretPost, AuthClientSecretBasic}
	default:
		return []string{ceiling}
	}
}

// NewClientFrom maps metadata that registration.Validate returned to a
// NewClient (Policy, Owner and the credentials are the caller's).
func NewClientFrom(m registration.Metadata) NewClient {
	return NewClient{
		Name:                    m.ClientName,
		RedirectURIs:            m.RedirectURIs,
		GrantTypes:              m.GrantTypes,
		ResponseTypes:           m.ResponseTypes,
		Scopes:                  strings.Fields(m.Scope),
		TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		JWKS:                    string(m.JWKS),
		JWKSURI:                 m.JWKSURI,
		LaunchURI:               m.LaunchURI,
		LogoURI:                 m.LogoURI,
		ClientURI:               m.ClientURI,
		Contacts:                m.Contacts,
		TOSURI:                  m.TOSURI,
		PolicyURI:               m.PolicyURI,
		PostLogoutRedirectURIs:  m.PostLogoutRedirectURIs,
		SoftwareID:              m.SoftwareID,
		SoftwareVersion:         m.SoftwareVersion,
		TLSClientAuth: TLSClientAuth{SubjectDN: m.TLSClientAuthSubjectDN, SANDNS: m.TLSClientAuthSANDNS,
			SANURI: m.TLSClientAuthSANURI, SANIP: m.TLSClientAuthSANIP, SANEmail: m.TLSClientAuthSANEmail},
		CertBoundAccessTokens: m.TLSClientCertificateBoundAccessTokens,
	}
}

// ClientMetadata is the registered metadata of c (RFC 7591 §2), as
// returned by the registration endpoints and shown on the edit page.
func ClientMetadata(c *Client) registration.Metadata {
	m := registration.Metadata{
		RedirectURIs:            c.RedirectURIs,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		GrantTypes:              c.GrantTypes,
		ResponseTypes:           c.ResponseTypes,
		ClientName:              c.Name,
		ClientURI:               c.ClientURI,
		LogoURI:                 c.LogoURI,
		Scope:                   strings.Join(c.Scopes, " "),
		Contacts:                c.Contacts,
		TOSURI:                  c.TOSURI,
		PolicyURI:               c.PolicyURI,
		JWKSURI:                 c.JWKSURI,
		SoftwareID:              c.SoftwareID,
		SoftwareVersion:         c.SoftwareVersion,
		LaunchURI:               c.LaunchURI,
		PostLogoutRedirectURIs:  c.PostLogoutRedirectURIs,

		TLSClientAuthSubjectDN:                c.TLSClientAuth.SubjectDN,
		TLSClientAuthSANDNS:                   c.TLSClientAuth.SANDNS,
		TLSClientAuthSANURI:                   c.TLSClientAuth.SANURI,
		TLSClientAuthSANIP:                    c.TLSClientAuth.SANIP,
		TLSClientAuthSANEmail:                 c.TLSClientAuth.SANEmail,
		TLSClientCertificateBoundAccessTokens: c.CertBoundAccessTokens,
	}
	if c.JWKS != "" {
		m.JWKS = json.RawMessage(c.JWKS)
	}
	return m
}

// UpdateClientMetadata replaces c's metadata with m (the result of
// registration.Validate) and adjusts its secret to the new authentication
// method: a client that moves to a secret method gets a new secret, which
// is returned (shown once); one that leaves the secret methods loses its
// secret. The id, owner, policy, state and registration token are kept.
// The caller stores c.
func UpdateClientMetadata(c *Client, m registration.Metadata) (string, error) {
	oldMethod := c.TokenEndpointAuthMethod
	nc := NewClientFrom(m)
	c.Name = strings.TrimSpace(nc.Name)
	c.RedirectURIs, c.GrantTypes, c.ResponseTypes = nc.RedirectURIs, nc.GrantTypes, nc.ResponseTypes
	c.Scopes, c.TokenEndpointAuthMethod = nc.Scopes, nc.TokenEndpointAuthMethod
	c.JWKS, c.JWKSURI = strings.TrimSpace(nc.JWKS), strings.TrimSpace(nc.JWKSURI)
	c.LaunchURI, c.LogoURI, c.ClientURI = nc.LaunchURI, nc.LogoURI, nc.ClientURI
	c.Contacts, c.TOSURI, c.PolicyURI = nc.Contacts, nc.TOSURI, nc.PolicyURI
	c.PostLogoutRedirectURIs, c.SoftwareID, c.SoftwareVersion = nc.PostLogoutRedirectURIs, nc.SoftwareID, nc.SoftwareVersion
	c.TLSClientAuth, c.CertBoundAccessTokens = nc.TLSClientAuth, nc.CertBoundAccessTokens
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthClientSecretBasic
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if len(c.ResponseTypes) == 0 && slices.Contains(c.GrantTypes, "authorization_code") {
		c.ResponseTypes = []string{"code"}
	}
	if len(c.Scopes) == 0 {
		if slices.Contains(c.GrantTypes, "authorization_code") {
			c.Scopes = DefaultUserScopes()
		} else {
			c.Scopes = DefaultBackendScopes()
		}
	}
	if err := validateClient(c); err != nil {
		return "", err
	}
	c.Public = c.TokenEndpointAuthMethod == AuthNone
	if c.Public {
		c.RequirePKCE = true
	}
	var secret string
	switch {
	case UsesSecret(c.TokenEndpointAuthMethod) && !UsesSecret(oldMethod):
		var err error
		if secret, err = randomString(32); err != nil {
			return "", err
		}
		c.SecretHash = HashSecret(secret)
	case !UsesSecret(c.TokenEndpointAuthMethod):
		c.SecretHash = nil
	}
	return secret, nil
}

// NewRegistrationToken returns a new RFC 7592 registration access token
// (256 bits) and the SHA-256 to store.
func NewRegistrationToken() (string, []byte, error) {
	tok, err := randomString(32)
	if err != nil {
		return "", nil, err
	}
	return tok, HashSecret(tok), nil
}

// registrationToken returns a new registration access token, its SHA-256
// and its expiry (Config.RegistrationTokenTTL from now). Stored on a
// client, it replaces (kills) the previous one.
func (s *Server) registrationToken() (string, []byte, time.Time, error) {
	tok, hash, err := NewRegistrationToken()
	return tok, hash, s.cfg.Now().Add(s.cfg.RegistrationTokenTTL).UTC(), err
}

// registerRegistration registers the RFC 7591 and RFC 7592 endpoints when
// Config.RegistrationPath is set (and only then is registration_endpoint
// advertised: checklist DCR10).
func (s *Server) registerRegistration(mux *http.ServeMux) {
	p := s.cfg.RegistrationPath
	if p == "" {
		return
	}
	mux.HandleFunc("POST "+p, s.handleRegister)
	mux.HandleFunc("GET "+p+"/{client_id}", s.handleRegistrationRead)
	mux.HandleFunc("PUT "+p+"/{client_id}", s.handleRegistrationUpdate)
	mux.HandleFunc("DELETE "+p+"/{client_id}", s.handleRegistrationDelete)
	mux.HandleFunc(p, methodNotAllowed("POST"))
	mux.HandleFunc(p+"/{client_id}", methodNotAllowed("GET, PUT, DELETE"))
}

// writeRegistrationError answers an RFC 7591 §3.2.2 error (400).
func writeRegistrationError(w http.ResponseWriter, err error) {
	var re *registration.Error
	if !errors.As(err, &re) {
		re = &registration.Error{Code: registration.CodeInvalidClientMetadata, Description: "The client metadata is not acceptable."}
		if errors.Is(err, ErrInvalidClientMetadata) {
			re.Description = strings.TrimPrefix(err.Error(), ErrInvalidClientMetadata.Error()+": ")
		}
	}
	writeJSON(w, http.StatusBadRequest, re, true)
}

// writeBearerError answers 401/403 with an RFC 6750 §3 challenge; code ""
// is a request without credentials (no error attribute).
func writeBearerError(w http.ResponseWriter, status int, code, desc string) {
	challenge := `Bearer realm="smartgate"`
	if code != "" {
		challenge += `, error="` + code + `"`
	} else {
		code = "invalid_token"
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeOAuthError(w, status, code, desc)
}

func (s *Server) storeFailure(w http.ResponseWriter, r *http.Request, op string, err error) {
	s.log.ErrorContext(r.Context(), "registration: "+op, "err", err)
	status := http.StatusInternalServerError
	if errors.Is(err, store.ErrUnavailable) {
		status = http.StatusServiceUnavailable
	}
	writeOAuthError(w, status, "server_error", "The request could not be completed.")
}

// registrant decides who is registering (checklist DCR7): an
// administrator's bearer token (OWin admin tokens qualify) is the initial
// access token; without one, open registration (if configured) registers
// public clients under a scope ceiling; anything else is refused with an
// RFC 6750 challenge. It returns the policy kind and the actor.
func (s *Server) registrant(w http.ResponseWriter, r *http.Request) (string, string, bool) {
	tok, has := bearer(r)
	if !has {
		if s.cfg.OpenRegistration {
			return PolicyOpen, "", true
		}
		writeBearerError(w, http.StatusUnauthorized, "", "An initial access token is required to register a client.")
		return "", "", false
	}
	ti, err := s.VerifyAccessToken(r.Context(), tok)
	if errors.Is(err, store.ErrUnavailable) {
		s.storeFailure(w, r, "verify initial access token", err)
		return "", "", false
	}
	if err != nil {
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The initial access token is not active.")
		return "", "", false
	}
	if hasRole(ti.Roles, account.RoleAdmin) {
		still, err := s.stillAdministrator(r.Context(), ti.Subject)
		switch {
		case errors.Is(err, store.ErrUnavailable):
			s.storeFailure(w, r, "check initial access token account", err)
			return "", "", false
		case err != nil:
			writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The initial access token's account is no longer active.")
			return "", "", false
		case still:
			return PolicyAdmin, ti.Subject, true
		}
	}
	if s.cfg.OpenRegistration {
		return PolicyOpen, ti.Subject, true
	}
	writeBearerError(w, http.StatusForbidden, "insufficient_scope", "Only an administrator's token may register clients.")
	return "", "", false
}

// stillAdministrator re-reads the account an administrator's token speaks
// for (the token's roles are those of its issuing): an error for an account
// that is gone or inactive (store.ErrUnavailable when the store is down),
// else whether it still has the admin role.
func (s *Server) stillAdministrator(ctx context.Context, subject string) (bool, error) {
	if s.users == nil {
		return false, nil
	}
	uc, err := s.users.Claims(ctx, subject)
	if err != nil {
		return false, fmt.Errorf("authz: account of the initial access token: %w", err)
	}
	return hasRole(uc.Roles, account.RoleAdmin), nil
}

func jsonContent(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func (s *Server) registrationURI(r *http.Request, id string) string {
	return listener.BaseURL(r) + s.cfg.RegistrationPath + "/" + url.PathEscape(id)
}

// handleRegister is the RFC 7591 client registration endpoint.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	kind, actor, ok := s.registrant(w, r)
	if !ok {
		return
	}
	if !jsonContent(r) {
		writeRegistrationError(w, &registration.Error{Code: registration.CodeInvalidClientMetadata, Description: "The request must be application/json (RFC 7591 §3.1)."})
		return
	}
	m, err := registration.Decode(http.MaxBytesReader(w, r.Body, registration.MaxRequestBytes+1))
	if err != nil {
		writeRegistrationError(w, err)
		return
	}
	policy := CeilingPolicy(s.openScopes(), false)
	if kind == PolicyAdmin {
		policy = AdminPolicy(m)
	}
	out, err := registration.Validate(m, policy)
	if err != nil {
		s.audit(r, audit.Event{Kind: "client", Actor: actor, Action: "register", Outcome: audit.Failure})
		writeRegistrationError(w, err)
		return
	}
	tok, hash, expires, err := s.registrationToken()
	if err != nil {
		s.storeFailure(w, r, "token", err)
		return
	}
	nc := NewClientFrom(out)
	nc.RegistrationTokenHash, nc.RegistrationTokenExpiresAt, nc.Policy = hash, expires, kind
	if kind == PolicyOpen {
		nc.Ceiling = PolicyCeiling(s.openScopes(), AuthNone)
	}
	c, secret, err := CreateClient(r.Context(), s.st, nc, s.cfg.Now())
	if errors.Is(err, ErrInvalidClientMetadata) {
		writeRegistrationError(w, err)
		return
	} else if err != nil {
		s.storeFailure(w, r, "create client", err)
		return
	}
	s.audit(r, audit.Event{Kind: "client", Actor: actor, ClientID: c.ID, Action: "register", Scopes: strings.Join(c.Scopes, " "), Outcome: audit.Success})
	writeJSON(w, http.StatusCreated, registration.NewResponse(ClientMetadata(c), registration.Issued{
		ClientID: c.ID, ClientSecret: secret, IssuedAt: c.CreatedAt,
		RegistrationAccessToken: tok, RegistrationClientURI: s.registrationURI(r, c.ID),
	}), true)
}

// configuredClient authenticates an RFC 7592 request: the bearer token must
// be the registration access token of the client in the path (compared as
// SHA-256 hashes in constant time). An unknown client, a client without a
// token and another client's token all answer the same 401 invalid_token,
// so the endpoint never reveals whether a client exists. An expired token
// (Config.RegistrationTokenTTL) answers 401 invalid_token too.
func (s *Server) configuredClient(w http.ResponseWriter, r *http.Request) (*Client, string, bool) {
	tok, has := bearer(r)
	if !has {
		writeBearerError(w, http.StatusUnauthorized, "", "The registration access token is required.")
		return nil, "", false
	}
	c, err := s.st.GetClient(r.Context(), r.PathValue("client_id"))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.storeFailure(w, r, "get client", err)
		return nil, "", false
	}
	// A missing client (or one without a token) compares against zeros, so
	// that an unknown client and a wrong token take the same path.
	zeroHash := make([]byte, sha256.Size)
	want := zeroHash
	if err == nil && len(c.RegistrationTokenHash) == sha256.Size {
		want = c.RegistrationTokenHash
	}
	got := HashSecret(tok)
	match := subtle.ConstantTimeCompare(want, got) == 1
	if err != nil || !match || subtle.ConstantTimeCompare(want, zeroHash) == 1 {
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The registration access token is not valid for this client.")
		return nil, "", false
	}
	if !s.cfg.Now().Before(c.RegistrationTokenExpiresAt) {
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The registration access token has expired; an administrator can change the client.")
		return nil, "", false
	}
	return c, tok, true
}

func (s *Server) writeConfiguration(w http.ResponseWriter, r *http.Request, c *Client, tok, secret string) {
	writeJSON(w, http.StatusOK, registration.NewResponse(ClientMetadata(c), registration.Issued{
		ClientID: c.ID, ClientSecret: secret, IssuedAt: c.CreatedAt,
		RegistrationAccessToken: tok, RegistrationClientURI: s.registrationURI(r, c.ID),
	}), true)
}

// handleRegistrationRead is RFC 7592 §2.1.
func (s *Server) handleRegistrationRead(w http.ResponseWriter, r *http.Request) {
	c, tok, ok := s.configuredClient(w, r)
	if !ok {
		return
	}
	s.writeConfiguration(w, r, c, tok, "")
}

// handleRegistrationUpdate is RFC 7592 §2.2: the body replaces every
// metadata value; it must carry the client's client_id, and a client_secret
// only if it is the current one (a client cannot choose its secret). The
// update is validated under UpdatePolicy (the client's ceiling, never
// raised here), and answers a new registration access token: the one used
// is dead from then on.
func (s *Server) handleRegistrationUpdate(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.configuredClient(w, r)
	if !ok {
		return
	}
	if !jsonContent(r) {
		writeRegistrationError(w, &registration.Error{Code: registration.CodeInvalidClientMetadata, Description: "The request must be application/json."})
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, registration.MaxRequestBytes+1))
	if err != nil {
		writeRegistrationError(w, &registration.Error{Code: registration.CodeInvalidClientMetadata, Description: "The request body is too large or unreadable."})
		return
	}
	m, err := registration.Decode(bytes.NewReader(raw))
	if err != nil {
		writeRegistrationError(w, err)
		return
	}
	var creds struct {
		ClientID     *string `json:"client_id"`
		ClientSecret *string `json:"client_secret"`
	}
	if json.Unmarshal(raw, &creds) != nil || creds.ClientID == nil || *creds.ClientID != c.ID {
		writeRegistrationError(w, &registration.Error{Code: registration.CodeInvalidClientMetadata, Description: "client_id must be present and name this client (RFC 7592 §2.2)."})
		return
	}
	if creds.ClientSecret != nil && (!UsesSecret(c.TokenEndpointAuthMethod) || !checkSecret(c.SecretHash, *creds.ClientSecret)) {
		writeRegistrationError(w, &registration.Error{Code: registration.CodeInvalidClientMetadata, Description: "client_secret does not match; a client cannot choose its secret."})
		return
	}
	out, err := registration.Validate(m, UpdatePolicy(c))
	if err == nil && strings.TrimSpace(out.Scope) == "" { // an empty ceiling: never the defaults
		err = &registration.Error{Code: registration.CodeInvalidClientMetadata, Description: "none of the requested scopes may be registered"}
	}
	if err != nil {
		s.audit(r, audit.Event{Kind: "client", Actor: c.ID, ClientID: c.ID, Action: "update", Outcome: audit.Failure})
		writeRegistrationError(w, err)
		return
	}
	if err := UpdateConflict(r.Context(), s.st, c, out); err != nil {
		s.audit(r, audit.Event{Kind: "client", Actor: c.ID, ClientID: c.ID, Action: "update", Outcome: audit.Failure})
		writeRegistrationError(w, err)
		return
	}
	tok, hash, expires, err := s.registrationToken()
	if err != nil {
		s.storeFailure(w, r, "token", err)
		return
	}
	// Under the store's write lock, on the client as it is now (a disable
	// that landed since configuredClient read it stays), and only while the
	// token used is still the stored one: of concurrent updates with the
	// same token one wins, the others answer 401.
	var updated Client
	var secret string
	var invalid error
	err = s.st.UpdateClient(r.Context(), c.ID, func(old Client) (Client, error) {
		if subtle.ConstantTimeCompare(old.RegistrationTokenHash, c.RegistrationTokenHash) != 1 {
			return old, store.ErrConflict
		}
		if secret, invalid = UpdateClientMetadata(&old, out); invalid != nil {
			return old, invalid
		}
		old.RegistrationTokenHash, old.RegistrationTokenExpiresAt = hash, expires
		updated = old
		return old, nil
	})
	switch {
	case invalid != nil:
		writeRegistrationError(w, invalid)
		return
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The registration access token is not valid for this client.")
		return
	case err != nil:
		s.storeFailure(w, r, "update client", err)
		return
	}
	s.audit(r, audit.Event{Kind: "client", Actor: c.ID, ClientID: c.ID, Action: "update", Scopes: strings.Join(updated.Scopes, " "), Outcome: audit.Success})
	s.writeConfiguration(w, r, &updated, tok, secret)
}

// handleRegistrationDelete is RFC 7592 §2.3: the client and its
// registration token are gone and its tokens revoked; 204.
func (s *Server) handleRegistrationDelete(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.configuredClient(w, r)
	if !ok {
		return
	}
	if err := s.DeleteClient(r.Context(), c.ID); err != nil {
		s.storeFailure(w, r, "delete client", err)
		return
	}
	s.audit(r, audit.Event{Kind: "client", Actor: c.ID, ClientID: c.ID, Action: "delete", Outcome: audit.Success})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// DeleteClient removes a client and revokes its tokens (RFC 7592 delete,
// the admin pages).
func (s *Server) DeleteClient(ctx context.Context, id string) error {
	return s.st.DeleteClient(ctx, id, s.cfg.Now())
}
