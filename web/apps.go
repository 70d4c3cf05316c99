package web

import (
	"errors"
	"net/http"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store"
)

// ManagementPath is the page where a person lists and withdraws the apps
// they allowed: the SMART management_endpoint (relative to a listener's
// base URL).
const ManagementPath = "/account/apps"

type appView struct {
	ClientID   string
	ClientName string
	Updated    string
	Scopes     []scopeView
}

type appsView struct {
	CSRF string
	User string
	Apps []appView
	// Security links SecurityPath (when a second factor is configured),
	// Password PasswordPath (when that page is).
	Security, Password bool
	// Links links LinksPath (when federated log-in is configured).
	Links bool
}

// appsPage lists the apps the person has allowed (the SMART
// management_endpoint).
func (s *Server) appsPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	ctx := r.Context()
	u, _, err := s.current(ctx, b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if u == nil {
		s.toLogin(w, r, b, ManagementPath)
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	consents, err := s.cfg.Store.Consents(ctx, u.ID)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v := appsView{CSRF: b.CSRF, User: u.Label(), Security: s.cfg.SecondFactor != nil, Password: s.cfg.PasswordSetter != nil,
		Links: s.cfg.Linker != nil}
	for _, c := range consents {
		a := appView{ClientID: c.ClientID, ClientName: s.cfg.ClientName(ctx, c.ClientID), Updated: c.Updated.UTC().Format("2006-01-02 15:04 MST")}
		for _, sc := range c.Scopes {
			a.Scopes = append(a.Scopes, scopeView{Value: sc, Description: s.describe(sc)})
		}
		v.Apps = append(v.Apps, a)
	}
	s.render(w, r, http.StatusOK, "apps", v)
}

// appsRevoke withdraws an app: the consent goes and the app's tokens for
// this person are revoked.
func (s *Server) appsRevoke(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "apps")
	if !ok {
		return
	}
	ctx := r.Context()
	u, _, err := s.current(ctx, b)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if u == nil {
		s.toLogin(w, r, b, ManagementPath)
		return
	}
	clientID := r.PostFormValue("client_id")
	err = s.cfg.Store.DeleteConsent(ctx, u.ID, clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if s.cfg.Revoker != nil {
		if err := s.cfg.Revoker.RevokeAll(ctx, u.ID, clientID); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "The app's access could not be withdrawn completely. Please try again.", err)
			return
		}
	}
	s.record(r, audit.Event{Kind: "revoke", Actor: u.ID, ClientID: clientID, Action: "withdraw consent", Outcome: audit.Success})
	redirect(w, "/account/apps")
}
