package scim

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/smartgate/smartgate/account"
)

// userJSON is a User as SCIM sends and receives it (RFC 7643 §4.1, the
// enterprise extension §4.3 and smartgate's extension). The same type
// decodes POST and PUT bodies (strictly: an attribute it does not have is
// refused) and renders answers; password is only ever read.
type userJSON struct {
	Schemas           []string        `json:"schemas"`
	ID                string          `json:"id,omitempty"`
	ExternalID        string          `json:"externalId,omitempty"`
	UserName          string          `json:"userName"`
	Name              *nameJSON       `json:"name,omitempty"`
	DisplayName       string          `json:"displayName,omitempty"`
	NickName          string          `json:"nickName,omitempty"`
	ProfileURL        string          `json:"profileUrl,omitempty"`
	Title             string          `json:"title,omitempty"`
	UserType          string          `json:"userType,omitempty"`
	PreferredLanguage string          `json:"preferredLanguage,omitempty"`
	Locale            string          `json:"locale,omitempty"`
	Timezone          string          `json:"timezone,omitempty"`
	Active            *flexBool       `json:"active,omitempty"`
	Password          string          `json:"password,omitempty"`
	Emails            []multiJSON     `json:"emails,omitempty"`
	PhoneNumbers      []multiJSON     `json:"phoneNumbers,omitempty"`
	Addresses         []addressJSON   `json:"addresses,omitempty"`
	Groups            []multiJSON     `json:"groups,omitempty"`
	Enterprise        *enterpriseJSON `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Smartgate         *smartUserJSON  `json:"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User,omitempty"`
	Meta              *metaJSON       `json:"meta,omitempty"`

	// Core attributes smartgate does not keep: accepted (provisioning
	// clients send them by default) and dropped, never returned.
	IMs              json.RawMessage `json:"ims,omitempty"`
	Photos           json.RawMessage `json:"photos,omitempty"`
	Entitlements     json.RawMessage `json:"entitlements,omitempty"`
	Roles            json.RawMessage `json:"roles,omitempty"`
	X509Certificates json.RawMessage `json:"x509Certificates,omitempty"`
}

type nameJSON struct {
	Formatted       string `json:"formatted,omitempty"`
	FamilyName      string `json:"familyName,omitempty"`
	GivenName       string `json:"givenName,omitempty"`
	MiddleName      string `json:"middleName,omitempty"`
	HonorificPrefix string `json:"honorificPrefix,omitempty"`
	HonorificSuffix string `json:"honorificSuffix,omitempty"`
}

// addressJSON is one of the User's addresses (RFC 7643 §4.1.2).
type addressJSON struct {
	Formatted     string    `json:"formatted,omitempty"`
	StreetAddress string    `json:"streetAddress,omitempty"`
	Locality      string    `json:"locality,omitempty"`
	Region        string    `json:"region,omitempty"`
	PostalCode    string    `json:"postalCode,omitempty"`
	Country       string    `json:"country,omitempty"`
	Type          string    `json:"type,omitempty"`
	Primary       *flexBool `json:"primary,omitempty"`
}

// toAddress converts a to an account.Address; ok is false when a has no
// component (only a type or primary, as a PATCH that removed the last
// component leaves it): that is no address, and is not kept.
func (a addressJSON) toAddress() (account.Address, bool) {
	ad := account.Address{Formatted: a.Formatted, StreetAddress: a.StreetAddress, Locality: a.Locality,
		Region: a.Region, PostalCode: a.PostalCode, Country: a.Country, Type: a.Type,
		Primary: a.Primary != nil && bool(*a.Primary)}
	return ad, ad.Formatted != "" || ad.StreetAddress != "" || ad.Locality != "" || ad.Region != "" || ad.PostalCode != "" || ad.Country != ""
}

func renderAddress(a account.Address) addressJSON {
	return addressJSON{Formatted: a.Formatted, StreetAddress: a.StreetAddress, Locality: a.Locality,
		Region: a.Region, PostalCode: a.PostalCode, Country: a.Country, Type: a.Type, Primary: flex(a.Primary)}
}

type enterpriseJSON struct {
	EmployeeNumber string       `json:"employeeNumber,omitempty"`
	CostCenter     string       `json:"costCenter,omitempty"`
	Organization   string       `json:"organization,omitempty"`
	Division       string       `json:"division,omitempty"`
	Department     string       `json:"department,omitempty"`
	Manager        *managerJSON `json:"manager,omitempty"`
}

type managerJSON struct {
	Value       string `json:"value,omitempty"`
	Ref         string `json:"$ref,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

type smartUserJSON struct {
	FHIRUser   string         `json:"fhirUser,omitempty"`
	Roles      []string       `json:"roles,omitempty"`
	Identities identitiesJSON `json:"identities,omitempty"`
}

// identitiesJSON is the readOnly identities attribute: rendered from the
// account's links, and ignored in POST and PUT bodies whatever it holds
// (RFC 7643 §2.2: the server ignores values of readOnly attributes).
type identitiesJSON []identityJSON

// UnmarshalJSON ignores the value: identities is readOnly.
func (*identitiesJSON) UnmarshalJSON([]byte) error { return nil }

type identityJSON struct {
	Provider  string `json:"provider,omitempty"`
	Issuer    string `json:"issuer"`
	Subject   string `json:"subject"`
	Email     string `json:"email,omitempty"`
	Created   string `json:"created,omitempty"`
	LastLogin string `json:"lastLogin,omitempty"`
}

func renderIdentities(links []account.Link) identitiesJSON {
	var out identitiesJSON
	for _, l := range links {
		j := identityJSON{Provider: l.Provider, Issuer: l.Issuer, Subject: l.Subject, Email: l.Email}
		if !l.Created.IsZero() {
			j.Created = timeString(l.Created)
		}
		if !l.LastLogin.IsZero() {
			j.LastLogin = timeString(l.LastLogin)
		}
		out = append(out, j)
	}
	return out
}

// userIn is a decoded User body: the person, the password when one was
// given, and whether the smartgate extension was present.
type userIn struct {
	user      account.User
	password  string
	smartgate bool
	active    bool // active was given
}

// decodeUser decodes and checks a POST or PUT body. readOnly attributes
// (id, meta, groups, the smartgate identities) are ignored (RFC 7644
// §3.5.1).
func decodeUser(data []byte) (*userIn, error) {
	var j userJSON
	if err := decodeStrict(data, &j); err != nil {
		return nil, err
	}
	if err := checkSchemas(j.Schemas, URNUser, URNEnterprise, URNSmartUser); err != nil {
		return nil, err
	}
	return j.toUser()
}

// toUser converts j to an account.User and checks what the account rules
// say about its values (user name, roles, fhirUser).
func (j *userJSON) toUser() (*userIn, error) {
	in := &userIn{password: j.Password, smartgate: j.Smartgate != nil}
	u := &in.user
	if j.UserName == "" {
		return nil, errorf(http.StatusBadRequest, typeInvalidValue, "userName is required")
	}
	n, err := account.NormalizeUserName(j.UserName)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, typeInvalidValue, "userName %q is not a valid user name", j.UserName)
	}
	u.UserName = n
	u.ExternalID = j.ExternalID
	u.DisplayName = j.DisplayName
	u.Active = true
	if j.Active != nil {
		u.Active, in.active = bool(*j.Active), true
	}
	if j.Name != nil {
		u.Name = account.Name{GivenName: j.Name.GivenName, FamilyName: j.Name.FamilyName, Formatted: j.Name.Formatted}
		u.Profile.MiddleName = j.Name.MiddleName
		u.Profile.HonorificPrefix = j.Name.HonorificPrefix
		u.Profile.HonorificSuffix = j.Name.HonorificSuffix
	}
	u.Profile.NickName = j.NickName
	u.Profile.ProfileURL = j.ProfileURL
	u.Profile.Title = j.Title
	u.Profile.UserType = j.UserType
	u.Profile.PreferredLanguage = j.PreferredLanguage
	u.Profile.Locale = j.Locale
	u.Profile.Timezone = j.Timezone
	for i, e := range j.Emails {
		if e.Value == "" {
			return nil, errorf(http.StatusBadRequest, typeInvalidValue, "emails[%d].value is required", i)
		}
		u.Emails = append(u.Emails, account.Email{Value: e.Value, Type: e.Type, Primary: e.primary()})
	}
	for i, p := range j.PhoneNumbers {
		if p.Value == "" {
			return nil, errorf(http.StatusBadRequest, typeInvalidValue, "phoneNumbers[%d].value is required", i)
		}
		u.Profile.PhoneNumbers = append(u.Profile.PhoneNumbers, account.PhoneNumber{Value: p.Value, Type: p.Type, Primary: p.primary()})
	}
	for _, a := range j.Addresses {
		if ad, ok := a.toAddress(); ok {
			u.Profile.Addresses = append(u.Profile.Addresses, ad)
		}
	}
	if e := j.Enterprise; e != nil {
		u.Enterprise = account.Enterprise{EmployeeNumber: e.EmployeeNumber, CostCenter: e.CostCenter,
			Organization: e.Organization, Division: e.Division, Department: e.Department}
		if e.Manager != nil {
			u.Enterprise.Manager = e.Manager.Value
		}
	}
	if sg := j.Smartgate; sg != nil {
		u.FHIRUser = sg.FHIRUser
		for _, r := range sg.Roles {
			if !account.ValidRole(r) {
				return nil, errUnknownRole(r)
			}
			if !containsFold(u.Roles, r) {
				u.Roles = append(u.Roles, r)
			}
		}
		if !account.ValidFHIRUser(u.FHIRUser) {
			return nil, errorf(http.StatusBadRequest, typeInvalidValue, "fhirUser %q is not a relative reference to a person (Patient/id, Practitioner/id, …)", u.FHIRUser)
		}
	}
	return in, nil
}

func (m multiJSON) primary() bool { return m.Primary != nil && bool(*m.Primary) }

func flex(b bool) *flexBool { f := flexBool(b); return &f }

// etag is the entity tag of a version (weak: the representation varies
// with attributes and the listener).
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// renderUser renders u with its groups and its federated identities
// (links); base is the /scim/v2 URL of the listener.
func renderUser(u *account.User, groups []account.Group, links []account.Link, base string) *userJSON {
	j := &userJSON{
		Schemas:           []string{URNUser},
		ID:                u.ID,
		ExternalID:        u.ExternalID,
		UserName:          u.UserName,
		DisplayName:       u.DisplayName,
		NickName:          u.Profile.NickName,
		ProfileURL:        u.Profile.ProfileURL,
		Title:             u.Profile.Title,
		UserType:          u.Profile.UserType,
		PreferredLanguage: u.Profile.PreferredLanguage,
		Locale:            u.Profile.Locale,
		Timezone:          u.Profile.Timezone,
		Active:            flex(u.Active),
		Meta: &metaJSON{ResourceType: "User", Created: timeString(u.Meta.Created), LastModified: timeString(u.Meta.LastModified),
			Version: etag(u.Meta.Version), Location: base + "/Users/" + u.ID},
	}
	if n, p := u.Name, u.Profile; n != (account.Name{}) || p.MiddleName != "" || p.HonorificPrefix != "" || p.HonorificSuffix != "" {
		j.Name = &nameJSON{Formatted: n.Formatted, FamilyName: n.FamilyName, GivenName: n.GivenName,
			MiddleName: p.MiddleName, HonorificPrefix: p.HonorificPrefix, HonorificSuffix: p.HonorificSuffix}
	}
	for _, e := range u.Emails {
		j.Emails = append(j.Emails, multiJSON{Value: e.Value, Type: e.Type, Primary: flex(e.Primary)})
	}
	for _, p := range u.Profile.PhoneNumbers {
		j.PhoneNumbers = append(j.PhoneNumbers, multiJSON{Value: p.Value, Type: p.Type, Primary: flex(p.Primary)})
	}
	for _, a := range u.Profile.Addresses {
		j.Addresses = append(j.Addresses, renderAddress(a))
	}
	for _, g := range groups {
		j.Groups = append(j.Groups, multiJSON{Value: g.ID, Display: g.DisplayName, Type: "direct", Ref: base + "/Groups/" + g.ID})
	}
	if e := u.Enterprise; e != (account.Enterprise{}) {
		j.Schemas = append(j.Schemas, URNEnterprise)
		j.Enterprise = &enterpriseJSON{EmployeeNumber: e.EmployeeNumber, CostCenter: e.CostCenter,
			Organization: e.Organization, Division: e.Division, Department: e.Department}
		if e.Manager != "" {
			j.Enterprise.Manager = &managerJSON{Value: e.Manager, Ref: base + "/Users/" + e.Manager}
		}
	}
	// The smartgate extension is always rendered, so that a client sees
	// it exists (and a PATCH can address it).
	j.Schemas = append(j.Schemas, URNSmartUser)
	j.Smartgate = &smartUserJSON{FHIRUser: u.FHIRUser, Roles: u.Roles, Identities: renderIdentities(links)}
	return j
}
