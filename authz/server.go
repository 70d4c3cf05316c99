package authz

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/store"
)

// UserClaims is what authz needs to know about a person.
type UserClaims struct {
	Subject  string // stable local user id
	Username string
	Name     string
	Email    string
	// FHIRUser is a relative reference such as Patient/123 or Practitioner/9.
	FHIRUser string
	// Roles are the effective roles (admin, practitioner, patient): held
	// directly or through a group (account.EffectiveRights).
	Roles []string
	// Ceiling is the most the person may be granted (account.Rights), SMART
	// resource scopes; the consent, the refresh and the OWin grant narrow
	// to it (smart.NarrowTo). Nil is the base ceiling of Roles
	// (account.BaseCeiling); empty grants no resource scope.
	Ceiling []string
}

// ErrInvalidCredentials is what a PasswordAuthenticator returns for an
// unknown user, a wrong password or an account that may not use passwords
// (after it checked the password: counted as a failure).
var ErrInvalidCredentials = errors.New("authz: invalid credentials")

// ErrAccountLocked is what a PasswordAuthenticator returns when its
// throttle refuses to check the password (too many failures, or as many
// checks in flight as attempts left, for the account or the address).
var ErrAccountLocked = errors.New("authz: account temporarily locked")

// PasswordAuthenticator checks a local account's password (OWin grant),
// throttled per account and per client address (reqctx.ClientAddress):
// the attempt must be counted before the password is checked.
type PasswordAuthenticator interface {
	Authenticate(ctx context.Context, username, password, address string) (UserClaims, error)
}

// Users is what authz needs from the accounts code.
type Users interface {
	PasswordAuthenticator
	// Claims returns the person with the given subject, or an error wrapping
	// store.ErrNotFound.
	Claims(ctx context.Context, subject string) (UserClaims, error)
}

// LaunchResolver resolves an EHR launch parameter that this server issued,
// bound to clientID; it returns an error for an unknown, expired or foreign
// launch.
type LaunchResolver interface {
	ResolveLaunch(ctx context.Context, launch, clientID string) (*LaunchContext, error)
}

// LaunchConsumer is optionally implemented by a LaunchResolver whose launch
// values are single-use. ResolveLaunch runs on every pass through the
// authorization endpoint (the pages resume the same request after log-in and
// consent), so it must not use the value up; ConsumeLaunch is called once the
// person has decided, just before a code is issued, and must atomically mark
// the launch used, failing when it already was (or expired meanwhile): then
// no code is issued.
type LaunchConsumer interface {
	ConsumeLaunch(ctx context.Context, launch, clientID string) error
}

// Server is the authorization server.
type Server struct {
	cfg      Config
	st       Store
	ia       Interaction
	users    Users
	rec      audit.Recorder
	log      *slog.Logger
	launches LaunchResolver // cfg.Launches

	provider *fosite.Fosite
	fc       *fosite.Config
	keys     *keyring
	at       *accessTokenStrategy
	fs       *fositeStore
	jwks     *jwksFetcher
	owin     *fositeClient
	// refreshSig computes the signature under which a refresh token is
	// stored (public clients' refresh without client_id).
	refreshSig interface {
		RefreshTokenSignature(ctx context.Context, token string) string
	}
}

// owinClientID is the client id that OWin tokens carry. Registered client
// ids are random and never collide with it.
const owinClientID = "owin"

// New builds the authorization server. It loads (creating on first start)
// the signing keys and the HMAC secret.
func New(cfg Config, st Store, interaction Interaction, users Users, rec audit.Recorder, logger *slog.Logger) (*Server, error) {
	if len(cfg.BaseURLs) == 0 {
		return nil, errors.New("authz: Config.BaseURLs is empty")
	}
	if interaction == nil || st == nil {
		return nil, errors.New("authz: New needs a Store and an Interaction")
	}
	cfg.BaseURLs = append([]string(nil), cfg.BaseURLs...)
	cfg.FHIRBaseURLs = append([]string(nil), cfg.FHIRBaseURLs...)
	cfg.ExtraFHIRBaseURLs = append([]string(nil), cfg.ExtraFHIRBaseURLs...)
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clients == nil {
		cfg.Clients = NewClientCache(st, nil)
	}
	st = cachingStore{Store: st, clients: cfg.Clients}
	s := &Server{cfg: cfg, st: st, ia: interaction, users: users, rec: rec, log: logger, launches: cfg.Launches}
	ctx := context.Background()
	secret, err := st.SettingOrCreate(ctx, "oauth.hmac_secret", func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("authz: hmac secret: %w", err)
	}
	keep := max(cfg.AccessTokenTTL, cfg.IDTokenTTL, cfg.BackendTokenTTL) + 10*time.Minute
	s.keys = &keyring{st: st, now: cfg.Now, rotateEvery: cfg.KeyRotation, keepFor: keep, reloadEvery: time.Minute}
	if _, err := s.keys.load(ctx, true); err != nil {
		return nil, err
	}
	s.at = &accessTokenStrategy{keys: s.keys, now: cfg.Now, aud: cfg.FHIRBaseURLs}
	s.fs = &fositeStore{st: st, clients: s.client, now: cfg.Now, grace: cfg.RefreshGrace}
	s.jwks = newJWKSFetcher(cfg)
	s.owin = &fositeClient{c: &Client{ID: owinClientID, Name: "OWin", Public: true, GrantTypes: []string{"password"}},
		audience: cfg.FHIRBaseURLs}

	fc := &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenTTL,
		RefreshTokenLifespan:           cfg.RefreshTokenTTL,
		AuthorizeCodeLifespan:          cfg.CodeTTL,
		IDTokenLifespan:                cfg.IDTokenTTL,
		ScopeStrategy:                  fosite.ScopeStrategy(cfg.ScopeStrategy),
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		EnforcePKCE:                    false, // per client, checked in checkAuthorize
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		GlobalSecret:                   secret,
		RefreshTokenScopes:             []string{"offline_access", "online_access"},
		SendDebugMessagesToClients:     false,
		ClientAuthenticationStrategy:   skipClientAuthForOWin(s.authenticateClient),
		MinParameterEntropy:            fosite.MinParameterEntropy,
	}
	s.fc = fc
	conf := fositeConfig{Config: fc}

	hmacStrategy := oauth2.NewHMACSHAStrategy(&hmac.HMACStrategy{Config: fc}, fc)
	s.refreshSig = hmacStrategy
	core := &coreStrategy{accessTokenStrategy: s.at, RefreshTokenStrategy: hmacStrategy, AuthorizeCodeStrategy: hmacStrategy}
	idSigner := &idTokenSigner{keys: s.keys, DefaultSigner: &jwt.DefaultSigner{GetPrivateKey: func(ctx context.Context) (any, error) {
		k, err := s.keys.signer(ctx, AlgIDToken)
		if err != nil {
			return nil, err
		}
		return &josev3.JSONWebKey{Key: k.priv, KeyID: k.ID, Algorithm: AlgIDToken, Use: "sig"}, nil
	}}}
	idStrategy := &openid.DefaultStrategy{Signer: idSigner, Config: conf}
	idHelper := &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy}
	validator := openid.NewOpenIDConnectRequestValidator(idSigner, conf)

	explicit := &oauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy: core, RefreshTokenStrategy: core, AuthorizeCodeStrategy: core,
		CoreStorage: s.fs, TokenRevocationStorage: s.fs, Config: conf,
	}
	codeGrant := &authorizeCodeGrant{AuthorizeExplicitGrantHandler: explicit, Revocations: s.fs, Logger: logger, Users: users}
	refresh := &refreshGrant{Users: users, RefreshTokenGrantHandler: &oauth2.RefreshTokenGrantHandler{
		AccessTokenStrategy: core, RefreshTokenStrategy: core, TokenRevocationStorage: s.fs, Config: conf,
	}}
	clientCreds := &clientCredentialsGrant{
		ClientCredentialsGrantHandler: &oauth2.ClientCredentialsGrantHandler{
			HandleHelper: &oauth2.HandleHelper{AccessTokenStrategy: core, AccessTokenStorage: s.fs, Config: conf},
			Config:       conf,
		},
		Policy: clientCredentialsConfig{TokenTTL: cfg.BackendTokenTTL, Now: cfg.Now},
	}
	owin := &owinGrantHandler{
		Config: owinConfig{Enabled: cfg.OWin, OffListeners: cfg.OWinOffListeners, AccessTokenTTL: cfg.AccessTokenTTL, Now: cfg.Now},
		Users:  users, SecondFactor: cfg.SecondFactor, Client: s.owin, AccessTokenStrategy: core, AccessTokenStorage: s.fs, Logger: logger,
	}
	oidcExplicit := &openid.OpenIDConnectExplicitHandler{
		IDTokenHandleHelper: idHelper, OpenIDConnectRequestStorage: s.fs,
		OpenIDConnectRequestValidator: validator, Config: conf,
	}
	oidcRefresh := &openid.OpenIDConnectRefreshHandler{IDTokenHandleHelper: idHelper, Config: conf}
	pkceHandler := &pkce.Handler{AuthorizeCodeStrategy: core, Storage: s.fs, Config: conf}
	// Stateless (client_credentials) access tokens have no stored record:
	// these wrappers answer for them and hand every other token to fosite's
	// store-backed handlers (see stateless.go).
	introspector := &statelessIntrospector{srv: s,
		next: &oauth2.CoreValidator{CoreStrategy: core, CoreStorage: s.fs, Config: conf}}
	revoker := &statelessRevoker{srv: s,
		next: &oauth2.TokenRevocationHandler{TokenRevocationStorage: s.fs, RefreshTokenStrategy: core, AccessTokenStrategy: core}}

	fc.AuthorizeEndpointHandlers.Append(explicit)
	fc.AuthorizeEndpointHandlers.Append(oidcExplicit)
	fc.AuthorizeEndpointHandlers.Append(pkceHandler)
	fc.TokenEndpointHandlers.Append(codeGrant)
	fc.TokenEndpointHandlers.Append(refresh)
	fc.TokenEndpointHandlers.Append(clientCreds)
	fc.TokenEndpointHandlers.Append(owin)
	fc.TokenEndpointHandlers.Append(launchContextResponse{})
	fc.TokenEndpointHandlers.Append(oidcExplicit)
	fc.TokenEndpointHandlers.Append(oidcRefresh)
	fc.TokenEndpointHandlers.Append(pkceHandler)
	fc.TokenIntrospectionHandlers.Append(introspector)
	fc.RevocationHandlers.Append(revoker)
	s.provider = fosite.NewOAuth2Provider(s.fs, conf)
	return s, nil
}

// coreStrategy: JWT access tokens, HMAC codes and refresh tokens.
type coreStrategy struct {
	*accessTokenStrategy
	oauth2.RefreshTokenStrategy
	oauth2.AuthorizeCodeStrategy
}

var _ oauth2.CoreStrategy = (*coreStrategy)(nil)

// client returns the fosite view of a registered, enabled client.
func (s *Server) client(ctx context.Context, id string) (*fositeClient, error) {
	if id == owinClientID {
		return s.owin, nil
	}
	c, err := s.st.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fosite.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	if c.Disabled {
		return nil, fosite.ErrNotFound
	}
	return &fositeClient{c: c, audience: s.cfg.FHIRBaseURLs}, nil
}

// Register registers the OAuth endpoints and discovery documents on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /oauth/token", s.cors(s.handleToken))
	mux.HandleFunc("OPTIONS /oauth/token", s.cors(nil))
	mux.HandleFunc("POST /oauth/introspect", s.handleIntrospect)
	mux.HandleFunc("POST /oauth/revoke", s.cors(s.handleRevoke))
	mux.HandleFunc("OPTIONS /oauth/revoke", s.cors(nil))
	mux.HandleFunc("GET /oauth/userinfo", s.cors(s.handleUserinfo))
	mux.HandleFunc("POST /oauth/userinfo", s.cors(s.handleUserinfo))
	mux.HandleFunc("OPTIONS /oauth/userinfo", s.cors(nil))
	mux.HandleFunc("GET /oauth/jwks", openCORS(s.handleJWKS))
	mux.HandleFunc("GET /.well-known/openid-configuration", openCORS(s.handleDiscovery))
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", openCORS(s.handleDiscovery))
	mux.HandleFunc("GET /.well-known/smart-configuration", openCORS(s.handleSMARTConfiguration))
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", openCORS(s.handleSMARTConfiguration))
	s.registerRegistration(mux)
	for p, allow := range map[string]string{
		"/oauth/token": "POST, OPTIONS", "/oauth/introspect": "POST", "/oauth/revoke": "POST, OPTIONS",
		"/oauth/authorize": "GET, POST", "/oauth/userinfo": "GET, POST, OPTIONS", "/oauth/jwks": "GET",
		"/.well-known/openid-configuration": "GET", "/.well-known/oauth-authorization-server": "GET",
	} {
		mux.HandleFunc(p, methodNotAllowed(allow))
	}
}

// cors allows any origin (no cookies are involved on these endpoints) and
// answers preflights; h nil means preflight only.
// cors answers browser apps of the origins Config.AllowOrigin accepts (any
// origin when it is nil), never with credentials.
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && (s.cfg.AllowOrigin == nil || s.cfg.AllowOrigin(r.Context(), o)) {
			w.Header().Add("Vary", "Origin")
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Max-Age", "600")
		} else if o != "" {
			w.Header().Add("Vary", "Origin")
		}
		if h == nil || r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}
}

// openCORS lets any origin read a public document.
func openCORS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		h(w, r)
	}
}

// methodNotAllowed answers other methods with an RFC 6749 JSON error
// (GET and HEAD patterns also match HEAD).
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "The request method must be one of "+allow+".")
	}
}

// WriteOAuthError writes an RFC 6749 §5.2 JSON error (no-store): the error
// format of the JSON APIs beside the OAuth endpoints (package launch).
func WriteOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeOAuthError(w, status, code, desc)
}

// WriteBearerError answers 401/403 with an RFC 6750 §3 challenge and an
// RFC 6749 JSON body; code "" is a request without credentials.
func WriteBearerError(w http.ResponseWriter, status int, code, desc string) {
	writeBearerError(w, status, code, desc)
}

// writeOAuthError writes an RFC 6749 §5.2 JSON error.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any, noStore bool) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if noStore {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) audit(r *http.Request, ev audit.Event) {
	if s.rec == nil {
		return
	}
	ev.At = s.cfg.Now()
	ev.Address = reqctx.ClientAddress(r)
	ev.RequestID = reqctx.ID(r.Context())
	s.rec.Record(r.Context(), ev)
}

// errorCode returns the RFC 6749 error code and a safe description.
func errorCode(err error) (string, string) {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		return rfc.ErrorField, rfc.GetDescription()
	}
	return "server_error", ""
}

// RevokeSession ends the online_access grants bound to a log-in session
// (call it at logout).
func (s *Server) RevokeSession(ctx context.Context, sessionID string) error {
	return s.st.RevokeSessionTokens(ctx, sessionID, s.cfg.Now())
}

// RevokeGrants revokes every access and refresh token of subject (only
// those of clientID when not empty): a person revoking an app, or an
// account being deactivated.
func (s *Server) RevokeGrants(ctx context.Context, subject, clientID string) error {
	if subject == "" {
		return errors.New("authz: RevokeGrants needs a subject")
	}
	return s.st.RevokeSubjectTokens(ctx, subject, clientID, s.cfg.Now())
}

// RevokeFamily ends the grant requestID (one refresh-token family): its
// refresh tokens, so that it cannot be refreshed, then every access token
// issued from it, as fosite's storage does when a family's refresh token
// is replayed (fositeStore.RevokeRefreshToken and RevokeAccessToken).
// Introspection answers inactive for them on the next call. The family's
// access tokens are all stored ones: only client_credentials tokens are
// stateless (stateless.go), and they have no refresh token. An unknown
// requestID revokes nothing and is not an error (see GrantByID).
//
// RevokeGrants is not a loop over RevokeFamily: its one statement also
// ends the access tokens of grants without a refresh token, in one
// transaction.
func (s *Server) RevokeFamily(ctx context.Context, requestID string) error {
	if requestID == "" {
		return errors.New("authz: RevokeFamily needs a request id")
	}
	// Both, even when the first fails: end as much as can be ended.
	err := errors.Join(s.fs.RevokeRefreshToken(ctx, requestID), s.fs.RevokeAccessToken(ctx, requestID))
	if err != nil {
		return fmt.Errorf("authz: revoke grant %q: %w", requestID, err)
	}
	return nil
}

// Maintain runs periodic upkeep until ctx ends: scheduled key rotation (the
// key ring reloads and rotates when due) and deletion of token records that
// expired more than a day ago.
func (s *Server) Maintain(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.MaintainOnce(ctx); err != nil {
			s.log.ErrorContext(ctx, "authz maintenance", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// MaintainOnce is one pass of Maintain.
func (s *Server) MaintainOnce(ctx context.Context) error {
	var errs []error
	if _, err := s.keys.load(ctx, true); err != nil {
		errs = append(errs, err)
	}
	if err := s.st.DeleteSigningKeys(ctx, s.cfg.Now().Add(-s.keys.keepFor)); err != nil {
		errs = append(errs, err)
	}
	if n, err := s.st.DeleteExpiredTokens(ctx, s.cfg.Now().Add(-24*time.Hour)); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "deleted expired token records", "count", n)
	}
	return errors.Join(errs...)
}
