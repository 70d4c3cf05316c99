package people

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/idp/link"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// Links reads and removes the federated identities linked to a person;
// *link.Linker implements it (it audits each unlink itself).
type Links interface {
	LinksOf(ctx context.Context, userID string) ([]account.Link, error)
	// Unlink removes userID's link of (issuer, subject); actor is the
	// administrator. A link userID does not have gives store.ErrNotFound.
	Unlink(ctx context.Context, actor, userID, issuer, subject string) error
}

// SignInIssuer issues an administrator-assisted one-time sign-in code;
// *account.SignInCodes implements it.
type SignInIssuer interface {
	Issue(ctx context.Context, userID, issuedBy string) (code string, expires time.Time, err error)
}

var (
	_ Links        = (*link.Linker)(nil)
	_ SignInIssuer = (*account.SignInCodes)(nil)
)

// LoginCodePath is where a person enters a sign-in code (interface.md).
const LoginCodePath = "/login/code"

// linkRow is a linked identity as the person's page shows it.
type linkRow struct {
	// Provider is the provider's name, or its id when it is no longer
	// configured.
	Provider, Issuer, Subject, Email string
	Created, LastLogin               string // "" for never
}

const timeLayout = "2006-01-02 15:04 UTC"

func showTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// signInCode is the show-once result of issuing a code.
type signInCode struct {
	Code, Expires, EnterAt string
	// Shown: false when the code was shown already (or expired): the
	// page then says to issue a new one.
	Shown bool
}

// links fills v's linked identities of u when Links is configured.
func (s *Server) links(ctx context.Context, v *page, u *account.User) error {
	if s.cfg.Links == nil {
		return nil
	}
	ls, err := s.cfg.Links.LinksOf(ctx, u.ID)
	if err != nil {
		return err
	}
	v.ShowLinks = true
	for _, l := range ls {
		v.Links = append(v.Links, linkRow{Provider: s.providerName(l.Provider), Issuer: l.Issuer, Subject: l.Subject, Email: l.Email,
			Created: showTime(l.Created), LastLogin: showTime(l.LastLogin)})
	}
	return nil
}

// providerName is the name of the configured provider id, or id.
func (s *Server) providerName(id string) string {
	for _, p := range s.cfg.Providers {
		if p.ID == id && p.Name != "" {
			return p.Name
		}
	}
	return id
}

// unlink removes one of the person's linked identities (issuer, subject
// from the form); the linker audits it.
func (s *Server) unlink(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	if s.cfg.Links == nil {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "Linked identities cannot be changed here.", errors.New("people: no Links"))
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	issuer, subject := r.PostForm.Get("issuer"), r.PostForm.Get("subject")
	if issuer == "" || subject == "" {
		v.Error = "The form names no linked identity: reload the page and try again."
		s.showPerson(w, r, v, http.StatusBadRequest, u, nil)
		return
	}
	err := s.cfg.Links.Unlink(r.Context(), admin, u.ID, issuer, subject)
	if errors.Is(err, store.ErrNotFound) {
		v.Error = "This person has no such linked identity: it may have been unlinked already."
		s.showPerson(w, r, v, http.StatusNotFound, u, nil)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	seeOther(w, UsersPath+"/"+url.PathEscape(u.ID)+"?done=unlinked")
}

// issueSignInCode issues a sign-in code for the person, and sends the
// administrator to the page that shows it once.
func (s *Server) issueSignInCode(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	if s.cfg.SignIn == nil {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "Sign-in codes cannot be issued here.", errors.New("people: no SignInIssuer"))
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	if !u.Active {
		v.Error = msgInactiveCode
		s.showPerson(w, r, v, http.StatusConflict, u, nil)
		return
	}
	code, expires, err := s.cfg.SignIn.Issue(r.Context(), u.ID, admin)
	if err != nil {
		// Deactivated or deleted in between: say so; else a failure.
		if now, nerr := s.cfg.Directory.User(r.Context(), u.ID); errors.Is(nerr, store.ErrNotFound) {
			s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such person.", err)
			return
		} else if nerr == nil && !now.Active {
			v.Error = msgInactiveCode
			s.showPerson(w, r, v, http.StatusConflict, now, nil)
			return
		}
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, admin, "signin_code", "User/"+u.ID, "issue", "")
	h := s.reveals.Put(codeSubject(u.ID), code+"\n"+strconv.FormatInt(expires.Unix(), 10), admin)
	seeOther(w, UsersPath+"/"+url.PathEscape(u.ID)+"/signin-code?reveal="+url.QueryEscape(h))
}

const msgInactiveCode = "This person is disabled: a sign-in code cannot be issued. Enable the account first."

// codeSubject keeps sign-in codes apart from generated passwords in the
// show-once store: a password's handle does not open a code's page.
func codeSubject(userID string) string { return "signin-code:" + userID }

// showSignInCode shows a just-issued code once; a reload, another
// administrator or an expired handle sees that it cannot be shown again.
func (s *Server) showSignInCode(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	row := rowOfUser(u)
	v.Person = &row
	v.SignInCode = &signInCode{EnterAt: listener.BaseURL(r) + LoginCodePath}
	secret := s.reveals.Take(r.URL.Query().Get("reveal"), codeSubject(u.ID), admin)
	code, unix, found := strings.Cut(secret, "\n")
	if sec, err := strconv.ParseInt(unix, 10, 64); found && err == nil && code != "" {
		v.SignInCode.Code, v.SignInCode.Expires, v.SignInCode.Shown = code, showTime(time.Unix(sec, 0)), true
		s.render(w, r, http.StatusOK, "users_signin_code", v)
		return
	}
	s.render(w, r, http.StatusGone, "users_signin_code", v)
}
