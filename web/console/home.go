package console

import (
	"net/http"
	"slices"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/web"
)

// listenerView is one listener's URLs on the home page.
type listenerView struct {
	Name, Base, FHIR string
	// Discovery are the discovery documents' URLs.
	Discovery []string
}

type homeView struct {
	Listeners []listenerView
	LoginURL  string
	// Signed in: User names the person; Admin links the console.
	User      string
	Admin     bool
	CSRF      string
	AppsPath  string
	Security  string // SecurityPath when served
	Password  string // PasswordPath when served
	Demo      bool
	DemoApp   string
	DemoUsers []DemoAccount
}

// home is GET /: open to everyone.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	vis, err := s.cfg.Pages.Visit(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v := homeView{LoginURL: loginPath, AppsPath: web.ManagementPath, CSRF: vis.CSRF,
		Demo: s.cfg.Demo, DemoApp: s.cfg.DemoAppPath, DemoUsers: s.cfg.DemoAccounts}
	for _, l := range s.cfg.Listeners {
		v.Listeners = append(v.Listeners, listenerView{Name: l.Name, Base: l.Base, FHIR: l.Base + "/fhir",
			Discovery: []string{l.Base + "/.well-known/smart-configuration", l.Base + "/.well-known/openid-configuration",
				l.Base + "/fhir/metadata"}})
	}
	if vis.User != nil {
		v.User = vis.User.Label()
		v.Admin = slices.Contains(vis.Rights.Roles, account.RoleAdmin)
		if vis.Security {
			v.Security = web.SecurityPath
		}
		if vis.Password {
			v.Password = web.PasswordPath
		}
	}
	s.render(w, r, "console_home", v)
}
