// Package account is smartgate's local user model, shaped after the SCIM
// core User schema (RFC 7643 §4.1) with smartgate's extension attributes
// fhirUser and roles, together with password hashing (argon2id), the
// password policy, user-name normalisation, log-in throttling, the
// second factor (TOTP with recovery codes, SecondFactors) and the
// first-start administrator.
//
// The storage interfaces are declared here (Users, Consents, Sessions,
// Pendings, SecondFactorStore); store/sqlite implements them.
package account

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/smartgate/smartgate/authz/smart"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/secure/precis"

	"github.com/smartgate/smartgate/store"
)

// Roles a local account can hold.
const (
	RoleAdmin        = "admin"
	RolePractitioner = "practitioner"
	RolePatient      = "patient"
)

// Roles returns the known roles, in the order they are offered: the one
// list that ValidRole, error messages, the pages and the SCIM schema's
// canonicalValues read. Each call returns a fresh slice.
func Roles() []string { return []string{RoleAdmin, RolePractitioner, RolePatient} }

// ValidRole reports whether r is one of the known roles (Roles).
func ValidRole(r string) bool { return slices.Contains(Roles(), r) }

// User is a local account (SCIM core User plus the smartgate extension).
type User struct {
	ID          string // uuid, assigned by NewID
	UserName    string // normalised with NormalizeUserName; unique
	Name        Name
	DisplayName string
	Emails      []Email
	Active      bool
	// PasswordHash is the PHC-format argon2id hash, or empty for accounts
	// that log in only through a federated provider.
	PasswordHash string
	// FHIRUser is a relative reference such as "Patient/123" or
	// "Practitioner/abc" (the fhirUser claim), or empty.
	FHIRUser string
	Roles    []string
	// ExternalID is the provisioning client's id for the person (SCIM
	// externalId), or "".
	ExternalID string
	Profile    Profile
	Enterprise Enterprise
	Meta       Meta
}

// Name is the SCIM name complex attribute (the parts smartgate keeps).
type Name struct {
	GivenName  string
	FamilyName string
	Formatted  string
}

// Email is one entry of the SCIM emails attribute.
type Email struct {
	Value   string
	Type    string
	Primary bool
}

// Meta is the SCIM meta attribute; Version grows by one on every change
// and serves as the ETag and for optimistic concurrency.
type Meta struct {
	Created      time.Time
	LastModified time.Time
	Version      int64
}

// HasRole reports whether u holds role r.
func (u *User) HasRole(r string) bool { return slices.Contains(u.Roles, r) }

// MayActForOthers is the one rule of who may act for patients other than
// themselves (choose any patient in the picker, redeem an EHR launch made
// by someone else): the practitioner and administrator roles. Every other
// account, one with no role included, counts as a patient, who may act only
// for the record its fhirUser links (PatientID).
func MayActForOthers(roles []string) bool {
	return slices.Contains(roles, RolePractitioner) || slices.Contains(roles, RoleAdmin)
}

// MayActForOthers reports whether u may act for other patients (see the
// function of that name).
func (u *User) MayActForOthers() bool { return MayActForOthers(u.Roles) }

// MayActFor reports whether u may act for the patient with the bare id
// patient: anyone who may act for others, or the patient whose own record
// it is.
func (u *User) MayActFor(patient string) bool { return u.MayActForWith(u.Roles, patient) }

// MayActForWith is MayActFor with roles in place of u's own: its effective
// roles, held directly or through a group (EffectiveRights).
func (u *User) MayActForWith(roles []string, patient string) bool {
	if MayActForOthers(roles) {
		return true
	}
	own, ok := u.PatientID()
	return ok && patient != "" && own == patient
}

// PatientID returns the bare Patient id when u.FHIRUser names a Patient.
func (u *User) PatientID() (string, bool) { return PatientOf(u.FHIRUser) }

// PatientOf returns the Patient id of a fhirUser reference ("Patient/123" →
// "123"), and false for anything else: another resource type, an absolute
// URL, or an id that is not a FHIR id. It is the one reading of a person's
// own record; every package that needs it calls this.
func PatientOf(fhirUser string) (string, bool) {
	id, ok := strings.CutPrefix(fhirUser, "Patient/")
	if !ok || !smart.IsFHIRID(id) {
		return "", false
	}
	return id, true
}

// Label is a human-readable name for pages: display name, formatted name or
// user name.
func (u *User) Label() string {
	switch {
	case u.DisplayName != "":
		return u.DisplayName
	case u.Name.Formatted != "":
		return u.Name.Formatted
	case u.Name.GivenName != "" || u.Name.FamilyName != "":
		return strings.TrimSpace(u.Name.GivenName + " " + u.Name.FamilyName)
	}
	return u.UserName
}

// AnonymousUserName is the built-in anonymous account's name
// (--client-cert-policy limit, package authz/certauth): no local account
// may be created with it or renamed to it (Validate, which every creation
// and change of a person passes: the CLI, SCIM, the pages).
const AnonymousUserName = "anonymous"

// ErrInvalidUserName is returned for user names that cannot be normalised.
var ErrInvalidUserName = errors.New("account: invalid user name")

// ErrInvalidUser is wrapped by Validate's refusal of a role or a fhirUser
// (a bad user name is ErrInvalidUserName).
var ErrInvalidUser = errors.New("account: invalid user")

// NormalizeUserName maps a user name to its stored, comparable form with the
// PRECIS UsernameCaseMapped profile (RFC 8265 §3.3: width mapping, case
// folding to lower case, NFC), so that "Alice" and "alice" are one account.
// Spaces and control characters are refused; length is limited to 128 bytes.
func NormalizeUserName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 256 {
		return "", ErrInvalidUserName
	}
	n, err := precis.UsernameCaseMapped.String(s)
	if err != nil || n == "" || len(n) > 128 {
		return "", fmt.Errorf("%w: %q", ErrInvalidUserName, s)
	}
	return n, nil
}

// ValidFHIRUser reports whether ref is empty or a relative reference of the
// form Patient/id, Practitioner/id, PractitionerRole/id, RelatedPerson/id or
// Person/id with a FHIR id ([A-Za-z0-9\-\.]{1,64}).
func ValidFHIRUser(ref string) bool {
	if ref == "" {
		return true
	}
	typ, id, ok := strings.Cut(ref, "/")
	if !ok {
		return false
	}
	switch typ {
	case "Patient", "Practitioner", "PractitionerRole", "RelatedPerson", "Person":
	default:
		return false
	}
	return smart.IsFHIRID(id)
}

// Validate checks a user before it is stored: a normalised user name, known
// roles, a well-formed fhirUser.
func (u *User) Validate() error {
	n, err := NormalizeUserName(u.UserName)
	if err != nil {
		return err
	}
	if n != u.UserName {
		return fmt.Errorf("%w: %q is not normalised", ErrInvalidUserName, u.UserName)
	}
	if n == AnonymousUserName {
		return fmt.Errorf("%w: %q is reserved for the built-in anonymous account", ErrInvalidUserName, n)
	}
	if err := u.checkCounts(); err != nil {
		return err
	}
	for _, r := range u.Roles {
		if !ValidRole(r) {
			return fmt.Errorf("%w: unknown role %q", ErrInvalidUser, r)
		}
	}
	if !ValidFHIRUser(u.FHIRUser) {
		return fmt.Errorf("%w: fhirUser %q is not a relative reference to a person", ErrInvalidUser, u.FHIRUser)
	}
	return nil
}

// MaxValues is the most entries a multi-valued attribute of a User
// (emails, phoneNumbers, addresses, roles) may hold: a person's record
// stays small, so that a page of a list does too. Group members are not
// capped.
const MaxValues = 100

// checkCounts refuses a multi-valued attribute of u with more than
// MaxValues entries.
func (u *User) checkCounts() error {
	for _, c := range []struct {
		name string
		n    int
	}{
		{"emails", len(u.Emails)}, {"phoneNumbers", len(u.Profile.PhoneNumbers)},
		{"addresses", len(u.Profile.Addresses)}, {"roles", len(u.Roles)},
	} {
		if c.n > MaxValues {
			return fmt.Errorf("%w: %s: %d entries, at most %d", ErrInvalidUser, c.name, c.n, MaxValues)
		}
	}
	return nil
}

// NewID returns a random (version 4) UUID.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ListQuery selects users for listing (SCIM startIndex/count semantics
// are translated by the caller).
type ListQuery struct {
	Offset int
	Limit  int // 0: backend default (100)
	// UserName, when set, selects the user with that (normalised) name.
	UserName string
}

// Users stores accounts.
type Users interface {
	// CreateUser stores u; it sets u.ID when empty and u.Meta. A taken user
	// name gives store.ErrConflict.
	CreateUser(ctx context.Context, u *User) error
	// User and UserByName return store.ErrNotFound when there is none.
	User(ctx context.Context, id string) (*User, error)
	UserByName(ctx context.Context, userName string) (*User, error)
	Users(ctx context.Context, q ListQuery) ([]User, error)
	// UpdateUser replaces the stored user when u.Meta.Version matches the
	// stored version (else store.ErrConflict) and advances u.Meta.
	UpdateUser(ctx context.Context, u *User) error
	// DeactivateUser sets active=false, ends the user's sessions and
	// drops their sign-in codes (as UpdateUser does for an account it
	// turns inactive).
	DeactivateUser(ctx context.Context, id string) error
	CountUsers(ctx context.Context) (int, error)
}

// Consent is what a user allowed a client: the scopes last approved.
type Consent struct {
	UserID   string
	ClientID string
	Scopes   []string
	Created  time.Time
	Updated  time.Time
}

// Covers reports whether every scope in want was approved.
func (c *Consent) Covers(want []string) bool {
	for _, s := range want {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// Consents stores remembered consent per user and client.
type Consents interface {
	// Consent returns store.ErrNotFound when there is none.
	Consent(ctx context.Context, userID, clientID string) (*Consent, error)
	// PutConsent creates or replaces the consent for (UserID, ClientID).
	PutConsent(ctx context.Context, c *Consent) error
	// Consents lists a user's consents, most recently updated first.
	Consents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent returns store.ErrNotFound when there was none.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// Session is a server-side log-in session. The browser holds only its id
// (in an authenticated, encrypted cookie); logging out ends the record, and
// tokens issued with online_access are tied to it.
type Session struct {
	ID        string
	UserID    string
	AuthTime  time.Time
	AMR       []string
	Created   time.Time
	ExpiresAt time.Time
	EndedAt   time.Time // zero while the session is live
}

// Active reports whether the session is live at now.
func (s *Session) Active(now time.Time) bool {
	return s.EndedAt.IsZero() && now.Before(s.ExpiresAt)
}

// Sessions stores log-in sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s *Session) error
	// Session returns store.ErrNotFound when there is none (ended sessions
	// are still returned, with EndedAt set).
	Session(ctx context.Context, id string) (*Session, error)
	EndSession(ctx context.Context, id string, at time.Time) error
	// EndUserSessions ends every live session of the user userID at at,
	// but except (an id; may be empty): a new password ends the log-ins
	// made with the old one.
	EndUserSessions(ctx context.Context, userID, except string, at time.Time) error
	// ExtendSession sets the expiry of a session that has not ended
	// (store.ErrNotFound when there is none).
	ExtendSession(ctx context.Context, id string, expiresAt time.Time) error
}

// SessionPolicy bounds log-in sessions: TTL after the log-in at most, and
// Idle after the session's last use (a page or an authorization request;
// 0: no idle limit). A session's ExpiresAt is where the two meet, moved on
// by each use (KeepAlive), so the server enforces both.
type SessionPolicy struct {
	TTL  time.Duration
	Idle time.Duration
}

// Expiry is when a session created at created and used at now ends if it
// is not used again.
func (p SessionPolicy) Expiry(created, now time.Time) time.Time {
	end := created.Add(p.TTL)
	if p.Idle > 0 && now.Add(p.Idle).Before(end) {
		return now.Add(p.Idle)
	}
	return end
}

// KeepAlive is a use of session s at now: when s is live it moves its
// expiry on (p.Expiry) and reports true. Expiries move in steps of at least
// a minute (a tenth of Idle when shorter), so that a busy session is not
// written on every request.
func (p SessionPolicy) KeepAlive(ctx context.Context, st Sessions, s *Session, now time.Time) (bool, error) {
	if !s.Active(now) {
		return false, nil
	}
	next := p.Expiry(s.Created, now)
	step := time.Minute
	if p.Idle > 0 {
		step = min(step, p.Idle/10)
	}
	if next.Sub(s.ExpiresAt) < step {
		return true, nil
	}
	if err := st.ExtendSession(ctx, s.ID, next); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("account: extend session: %w", err)
	}
	s.ExpiresAt = next
	return true, nil
}

// Pending is an authorization request waiting for the pages (log-in,
// patient picker, consent), bound to one browser, and later the decision
// made there. Request and Decision are opaque to the store (JSON).
type Pending struct {
	BrowserID string
	RequestID string
	Request   []byte
	Decision  []byte // empty until decided
	Created   time.Time
	ExpiresAt time.Time
}

// Pendings stores pending authorization requests.
type Pendings interface {
	// PutPending creates or replaces the record for (BrowserID, RequestID)
	// and drops expired records.
	PutPending(ctx context.Context, p *Pending) error
	// Pending returns store.ErrNotFound when there is none or it expired.
	Pending(ctx context.Context, browserID, requestID string) (*Pending, error)
	// TakePending returns and deletes the record in one step (single use).
	TakePending(ctx context.Context, browserID, requestID string) (*Pending, error)
}

// SessionLive reports whether the log-in session id is live at now: it
// exists, has not ended (logout, deactivation) and has not expired. authz
// uses it to end online_access refresh tokens with the session.
func SessionLive(ctx context.Context, st Sessions, id string, now time.Time) (bool, error) {
	s, err := st.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("account: session: %w", err)
	}
	return s.Active(now), nil
}

// PrimaryEmailIndex is the index in u.Emails of the person's e-mail: the
// first marked primary, else the first; -1 when there is none. It is the
// one rule of which address is "the" e-mail (claims, pages, log-ins).
func (u *User) PrimaryEmailIndex() int {
	if i := slices.IndexFunc(u.Emails, func(e Email) bool { return e.Primary }); i >= 0 {
		return i
	}
	if len(u.Emails) > 0 {
		return 0
	}
	return -1
}

// PrimaryEmail is the person's e-mail (PrimaryEmailIndex), or "".
func (u *User) PrimaryEmail() string {
	if i := u.PrimaryEmailIndex(); i >= 0 {
		return u.Emails[i].Value
	}
	return ""
}
