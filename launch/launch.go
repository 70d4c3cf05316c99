package launch

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store"
)

// Errors of ResolveLaunch and ConsumeLaunch (all mean: no code).
var (
	ErrUnknown       = errors.New("launch: unknown launch value")
	ErrForeignClient = errors.New("launch: launch value issued for another client")
	ErrUsed          = errors.New("launch: launch value already used")
	ErrExpired       = errors.New("launch: launch value expired")
)

// Clients lists the registered clients (authz.ClientStore provides it).
type Clients interface {
	ListClients(ctx context.Context) ([]*authz.Client, error)
}

// Resources reads FHIR resources (the FHIR store provides it), to check that
// the patient and encounter of a launch exist.
type Resources interface {
	ReadResource(ctx context.Context, typ, id string) (*fhir.Resource, error)
}

// Config holds the dependencies and settings of the EHR launch.
type Config struct {
	Store     Store
	Clients   Clients
	Resources Resources
	// Pages provides log-in, roles, CSRF and the error page (package web).
	Pages Pages
	// Assets holds templates/base.html and templates/launch.html.
	Assets fs.FS
	// StylePath is the path (with its content-version query) of the SMART
	// style sheet, e.g. from StylePath; the launch's smart_style_url is the
	// page's listener base URL + StylePath. Empty: no default style.
	StylePath string
	// TTL is how long a launch value is valid (default 5 minutes).
	TTL time.Duration
	// Actor returns the id of the logged-in person in a page request's
	// context (web.UserFrom), recorded with each launch; may be nil.
	Actor  func(ctx context.Context) string
	Audit  audit.Recorder
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// API, when set, turns on the launch API (APIPath).
	API *APIConfig
}

// Service issues EHR launches (the /admin/launch page) and resolves them
// for the authorization endpoint (authz.LaunchResolver, authz.LaunchConsumer).
type Service struct {
	cfg  Config
	log  *slog.Logger
	page *pageTemplate
}

var (
	_ authz.LaunchResolver = (*Service)(nil)
	_ authz.LaunchConsumer = (*Service)(nil)
)

// New checks the configuration and parses the page template.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Clients == nil || cfg.Resources == nil || cfg.Pages == nil || cfg.Assets == nil {
		return nil, errors.New("launch: Store, Clients, Resources, Pages and Assets are required")
	}
	if a := cfg.API; a != nil && (a.Tokens == nil || a.Clients == nil || a.Accounts == nil) {
		return nil, errors.New("launch: API needs Tokens, Clients and Accounts")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	page, err := parsePage(cfg.Assets)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, log: cfg.Logger, page: page}, nil
}

// valueBytes is the entropy of a launch value (256 bits).
const valueBytes = 32

// newValue returns a fresh launch value: 256 random bits, base64url without
// padding (43 characters from [A-Za-z0-9_-], URL-safe; C15).
func newValue() (string, error) {
	b := make([]byte, valueBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("launch: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashValue is what the store keeps of a launch value.
func hashValue(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

// wellFormed reports whether v can be a value we issued, so that garbage
// never reaches the database.
func wellFormed(v string) bool {
	if len(v) != base64.RawURLEncoding.EncodedLen(valueBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

// Issue stores a new launch of ctx for clientID under the FHIR base iss and
// returns its value.
func (s *Service) Issue(ctx context.Context, clientID, iss, createdBy string, lc authz.LaunchContext) (string, error) {
	lc.Issuer, lc.LaunchedBy = "", "" // kept in Record.Issuer and Record.CreatedBy
	if err := smart.ValidFHIRContext(lc.FHIRContext); err != nil {
		return "", err
	}
	v, err := newValue()
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	rec := &Record{Hash: hashValue(v), ClientID: clientID, Issuer: iss, Context: lc, CreatedBy: createdBy,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL)}
	if err := s.cfg.Store.CreateLaunch(ctx, rec); err != nil {
		return "", fmt.Errorf("launch: store: %w", err)
	}
	if n, err := s.cfg.Store.DeleteExpiredLaunches(ctx, now.Add(-24*time.Hour)); err != nil {
		s.log.WarnContext(ctx, "delete expired launches", "err", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "deleted expired launches", "count", n)
	}
	return v, nil
}

// ResolveLaunch implements authz.LaunchResolver: the context of a launch
// value issued for clientID, still unused and unexpired, with the launcher
// in LaunchedBy. It does not use the
// value up (the authorization endpoint resolves it on every pass);
// ConsumeLaunch does.
func (s *Service) ResolveLaunch(ctx context.Context, value, clientID string) (*authz.LaunchContext, error) {
	if !wellFormed(value) {
		return nil, ErrUnknown
	}
	rec, err := s.cfg.Store.Launch(ctx, hashValue(value))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrUnknown
	case err != nil:
		return nil, fmt.Errorf("launch: resolve: %w", err)
	case rec.ClientID != clientID:
		return nil, ErrForeignClient
	case !rec.UsedAt.IsZero():
		return nil, ErrUsed
	case !s.cfg.Now().Before(rec.ExpiresAt):
		return nil, ErrExpired
	}
	if err := smart.ValidFHIRContext(rec.Context.FHIRContext); err != nil {
		return nil, fmt.Errorf("launch: stored fhirContext: %w", err)
	}
	lc := cloneContext(rec.Context)
	lc.Issuer = rec.Issuer
	// The launch is the launcher's: the pages let only that person, or one
	// who may act for its patient, redeem it (issue 9 D7).
	lc.LaunchedBy = rec.CreatedBy
	return &lc, nil
}

// ConsumeLaunch implements authz.LaunchConsumer: it marks the launch used,
// atomically, so that it yields at most one authorization code.
func (s *Service) ConsumeLaunch(ctx context.Context, value, clientID string) error {
	if !wellFormed(value) {
		return ErrUnknown
	}
	err := s.cfg.Store.UseLaunch(ctx, hashValue(value), clientID, s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return ErrUsed
	}
	return err
}

func cloneContext(lc authz.LaunchContext) authz.LaunchContext {
	if lc.NeedPatientBanner != nil {
		b := *lc.NeedPatientBanner
		lc.NeedPatientBanner = &b
	}
	if lc.FHIRContext != nil {
		raw, _ := json.Marshal(lc.FHIRContext)
		lc.FHIRContext = nil
		_ = json.Unmarshal(raw, &lc.FHIRContext)
	}
	return lc
}

// StyleFile is the SMART style sheet in the static assets.
const StyleFile = "static/smart-style.json"

// StylePath returns the path under which the style sheet in assets is
// served, with a query naming its content (the first 12 hex digits of its
// SHA-256), so that smart_style_url changes whenever the style does (IG
// #styling, checklist E10): "/static/smart-style.json?v=0123456789ab".
func StylePath(assets fs.FS) (string, error) {
	b, err := fs.ReadFile(assets, StyleFile)
	if err != nil {
		return "", fmt.Errorf("launch: style sheet: %w", err)
	}
	if !json.Valid(b) {
		return "", fmt.Errorf("launch: style sheet %s is not JSON", StyleFile)
	}
	sum := sha256.Sum256(b)
	return "/" + StyleFile + "?v=" + hex.EncodeToString(sum[:])[:12], nil
}
