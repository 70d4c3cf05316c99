package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/smartgate/smartgate"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/demoapp"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/server"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/clients"
)

// newApp wires every package onto one mux. It is the only place that knows
// all of them.
func newApp(ctx context.Context, cfg *config.Config, db *sqlite.DB, logger *slog.Logger, e *env) (*app, error) {
	a := &app{}
	ctx, cancel := context.WithCancel(ctx)
	a.closers = append(a.closers, cancel)

	rec := audit.NewBatcher(db.InsertAudit, 8192, logger)
	a.closers = append(a.closers, rec.Close)

	msg, err := bootstrapAdmin(ctx, cfg, db, e.getenv)
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
		msgs, err := setupDemo(ctx, cfg, db, reg)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		a.messages = append(a.messages, msgs...)
	}

	// Each argon2id check holds 19 MiB and a full core: more checks in
	// flight than cores only add memory, never throughput. The one log-in
	// throttle (10 per account, 30 per address per 15 minutes, counted
	// before the check) serves the log-in page and the OWin grant alike.
	throttle := account.NewThrottle(account.ThrottleConfig{})
	passwords := account.NewAuthenticator(db, account.NewHasher(account.Params{}, runtime.GOMAXPROCS(0)), throttle)
	// The second factor: optional for everyone, required for administrators
	// with --admin-second-factor required; its code checks count against
	// the log-in throttle, so that an address's wrong passwords and codes
	// add up.
	factors := &account.SecondFactors{Store: db, Throttle: throttle}
	secondFactorRequired := func(u *account.User) bool {
		return cfg.AdminSecondFactor == config.SecondFactorRequired && u.HasRole(account.RoleAdmin)
	}
	revoker := &lateRevoker{}
	logout := &lateLogout{}
	pages, err := web.New(ctx, web.Config{
		Logger:               logger.With("component", "web"),
		Assets:               assets,
		Store:                db,
		Passwords:            passwords,
		Audit:                rec,
		Revoker:              revoker,
		SessionGrants:        revoker,
		SessionTTL:           cfg.SessionTTL,
		SessionIdle:          sessionIdle(cfg.SessionIdle),
		SecondFactor:         factors,
		SecondFactorRequired: secondFactorRequired,
		Patients:             &patientDirectory{st: db, reg: reg},
		Encounters:           &encounterDirectory{st: db, reg: reg},
		DescribeScope:        describeScope,
		ClientName: func(ctx context.Context, id string) string {
			if c, err := db.GetClient(ctx, id); err == nil && c.Name != "" {
				return c.Name
			}
			return id
		},
		RequestID:                 server.RequestID,
		PostLogoutRedirectAllowed: logout.allowed,
	})
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}

	stylePath, err := launch.StylePath(assets)
	if err != nil {
		return nil, err
	}
	launches, err := launch.New(launch.Config{Store: db, Clients: db, Resources: db, Pages: pages, Assets: assets,
		StylePath: stylePath, Audit: rec, Logger: logger.With("component", "launch"),
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
		BaseURLs:         baseURLs,
		FHIRBaseURLs:     fhirBases,
		AccessTokenTTL:   cfg.AccessTokenTTL,
		RefreshTokenTTL:  cfg.RefreshTokenTTL,
		CodeTTL:          cfg.CodeTTL,
		OWin:             cfg.OWin,
		ScopeStrategy:    smart.ScopeStrategy,
		AllowOrigin:      clientCache.OriginAllowed,
		Clients:          clientCache,
		ManagementPath:   web.ManagementPath,
		JWKSAllowPrivate: cfg.JWKSAllowPrivate,
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
		SecondFactor: owinSecondFactor{db: db, factors: factors, required: secondFactorRequired},
	}, db, pages, userDirectory{db: db, passwords: passwords}, rec, logger.With("component", "authz"))
	if err != nil {
		return nil, fmt.Errorf("authorization server: %w", err)
	}
	revoker.target = as
	logout.target = as
	go as.Maintain(ctx, time.Hour)

	var fhirAuth fhir.Authenticator = bearer.New(tokenVerifier{as: as, users: userDirectory{db: db, passwords: passwords}}, reg,
		bearer.Options{Logger: logger, Audiences: fhirBases})
	if cfg.HTTPAuth == "none" {
		fhirAuth = devHTTPAuth{inner: fhirAuth}
		logger.Warn("http-auth=none: FHIR requests without a token on the loopback HTTP listener are not authenticated (development only)")
	}
	fhirSrv := fhir.New(fhir.Config{
		Auth:            fhirAuth,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		OAuthURIs:       oauthURIs(as),
		Registry:        reg,
		SoftwareVersion: version,
		Audit:           rec,
		AllowOrigin:     func(o string) bool { return clientCache.OriginAllowed(context.Background(), o) },
	}, db, logger.With("component", "fhir"))

	clientPages, err := clients.New(clients.Config{Pages: pages, Store: db, Clients: clientCache, Assets: assets, Audit: rec,
		Logger: logger.With("component", "clients")})
	if err != nil {
		return nil, fmt.Errorf("client pages: %w", err)
	}

	demo, err := demoapp.New(static, demoapp.Config{})
	if err != nil {
		return nil, fmt.Errorf("demo app: %w", err)
	}

	mux := http.NewServeMux()
	metrics := server.NewMetrics()
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
	launches.Register(mux)
	fhirSrv.Register(mux)
	demo.Register(mux)

	h := server.CORSPolicy{OriginAllowed: clientCache.OriginAllowed, Logger: logger}.Wrap(clientCertPolicy(cfg, mux))
	a.handler = server.Wrap(h, logger, metrics, cfg.MaxBodyBytes, cfg.TrustedProxies)
	a.authz = as
	return a, nil
}

// listenerURLs are the public base URLs of the listeners that are on.
func listenerURLs(cfg *config.Config) []string {
	var out []string
	if cfg.HTTPSAddr != "" {
		out = append(out, strings.TrimRight(cfg.HTTPSURL, "/"))
	}
	if cfg.HTTPAddr != "" {
		out = append(out, strings.TrimRight(cfg.HTTPURL, "/"))
	}
	return out
}

func describeScope(s string) string {
	sc, err := smart.ParseScope(s)
	if err != nil {
		return s
	}
	return smart.Describe(sc)
}

// oauthURIs gives the CapabilityStatement's oauth-uris extension the same
// URLs as the SMART configuration of the listener that served r (B4).
func oauthURIs(as *authz.Server) func(r *http.Request) map[string]string {
	return func(r *http.Request) map[string]string {
		base := baseURL(r)
		d := as.SMARTConfiguration(base)
		out := map[string]string{}
		for key, field := range map[string]string{
			"authorize": "authorization_endpoint", "token": "token_endpoint", "register": "registration_endpoint",
			"manage": "management_endpoint", "introspect": "introspection_endpoint", "revoke": "revocation_endpoint",
		} {
			if v, ok := d[field].(string); ok && v != "" {
				out[key] = v
			}
		}
		return out
	}
}

// lateRevoker forwards to the authorization server, which is built after
// the pages (each needs the other).
type lateRevoker struct{ target *authz.Server }

func (l *lateRevoker) RevokeAll(ctx context.Context, subject, clientID string) error {
	if l.target == nil {
		return errors.New("authorization server not ready")
	}
	return l.target.RevokeGrants(ctx, subject, clientID)
}

// RevokeSession ends the online_access grants of a log-in session (log-out).
func (l *lateRevoker) RevokeSession(ctx context.Context, sessionID string) error {
	if l.target == nil {
		return errors.New("authorization server not ready")
	}
	return l.target.RevokeSession(ctx, sessionID)
}

// sessionIdle turns the setting (0: no idle limit) into web.Config's
// SessionIdle (negative: no idle limit).
func sessionIdle(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// lateLogout forwards the post-logout redirect check to the authorization
// server, built after the pages.
type lateLogout struct{ target *authz.Server }

func (l *lateLogout) allowed(ctx context.Context, clientID, idTokenHint, uri string) bool {
	return l.target != nil && l.target.PostLogoutRedirectAllowed(ctx, clientID, idTokenHint, uri)
}

// userDirectory gives authz what it needs to know about local accounts.
type userDirectory struct {
	db        *sqlite.DB
	passwords *account.Authenticator
}

func claimsOf(u *account.User) authz.UserClaims {
	c := authz.UserClaims{Subject: u.ID, Username: u.UserName, Name: u.Label(), FHIRUser: u.FHIRUser, Roles: u.Roles}
	for _, e := range u.Emails {
		if e.Primary || c.Email == "" {
			c.Email = e.Value
		}
	}
	return c
}

func (d userDirectory) Authenticate(ctx context.Context, username, password, address string) (authz.UserClaims, error) {
	u, err := d.passwords.Authenticate(ctx, username, password, address)
	if err != nil {
		return authz.UserClaims{}, credentialError(err)
	}
	return claimsOf(u), nil
}

// credentialError is a password or second-factor check's error of package
// account as authz knows it: ErrInvalidCredentials for wrong credentials,
// ErrAccountLocked for a throttled check, anything else as it is.
func credentialError(err error) error {
	switch {
	case errors.Is(err, account.ErrBadCredentials), errors.Is(err, account.ErrInvalidUserName):
		return fmt.Errorf("%w: %w", authz.ErrInvalidCredentials, err)
	case errors.Is(err, account.ErrThrottled):
		return fmt.Errorf("%w: %w", authz.ErrAccountLocked, err)
	}
	return err
}

func (d userDirectory) Claims(ctx context.Context, subject string) (authz.UserClaims, error) {
	u, err := d.db.User(ctx, subject)
	if err != nil {
		return authz.UserClaims{}, err
	}
	if !u.Active {
		return authz.UserClaims{}, fmt.Errorf("user %s is not active: %w", subject, store.ErrNotFound)
	}
	return claimsOf(u), nil
}

// owinSecondFactor is the second factor as the OWin grant sees it: the
// pages' SecondFactors (and so their throttle) and their rule of who must
// have one.
type owinSecondFactor struct {
	db       *sqlite.DB
	factors  *account.SecondFactors
	required func(u *account.User) bool
}

func (f owinSecondFactor) SecondFactorNeed(ctx context.Context, subject string) (authz.SecondFactorNeed, error) {
	u, err := f.db.User(ctx, subject)
	if err != nil {
		return authz.SecondFactorNone, fmt.Errorf("second factor of %s: %w", subject, err)
	}
	enrolled, err := f.factors.Enrolled(ctx, u.ID)
	switch {
	case err != nil:
		return authz.SecondFactorNone, err
	case enrolled:
		return authz.SecondFactorEnrolled, nil
	case f.required(u):
		return authz.SecondFactorMissing, nil
	}
	return authz.SecondFactorNone, nil
}

func (f owinSecondFactor) VerifySecondFactor(ctx context.Context, subject, code, address string) error {
	if err := f.factors.Verify(ctx, subject, code, address); err != nil {
		return credentialError(err)
	}
	return nil
}

// tokenVerifier turns authz's view of an access token into the FHIR
// endpoint's principal. For a token that speaks for a local account, the
// account's current roles and fhirUser decide what user/ scopes reach (the
// token carries roles only for OWin), and a deactivated or deleted account's
// tokens stop working (within the bearer cache bound).
type tokenVerifier struct {
	as    *authz.Server
	users interface {
		Claims(ctx context.Context, subject string) (authz.UserClaims, error)
	}
}

func (v tokenVerifier) Verify(ctx context.Context, token string) (*access.Principal, time.Time, error) {
	ti, err := v.as.VerifyAccessToken(ctx, token)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return nil, time.Time{}, err
		}
		return nil, time.Time{}, fmt.Errorf("%w: %w", bearer.ErrInactive, err)
	}
	scopes, _ := smart.ParseScopes(strings.Join(ti.Scopes, " "))
	p := &access.Principal{
		Subject:  ti.Subject,
		ClientID: ti.ClientID,
		Scopes:   scopes,
		Patient:  ti.Patient(),
		FHIRUser: ti.FHIRUser,
		Roles:    ti.Roles,
		System:   ti.Grant == "client_credentials",
		Audience: ti.Audience,
	}
	if !p.System && v.users != nil {
		uc, err := v.users.Claims(ctx, ti.Subject)
		switch {
		case errors.Is(err, store.ErrUnavailable):
			return nil, time.Time{}, err
		case err != nil:
			return nil, time.Time{}, fmt.Errorf("%w: account: %w", bearer.ErrInactive, err)
		}
		p.Roles = uc.Roles
		if p.FHIRUser == "" {
			p.FHIRUser = uc.FHIRUser
		}
	}
	return p, ti.ExpiresAt, nil
}

// patientDirectory lets the patient picker search Patient resources.
type patientDirectory struct {
	st  fhir.Store
	reg *search.Registry
}

func (d *patientDirectory) SearchPatients(ctx context.Context, q string, limit int) ([]web.PatientSummary, error) {
	vals := url.Values{"_count": {fmt.Sprint(limit)}, "_sort": {"family,given"}}
	if q = strings.TrimSpace(q); q != "" {
		vals.Set("name", q)
	}
	query, err := d.reg.ParseQuery("Patient", vals, true)
	if err != nil {
		return nil, fmt.Errorf("patient search: %w", err)
	}
	res, err := d.st.SearchResources(ctx, fhir.SearchRequest{Query: query, Now: time.Now()})
	if err != nil {
		return nil, err
	}
	out := make([]web.PatientSummary, 0, len(res.Matches))
	for _, m := range res.Matches {
		out = append(out, summarize(m))
	}
	return out, nil
}

func (d *patientDirectory) Patient(ctx context.Context, id string) (*web.PatientSummary, error) {
	r, err := d.st.ReadResource(ctx, "Patient", id)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, fmt.Errorf("patient %s was deleted: %w", id, store.ErrNotFound)
	}
	s := summarize(*r)
	return &s, nil
}

// encounterDirectory lets the encounter picker list a patient's encounters.
type encounterDirectory struct {
	st  fhir.Store
	reg *search.Registry
}

func (d *encounterDirectory) EncountersOf(ctx context.Context, patient string, limit int) ([]web.EncounterSummary, error) {
	vals := url.Values{"patient": {"Patient/" + patient}, "_count": {fmt.Sprint(limit)}, "_sort": {"-date"}}
	query, err := d.reg.ParseQuery("Encounter", vals, true)
	if err != nil {
		return nil, fmt.Errorf("encounter search: %w", err)
	}
	res, err := d.st.SearchResources(ctx, fhir.SearchRequest{Query: query, Now: time.Now()})
	if err != nil {
		return nil, err
	}
	out := make([]web.EncounterSummary, 0, len(res.Matches))
	for _, m := range res.Matches {
		out = append(out, summarizeEncounter(m))
	}
	return out, nil
}

func (d *encounterDirectory) Encounter(ctx context.Context, id string) (*web.EncounterSummary, error) {
	r, err := d.st.ReadResource(ctx, "Encounter", id)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, fmt.Errorf("encounter %s was deleted: %w", id, store.ErrNotFound)
	}
	s := summarizeEncounter(*r)
	return &s, nil
}

func summarizeEncounter(r fhir.Resource) web.EncounterSummary {
	s := web.EncounterSummary{ID: r.ID}
	m, err := search.Decode(r.JSON)
	if err != nil {
		return s
	}
	if subj, ok := m["subject"].(map[string]any); ok {
		ref, _ := subj["reference"].(string)
		if i := strings.LastIndex(ref, "Patient/"); i >= 0 && (i == 0 || ref[i-1] == '/') {
			s.Patient = ref[i+len("Patient/"):]
		}
	}
	if types, ok := m["type"].([]any); ok && len(types) > 0 {
		if t, ok := types[0].(map[string]any); ok {
			s.Label, _ = t["text"].(string)
			if codings, ok := t["coding"].([]any); ok && len(codings) > 0 && s.Label == "" {
				if c, ok := codings[0].(map[string]any); ok {
					s.Label, _ = c["display"].(string)
				}
			}
		}
	}
	if p, ok := m["period"].(map[string]any); ok {
		s.Date, _ = p["start"].(string)
	}
	return s
}

func summarize(r fhir.Resource) web.PatientSummary {
	s := web.PatientSummary{ID: r.ID}
	m, err := search.Decode(r.JSON)
	if err != nil {
		return s
	}
	s.BirthDate, _ = m["birthDate"].(string)
	if names, ok := m["name"].([]any); ok && len(names) > 0 {
		if n, ok := names[0].(map[string]any); ok {
			var parts []string
			if given, ok := n["given"].([]any); ok {
				for _, g := range given {
					if gs, ok := g.(string); ok {
						parts = append(parts, gs)
					}
				}
			}
			if f, ok := n["family"].(string); ok {
				parts = append(parts, f)
			}
			s.Name = strings.Join(parts, " ")
			if t, ok := n["text"].(string); ok && s.Name == "" {
				s.Name = t
			}
		}
	}
	return s
}

// baseURL is the public base URL of the listener that served r.
func baseURL(r *http.Request) string { return listener.BaseURL(r) }
