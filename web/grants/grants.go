// Package grants serves the administrator's /admin/grants: per person and
// per app, the active consents and refresh-token families (client, scopes,
// patient, created, last used), with buttons that end them.
//
// Consents are stored apart from the families (the consents table: one
// per person and app, what the consent page remembers), so a pair shows
// both: its consent, and each refresh-token family (one grant: one code
// flow with offline_access, refreshed or not).
//
// Ending a person's grants at an app is the same as the person withdrawing
// the app on /account/apps: the consent goes, and the Revoker (the
// server's one revocation of a person's tokens) revokes every access and
// refresh token of the pair and makes the FHIR endpoint forget them, so
// that introspection answers inactive and FHIR refuses on the next call.
// Ending one family (POST /admin/grants/revoke-family) revokes only that
// grant's refresh and access tokens, the same way at once; the consent
// stays, as do the person's other families at the app.
// Every page goes through the web package's RequireRole (log-in, the
// administrator role, the CSRF token on the POST).
package grants

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/web"
)

// Paths.
const (
	AdminPath  = "/admin/grants"
	usersPath  = AdminPath + "/users/"
	clientPath = AdminPath + "/clients/"
	revokePath = AdminPath + "/revoke"
	familyPath = AdminPath + "/revoke-family"
)

// limit bounds the rows a page reads of each kind.
const limit = 500

// Pages is what this package needs from the web package's server.
type Pages interface {
	RequireRole(next http.Handler, roles ...string) http.Handler
	CSRFToken(w http.ResponseWriter, r *http.Request) (string, error)
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// Store is what the pages read and change.
type Store interface {
	authz.FamilyStore
	// ConsentsOf lists the consents of userID and clientID (either ""
	// for any), newest first, at most limit.
	ConsentsOf(ctx context.Context, userID, clientID string, limit int) ([]account.Consent, error)
	// DeleteConsent returns store.ErrNotFound when there was none.
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// User returns store.ErrNotFound for an unknown id.
	User(ctx context.Context, id string) (*account.User, error)
	// GetClient returns store.ErrNotFound for an unknown id.
	GetClient(ctx context.Context, id string) (*authz.Client, error)
}

// Revoker is the server's one revocation of a person's tokens: all of them
// at an app (web.TokenRevoker), or one grant. Either answers once
// introspection and the FHIR endpoint refuse the ended tokens.
type Revoker interface {
	web.TokenRevoker
	// RevokeFamily ends the grant requestID of subject (one
	// refresh-token family): its refresh tokens and the access tokens
	// issued from it.
	RevokeFamily(ctx context.Context, subject, requestID string) error
}

// Config holds the dependencies of the pages.
type Config struct {
	Pages   Pages
	Store   Store
	Revoker Revoker // the one revocation of a person's tokens
	Assets  fs.FS   // templates/ (smartgate.Assets)
	Audit   audit.Recorder
	Logger  *slog.Logger
	Now     func() time.Time
}

// Server serves the grants pages.
type Server struct {
	cfg   Config
	pages map[string]*template.Template
}

var pageNames = []string{"grants_list", "grants_detail"}

// New parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Pages == nil || cfg.Store == nil || cfg.Revoker == nil || cfg.Assets == nil {
		return nil, errors.New("grants: Pages, Store, Revoker and Assets are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	funcs := template.FuncMap{"when": when, "join": strings.Join}
	pages, err := pagetmpl.Parse(cfg.Assets, funcs, []string{"admin_nav"}, pageNames...)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	return &Server{cfg: cfg, pages: pages}, nil
}

// Register adds the pages to mux.
func (s *Server) Register(mux *http.ServeMux) {
	admin := func(f http.HandlerFunc) http.Handler { return s.cfg.Pages.RequireRole(f, account.RoleAdmin) }
	mux.Handle("GET "+AdminPath, admin(s.list))
	mux.Handle("GET "+usersPath+"{id}", admin(s.ofUser))
	mux.Handle("GET "+clientPath+"{id}", admin(s.ofClient))
	mux.Handle("POST "+revokePath, admin(s.revoke))
	mux.Handle("POST "+familyPath, admin(s.revokeFamily))
}

// UserPath is the page of a person's grants.
func UserPath(id string) string { return usersPath + url.PathEscape(id) }

// ClientPath is the page of an app's grants.
func ClientPath(id string) string { return clientPath + url.PathEscape(id) }

// --- views -------------------------------------------------------------

// holder is a person or an app on the list page.
type holder struct {
	ID, Label, Link  string
	Consents, Grants int
}

// pair is what one person holds at one app: the consent and the
// refresh-token families.
type pair struct {
	UserID, UserLabel, ClientID, ClientName string
	Consent                                 *consentView
	Families                                []familyView
}

type consentView struct {
	Scopes  []string
	Updated string
}

type familyView struct {
	ID                string // the grant's request id
	Scopes            []string
	Patient           string
	Created, LastUsed string
}

type page struct {
	CSRF   string
	People []holder
	Apps   []holder
	// The detail page: whose (Person or App), and what they hold.
	Title, Of string
	Person    bool
	Pairs     []pair
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, v page) {
	var b strings.Builder
	if err := s.pages[name].ExecuteTemplate(&b, "base", v); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("grants: render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(b.String()))
}

func (s *Server) base(w http.ResponseWriter, r *http.Request) (page, bool) {
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return page{}, false
	}
	return page{CSRF: csrf}, true
}

// userLabel names a person by their label, their id when unknown.
func (s *Server) userLabel(ctx context.Context, id string) string {
	if u, err := s.cfg.Store.User(ctx, id); err == nil {
		if l := u.Label(); l != "" {
			return l
		}
	}
	return id
}

// clientName names an app by its registered name, its id when unknown.
func (s *Server) clientName(ctx context.Context, id string) string {
	if c, err := s.cfg.Store.GetClient(ctx, id); err == nil && c.Name != "" {
		return c.Name
	}
	return id
}

// held reads what userID holds at clientID (either "" for any).
func (s *Server) held(ctx context.Context, userID, clientID string) ([]account.Consent, []authz.Grant, error) {
	consents, err := s.cfg.Store.ConsentsOf(ctx, userID, clientID, limit)
	if err != nil {
		return nil, nil, err
	}
	grants, err := authz.Grants(ctx, s.cfg.Store, userID, clientID, s.cfg.Now(), limit)
	if err != nil {
		return nil, nil, err
	}
	return consents, grants, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	v, ok := s.base(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	consents, grants, err := s.held(ctx, "", "")
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	people, apps := map[string]*holder{}, map[string]*holder{}
	count := func(m map[string]*holder, id string, consent bool) {
		h := m[id]
		if h == nil {
			h = &holder{ID: id}
			m[id] = h
		}
		if consent {
			h.Consents++
		} else {
			h.Grants++
		}
	}
	for _, c := range consents {
		count(people, c.UserID, true)
		count(apps, c.ClientID, true)
	}
	for _, g := range grants {
		count(people, g.Subject, false)
		count(apps, g.ClientID, false)
	}
	v.People = sorted(people, func(h *holder) { h.Label, h.Link = s.userLabel(ctx, h.ID), UserPath(h.ID) })
	v.Apps = sorted(apps, func(h *holder) { h.Label, h.Link = s.clientName(ctx, h.ID), ClientPath(h.ID) })
	s.render(w, r, "grants_list", v)
}

// sorted names each holder and orders them by label.
func sorted(m map[string]*holder, name func(*holder)) []holder {
	out := make([]holder, 0, len(m))
	for _, h := range m {
		name(h)
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Label != out[j].Label {
			return out[i].Label < out[j].Label
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (s *Server) ofUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.cfg.Store.User(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such person.", err)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.detail(w, r, id, "", true)
}

func (s *Server) ofClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// A deleted app's grants are still shown (and can be ended).
	s.detail(w, r, "", id, false)
}

// detail shows what a person (person) or an app holds, one row per pair.
func (s *Server) detail(w http.ResponseWriter, r *http.Request, userID, clientID string, person bool) {
	v, ok := s.base(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	consents, grants, err := s.held(ctx, userID, clientID)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v.Person = person
	if person {
		v.Title, v.Of = "Grants of "+s.userLabel(ctx, userID), userID
	} else {
		v.Title, v.Of = "Grants to "+s.clientName(ctx, clientID), clientID
	}
	v.Pairs = s.pairs(ctx, consents, grants)
	s.render(w, r, "grants_detail", v)
}

// pairs groups consents and families by (person, app).
func (s *Server) pairs(ctx context.Context, consents []account.Consent, grants []authz.Grant) []pair {
	var out []pair
	index := map[[2]string]int{}
	at := func(userID, clientID string) *pair {
		k := [2]string{userID, clientID}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, pair{UserID: userID, UserLabel: s.userLabel(ctx, userID), ClientID: clientID, ClientName: s.clientName(ctx, clientID)})
		}
		return &out[i]
	}
	for _, c := range consents {
		at(c.UserID, c.ClientID).Consent = &consentView{Scopes: c.Scopes, Updated: when(c.Updated)}
	}
	for _, g := range grants {
		p := at(g.Subject, g.ClientID)
		p.Families = append(p.Families, familyView{ID: g.ID, Scopes: g.Scopes, Patient: g.Patient, Created: when(g.Created), LastUsed: when(g.LastUsed)})
	}
	return out
}

// revoke ends what a person holds at an app: the consent, and every access
// and refresh token of the pair (the path of /account/apps).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	u, _ := web.UserFrom(r.Context())
	userID, clientID := r.PostFormValue("user_id"), r.PostFormValue("client_id")
	if userID == "" || clientID == "" {
		s.cfg.Pages.Fail(w, r, http.StatusBadRequest, "Say whose grant to end: a person and an app.", errors.New("grants: revoke without user_id or client_id"))
		return
	}
	ctx := r.Context()
	err := s.cfg.Store.DeleteConsent(ctx, userID, clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if err := s.cfg.Revoker.RevokeAll(ctx, userID, clientID); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "The grant could not be ended completely. Please try again.", err)
		return
	}
	if s.cfg.Audit != nil {
		s.cfg.Audit.Record(ctx, audit.Event{At: s.cfg.Now(), Kind: "admin", Actor: u.ID, ClientID: clientID, Action: "revoke grants",
			Resource: "User/" + userID, Outcome: audit.Success, Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(ctx)})
	}
	back(w, r, userID, clientID)
}

// revokeFamily ends one grant (refresh-token family) of a person at an
// app: the posted family_id must be an active grant of the posted user_id
// and client_id (the pair of the page's row).
func (s *Server) revokeFamily(w http.ResponseWriter, r *http.Request) {
	u, _ := web.UserFrom(r.Context())
	id, userID, clientID := r.PostFormValue("family_id"), r.PostFormValue("user_id"), r.PostFormValue("client_id")
	if id == "" || userID == "" || clientID == "" {
		s.cfg.Pages.Fail(w, r, http.StatusBadRequest, "Say which grant to end: a grant of a person at an app.",
			errors.New("grants: revoke-family without family_id, user_id or client_id"))
		return
	}
	ctx := r.Context()
	g, err := authz.GrantByID(ctx, s.cfg.Store, id, s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such active grant: it may have ended already.", err)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if g.Subject != userID || g.ClientID != clientID {
		s.cfg.Pages.Fail(w, r, http.StatusBadRequest, "That grant is not this person's at this app.",
			fmt.Errorf("grants: grant %q is of %q at %q, not of %q at %q", id, g.Subject, g.ClientID, userID, clientID))
		return
	}
	if err := s.cfg.Revoker.RevokeFamily(ctx, g.Subject, g.ID); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "The grant could not be ended completely. Please try again.", err)
		return
	}
	if s.cfg.Audit != nil {
		s.cfg.Audit.Record(ctx, audit.Event{At: s.cfg.Now(), Kind: "admin", Actor: u.ID, ClientID: clientID, Patient: g.Patient,
			Action: "revoke-family", Resource: "User/" + userID, Scopes: strings.Join(g.Scopes, " "), Outcome: audit.Success,
			Detail: "grant " + g.ID, Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(ctx)})
	}
	back(w, r, userID, clientID)
}

// back sends the browser to the page the form was posted from: the
// person's, or the app's when the form says back=client.
func back(w http.ResponseWriter, r *http.Request, userID, clientID string) {
	to := UserPath(userID)
	if r.PostFormValue("back") == "client" {
		to = ClientPath(clientID)
	}
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
}
