// Package schema is the one attribute table of smartgate's SCIM resource
// types (RFC 7643): the core User with the enterprise and smartgate
// extensions, and the core Group with the smartgate Group extension. The
// filter parser, the PATCH engine and the /Schemas and /ResourceTypes
// documents all read it; nothing else describes an attribute.
//
// The table lists the attributes smartgate keeps, not every attribute of
// the RFC: core User attributes such as addresses, ims, photos,
// entitlements, roles (the core complex one) and x509Certificates are
// absent, so a request naming them is refused as unknown.
package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Type is an attribute's data type (RFC 7643 §2.3).
type Type string

// The data types of RFC 7643 §2.3.
const (
	String    Type = "string"
	Boolean   Type = "boolean"
	Decimal   Type = "decimal"
	Integer   Type = "integer"
	DateTime  Type = "dateTime"
	Binary    Type = "binary"
	Reference Type = "reference"
	Complex   Type = "complex"
)

// Mutability says whether and how an attribute may change (RFC 7643 §2.2).
type Mutability string

// The mutability values of RFC 7643 §2.2.
const (
	ReadOnly  Mutability = "readOnly"
	ReadWrite Mutability = "readWrite"
	Immutable Mutability = "immutable"
	WriteOnly Mutability = "writeOnly"
)

// Returned says when an attribute is returned (RFC 7643 §2.2).
type Returned string

// The returned values of RFC 7643 §2.2.
const (
	Always    Returned = "always"
	Never     Returned = "never"
	ByDefault Returned = "default"
	OnRequest Returned = "request"
)

// Uniqueness is an attribute's uniqueness (RFC 7643 §2.2).
type Uniqueness string

// The uniqueness values of RFC 7643 §2.2.
const (
	None   Uniqueness = "none"
	Server Uniqueness = "server"
	Global Uniqueness = "global"
)

// The schema URNs.
const (
	UserURN            = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupURN           = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserURN  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SmartgateUserURN   = "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"
	SmartgateGroupURN  = "urn:ietf:params:scim:schemas:extension:smartgate:2.0:Group"
	SchemaURN          = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	ResourceTypeURN    = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	ListResponseURN    = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpURN         = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	ErrorURN           = "urn:ietf:params:scim:api:messages:2.0:Error"
	SearchRequestURN   = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	ServiceProviderURN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
)

// ErrUnknown is wrapped by every error of Lookup and Sub: the resource
// type has no such attribute.
var ErrUnknown = errors.New("schema: unknown attribute")

// Attribute is one attribute definition (RFC 7643 §7), marshalled as the
// Schemas endpoint serves it.
type Attribute struct {
	Name            string      `json:"name"`
	Type            Type        `json:"type"`
	MultiValued     bool        `json:"multiValued"`
	Description     string      `json:"description"`
	Required        bool        `json:"required"`
	CanonicalValues []string    `json:"canonicalValues,omitempty"`
	CaseExact       bool        `json:"caseExact"`
	Mutability      Mutability  `json:"mutability"`
	Returned        Returned    `json:"returned"`
	Uniqueness      Uniqueness  `json:"uniqueness"`
	ReferenceTypes  []string    `json:"referenceTypes,omitempty"`
	SubAttributes   []Attribute `json:"subAttributes,omitempty"`
	// Filterable says the store can filter and sort on the attribute
	// (the canonical paths of account.Filter).
	Filterable bool `json:"-"`
}

// Sub returns the sub-attribute named name (case-insensitively), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	for i := range a.SubAttributes {
		if strings.EqualFold(a.SubAttributes[i].Name, name) {
			return &a.SubAttributes[i]
		}
	}
	return nil
}

// Schema is one schema URN and its attributes.
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []Attribute
	// Alias prefixes the canonical paths of an extension's attributes
	// ("enterprise", "smartgate"); "" for the core schema.
	Alias string
	// Required is true when every resource must carry the extension.
	Required bool
}

func (s *Schema) attr(name string) *Attribute {
	for i := range s.Attributes {
		if strings.EqualFold(s.Attributes[i].Name, name) {
			return &s.Attributes[i]
		}
	}
	return nil
}

// Resource is a resource type: its core schema, the common attributes
// (id, externalId, meta; RFC 7643 §3.1) and its extensions.
type Resource struct {
	Name        string // "User"
	Endpoint    string // "/Users"
	Description string
	Common      []Attribute
	Core        Schema
	Extensions  []Schema
}

// Found is a resolved attribute path.
type Found struct {
	Attribute *Attribute // the attribute named (the sub-attribute, if any)
	Parent    *Attribute // the complex attribute holding it, or nil
	Schema    *Schema    // the schema defining it
	// Path is the canonical path of account.Filter: "userName",
	// "emails.value", "enterprise.manager.value", "smartgate.roles".
	Path string
	// Top is the canonical path of the top-level attribute ("emails",
	// "enterprise.manager").
	Top string
}

// Extension returns the extension schema with the URN id
// (case-insensitively).
func (r *Resource) Extension(id string) (*Schema, bool) {
	for i := range r.Extensions {
		if strings.EqualFold(r.Extensions[i].ID, id) {
			return &r.Extensions[i], true
		}
	}
	return nil, false
}

// URNs returns the core schema's URN followed by the extensions'.
func (r *Resource) URNs() []string {
	ids := []string{r.Core.ID}
	for _, e := range r.Extensions {
		ids = append(ids, e.ID)
	}
	return ids
}

// Lookup resolves an attribute path, "attr" or "attr.sub", optionally
// prefixed by its schema URN ("urn:…:core:2.0:User:userName",
// "urn:…:enterprise:2.0:User:manager.value"). Names are compared
// case-insensitively (RFC 7643 §2.1). Extension attributes must carry
// their URN.
func (r *Resource) Lookup(path string) (Found, error) {
	s, rest := r.splitURN(path)
	if rest == "" {
		return Found{}, fmt.Errorf("%w: %q", ErrUnknown, path)
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	f, err := r.top(s, name)
	if err != nil {
		return Found{}, fmt.Errorf("%w: %q", ErrUnknown, path)
	}
	if !hasSub {
		return f, nil
	}
	return r.Sub(f, sub)
}

// Sub resolves the sub-attribute name of the complex attribute f.
func (r *Resource) Sub(f Found, name string) (Found, error) {
	if f.Parent != nil || f.Attribute.Type != Complex {
		return Found{}, fmt.Errorf("%w: %s has no sub-attribute %q", ErrUnknown, f.Path, name)
	}
	a := f.Attribute.Sub(name)
	if a == nil {
		return Found{}, fmt.Errorf("%w: %s.%s", ErrUnknown, f.Path, name)
	}
	return Found{Attribute: a, Parent: f.Attribute, Schema: f.Schema, Path: f.Path + "." + a.Name, Top: f.Top}, nil
}

// splitURN splits a leading schema URN off path; s is nil for a path
// without one (the core schema and the common attributes).
func (r *Resource) splitURN(path string) (*Schema, string) {
	if len(path) < 4 || !strings.EqualFold(path[:4], "urn:") {
		return nil, path
	}
	var best *Schema
	for _, s := range append([]*Schema{&r.Core}, r.extensionPtrs()...) {
		n := len(s.ID)
		if len(path) >= n && strings.EqualFold(path[:n], s.ID) && (len(path) == n || path[n] == ':') {
			if best == nil || n > len(best.ID) {
				best = s
			}
		}
	}
	if best == nil {
		return &Schema{}, "" // an unknown URN names nothing
	}
	return best, strings.TrimPrefix(path[len(best.ID):], ":")
}

func (r *Resource) extensionPtrs() []*Schema {
	p := make([]*Schema, len(r.Extensions))
	for i := range r.Extensions {
		p[i] = &r.Extensions[i]
	}
	return p
}

func (r *Resource) top(s *Schema, name string) (Found, error) {
	if s == nil || s == &r.Core {
		for i := range r.Common {
			if strings.EqualFold(r.Common[i].Name, name) {
				return Found{Attribute: &r.Common[i], Schema: &r.Core, Path: r.Common[i].Name, Top: r.Common[i].Name}, nil
			}
		}
		s = &r.Core
	}
	a := s.attr(name)
	if a == nil {
		return Found{}, ErrUnknown
	}
	p := a.Name
	if s.Alias != "" {
		p = s.Alias + "." + a.Name
	}
	return Found{Attribute: a, Schema: s, Path: p, Top: p}, nil
}
