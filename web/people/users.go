package people

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// userRow is a person as the list and the person's page show them.
type userRow struct {
	ID, UserName, Name, DisplayName, Email, FHIRUser string
	Roles                                            []string
	Active                                           bool
	// Locked is "yes" or "no", or "" when no LockChecker is configured.
	Locked  string
	Version int64
}

func rowOfUser(u *account.User) userRow {
	return userRow{ID: u.ID, UserName: u.UserName, Name: strings.TrimSpace(u.Name.GivenName + " " + u.Name.FamilyName),
		DisplayName: u.DisplayName, Email: primaryEmail(u), FHIRUser: u.FHIRUser, Roles: u.Roles, Active: u.Active,
		Version: u.Meta.Version}
}

// primaryEmail is the address the form edits: the primary one, else the
// first.
func primaryEmail(u *account.User) string {
	if i := emailIndex(u); i >= 0 {
		return u.Emails[i].Value
	}
	return ""
}

func emailIndex(u *account.User) int { return u.PrimaryEmailIndex() }

// userForm is the values of the create and edit forms (the field names are
// the SCIM attribute names: userName, givenName, familyName, displayName,
// email, password, roles, fhirUser, active).
type userForm struct {
	UserName, GivenName, FamilyName, DisplayName, Email, FHIRUser string
	Roles                                                         []string
	Active                                                        bool
	Version                                                       int64
	Action                                                        string
	New                                                           bool
	// Errors are messages by field name.
	Errors map[string]string
}

// HasRole is used by the template's checkboxes.
func (f userForm) HasRole(r string) bool { return slices.Contains(f.Roles, r) }

// AllRoles are the roles the form offers.
func (userForm) AllRoles() []string {
	return account.Roles()
}

func formOfUser(u *account.User) userForm {
	return userForm{UserName: u.UserName, GivenName: u.Name.GivenName, FamilyName: u.Name.FamilyName,
		DisplayName: u.DisplayName, Email: primaryEmail(u), FHIRUser: u.FHIRUser, Roles: u.Roles, Active: u.Active,
		Version: u.Meta.Version, Action: UsersPath + "/" + url.PathEscape(u.ID)}
}

// Longest accepted text field (the user name has its own limit).
const maxField = 256

// userFormFrom reads and checks the form; the password is read apart (it
// is never put back into a page).
func userFormFrom(r *http.Request) userForm {
	p := r.PostForm
	f := userForm{UserName: strings.TrimSpace(p.Get("userName")), GivenName: strings.TrimSpace(p.Get("givenName")),
		FamilyName: strings.TrimSpace(p.Get("familyName")), DisplayName: strings.TrimSpace(p.Get("displayName")),
		Email: strings.TrimSpace(p.Get("email")), FHIRUser: strings.TrimSpace(p.Get("fhirUser")),
		Active: p.Get("active") != "", Errors: map[string]string{}}
	for _, role := range p["roles"] {
		if !account.ValidRole(role) {
			f.Errors["roles"] = "Choose among the roles offered."
		} else if !slices.Contains(f.Roles, role) {
			f.Roles = append(f.Roles, role)
		}
	}
	if n, err := account.NormalizeUserName(f.UserName); err != nil {
		f.Errors["userName"] = "A user name is required, without spaces or control characters, at most 128 characters."
	} else {
		f.UserName = n
	}
	if !account.ValidFHIRUser(f.FHIRUser) {
		f.Errors["fhirUser"] = "A relative reference such as Patient/123 or Practitioner/abc, or empty."
	}
	if f.Email != "" {
		if a, err := mail.ParseAddress(f.Email); err != nil || a.Address != f.Email || a.Name != "" {
			f.Errors["email"] = "An e-mail address such as name@example.org, or empty."
		}
	}
	for name, v := range map[string]string{"givenName": f.GivenName, "familyName": f.FamilyName, "displayName": f.DisplayName, "email": f.Email} {
		if len(v) > maxField {
			f.Errors[name] = "At most " + strconv.Itoa(maxField) + " characters."
		}
	}
	return f
}

// apply sets the form's fields on u, keeping everything the form does not
// show (other e-mail addresses, the SCIM attributes, the password hash).
func (f userForm) apply(u *account.User) {
	u.UserName, u.DisplayName, u.FHIRUser, u.Active = f.UserName, f.DisplayName, f.FHIRUser, f.Active
	u.Name.GivenName, u.Name.FamilyName = f.GivenName, f.FamilyName
	u.Roles = f.Roles
	switch i := emailIndex(u); {
	case i >= 0 && f.Email == "":
		u.Emails = slices.Delete(slices.Clone(u.Emails), i, i+1)
	case i >= 0:
		u.Emails = slices.Clone(u.Emails)
		u.Emails[i].Value = f.Email
	case f.Email != "":
		u.Emails = []account.Email{{Value: f.Email, Type: "work", Primary: true}}
	}
}

// passwordError is the message shown next to a password field, or "".
func passwordError(userName, password string) string {
	if err := account.CheckPassword(userName, password); err != nil {
		return policyMessage(err)
	}
	return ""
}

// policyMessage words a password policy error (account.ErrWeakPassword
// with its reason).
func policyMessage(err error) string {
	reason := strings.TrimPrefix(err.Error(), account.ErrWeakPassword.Error())
	reason = strings.TrimPrefix(reason, ": ")
	if reason == "" {
		return "The password does not meet the policy."
	}
	return "The password does not meet the policy: " + reason + "."
}

// userSearchAttrs are the attributes the search box matches.
var userSearchAttrs = []string{"userName", "displayName", "name.givenName", "name.familyName", "name.formatted", "emails.value"}

// maxSearchWords bounds the filter a search builds.
const maxSearchWords = 5

// searchFilter matches every word of q (at most maxSearchWords) in one of
// attrs, case-insensitively ("co"); nil for an empty q.
func searchFilter(q string, attrs []string) account.Filter {
	var all account.Filter
	words := strings.Fields(q)
	if len(words) > maxSearchWords {
		words = words[:maxSearchWords]
	}
	for _, w := range words {
		var any account.Filter
		for _, a := range attrs {
			c := account.Compare{Attr: a, Op: account.OpCo, Value: w}
			if any == nil {
				any = c
			} else {
				any = account.Or{Left: any, Right: c}
			}
		}
		if all == nil {
			all = any
		} else {
			all = account.And{Left: all, Right: any}
		}
	}
	return all
}

// locked fills row.Locked when a LockChecker is configured.
func (s *Server) locked(ctx context.Context, row *userRow) error {
	lc, ok := s.cfg.Unlocker.(LockChecker)
	if !ok {
		return nil
	}
	until, err := lc.LockedUntil(ctx, row.UserName)
	if err != nil {
		return err
	}
	row.Locked = "no"
	if until.After(s.cfg.Now()) {
		row.Locked = "yes"
	}
	return nil
}

// --- list -------------------------------------------------------------------

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	q, n := pageOf(r)
	list, total, err := s.cfg.Directory.SearchUsers(r.Context(), account.Query{Filter: searchFilter(q, userSearchAttrs),
		SortBy: "userName", Offset: (n - 1) * PageSize, Limit: PageSize})
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	for i := range list {
		row := rowOfUser(&list[i])
		if err := s.locked(r.Context(), &row); err != nil {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
		v.Users = append(v.Users, row)
	}
	paging(&v, UsersPath, q, n, total)
	v.Message = doneMessage(r)
	s.render(w, r, http.StatusOK, "users_list", v)
}

// --- create -----------------------------------------------------------------

func (s *Server) newUser(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	v.Form = userForm{Active: true, Roles: []string{account.RolePatient}, Action: UsersPath + "/new", New: true}
	s.render(w, r, http.StatusOK, "users_new", v)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	f := userFormFrom(r)
	f.Action, f.New = UsersPath+"/new", true
	password := r.PostForm.Get("password")
	if password != "" && f.Errors["userName"] == "" {
		if msg := passwordError(f.UserName, password); msg != "" {
			f.Errors["password"] = msg
		}
	}
	if len(f.Errors) > 0 {
		v.Form, v.Error = f, "The person is not created: see the fields marked below."
		s.render(w, r, http.StatusBadRequest, "users_new", v)
		return
	}
	u := &account.User{}
	f.apply(u)
	err := s.cfg.People.Create(r.Context(), u, password)
	if err != nil {
		status, field, msg := s.userChangeError(err)
		if status == http.StatusInternalServerError {
			s.cfg.Pages.Fail(w, r, status, "", err)
			return
		}
		if field != "" {
			f.Errors[field] = msg
			msg = "The person is not created: see the fields marked below."
		}
		v.Form, v.Error = f, msg
		s.render(w, r, status, "users_new", v)
		return
	}
	s.record(r, admin, "user", "User/"+u.ID, "create", "")
	seeOther(w, UsersPath+"/"+url.PathEscape(u.ID)+"?done=created")
}

// userChangeError maps what account.People refused to a status, a form
// field (or "") and a message. A conflict on create is a taken user name;
// an update checks the version before it calls People, so one there is a
// taken user name too, unless the version moved meanwhile (then the caller
// says so).
func (s *Server) userChangeError(err error) (status int, field, msg string) {
	switch {
	case errors.Is(err, account.ErrLastAdmin):
		return http.StatusConflict, "", msgLastAdmin
	case errors.Is(err, account.ErrWeakPassword):
		return http.StatusBadRequest, "password", policyMessage(err)
	case errors.Is(err, account.ErrInvalidUserName):
		return http.StatusBadRequest, "userName", "This user name cannot be used."
	case errors.Is(err, account.ErrPatientLinked):
		return http.StatusConflict, "fhirUser", "Another person is already linked to this patient: a patient record may be linked to one account only."
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "userName", "This user name is taken."
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "", "There is no such person."
	case errors.Is(err, account.ErrInvalidUser):
		return http.StatusBadRequest, "", invalidMessage(err)
	}
	return http.StatusInternalServerError, "", ""
}

// invalidMessage words a refusal of account.People's validation that the
// form's own checks did not catch (account.ErrInvalidUser with its reason).
func invalidMessage(err error) string {
	_, reason, _ := strings.Cut(err.Error(), account.ErrInvalidUser.Error()+": ")
	if reason == "" {
		return "The change was refused as invalid."
	}
	return "The change was refused: " + reason + "."
}

// --- the person's page ------------------------------------------------------

// person loads the person named in the path, or answers 404.
func (s *Server) person(w http.ResponseWriter, r *http.Request) (*account.User, bool) {
	u, err := s.cfg.Directory.User(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such person.", err)
		return nil, false
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return nil, false
	}
	return u, true
}

// showPerson renders the person's page for u with status; form, when not
// nil, is the edit form as submitted (with its messages).
func (s *Server) showPerson(w http.ResponseWriter, r *http.Request, v page, status int, u *account.User, form *userForm) {
	row := rowOfUser(u)
	if err := s.locked(r.Context(), &row); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	groups, err := s.cfg.Directory.GroupsOf(r.Context(), u.ID)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	for i := range groups {
		v.Groups = append(v.Groups, rowOfGroup(&groups[i]))
	}
	if err := s.links(r.Context(), &v, u); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	v.Person = &row
	if form != nil {
		v.Form = *form
	} else {
		v.Form = formOfUser(u)
	}
	v.Form.Errors = mergeErrors(v.Form.Errors)
	s.render(w, r, status, "users_edit", v)
}

func mergeErrors(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (s *Server) editUser(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	v.Password = s.reveals.Take(r.URL.Query().Get("reveal"), u.ID, admin)
	v.Message = doneMessage(r)
	s.showPerson(w, r, v, http.StatusOK, u, nil)
}

// change runs a change of person u under the version the form was shown
// with: change edits a copy and saves it (through People). A stale version,
// or a refusal, shows the person's page again with the reason, and form
// (the submitted edit form, or nil) kept. It reports whether the change was
// made.
func (s *Server) change(w http.ResponseWriter, r *http.Request, v page, u *account.User, form *userForm,
	save func(ctx context.Context, next *account.User) error) bool {
	version, ok := versionOf(r)
	if !ok {
		v.Error = msgNoVersion
		s.showPerson(w, r, v, http.StatusBadRequest, u, form)
		return false
	}
	if version != u.Meta.Version {
		v.Error = msgStale
		s.showPerson(w, r, v, http.StatusConflict, u, form)
		return false
	}
	next := *u
	err := save(r.Context(), &next)
	if err == nil {
		return true
	}
	status, field, msg := s.userChangeError(err)
	if status == http.StatusInternalServerError {
		s.cfg.Pages.Fail(w, r, status, "", err)
		return false
	}
	if errors.Is(err, store.ErrConflict) {
		// A taken user name (only an edit renames), or someone else's
		// change in between.
		if now, err := s.cfg.Directory.User(r.Context(), u.ID); form == nil || err == nil && now.Meta.Version != version {
			field, msg = "", msgStale
			if err == nil {
				u = now
			}
		}
	}
	if field != "" && form != nil {
		form.Errors[field] = msg
		msg = "Not saved: see the fields marked below."
	}
	v.Error = msg
	s.showPerson(w, r, v, status, u, form)
	return false
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	f := userFormFrom(r)
	f.Action = UsersPath + "/" + url.PathEscape(u.ID)
	f.Version, _ = versionOf(r)
	if len(f.Errors) > 0 {
		v.Error = "Not saved: see the fields marked below."
		s.showPerson(w, r, v, http.StatusBadRequest, u, &f)
		return
	}
	if !s.change(w, r, v, u, &f, func(ctx context.Context, next *account.User) error {
		f.apply(next)
		return s.cfg.People.Replace(ctx, next, "")
	}) {
		return
	}
	s.record(r, admin, "user", "User/"+u.ID, "update", "")
	seeOther(w, UsersPath+"/"+url.PathEscape(u.ID)+"?done=saved")
}

// setActive disables or enables a person; account.People revokes a
// disabled person's tokens and refuses to disable the last administrator.
func (s *Server) setActive(active bool) http.HandlerFunc {
	action := map[bool]string{true: "enable", false: "disable"}[active]
	return func(w http.ResponseWriter, r *http.Request) {
		v, admin, ok := s.base(w, r, "users")
		if !ok {
			return
		}
		u, ok := s.person(w, r)
		if !ok {
			return
		}
		if !s.change(w, r, v, u, nil, func(ctx context.Context, next *account.User) error {
			next.Active = active
			return s.cfg.People.Replace(ctx, next, "")
		}) {
			return
		}
		s.record(r, admin, "user", "User/"+u.ID, action, "")
		seeOther(w, UsersPath+"/"+url.PathEscape(u.ID)+"?done="+action+"d")
	}
}

// resetPassword sets the password an administrator typed (new_password),
// or a generated one (generate) that the next page shows once.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	generate := r.PostForm.Get("generate") != ""
	password := r.PostForm.Get("new_password")
	if generate {
		var err error
		if password, err = account.RandomPassword(); err != nil {
			s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
	} else if msg := passwordError(u.UserName, password); msg != "" {
		v.Error, v.PasswordError = "The password is not changed.", msg
		s.showPerson(w, r, v, http.StatusBadRequest, u, nil)
		return
	}
	if err := s.cfg.People.ResetPassword(r.Context(), u.ID, password); err != nil {
		status, _, msg := s.userChangeError(err)
		if errors.Is(err, store.ErrConflict) {
			msg = msgStale
		}
		if status == http.StatusInternalServerError || status == http.StatusNotFound {
			s.cfg.Pages.Fail(w, r, status, msg, err)
			return
		}
		v.Error, v.PasswordError = "The password is not changed.", msg
		s.showPerson(w, r, v, status, u, nil)
		return
	}
	if generate {
		s.record(r, admin, "user", "User/"+u.ID, "generate password", "")
		seeOther(w, UsersPath+"/"+url.PathEscape(u.ID)+"?reveal="+s.reveals.Put(u.ID, password, admin))
		return
	}
	s.record(r, admin, "user", "User/"+u.ID, "set password", "")
	seeOther(w, UsersPath+"/"+url.PathEscape(u.ID)+"?done=password")
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request) {
	_, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	if s.cfg.Unlocker == nil {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "Log-in lockouts cannot be lifted here.", errors.New("people: no Unlocker"))
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Unlocker.Unlock(r.Context(), u.UserName); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.record(r, admin, "user", "User/"+u.ID, "unlock", "")
	seeOther(w, UsersPath+"/"+url.PathEscape(u.ID)+"?done=unlocked")
}

// --- delete -----------------------------------------------------------------

func (s *Server) confirmDeleteUser(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	s.showConfirm(w, r, v, http.StatusOK, confirmUser(u))
}

func confirmUser(u *account.User) *confirm {
	path := UsersPath + "/" + url.PathEscape(u.ID)
	return &confirm{What: "person", Name: u.UserName, Action: path + "/delete", Cancel: path, Version: u.Meta.Version}
}

func (s *Server) showConfirm(w http.ResponseWriter, r *http.Request, v page, status int, c *confirm) {
	v.Confirm = c
	s.render(w, r, status, "people_confirm", v)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	v, admin, ok := s.base(w, r, "users")
	if !ok {
		return
	}
	u, ok := s.person(w, r)
	if !ok {
		return
	}
	version, ok := versionOf(r)
	if !ok || version != u.Meta.Version {
		status := http.StatusConflict
		v.Error = msgStale
		if !ok {
			status, v.Error = http.StatusBadRequest, msgNoVersion
		}
		s.showConfirm(w, r, v, status, confirmUser(u))
		return
	}
	if err := s.cfg.People.Delete(r.Context(), u.ID, version); err != nil {
		status, _, msg := s.userChangeError(err)
		if errors.Is(err, store.ErrConflict) {
			msg = msgStale
		}
		if status == http.StatusInternalServerError {
			s.cfg.Pages.Fail(w, r, status, "", err)
			return
		}
		v.Error = msg
		s.showConfirm(w, r, v, status, confirmUser(u))
		return
	}
	s.record(r, admin, "user", "User/"+u.ID, "delete", "")
	seeOther(w, UsersPath+"?done=deleted")
}
