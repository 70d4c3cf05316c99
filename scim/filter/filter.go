// Package filter parses the SCIM query language of RFC 7644 against a
// schema: filters (§3.4.2.2) into account.Filter, which the store compiles
// to SQL; PATCH paths (§3.5.2) and sortBy / attributes paths into Path;
// and evaluates a filter on one value in memory (PATCH value filters).
package filter

import (
	"errors"

	"github.com/smartgate/smartgate/account"
)

// ErrInvalidFilter is wrapped by every error of Parse (SCIM invalidFilter);
// ErrInvalidPath by every error of ParsePath (SCIM invalidPath).
var (
	ErrInvalidFilter = errors.New("scim: invalid filter")
	ErrInvalidPath   = errors.New("scim: invalid path")
)

// Schema is the attribute table of a resource type (Users, Groups): names,
// types, case-exactness, multi-valued, mutability, returned.
type Schema struct{ name string }

// Users and Groups are the schemas of the two resource types.
var (
	Users  = &Schema{name: "User"}
	Groups = &Schema{name: "Group"}
)

// Path is a parsed attribute path: an attribute, optionally a value
// filter on a multi-valued one, and a sub-attribute. Attr and Sub are
// canonical (account.Filter's names without the parent: Attr "emails",
// Sub "value").
type Path struct {
	Attr   string         // canonical top-level path, e.g. "emails", "name", "enterprise.manager"
	Filter account.Filter // the [ … ] value filter, or nil
	Sub    string         // sub-attribute after the filter or dot, or ""
}

// Parse parses a filter against s.
func Parse(s *Schema, filter string) (account.Filter, error) { return nil, ErrInvalidFilter }

// ParsePath parses a PATCH path or a sortBy/attributes entry against s.
func ParsePath(s *Schema, path string) (Path, error) { return Path{}, ErrInvalidPath }
