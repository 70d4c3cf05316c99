package web

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/smartgate/smartgate/account"
)

// Fail shows the error page with a request id (for other packages' browser
// handlers, e.g. a provider callback); msg is shown, err only logged.
func (s *Server) Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	s.fail(w, r, status, msg, err)
}

type userKey struct{}

// UserFrom returns the user that RequireRole put in ctx.
func UserFrom(ctx context.Context) (*account.User, bool) {
	u, ok := ctx.Value(userKey{}).(*account.User)
	return u, ok
}

// CSRFToken returns the browser's CSRF token for a hidden csrf_token field
// in forms rendered by other handlers (setting the cookie when new).
func (s *Server) CSRFToken(w http.ResponseWriter, r *http.Request) (string, error) {
	b := s.browser(r)
	if err := s.save(w, r, b); err != nil {
		return "", err
	}
	return b.CSRF, nil
}

// RequireRole wraps page handlers (e.g. /admin/…): cross-origin
// protection, a body limit, the page headers, a logged-in user holding one of
// roles, directly or through a group (none given: any user), and on unsafe methods a valid csrf_token form
// field. Not logged in: 303 to /login; lacking the role: 403 error page. The
// user is in the request context (UserFrom).
func (s *Server) RequireRole(next http.Handler, roles ...string) http.Handler {
	return s.cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		b := s.browser(r)
		u, _, err := s.current(r.Context(), b)
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		if u == nil {
			back := defaultLanding
			if r.Method == http.MethodGet {
				back = r.URL.RequestURI()
			}
			s.toLogin(w, r, b, back)
			return
		}
		if err := s.save(w, r, b); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		if len(roles) > 0 {
			// Effective roles: a group may grant one.
			rights, err := s.rights(r.Context(), u)
			if err != nil {
				s.fail(w, r, http.StatusInternalServerError, "", err)
				return
			}
			if !slices.ContainsFunc(roles, func(role string) bool { return slices.Contains(rights.Roles, role) }) {
				s.fail(w, r, http.StatusForbidden, "Your account may not open this page.", errors.New("missing role"))
				return
			}
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if err := r.ParseForm(); err != nil {
				s.fail(w, r, http.StatusBadRequest, "The form could not be read.", err)
				return
			}
			if !b.checkCSRF(r) {
				s.fail(w, r, http.StatusForbidden, msgBadForm, errors.New("csrf token mismatch"))
				return
			}
		}
		setPageHeaders(w.Header())
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	}))
}

// Visitor is the browser behind a page open to everyone (Public): who is
// logged in, if anyone, and the CSRF token for its forms.
type Visitor struct {
	User   *account.User  // nil: nobody is logged in
	Rights account.Rights // User's effective rights (roles through groups)
	CSRF   string
	// Security and Password say whether SecurityPath and PasswordPath are
	// served.
	Security, Password bool
}

// Public wraps a page that everyone may open (the home page): the page
// headers and a body limit; the handler reads the visitor with Visit.
func (s *Server) Public(next http.Handler) http.Handler {
	return s.cop.Handler(limitBody(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w.Header())
		next.ServeHTTP(w, r)
	}))
}

// Visit returns who is logged in on the browser of r, without sending
// anyone to the log-in page (User nil when nobody is), and a CSRF token
// (setting the cookie when new).
func (s *Server) Visit(w http.ResponseWriter, r *http.Request) (Visitor, error) {
	b := s.browser(r)
	u, _, err := s.current(r.Context(), b)
	if err != nil {
		return Visitor{}, err
	}
	if err := s.save(w, r, b); err != nil {
		return Visitor{}, err
	}
	v := Visitor{User: u, CSRF: b.CSRF, Security: s.cfg.SecondFactor != nil, Password: s.cfg.PasswordSetter != nil}
	if u != nil {
		if v.Rights, err = s.rights(r.Context(), u); err != nil {
			return Visitor{}, err
		}
	}
	return v, nil
}
