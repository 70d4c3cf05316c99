package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/smartgate/smartgate"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/audit/fhirview"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/demoapp"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/picker"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/scim"
	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/server"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/auditlog"
	"github.com/smartgate/smartgate/web/clients"
	"github.com/smartgate/smartgate/web/explain"
	"github.com/smartgate/smartgate/web/grants"
	peoplepages "github.com/smartgate/smartgate/web/people"
)

// newApp wires every package onto one mux. It is the only place that knows
// all of them.
func newApp(ctx context.Context, cfg *config.Config, db database, logger *slog.Logger, e *env) (*app, error) {
	a := &app{}
	ctx, cancel := context.WithCancel(ctx)
	a.closers = append(a.closers, cancel)

	metrics := server.NewMetrics()
	batcher := audit.NewBatcher(db.InsertAudit, 8192, logger)
	a.closers = append(a.closers, batcher.Close)
	// Every audit record passes here: the security metrics (log-ins,
	// tokens issued, refusals) are counted from them.
	rec := metrics.CountAudit(batcher)
	// The client-certificate trust, and the start-up rule that a policy
	// that rejects has something to trust, before anything is written.
	certs, err := newCertVerifier(ctx, cfg, db, logger, rec)
	if err != nil {
		return nil, err
	}

	// Each argon2id check holds 19 MiB and a full core: more checks in
	// flight than cores only add memory, never throughput.
	hasher := account.NewHasher(account.Params{}, runtime.GOMAXPROCS(0))
	// The one People of the server: every change of people and groups
	// (first start, demo accounts, SCIM, the people pages) goes through it,
	// and a deactivation or deletion ends the person's tokens at once.
	revokePerson := &personRevoker{db: db}
	people := newPeople(db, hasher, revokePerson.revoke)
	a.people = people

	msg, err := bootstrapAdmin(ctx, cfg, people, e.getenv)
	if err != nil {
		return nil, err
	}
	if msg != "" {
		a.messages = append(a.messages, msg)
	}

	assets := smartgate.Assets(cfg.DevAssets)
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	reg, err := search.Load()
	if err != nil {
		return nil, fmt.Errorf("FHIR search definitions: %w", err)
	}
	clientCache := authz.NewClientCache(db, nil)
	if cfg.Demo {
		msgs, err := setupDemo(ctx, cfg, db, people, reg)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		a.messages = append(a.messages, msgs...)
	}

	// The one log-in throttle (10 per account, 30 per address per 15
	// minutes, counted before the check) serves the log-in page and the
	// OWin grant alike. Its account lockouts are recorded in the database:
	// they survive a restart, and `smartgate user unlock` lifts one this
	// process holds.
	throttle := account.NewThrottle(account.ThrottleConfig{Lockouts: db, Users: db})
	if err := throttle.Restore(ctx); err != nil {
		return nil, err
	}
	// Federated log-in (federation.go): the providers, the linker, the
	// sign-in codes, and the one password checker of the log-in form and
	// the OWin grant.
	fed, err := newFederation(ctx, fedDeps{cfg: cfg, getenv: e.getenv, db: db, people: people, throttle: throttle,
		authenticator: account.NewAuthenticator(db, hasher, throttle), audit: rec,
		logger: logger.With("component", "idp"), upstreamTimeout: e.upstreamTimeout})
	if err != nil {
		return nil, err
	}
	passwords := fed.passwords
	// The second factor: optional for everyone, required for administrators
	// with --admin-second-factor required; its code checks count against
	// the log-in throttle, so that an address's wrong passwords and codes
	// add up.
	factors := &account.SecondFactors{Store: db, Throttle: throttle}
	secondFactorRequired := func(u *account.User) bool {
		if cfg.AdminSecondFactor != config.SecondFactorRequired {
			return false
		}
		// An administrator through a group too; when the groups cannot be
		// read, the factor is required (fail closed).
		r, err := people.Rights(context.Background(), u)
		return err != nil || r.Admin()
	}
	logout := &lateLogout{}
	// Tokens, the FHIR endpoint and the pages see a person's effective
	// rights: roles and scope ceiling through their groups.
	users := authz.Accounts{Store: db, Passwords: passwords, Rights: people}
	// The FHIR data: the embedded store, or in proxy mode the upstream
	// (upstream.go), for the endpoint, the pickers and the launch page.
	var fhirData fhir.Store = db
	up, err := newFHIRUpstream(ctx, cfg.Upstream, reg, metrics.Registry, logger.With("component", "upstream"))
	if err != nil {
		return nil, err
	}
	if up != nil {
		fhirData = up
	}
	directory := picker.New(fhirData, reg)
	pages, err := web.New(ctx, web.Config{
		Logger:               logger.With("component", "web"),
		Assets:               assets,
		Store:                db,
		Passwords:            passwords,
		PasswordSetter:       people,
		Audit:                rec,
		Revoker:              revokePerson,
		SessionGrants:        revokePerson,
		SessionTTL:           cfg.SessionTTL,
		SessionIdle:          cfg.SessionIdleLimit(),
		SecondFactor:         factors,
		SecondFactorRequired: secondFactorRequired,
		Patients:             directory,
		Encounters:           directory,
		Rights:               people,
		DescribeScope:        smart.DescribeScope,
		ClientName: func(ctx context.Context, id string) string {
			if c, err := db.GetClient(ctx, id); err == nil && c.Name != "" {
				return c.Name
			}
			return id
		},
		RequestID:                 server.RequestID,
		PostLogoutRedirectAllowed: logout.allowed,
		Providers:                 fed.providers,
		Linker:                    fed.linker,
		SignInCodes:               fed.codes,
	})
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}

	stylePath, err := launch.StylePath(assets)
	if err != nil {
		return nil, err
	}
	// The launch API checks tokens with the authorization server, built
	// after (it resolves the launches): lateTokens.
	apiTokens := &lateTokens{}
	launches, err := launch.New(launch.Config{Store: db, Clients: db, Resources: fhirData, Pages: pages, Assets: assets,
		StylePath: stylePath, Audit: rec, Logger: logger.With("component", "launch"),
		API: &launch.APIConfig{Tokens: apiTokens, Clients: clientCache, Accounts: users},
		Actor: func(ctx context.Context) string {
			if u, ok := web.UserFrom(ctx); ok {
				return u.ID
			}
			return ""
		}})
	if err != nil {
		return nil, fmt.Errorf("EHR launch: %w", err)
	}
	baseURLs := listenerURLs(cfg)
	fhirBases := make([]string, 0, len(baseURLs))
	for _, b := range baseURLs {
		fhirBases = append(fhirBases, b+"/fhir")
	}
	as, err := authz.New(authz.Config{
		BaseURLs:     baseURLs,
		FHIRBaseURLs: fhirBases,
		// Gateways and proxies elsewhere: an aud there gets a token for
		// there alone (fhirBearer below accepts only fhirBases).
		ExtraFHIRBaseURLs: cfg.ExtraFHIRBases,
		MTLSBaseURL:       listenerBase(cfg.HTTPSAddr, cfg.HTTPSURL),
		AccessTokenTTL:    cfg.AccessTokenTTL,
		RefreshTokenTTL:   cfg.RefreshTokenTTL,
		CodeTTL:           cfg.CodeTTL,
		OWin:              cfg.OWin,
		ScopeStrategy:     smart.ScopeStrategy,
		AllowOrigin:       clientCache.OriginAllowed,
		Clients:           clientCache,
		ManagementPath:    web.ManagementPath,
		JWKSAllowPrivate:  cfg.JWKSAllowPrivate,
		// RFC 7591/7592 at /oauth/register (interface.md); advertised in
		// discovery and the CapabilityStatement's oauth-uris (DCR10, B4).
		RegistrationPath:     "/oauth/register",
		OpenRegistration:     cfg.Registration == "open",
		RegistrationTokenTTL: cfg.RegistrationTokenTTL,
		SmartStylePath:       stylePath,
		// web's encounter picker (Config.Encounters above).
		ExtraCapabilities: []string{"context-standalone-encounter"},
		Launches:          launches,
		// The OWin grant asks for the same second factor, by the same rule.
		SecondFactor: authz.AccountSecondFactors{Store: db, Factors: factors, Required: secondFactorRequired},
	}, db, pages, users, rec, logger.With("component", "authz"))
	if err != nil {
		return nil, fmt.Errorf("authorization server: %w", err)
	}
	logout.target = as
	apiTokens.target = as
	revokePerson.tokens = as
	go as.Maintain(ctx, time.Hour)
	if cfg.AuditRetention > 0 {
		go pruneAudit(ctx, db, cfg.AuditRetention, time.Hour, time.Now, logger.With("component", "audit"))
	}

	fhirBearer := bearer.New(bearer.AuthzVerifier{Tokens: as, Accounts: users}, reg,
		bearer.Options{Logger: logger, Audiences: fhirBases})
	revokePerson.fhir = fhirBearer
	var fhirAuth fhir.Authenticator = fhirBearer
	if cfg.HTTPAuth == "none" {
		fhirAuth = devHTTPAuth{inner: fhirAuth}
		logger.Warn("http-auth=none: FHIR requests without a token on the loopback HTTP listener are not authenticated (development only)")
	}
	// The HTTPS listener's client certificates and ID tokens, under
	// --client-cert-policy (certauth.go), on /fhir and /scim.
	certAuth, err := newCertAuth(cfg, db, as, users, rec, logger.With("component", "certauth"))
	if err != nil {
		return nil, err
	}
	fhirAuth = certAuth.FHIR(fhirAuth, fhirBearer.Principal)
	fhirSrv := fhir.New(fhir.Config{
		Auth:         fhirAuth,
		MaxBodyBytes: cfg.MaxBodyBytes,
		OAuthURIs:    func(r *http.Request) map[string]string { return as.OAuthURIs(baseURL(r)) },
		// The client-certificate policy in effect on the HTTPS listener.
		SecurityDescription: securityDescription(cfg.CertPolicy()),
		Registry:            reg,
		SoftwareVersion:     version,
		Audit:               rec,
		AllowOrigin:         func(o string) bool { return clientCache.OriginAllowed(context.Background(), o) },
		// The audit trail as AuditEvent, for administrators; answered
		// here in proxy mode too, never forwarded (audit/fhirview).
		LocalTypes: map[string]fhir.LocalType{"AuditEvent": &fhirview.View{Store: db}},
	}, fhirData, logger.With("component", "fhir"))

	// Provisioning tokens are looked up through one cache, which the client
	// pages' revocations empty at once (scimauth.TokenCache).
	provTokens := scimauth.NewTokenCache(db, nil)
	clientPages, err := clients.New(clients.Config{Pages: pages, Store: db, Clients: clientCache, Tokens: provTokens, Assets: assets, Audit: rec,
		Logger: logger.With("component", "clients")})
	if err != nil {
		return nil, fmt.Errorf("client pages: %w", err)
	}

	// Who may call SCIM: provisioning tokens, scim-scoped tokens of clients
	// allowed SCIM, administrators' tokens (scim/scimauth).
	if a.scimAuth, err = scimauth.New(scimauth.Config{Tokens: provTokens, Clients: clientCache, Verifier: as, Accounts: users, Audit: rec,
		Logger: logger.With("component", "scimauth")}); err != nil {
		return nil, fmt.Errorf("SCIM authorization: %w", err)
	}
	// SCIM 2.0 at /scim/v2 on both listeners; locations name the listener
	// the request came through.
	scimCfg := scim.Config{Store: db, People: people, Auth: certAuth.SCIM(a.scimAuth), BaseURL: baseURL, Audit: rec,
		MaxBodyBytes: scim.DefaultMaxBodyBytes, Logger: logger.With("component", "scim")}
	fed.scimConfig(&scimCfg, db)
	scimSrv := scim.New(scimCfg)

	// The people pages change people through the one People above.
	peopleCfg := peoplepages.Config{Pages: pages, Directory: db, People: people, Unlocker: throttle,
		Assets: assets, Audit: rec, Logger: logger.With("component", "people")}
	fed.peopleConfig(&peopleCfg)
	peoplePages, err := peoplepages.New(peopleCfg)
	if err != nil {
		return nil, fmt.Errorf("people pages: %w", err)
	}

	// The grants pages end a person's grants at an app by the same
	// revocation as /account/apps (revokePerson), and one grant by
	// revokePerson.RevokeFamily.
	grantPages, err := grants.New(grants.Config{Pages: pages, Store: db, Revoker: revokePerson, Assets: assets, Audit: rec,
		Logger: logger.With("component", "grants")})
	if err != nil {
		return nil, fmt.Errorf("grants pages: %w", err)
	}

	// The allow-list of client certificates, the policy in effect and the
	// anonymous account's scopes (certificates.go).
	auditPage, err := auditlog.New(auditlog.Config{Pages: pages, Store: db, Assets: assets, Logger: logger.With("component", "auditlog")})
	if err != nil {
		return nil, fmt.Errorf("audit page: %w", err)
	}
	certPages, err := newCertificatesPage(cfg, db, pages, assets, rec, logger.With("component", "certificates"))
	if err != nil {
		return nil, fmt.Errorf("certificates page: %w", err)
	}

	// Why a FHIR request was refused (issue 15, item 7).
	explainPages, err := explain.New(explain.Config{Pages: pages, Audit: db, Tokens: fhirBearer, Resources: fhirSrv,
		IsType: reg.IsType, Assets: assets})
	if err != nil {
		return nil, fmt.Errorf("explain pages: %w", err)
	}

	demo, err := demoapp.New(static, demoapp.Config{})
	if err != nil {
		return nil, fmt.Errorf("demo app: %w", err)
	}

	// The home page and the console's own pages (console.go).
	consolePages, err := newConsole(cfg, db, as, pages, fed.providers, assets, rec, logger.With("component", "console"))
	if err != nil {
		return nil, fmt.Errorf("console pages: %w", err)
	}

	mux := http.NewServeMux()
	metricsAccess := server.MetricsAccess{Allow: cfg.MetricsAllow}
	if cfg.MetricsTokenFile != "" {
		if metricsAccess.Token, err = config.ReadMetricsToken(cfg.MetricsTokenFile); err != nil {
			return nil, fmt.Errorf("metrics token: %w", err)
		}
	}
	server.RegisterOps(mux, db, metrics, metricsAccess, logger)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	as.Register(mux)
	pages.Register(mux)
	clientPages.Register(mux)
	peoplePages.Register(mux)
	grantPages.Register(mux)
	certPages.Register(mux)
	explainPages.Register(mux)
	auditPage.Register(mux)
	launches.Register(mux)
	fhirSrv.Register(mux)
	scimSrv.Register(mux)
	demo.Register(mux)
	consolePages.Register(mux)
	if err := fed.register(mux, pages, fedPages{assets: assets, audit: rec,
		logger: logger.With("component", "providers"), httpBase: listenerBase(cfg.HTTPAddr, cfg.HTTPURL), httpsBase: listenerBase(cfg.HTTPSAddr, cfg.HTTPSURL)}); err != nil {
		return nil, err
	}

	h := server.CORSPolicy{OriginAllowed: clientCache.OriginAllowed, Logger: logger}.Wrap(mux)
	// certs.Middleware inside server.Wrap, so that its log lines and audit
	// records carry the request id and client address: on the HTTPS
	// listener it reads the request's client certificate (or a trusted
	// proxy's --client-cert-header); on the HTTP listener it only removes
	// that header (forged there), so that no handler ever sees it.
	a.handler = server.Wrap(certs.Middleware(h), logger, metrics, cfg.MaxBodyBytes, cfg.TrustedProxies)
	a.authz = as
	return a, nil
}

// listenerURLs are the public base URLs of the listeners that are on.
func listenerURLs(cfg *config.Config) []string {
	var out []string
	for _, b := range []string{listenerBase(cfg.HTTPSAddr, cfg.HTTPSURL), listenerBase(cfg.HTTPAddr, cfg.HTTPURL)} {
		if b != "" {
			out = append(out, b)
		}
	}
	return out
}

// listenerBase is a listener's public base URL, "" when it is off.
func listenerBase(addr, url string) string {
	if addr == "" {
		return ""
	}
	return strings.TrimRight(url, "/")
}

// lateLogout forwards the post-logout redirect check to the authorization
// server, built after the pages.
type lateLogout struct{ target *authz.Server }

func (l *lateLogout) allowed(ctx context.Context, clientID, idTokenHint, uri string) bool {
	return l.target != nil && l.target.PostLogoutRedirectAllowed(ctx, clientID, idTokenHint, uri)
}

// lateTokens forwards the launch API's token checks to the authorization
// server, built after the launch service.
type lateTokens struct{ target *authz.Server }

func (l *lateTokens) VerifyAccessToken(ctx context.Context, token string) (*authz.TokenInfo, error) {
	if l.target == nil {
		return nil, authz.ErrInactiveToken
	}
	return l.target.VerifyAccessToken(ctx, token)
}

// baseURL is the public base URL of the listener that served r.
func baseURL(r *http.Request) string { return listener.BaseURL(r) }
