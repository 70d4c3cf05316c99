// Package people serves the administrators' people pages: /admin/users
// (search, a paged list, create, edit, disable/enable, reset a password,
// lift a log-in lockout, delete; the person's linked federated identities
// with an unlink button, and an administrator-issued one-time sign-in
// code) and /admin/groups (search, a paged list, create, edit the roles
// and scope ceiling a group gives, members, delete).
//
// Every page goes through the web package's RequireRole with the admin role
// (log-in, role, CSRF token on every POST, page headers); every POST that
// changes something answers 303 (RFC 9700 §4.12), and a form with a mistake
// is shown again with the message next to its field. Reads go through
// account.Directory; every change goes through account.People (the one place
// people and groups change, with its rules: the password policy, the last
// administrator, revocation on deactivation), under the version the page was
// shown with, so that an edit over someone else's change is refused. A
// generated password is shown once, as web/clients shows a client secret:
// kept in memory under a random single-use handle bound to the
// administrator; no password is ever put in a URL, a log or the audit trail.
// A sign-in code is shown once the same way, on its own page
// (/admin/users/{id}/signin-code), with its expiry and where to enter it.
package people

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/showonce"
)

// Pages is what this package needs from the web package's server.
type Pages interface {
	RequireRole(next http.Handler, roles ...string) http.Handler
	CSRFToken(w http.ResponseWriter, r *http.Request) (string, error)
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// Persons changes people; *account.People implements it.
type Persons interface {
	Create(ctx context.Context, u *account.User, password string) error
	Replace(ctx context.Context, u *account.User, password string) error
	Delete(ctx context.Context, id string, version int64) error
	// ResetPassword sets the password of id for them, and revokes their
	// tokens.
	ResetPassword(ctx context.Context, id, password string) error
}

// Groups changes groups; *account.People implements it.
type Groups interface {
	CreateGroup(ctx context.Context, g *account.Group) error
	ReplaceGroup(ctx context.Context, g *account.Group) error
	ChangeMembers(ctx context.Context, id string, version int64, add, remove []string) (account.Meta, error)
	DeleteGroup(ctx context.Context, id string, version int64) error
}

// People is where the pages change people and groups (account.People).
type People interface {
	Persons
	Groups
}

var (
	_ People      = (*account.People)(nil)
	_ Unlocker    = (*account.Throttle)(nil)
	_ LockChecker = (*account.Throttle)(nil)
)

// Unlocker lifts the log-in lockout of the account userName (the
// normalised user name): (*account.Throttle).Unlock.
type Unlocker interface {
	Unlock(ctx context.Context, userName string) error
}

// LockChecker, when the Unlocker also implements it, says until when the
// account userName is locked out (the zero time: it is not), for the
// list's and the person's "locked" column.
type LockChecker interface {
	LockedUntil(ctx context.Context, userName string) (time.Time, error)
}

// Config holds the dependencies of the pages.
type Config struct {
	Pages     Pages
	Directory account.Directory // reads
	People    People            // every change
	// Unlocker lifts lockouts; nil hides the unlock button.
	Unlocker Unlocker
	// Links shows a person's linked identities with an unlink button
	// (*link.Linker); nil hides them.
	Links Links
	// Providers are the configured log-in providers: a link shows its
	// provider's name (else the provider id it was made through).
	Providers []idp.Provider
	// SignIn issues one-time sign-in codes (*account.SignInCodes); nil
	// hides the button.
	SignIn SignInIssuer
	Assets fs.FS // templates/ (smartgate.Assets)
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
}

// Server serves the people pages.
type Server struct {
	cfg     Config
	pages   map[string]*template.Template
	reveals *showonce.Store
}

// Page files (templates/<name>.html), each executed with base.html and the
// shared forms.
var pageNames = []string{"users_list", "users_new", "users_edit", "groups_list", "groups_new", "groups_edit", "people_confirm",
	"users_signin_code"}

// New parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Pages == nil || cfg.Directory == nil || cfg.People == nil || cfg.Assets == nil {
		return nil, errors.New("people: Pages, Directory, People and Assets are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	funcs := template.FuncMap{"join": strings.Join}
	shared := []string{"users_form", "groups_form", "people_nav", "admin_nav"}
	pages, err := pagetmpl.Parse(cfg.Assets, funcs, shared, pageNames...)
	if err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	return &Server{cfg: cfg, pages: pages, reveals: showonce.New(cfg.Now)}, nil
}

// Paths (interface.md).
const (
	UsersPath  = "/admin/users"
	GroupsPath = "/admin/groups"
)

// PageSize is the number of rows on one page of a list.
const PageSize = 50

// Register adds the pages to mux.
func (s *Server) Register(mux *http.ServeMux) {
	admin := func(f http.HandlerFunc) http.Handler { return s.cfg.Pages.RequireRole(f, account.RoleAdmin) }
	mux.Handle("GET "+UsersPath, admin(s.listUsers))
	mux.Handle("GET "+UsersPath+"/new", admin(s.newUser))
	mux.Handle("POST "+UsersPath+"/new", admin(s.createUser))
	mux.Handle("GET "+UsersPath+"/{id}", admin(s.editUser))
	mux.Handle("POST "+UsersPath+"/{id}", admin(s.updateUser))
	mux.Handle("POST "+UsersPath+"/{id}/disable", admin(s.setActive(false)))
	mux.Handle("POST "+UsersPath+"/{id}/enable", admin(s.setActive(true)))
	mux.Handle("POST "+UsersPath+"/{id}/password", admin(s.resetPassword))
	mux.Handle("POST "+UsersPath+"/{id}/unlock", admin(s.unlock))
	mux.Handle("POST "+UsersPath+"/{id}/links/delete", admin(s.unlink))
	mux.Handle("POST "+UsersPath+"/{id}/signin-code", admin(s.issueSignInCode))
	mux.Handle("GET "+UsersPath+"/{id}/signin-code", admin(s.showSignInCode))
	mux.Handle("GET "+UsersPath+"/{id}/delete", admin(s.confirmDeleteUser))
	mux.Handle("POST "+UsersPath+"/{id}/delete", admin(s.deleteUser))

	mux.Handle("GET "+GroupsPath, admin(s.listGroups))
	mux.Handle("GET "+GroupsPath+"/new", admin(s.newGroup))
	mux.Handle("POST "+GroupsPath+"/new", admin(s.createGroup))
	mux.Handle("GET "+GroupsPath+"/{id}", admin(s.editGroup))
	mux.Handle("POST "+GroupsPath+"/{id}", admin(s.updateGroup))
	mux.Handle("POST "+GroupsPath+"/{id}/members", admin(s.changeMembers))
	mux.Handle("GET "+GroupsPath+"/{id}/delete", admin(s.confirmDeleteGroup))
	mux.Handle("POST "+GroupsPath+"/{id}/delete", admin(s.deleteGroup))
}

// --- shared page parts ------------------------------------------------------

// page is what every template sees.
type page struct {
	CSRF    string
	User    string // the administrator's label
	Error   string // the page's message (role=alert)
	Message string // a confirmation (role=status)
	Section string // "users" or "groups", for the navigation

	Query    string
	Total    int
	Prev     string // link to the previous page, or ""
	Next     string
	Users    []userRow
	Person   *userRow
	Form     userForm
	Password string // a generated password, shown once
	// PasswordError is shown next to the reset form's password field.
	PasswordError string
	Groups        []groupRow
	Group         *groupRow
	GForm         groupForm
	Members       []account.Member
	Confirm       *confirm
	Unlock        bool // an Unlocker is configured
	// Links are the person's linked identities, shown when Links is
	// configured (ShowLinks); SignIn: a SignInIssuer is configured.
	Links      []linkRow
	ShowLinks  bool
	SignIn     bool
	SignInCode *signInCode // the result page of issuing a code
}

// confirm is the confirmation step of a deletion.
type confirm struct {
	What    string // "person" or "group"
	Name    string
	Action  string
	Cancel  string
	Version int64
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v page) {
	var b strings.Builder
	if err := s.pages[name].ExecuteTemplate(&b, "base", v); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("people: render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func seeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}

// base starts a page for the administrator in r's context and returns it
// with the administrator's id.
func (s *Server) base(w http.ResponseWriter, r *http.Request, section string) (page, string, bool) {
	u, ok := web.UserFrom(r.Context())
	if !ok {
		s.cfg.Pages.Fail(w, r, http.StatusForbidden, "", errors.New("people: no user in context"))
		return page{}, "", false
	}
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return page{}, "", false
	}
	return page{CSRF: csrf, User: u.Label(), Section: section, Unlock: s.cfg.Unlocker != nil, SignIn: s.cfg.SignIn != nil}, u.ID, true
}

// record writes the audit event of an administrator's change: who, what,
// on which person or group; never a password.
func (s *Server) record(r *http.Request, actor, kind, resource, action, detail string) {
	if s.cfg.Audit == nil {
		return
	}
	s.cfg.Audit.Record(r.Context(), audit.Event{At: s.cfg.Now(), Kind: kind, Actor: actor, Resource: resource,
		Action: action, Outcome: audit.Success, Detail: detail, Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(r.Context())})
}

// Bounds on what a list's URL may ask for: the search's length in bytes,
// and the page number (so that the offset stays an int).
const (
	maxQuery = 200
	maxPage  = 1_000_000
)

// pageOf reads the list's search and page number (1-based) from r.
func pageOf(r *http.Request) (string, int) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQuery {
		q = strings.ToValidUTF8(q[:maxQuery], "")
	}
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	return q, min(n, maxPage)
}

// paging fills v's previous and next links for page n of total rows,
// keeping the search.
func paging(v *page, path, q string, n, total int) {
	link := func(p int) string {
		vals := url.Values{}
		if q != "" {
			vals.Set("q", q)
		}
		if p > 1 {
			vals.Set("page", strconv.Itoa(p))
		}
		if len(vals) == 0 {
			return path
		}
		return path + "?" + vals.Encode()
	}
	v.Query, v.Total = q, total
	if n > 1 {
		v.Prev = link(n - 1)
	}
	if n*PageSize < total {
		v.Next = link(n + 1)
	}
}

// versionOf reads the hidden version field of a form: the version of the
// person or group the page was shown with. A form without one is refused
// (false): account.People takes version 0 as "whatever is stored".
func versionOf(r *http.Request) (int64, bool) {
	v, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	return v, err == nil && v > 0
}

// Messages for the outcomes every change can have.
const (
	msgStale     = "This was changed by someone else since the page was loaded: reload the page and make the change again."
	msgLastAdmin = "The last active administrator cannot be disabled, deleted or lose the administrator role."
	msgNoVersion = "The form is out of date: reload the page and try again."
)

// done are the confirmations a 303 may ask the next page to show
// (?done=…); only these words, never text from the request, are shown.
var done = map[string]string{
	"created":  "Saved: the new record is created.",
	"saved":    "Saved.",
	"disabled": "The person is disabled: they cannot log in, and their tokens are revoked.",
	"enabled":  "The person is enabled.",
	"password": "The new password is set.",
	"unlocked": "The log-in lockout is lifted.",
	"deleted":  "Deleted.",
	"unlinked": "The identity is unlinked: it no longer logs in to this account.",
	"members":  "The members are changed.",
}

func doneMessage(r *http.Request) string { return done[r.URL.Query().Get("done")] }
