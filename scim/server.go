package scim

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/scim/schema"
)

// Media types and message URNs of RFC 7644.
const (
	ContentType = "application/scim+json; charset=utf-8"

	URNError        = schema.ErrorURN
	URNListResponse = schema.ListResponseURN
	URNPatchOp      = schema.PatchOpURN
	URNSearch       = schema.SearchRequestURN
)

// Prefix is where the server is mounted.
const Prefix = "/scim/v2"

// Defaults of Config.
const (
	// DefaultMaxBodyBytes bounds a SCIM request body (413 above it).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxResults is the most resources one list answer holds
	// (ServiceProviderConfig filter.maxResults); a larger count is capped.
	DefaultMaxResults = 200
)

// Store is what the server reads: people and groups (account.Directory,
// implemented by store/sqlite). Every change goes through People.
type Store interface {
	User(ctx context.Context, id string) (*account.User, error)
	UserByName(ctx context.Context, userName string) (*account.User, error)
	SearchUsers(ctx context.Context, q account.Query) ([]account.User, int, error)
	Group(ctx context.Context, id string) (*account.Group, error)
	SearchGroups(ctx context.Context, q account.Query, withMembers bool) ([]account.Group, int, error)
	GroupsOf(ctx context.Context, userID string) ([]account.Group, error)
	GroupsOfUsers(ctx context.Context, userIDs []string) (map[string][]account.Group, error)
}

// People is what the server changes people and groups through: the rules
// of account.People (validation, the password policy and argon2id, the
// last administrator, revocation on deactivation and deletion).
type People interface {
	Create(ctx context.Context, u *account.User, password string) error
	Replace(ctx context.Context, u *account.User, password string) error
	Delete(ctx context.Context, id string, version int64) error
	CreateGroup(ctx context.Context, g *account.Group) error
	ReplaceGroup(ctx context.Context, g *account.Group) error
	ChangeMembers(ctx context.Context, id string, version int64, add, remove []string) (account.Meta, error)
	DeleteGroup(ctx context.Context, id string, version int64) error
	// IsAdmin reports whether u is an administrator, directly or through
	// a group.
	IsAdmin(ctx context.Context, u *account.User) (bool, error)
}

// LinkReader reads the federated identities linked to accounts
// (account.Links, implemented by store/sqlite): shown as the smartgate
// extension's readOnly identities.
type LinkReader interface {
	LinksOf(ctx context.Context, userID string) ([]account.Link, error)
	// LinksOfUsers reads a whole list page's links in one query.
	LinksOfUsers(ctx context.Context, userIDs []string) (map[string][]account.Link, error)
}

var (
	_ Store      = account.Directory(nil)
	_ People     = (*account.People)(nil)
	_ LinkReader = account.Links(nil)
)

// Config configures the server.
type Config struct {
	Store  Store
	People People
	// Links reads the federated identities shown as the smartgate
	// extension's identities; nil leaves the attribute out.
	Links LinkReader
	// Auth decides who a request is; every request but the discovery
	// documents passes it before anything else is read.
	Auth Authorizer
	// BaseURL returns the public base URL of the listener r came through
	// (listener.BaseURL), for meta.location, Location and $ref.
	BaseURL func(r *http.Request) string
	// Audit receives one record (kind "scim") per change and per refused
	// request. Nil records nothing.
	Audit audit.Recorder
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxResults caps a list page; 0 means DefaultMaxResults.
	MaxResults int
	Logger     *slog.Logger
	Now        func() time.Time
}

// Server is the SCIM 2.0 endpoint (RFC 7644) at /scim/v2/.
type Server struct {
	cfg Config
	log *slog.Logger
	// users and groups are the resource types' schema tables, built once:
	// building one costs more than a list request's parsing.
	users, groups kind
}

// New returns the server over cfg.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxResults <= 0 {
		cfg.MaxResults = DefaultMaxResults
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, users: userKind(), groups: groupKind()}
}

// Register mounts the server on mux at /scim/v2 and below. The server
// routes itself, so that a wrong method (405 with Allow) and an unknown
// path (404) answer SCIM error bodies too.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle(Prefix+"/", s)
	mux.Handle(Prefix, s)
}

// request is one SCIM request on its way through a handler.
type request struct {
	*http.Request
	caller *Caller // nil for the public discovery documents
	w      http.ResponseWriter
	// seg are the path segments after /scim/v2.
	seg []string
}

// handlerFunc answers a request or returns the error to answer.
type handlerFunc func(q *request) error

// route is the handlers of one path, by method.
type route struct {
	public  bool
	methods map[string]handlerFunc
}

// ServeHTTP routes a request under /scim/v2.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, Prefix)
	var seg []string
	if rest = strings.Trim(rest, "/"); rest != "" {
		seg = strings.Split(rest, "/")
	}
	rt := s.route(seg)
	q := &request{Request: r, w: w, seg: seg}
	if !rt.public {
		c, err := s.authorize(q)
		if err != nil {
			writeError(w, err)
			return
		}
		q.caller = c
	}
	if rt.methods == nil {
		writeError(w, errorf(http.StatusNotFound, "", "no SCIM endpoint at %s", r.URL.Path))
		return
	}
	h, ok := rt.methods[r.Method]
	if !ok && r.Method == http.MethodHead {
		h, ok = rt.methods[http.MethodGet]
	}
	if !ok {
		allow := make([]string, 0, len(rt.methods))
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if rt.methods[m] != nil {
				allow = append(allow, m)
			}
		}
		e := errorf(http.StatusMethodNotAllowed, "", "%s is not allowed here; allowed: %s", r.Method, strings.Join(allow, ", "))
		e.header = http.Header{"Allow": {strings.Join(allow, ", ")}}
		writeError(w, e)
		return
	}
	if err := h(q); err != nil {
		s.fail(q, err)
	}
}

// route returns the handlers of the path seg. Only the discovery
// documents are public (RFC 7644 §4 lets a provider serve them without
// authentication: they describe the server, not its people); everything
// else, unknown paths included, is authorized first.
func (s *Server) route(seg []string) route {
	p := func(m map[string]handlerFunc) route { return route{public: true, methods: m} }
	a := func(m map[string]handlerFunc) route { return route{methods: m} }
	switch len(seg) {
	case 1:
		switch seg[0] {
		case "ServiceProviderConfig":
			return p(map[string]handlerFunc{http.MethodGet: s.serviceProviderConfig})
		case "ResourceTypes":
			return p(map[string]handlerFunc{http.MethodGet: s.resourceTypes})
		case "Schemas":
			return p(map[string]handlerFunc{http.MethodGet: s.schemas})
		case "Users":
			return a(map[string]handlerFunc{http.MethodGet: s.listUsers, http.MethodPost: s.createUser})
		case "Groups":
			return a(map[string]handlerFunc{http.MethodGet: s.listGroups, http.MethodPost: s.createGroup})
		case ".search":
			return a(map[string]handlerFunc{http.MethodPost: s.searchAll})
		case "Me":
			return a(map[string]handlerFunc{
				http.MethodGet: s.notImplemented, http.MethodPost: s.notImplemented, http.MethodPut: s.notImplemented,
				http.MethodPatch: s.notImplemented, http.MethodDelete: s.notImplemented})
		}
	case 2:
		switch seg[0] {
		case "ResourceTypes":
			return p(map[string]handlerFunc{http.MethodGet: s.resourceType})
		case "Schemas":
			return p(map[string]handlerFunc{http.MethodGet: s.schema})
		case "Users":
			if seg[1] == ".search" {
				return a(map[string]handlerFunc{http.MethodPost: s.searchUsers})
			}
			return a(map[string]handlerFunc{http.MethodGet: s.getUser, http.MethodPut: s.replaceUser,
				http.MethodPatch: s.patchUser, http.MethodDelete: s.deleteUser})
		case "Groups":
			if seg[1] == ".search" {
				return a(map[string]handlerFunc{http.MethodPost: s.searchGroups})
			}
			return a(map[string]handlerFunc{http.MethodGet: s.getGroup, http.MethodPut: s.replaceGroup,
				http.MethodPatch: s.patchGroup, http.MethodDelete: s.deleteGroup})
		}
	}
	return route{}
}

// authorize asks the Authorizer who q is; refusals are audited.
func (s *Server) authorize(q *request) (*Caller, *Error) {
	if s.cfg.Auth == nil {
		s.record(q, "authorize", "", audit.Denied, "no authorizer configured")
		return nil, errorf(http.StatusUnauthorized, "", "SCIM is not enabled on this server")
	}
	c, err := s.cfg.Auth.AuthorizeSCIM(q.Request)
	var ch *Challenge
	switch {
	case errors.As(err, &ch):
		s.record(q, "authorize", "", audit.Denied, "client certificate policy")
		e := errorf(http.StatusUnauthorized, "", "%s", ch.Detail)
		e.header = http.Header{"Www-Authenticate": {ch.Header}}
		return nil, e
	case err == nil && c != nil:
		return c, nil
	case err == nil, errors.Is(err, ErrNoCredentials):
		s.record(q, "authorize", "", audit.Denied, "no valid credentials")
		e := errorf(http.StatusUnauthorized, "", "a bearer token that allows SCIM is required")
		e.header = http.Header{"Www-Authenticate": {`Bearer realm="scim"`}}
		if errors.Is(err, ErrInvalidToken) {
			e.header.Set("Www-Authenticate", `Bearer realm="scim", error="invalid_token"`)
		}
		return nil, e
	case errors.Is(err, ErrForbidden):
		s.record(q, "authorize", "", audit.Denied, "credentials do not allow SCIM")
		return nil, errorf(http.StatusForbidden, "", "these credentials do not allow SCIM")
	}
	s.log.ErrorContext(q.Context(), "scim: authorize", "err", err)
	return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "cannot check the credentials now, try again later",
		header: http.Header{"Retry-After": {"5"}}, cause: err}
}

// fail answers err: an *Error as it is, anything else through storeError.
// Server errors are logged with their cause.
func (s *Server) fail(q *request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = storeError(err, what{})
	}
	if e.Status >= 500 {
		s.log.ErrorContext(q.Context(), "scim: request failed", "method", q.Method, "path", q.URL.Path,
			"status", e.Status, "err", err)
	}
	writeError(q.w, e)
}

func (s *Server) notImplemented(q *request) error {
	return errorf(http.StatusNotImplemented, "", "/Me is not supported; use /Users/{id}")
}

// record writes one audit record of kind scim: who (the caller), what
// (action, resource), the outcome; never a password or a token.
func (s *Server) record(q *request, action, resource, outcome, detail string) {
	if s.cfg.Audit == nil {
		return
	}
	ev := audit.Event{
		At:        s.cfg.Now(),
		Kind:      "scim",
		Action:    action,
		Resource:  resource,
		Outcome:   outcome,
		Detail:    detail,
		Address:   reqctx.ClientAddress(q.Request),
		RequestID: reqctx.ID(q.Context()),
	}
	if q.caller != nil {
		ev.Actor = q.caller.Subject
		ev.ClientID = q.caller.ClientID
	}
	s.cfg.Audit.Record(q.Context(), ev)
}

// recordChange audits a change: success, or the failure's status.
func (s *Server) recordChange(q *request, action, resource string, err error) {
	if err == nil {
		s.record(q, action, resource, audit.Success, "")
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		e = storeError(err, what{})
	}
	outcome := audit.Failure
	if e.Status == http.StatusConflict || e.Status == http.StatusPreconditionFailed || e.Status == http.StatusForbidden {
		outcome = audit.Denied
	}
	s.record(q, action, resource, outcome, http.StatusText(e.Status)+": "+e.Detail)
}

// baseURL is the public URL of /scim/v2 on the listener q came through.
func (s *Server) baseURL(q *request) string {
	if s.cfg.BaseURL == nil {
		scheme := "http"
		if q.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + q.Host + Prefix
	}
	return strings.TrimRight(s.cfg.BaseURL(q.Request), "/") + Prefix
}
