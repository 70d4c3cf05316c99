package web

import (
	"context"
	"errors"
	"fmt"
	"github.com/smartgate/smartgate/authz/smart"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/idp/link"
	"github.com/smartgate/smartgate/internal/reqctx"
)

// Store is what the pages need from storage (store/sqlite implements it).
type Store interface {
	User(ctx context.Context, id string) (*account.User, error)
	account.Consents
	account.Sessions
	account.Pendings
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
	SettingOrCreate(ctx context.Context, key string, create func() ([]byte, error)) ([]byte, error)
}

// PasswordChecker checks a local log-in; *account.Authenticator implements
// it. It returns account.ErrBadCredentials or account.ErrThrottled for
// refused log-ins.
type PasswordChecker interface {
	Authenticate(ctx context.Context, userName, password, address string) (*account.User, error)
}

// Rights computes a person's effective rights: roles held directly or
// through a group, and the scope ceiling (*account.People implements it).
type Rights interface {
	Rights(ctx context.Context, u *account.User) (account.Rights, error)
}

// rights are u's effective rights (Config.Rights).
func (s *Server) rights(ctx context.Context, u *account.User) (account.Rights, error) {
	if s.cfg.Rights == nil {
		return account.EffectiveRights(u, nil), nil
	}
	r, err := s.cfg.Rights.Rights(ctx, u)
	if err != nil {
		return account.Rights{}, wrap("rights", err)
	}
	return r, nil
}

// TokenRevoker ends the tokens a client holds for a subject; authz
// implements it. It is called when the person withdraws an app's access.
type TokenRevoker interface {
	RevokeAll(ctx context.Context, subject, clientID string) error
}

// SessionRevoker ends the grants tied to a log-in session (online_access
// grants: their access and refresh tokens); authz implements it. It is
// called when the person logs out.
type SessionRevoker interface {
	RevokeSession(ctx context.Context, sessionID string) error
}

// PatientSearch finds Patient resources for the patient picker; the FHIR
// store implements it.
type PatientSearch interface {
	// SearchPatients returns up to limit patients whose name matches query
	// (all patients, in a stable order, when query is empty).
	SearchPatients(ctx context.Context, query string, limit int) ([]PatientSummary, error)
	// Patient returns one patient, or an error wrapping store.ErrNotFound.
	Patient(ctx context.Context, id string) (*PatientSummary, error)
}

// PatientSummary is one row of the patient picker.
type PatientSummary struct {
	ID        string // bare Patient id
	Name      string
	BirthDate string
}

// Linker resolves a verified federated identity to a local account and
// keeps the links (*link.Linker implements it).
type Linker interface {
	Resolve(ctx context.Context, p idp.Provider, id idp.Identity) (link.Outcome, error)
	Link(ctx context.Context, userID string, p idp.Provider, id idp.Identity) error
	Unlink(ctx context.Context, actor, userID, issuer, subject string) error
	LinksOf(ctx context.Context, userID string) ([]account.Link, error)
}

// SignInCodeRedeemer redeems administrator-issued sign-in codes
// (*account.SignInCodes implements it): the code's active account, or
// account.ErrBadCredentials / account.ErrThrottled.
type SignInCodeRedeemer interface {
	Redeem(ctx context.Context, code, address string) (*account.User, error)
}

// Config holds the dependencies and settings of the pages.
type Config struct {
	Logger *slog.Logger
	// Assets holds templates/ and static/ (smartgate.Assets).
	Assets fs.FS
	Store  Store
	// Passwords checks local log-ins.
	Passwords PasswordChecker
	// PasswordSetter enables PasswordPath, where people change their own
	// password (nil: no such page).
	PasswordSetter PasswordSetter
	Audit          audit.Recorder
	// Revoker is told when the person withdraws an app (may be nil).
	Revoker TokenRevoker
	// SessionGrants is told when the person logs out, so that the
	// session's online_access grants end (may be nil).
	SessionGrants SessionRevoker
	// Patients enables the patient picker for launch/patient requests by
	// users who are not patients (may be nil: no picker, no context).
	Patients PatientSearch
	// Encounters enables the encounter picker for standalone launches with
	// launch/encounter (may be nil: no picker, no encounter context).
	Encounters EncounterSearch
	// Providers are the federated identity providers: a button (a link to
	// /login/{ID}) each on the log-in page, /login/{ID} and its callback.
	Providers []idp.Provider
	// Linker turns a provider's verified identity into an account (nil:
	// no federated log-in).
	Linker Linker
	// SignInCodes enables /login/code (nil: no such page).
	SignInCodes SignInCodeRedeemer
	// Rights gives a person's effective roles and scope ceiling (with
	// their groups; *account.People implements it). Nil: their own roles
	// and the roles' base ceiling.
	Rights Rights
	// SecondFactor is the second factor of log-ins (nil: none): asked after
	// the password of an enrolled account, enrolled on SecurityPath.
	SecondFactor SecondFactors
	// SecondFactorRequired reports whether u must have a second factor
	// (enrolled at the log-in when missing); nil: nobody.
	SecondFactorRequired func(u *account.User) bool
	// DescribeScope explains a scope in plain words on the consent and apps
	// pages (default: smart.DescribeScope, the one wording of a scope).
	DescribeScope func(scope string) string
	// ClientName names a client on the apps page (default: the id).
	ClientName func(ctx context.Context, clientID string) string
	// PostLogoutRedirectAllowed reports whether uri is a registered
	// post_logout_redirect_uri of the client (named by clientID, or by the
	// aud of idTokenHint when clientID is empty). Nil: never.
	PostLogoutRedirectAllowed func(ctx context.Context, clientID, idTokenHint, uri string) bool
	// SessionTTL bounds a log-in session from the log-in (default 12h);
	// SessionIdle from its last use, a page or an authorization request
	// (default 30m; negative: no idle limit); PendingTTL a pending
	// authorization request (default 30m).
	SessionTTL  time.Duration
	SessionIdle time.Duration
	PendingTTL  time.Duration
	// RequestID returns the id of the request carried by ctx (the server's
	// request-id middleware), shown on error pages and logged; when nil or
	// empty, the error page makes its own.
	RequestID func(ctx context.Context) string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Default lifetimes of a log-in session (Config.SessionTTL, SessionIdle).
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultSessionIdle = 30 * time.Minute
)

// sessionPolicy is the lifetime rule of log-in sessions.
func (s *Server) sessionPolicy() account.SessionPolicy {
	return account.SessionPolicy{TTL: s.cfg.SessionTTL, Idle: max(s.cfg.SessionIdle, 0)}
}

// Server serves the pages and implements authz.Interaction.
type Server struct {
	cfg      Config
	log      *slog.Logger
	pages    map[string]*pageTemplate
	cookies  *cookieCodec
	cop      *http.CrossOriginProtection
	describe func(string) string
}

var _ authz.Interaction = (*Server)(nil)

// New loads the templates and the session keys (generated and stored on
// first use).
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Passwords == nil || cfg.Assets == nil {
		return nil, errors.New("web: Store, Passwords and Assets are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Audit == nil {
		cfg.Audit = discardAudit{}
	}
	if cfg.DescribeScope == nil {
		cfg.DescribeScope = smart.DescribeScope
	}
	if cfg.ClientName == nil {
		cfg.ClientName = func(_ context.Context, id string) string { return id }
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.PendingTTL <= 0 {
		cfg.PendingTTL = 30 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := checkProviders(cfg.Providers); err != nil {
		return nil, err
	}
	pages, err := parseTemplates(cfg.Assets)
	if err != nil {
		return nil, err
	}
	codec, err := loadCookieCodec(ctx, cfg.Store, cfg.SessionTTL)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, pages: pages, cookies: codec, describe: cfg.DescribeScope}
	s.cop = http.NewCrossOriginProtection()
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusForbidden, "This form was sent from another site and has been refused.",
			errors.New("cross-origin request refused"))
	}))
	return s, nil
}

type discardAudit struct{}

func (discardAudit) Record(context.Context, audit.Event) {}

// Register adds the pages to mux: with a Linker the federated log-in's
// (/login/{id}, its callback, LinkPath, LinksPath), with SignInCodes
// SignInCodePath. /static/ belongs to cmd/smartgate (the style sheet the
// pages link) and is not registered here.
func (s *Server) Register(mux *http.ServeMux) {
	h := func(f http.HandlerFunc) http.Handler { return s.cop.Handler(limitBody(f)) }
	mux.Handle("GET /login", h(s.loginPage))
	mux.Handle("POST /login", h(s.loginSubmit))
	mux.Handle("GET /consent", h(s.consentPage))
	mux.Handle("POST /consent", h(s.consentSubmit))
	mux.Handle("GET /logout", h(s.logoutPage))
	mux.Handle("POST /logout", h(s.logoutSubmit))
	mux.Handle("GET /account/apps", h(s.appsPage))
	mux.Handle("POST /account/apps/revoke", h(s.appsRevoke))
	if s.cfg.Patients != nil {
		mux.Handle("GET /pick-patient", h(s.pickPage))
		mux.Handle("POST /pick-patient", h(s.pickSubmit))
	}
	if s.cfg.Encounters != nil {
		mux.Handle("GET /pick-encounter", h(s.pickEncounterPage))
		mux.Handle("POST /pick-encounter", h(s.pickEncounterSubmit))
	}
	s.registerSecondFactor(mux, h)
	s.registerPassword(mux, h)
	s.registerFederated(mux, h)
	s.registerSignInCode(mux, h)
}

// maxForm bounds a page form's body.
const maxForm = 64 << 10

func limitBody(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		next(w, r)
	}
}

func (s *Server) record(r *http.Request, ev audit.Event) {
	ev.At = s.cfg.Now()
	ev.Address = reqctx.ClientAddress(r)
	ev.RequestID = reqctx.ID(r.Context())
	s.cfg.Audit.Record(r.Context(), ev)
}

func wrap(op string, err error) error { return fmt.Errorf("web: %s: %w", op, err) }
