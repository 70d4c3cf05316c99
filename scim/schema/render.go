package schema

import "strings"

// Meta is the meta attribute of a Schema or ResourceType document.
type Meta struct {
	ResourceType string `json:"resourceType"`
	Location     string `json:"location"`
}

// SchemaDocument is one schema as /Schemas serves it (RFC 7643 §7).
type SchemaDocument struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Attributes  []Attribute `json:"attributes"`
	Meta        Meta        `json:"meta"`
}

// SchemaExtension names an extension of a resource type.
type SchemaExtension struct {
	Schema   string `json:"schema"`
	Required bool   `json:"required"`
}

// ResourceTypeDocument is a resource type as /ResourceTypes serves it
// (RFC 7643 §6).
type ResourceTypeDocument struct {
	Schemas          []string          `json:"schemas"`
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Endpoint         string            `json:"endpoint"`
	Description      string            `json:"description"`
	Schema           string            `json:"schema"`
	SchemaExtensions []SchemaExtension `json:"schemaExtensions"`
	Meta             Meta              `json:"meta"`
}

// SchemaDocuments renders the core schema and the extensions of r, with
// locations under base (the SCIM root, e.g. "https://h/scim/v2"). The
// common attributes (id, externalId, meta) are not listed, as in RFC 7643
// §8.7.1.
func (r *Resource) SchemaDocuments(base string) []SchemaDocument {
	base = strings.TrimSuffix(base, "/")
	docs := make([]SchemaDocument, 0, 1+len(r.Extensions))
	for _, s := range append([]*Schema{&r.Core}, r.extensionPtrs()...) {
		docs = append(docs, SchemaDocument{
			Schemas:     []string{SchemaURN},
			ID:          s.ID,
			Name:        s.Name,
			Description: s.Description,
			Attributes:  s.Attributes,
			Meta:        Meta{ResourceType: "Schema", Location: base + "/Schemas/" + s.ID},
		})
	}
	return docs
}

// ResourceType renders r's ResourceType document with locations under
// base.
func (r *Resource) ResourceType(base string) ResourceTypeDocument {
	base = strings.TrimSuffix(base, "/")
	ext := make([]SchemaExtension, 0, len(r.Extensions))
	for _, e := range r.Extensions {
		ext = append(ext, SchemaExtension{Schema: e.ID, Required: e.Required})
	}
	return ResourceTypeDocument{
		Schemas:          []string{ResourceTypeURN},
		ID:               r.Name,
		Name:             r.Name,
		Endpoint:         r.Endpoint,
		Description:      r.Description,
		Schema:           r.Core.ID,
		SchemaExtensions: ext,
		Meta:             Meta{ResourceType: "ResourceType", Location: base + "/ResourceTypes/" + r.Name},
	}
}

// Resources returns every resource type smartgate serves, User first.
func Resources() []*Resource { return []*Resource{User(), Group()} }
