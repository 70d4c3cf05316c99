package scim

import (
	"net/http"

	"github.com/smartgate/smartgate/account"
)

// groupJSON is a Group as SCIM sends and receives it (RFC 7643 §4.2) with
// smartgate's extension: the roles membership gives and the scope ceiling.
type groupJSON struct {
	Schemas     []string        `json:"schemas"`
	ID          string          `json:"id,omitempty"`
	ExternalID  string          `json:"externalId,omitempty"`
	DisplayName string          `json:"displayName"`
	Members     []memberJSON    `json:"members,omitempty"`
	Smartgate   *smartGroupJSON `json:"urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group,omitempty"`
	Meta        *metaJSON       `json:"meta,omitempty"`
}

type memberJSON struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Ref     string `json:"$ref,omitempty"`
	Type    string `json:"type,omitempty"`
}

type smartGroupJSON struct {
	Roles []string `json:"roles,omitempty"`
	// Ceiling is nil when the group sets none; [] is a ceiling that allows
	// nothing.
	Ceiling []string `json:"ceiling"`
}

// groupIn is a decoded Group body and whether it carried the extension.
type groupIn struct {
	group     account.Group
	smartgate bool
}

// decodeGroup decodes and checks a POST or PUT body.
func decodeGroup(data []byte) (*groupIn, error) {
	var j groupJSON
	if err := decodeStrict(data, &j); err != nil {
		return nil, err
	}
	if err := checkSchemas(j.Schemas, URNGroup, URNSmartGroup); err != nil {
		return nil, err
	}
	return j.toGroup()
}

func (j *groupJSON) toGroup() (*groupIn, error) {
	if j.DisplayName == "" {
		return nil, errorf(http.StatusBadRequest, typeInvalidValue, "displayName is required")
	}
	in := &groupIn{group: account.Group{DisplayName: j.DisplayName, ExternalID: j.ExternalID}, smartgate: j.Smartgate != nil}
	seen := map[string]bool{}
	for i, m := range j.Members {
		if m.Value == "" {
			return nil, errorf(http.StatusBadRequest, typeInvalidValue, "members[%d].value is required", i)
		}
		if m.Type != "" && m.Type != "User" {
			return nil, errorf(http.StatusBadRequest, typeInvalidValue, "members[%d]: only Users can be members (smartgate keeps no nested groups)", i)
		}
		if !seen[m.Value] {
			seen[m.Value] = true
			in.group.Members = append(in.group.Members, account.Member{Value: m.Value})
		}
	}
	if sg := j.Smartgate; sg != nil {
		for _, r := range sg.Roles {
			if !account.ValidRole(r) {
				return nil, errUnknownRole(r)
			}
			if !containsFold(in.group.Roles, r) {
				in.group.Roles = append(in.group.Roles, r)
			}
		}
		if sg.Ceiling != nil {
			if err := account.ValidateCeiling(sg.Ceiling); err != nil {
				return nil, errorf(http.StatusBadRequest, typeInvalidValue, "ceiling: %v", err)
			}
			in.group.Ceiling = append([]string{}, sg.Ceiling...)
		}
	}
	return in, nil
}

// renderGroup renders g; members are left out when g.Members is nil and
// withMembers is false (a list that did not ask for them).
func renderGroup(g *account.Group, base string) *groupJSON {
	j := &groupJSON{
		Schemas:     []string{URNGroup, URNSmartGroup},
		ID:          g.ID,
		ExternalID:  g.ExternalID,
		DisplayName: g.DisplayName,
		Smartgate:   &smartGroupJSON{Roles: g.Roles, Ceiling: g.Ceiling},
		Meta: &metaJSON{ResourceType: "Group", Created: timeString(g.Meta.Created), LastModified: timeString(g.Meta.LastModified),
			Version: etag(g.Meta.Version), Location: base + "/Groups/" + g.ID},
	}
	for _, m := range g.Members {
		j.Members = append(j.Members, memberJSON{Value: m.Value, Display: m.Display, Type: "User", Ref: base + "/Users/" + m.Value})
	}
	return j
}
