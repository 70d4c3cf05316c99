package rowmap

import (
	"encoding/json"
	"fmt"

	"github.com/smartgate/smartgate/account"
)

// userAttrs is the JSON form of the users.attrs column: the SCIM attributes
// kept but rarely filtered on (migration 0012), the same bytes in both
// stores. The keys are the paths the filter compiler reads
// (store/internal/scimsql, Users); an absent key is an empty value.
type userAttrs struct {
	MiddleName        string          `json:"middleName,omitempty"`
	HonorificPrefix   string          `json:"honorificPrefix,omitempty"`
	HonorificSuffix   string          `json:"honorificSuffix,omitempty"`
	NickName          string          `json:"nickName,omitempty"`
	ProfileURL        string          `json:"profileUrl,omitempty"`
	Title             string          `json:"title,omitempty"`
	UserType          string          `json:"userType,omitempty"`
	PreferredLanguage string          `json:"preferredLanguage,omitempty"`
	Locale            string          `json:"locale,omitempty"`
	Timezone          string          `json:"timezone,omitempty"`
	Enterprise        *enterpriseJSON `json:"enterprise,omitempty"`
	Addresses         []addressJSON   `json:"addresses,omitempty"`
}

// addressJSON is one of a person's addresses (account.Address); they are
// not filterable, so no query reads these keys.
type addressJSON struct {
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"streetAddress,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postalCode,omitempty"`
	Country       string `json:"country,omitempty"`
	Type          string `json:"type,omitempty"`
	Primary       bool   `json:"primary,omitempty"`
}

type enterpriseJSON struct {
	EmployeeNumber string `json:"employeeNumber,omitempty"`
	CostCenter     string `json:"costCenter,omitempty"`
	Organization   string `json:"organization,omitempty"`
	Division       string `json:"division,omitempty"`
	Department     string `json:"department,omitempty"`
	Manager        string `json:"manager,omitempty"`
}

// EncodeUserAttrs is the users.attrs column of u.
func EncodeUserAttrs(u *account.User) (string, error) {
	p := u.Profile
	a := userAttrs{MiddleName: p.MiddleName, HonorificPrefix: p.HonorificPrefix, HonorificSuffix: p.HonorificSuffix,
		NickName: p.NickName, ProfileURL: p.ProfileURL, Title: p.Title, UserType: p.UserType,
		PreferredLanguage: p.PreferredLanguage, Locale: p.Locale, Timezone: p.Timezone}
	if e := u.Enterprise; e != (account.Enterprise{}) {
		a.Enterprise = &enterpriseJSON{EmployeeNumber: e.EmployeeNumber, CostCenter: e.CostCenter,
			Organization: e.Organization, Division: e.Division, Department: e.Department, Manager: e.Manager}
	}
	for _, ad := range p.Addresses {
		a.Addresses = append(a.Addresses, addressJSON(ad))
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode attributes: %w", err)
	}
	return string(b), nil
}

// DecodeUserAttrs sets the attributes of u that the users.attrs column s
// holds.
func DecodeUserAttrs(s string, u *account.User) error {
	var a userAttrs
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return fmt.Errorf("decode attributes of user %q: %w", u.ID, err)
	}
	u.Profile = account.Profile{MiddleName: a.MiddleName, HonorificPrefix: a.HonorificPrefix, HonorificSuffix: a.HonorificSuffix,
		NickName: a.NickName, ProfileURL: a.ProfileURL, Title: a.Title, UserType: a.UserType,
		PreferredLanguage: a.PreferredLanguage, Locale: a.Locale, Timezone: a.Timezone}
	if e := a.Enterprise; e != nil {
		u.Enterprise = account.Enterprise{EmployeeNumber: e.EmployeeNumber, CostCenter: e.CostCenter,
			Organization: e.Organization, Division: e.Division, Department: e.Department, Manager: e.Manager}
	}
	for _, ad := range a.Addresses {
		u.Profile.Addresses = append(u.Profile.Addresses, account.Address(ad))
	}
	return nil
}
