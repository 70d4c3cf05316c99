package account

import (
	"context"
	"errors"
	"time"
)

// This file is the contract between the SCIM server (package scim), the
// people pages (web/people), the rights of a person (roles and scope
// ceilings from groups) and the store (store/sqlite): the SCIM attributes a
// person and a group keep, the filter language the store runs, and the
// store interface over both.

// Enterprise is the SCIM enterprise User extension (RFC 7643 §4.3,
// urn:ietf:params:scim:schemas:extension:enterprise:2.0:User).
type Enterprise struct {
	EmployeeNumber string
	CostCenter     string
	Organization   string
	Division       string
	Department     string
	// Manager is the id of the manager's User, or "".
	Manager string
}

// PhoneNumber is one entry of the SCIM phoneNumbers attribute.
type PhoneNumber struct {
	Value   string
	Type    string
	Primary bool
}

// Address is one entry of the SCIM addresses attribute (RFC 7643 §4.1.2):
// a physical mailing address, whole (Formatted) or in components.
type Address struct {
	Formatted     string // the full address, for display or a mailing label; may hold newlines
	StreetAddress string // may hold newlines
	Locality      string // city
	Region        string // state or region
	PostalCode    string
	Country       string
	Type          string // work, home or other
	Primary       bool
}

// Profile holds the SCIM core User attributes that smartgate keeps but
// does not act on (RFC 7643 §4.1.1, §4.1.2).
type Profile struct {
	NickName          string
	ProfileURL        string
	Title             string
	UserType          string
	PreferredLanguage string
	Locale            string
	Timezone          string
	// MiddleName, HonorificPrefix and HonorificSuffix complete Name.
	MiddleName      string
	HonorificPrefix string
	HonorificSuffix string
	PhoneNumbers    []PhoneNumber
	// Addresses are kept but not filterable.
	Addresses []Address
}

// Group is a SCIM Group (RFC 7643 §4.2) with smartgate's rights: the roles
// membership gives, and a scope ceiling that narrows its members' tokens.
type Group struct {
	ID          string // uuid, assigned by the store when empty
	DisplayName string // unique, compared case-insensitively
	ExternalID  string
	// Members are users (smartgate keeps no nested groups).
	Members []Member
	// Roles are given to every member (e.g. practitioner: the members may
	// act for other patients).
	Roles []string
	// Ceiling is the scope ceiling of the group's members, SMART scopes
	// such as "user/*.rs"; nil means the group sets no ceiling.
	Ceiling []string
	Meta    Meta
}

// Member is one member of a group: a User id, and its display (the
// member's Label, filled in by the store when read).
type Member struct {
	Value   string
	Display string
}

// Filter is a parsed SCIM filter (RFC 7644 §3.4.2.2) over canonical
// attribute paths; the SCIM layer parses and checks it against the schema,
// the store compiles it to parameterised SQL. The canonical paths are:
//
// Users: id, externalId, userName, displayName, active, name.givenName,
// name.familyName, name.formatted, name.middleName, nickName, title,
// userType, preferredLanguage, locale, timezone, profileUrl, emails.value,
// emails.type, emails.primary, phoneNumbers.value, phoneNumbers.type,
// meta.created, meta.lastModified, groups.value (the ids of the user's
// groups), enterprise.employeeNumber, enterprise.costCenter,
// enterprise.organization, enterprise.division, enterprise.department,
// enterprise.manager.value, smartgate.fhirUser, smartgate.roles.
//
// Groups: id, externalId, displayName, members.value, meta.created,
// meta.lastModified, smartgate.roles.
//
// A multi-valued attribute compared without a sub-attribute ("emails eq
// …") has been rewritten by the parser to its value sub-attribute.
type Filter interface{ isFilter() }

// Op is a SCIM comparison operator.
type Op string

// The comparison operators of RFC 7644 §3.4.2.2 (pr is Present).
const (
	OpEq Op = "eq"
	OpNe Op = "ne"
	OpCo Op = "co"
	OpSw Op = "sw"
	OpEw Op = "ew"
	OpGt Op = "gt"
	OpGe Op = "ge"
	OpLt Op = "lt"
	OpLe Op = "le"
)

// And, Or and Not combine filters.
type (
	And struct{ Left, Right Filter }
	Or  struct{ Left, Right Filter }
	Not struct{ X Filter }
)

// Compare is "Attr Op Value". Value is a string, a bool, a float64 or a
// time.Time (for meta.created and meta.lastModified); never nil (the
// parser rewrites "eq null" to not present). CaseExact comes from the
// schema: false means the store compares strings case-insensitively.
type Compare struct {
	Attr      string
	Op        Op
	Value     any
	CaseExact bool
}

// Present is "Attr pr": the attribute has a non-empty value.
type Present struct{ Attr string }

// ValuePath is a complex attribute filter, "emails[type eq "work" and
// value co "@example.org"]": one element of the multi-valued attribute
// Attr (emails, phoneNumbers, members, groups) matches Filter, whose
// Compare and Present nodes name the full path (emails.type, …).
type ValuePath struct {
	Attr   string
	Filter Filter
}

func (And) isFilter()       {}
func (Or) isFilter()        {}
func (Not) isFilter()       {}
func (Compare) isFilter()   {}
func (Present) isFilter()   {}
func (ValuePath) isFilter() {}

// Query selects people or groups: a filter, an order and a page. The SCIM
// layer translates startIndex/count (Offset = startIndex-1) and caps Limit.
type Query struct {
	Filter Filter // nil: everyone
	// SortBy is a canonical path (userName, meta.created, …); "" is the
	// store's stable order (creation). Descending reverses it.
	SortBy     string
	Descending bool
	Offset     int
	Limit      int // 0: no rows, only the total
}

// ErrInvalidQuery is wrapped by SearchUsers and SearchGroups when the store
// cannot run a Query: an attribute it does not know or cannot sort by, an
// operator the attribute's type has no meaning for (gt on a boolean), or a
// value of the wrong type. The SCIM layer answers it with 400 invalidFilter
// (or invalidValue for sortBy); its parser should have refused such a query
// first.
var ErrInvalidQuery = errors.New("account: invalid query")

// Directory is the store of people and groups behind SCIM and the people
// pages; store/sqlite implements it. Filtering, sorting and paging run in
// the store; the total is of all matches.
type Directory interface {
	Users
	// SearchUsers returns one page of the users matching q and the total
	// number of matches.
	SearchUsers(ctx context.Context, q Query) ([]User, int, error)
	// DeleteUser removes the user, their memberships, consents,
	// sessions, links and sign-in codes (store.ErrNotFound when there is
	// none).
	DeleteUser(ctx context.Context, id string) error

	// CreateGroup stores g, setting g.ID when empty and g.Meta; a taken
	// displayName or an unknown member gives store.ErrConflict /
	// store.ErrNotFound.
	CreateGroup(ctx context.Context, g *Group) error
	// Group returns store.ErrNotFound when there is none.
	Group(ctx context.Context, id string) (*Group, error)
	// UpdateGroup replaces the stored group when g.Meta.Version matches
	// (else store.ErrConflict) and advances g.Meta.
	UpdateGroup(ctx context.Context, g *Group) error
	// ChangeMembers adds and removes members of group id in one step,
	// without reading or rewriting the others (large groups), when
	// version is 0 or matches; it returns the new Meta. Adding a member
	// twice or removing a non-member is not an error.
	ChangeMembers(ctx context.Context, id string, version int64, add []string, remove []string) (Meta, error)
	DeleteGroup(ctx context.Context, id string) error
	// SearchGroups is SearchUsers for groups; members are not loaded
	// (Members is nil) when withMembers is false.
	SearchGroups(ctx context.Context, q Query, withMembers bool) ([]Group, int, error)
	// GroupsOf returns the groups user id belongs to, without members.
	GroupsOf(ctx context.Context, userID string) ([]Group, error)
	// GroupsOfUsers is GroupsOf for several users at once (one list page),
	// keyed by user id; a user in no group has no entry.
	GroupsOfUsers(ctx context.Context, userIDs []string) (map[string][]Group, error)
}

// Rights are what a person may be given: the roles they hold directly or
// through a group, and their scope ceiling (nil: the roles' own ceiling
// only, BaseCeiling; empty: no resource scope at all). EffectiveRights
// computes them (always with the ceiling filled in); consent, refresh and
// the OWin grant apply them (smart.NarrowTo).
type Rights struct {
	Roles   []string
	Ceiling []string
}

// Lockouts keeps log-in lockouts where every process sees them, so that
// `smartgate user unlock` and the people pages can lift one that a running
// server holds.
type Lockouts interface {
	// PutLockout records that the account key is locked until until.
	PutLockout(ctx context.Context, key string, until time.Time) error
	// Lockout returns the recorded end of key's lockout, or the zero time.
	Lockout(ctx context.Context, key string) (time.Time, error)
	// DeleteLockout lifts key's lockout (no error when there is none).
	DeleteLockout(ctx context.Context, key string) error
	// ActiveLockouts returns the lockouts that end after now, by key (for
	// Throttle.Restore at start).
	ActiveLockouts(ctx context.Context, now time.Time) (map[string]time.Time, error)
}
