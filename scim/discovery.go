package scim

import (
	"net/http"
	"strings"

	"github.com/smartgate/smartgate/scim/schema"
)

// The discovery documents (RFC 7644 §4, RFC 7643 §5–§7) are public: they
// describe the server, never a person, and provisioning clients read them
// before they hold a token.

type supported struct {
	Supported bool `json:"supported"`
}

type bulkConfig struct {
	Supported      bool `json:"supported"`
	MaxOperations  int  `json:"maxOperations"`
	MaxPayloadSize int  `json:"maxPayloadSize"`
}

type filterConfig struct {
	Supported  bool `json:"supported"`
	MaxResults int  `json:"maxResults"`
}

type authScheme struct {
	Type             string `json:"type"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	SpecURI          string `json:"specUri"`
	Primary          bool   `json:"primary"`
	DocumentationURI string `json:"documentationUri,omitempty"`
}

type serviceProviderConfig struct {
	Schemas               []string     `json:"schemas"`
	DocumentationURI      string       `json:"documentationUri,omitempty"`
	Patch                 supported    `json:"patch"`
	Bulk                  bulkConfig   `json:"bulk"`
	Filter                filterConfig `json:"filter"`
	ChangePassword        supported    `json:"changePassword"`
	Sort                  supported    `json:"sort"`
	ETag                  supported    `json:"etag"`
	AuthenticationSchemes []authScheme `json:"authenticationSchemes"`
	Meta                  schema.Meta  `json:"meta"`
}

func (s *Server) serviceProviderConfig(q *request) error {
	base := s.baseURL(q)
	return writeJSON(q.w, http.StatusOK, serviceProviderConfig{
		Schemas:        []string{schema.ServiceProviderURN},
		Patch:          supported{true},
		Bulk:           bulkConfig{Supported: false},
		Filter:         filterConfig{Supported: true, MaxResults: s.cfg.MaxResults},
		ChangePassword: supported{true},
		Sort:           supported{true},
		ETag:           supported{true},
		AuthenticationSchemes: []authScheme{{
			Type:        "oauthbearertoken",
			Name:        "OAuth Bearer Token",
			Description: "A bearer token with the scim scope (client_credentials), an administrator's access token, or a provisioning token issued on the clients page.",
			SpecURI:     "https://www.rfc-editor.org/rfc/rfc6750",
			Primary:     true,
		}},
		Meta: schema.Meta{ResourceType: "ServiceProviderConfig", Location: base + "/ServiceProviderConfig"},
	})
}

// resourceTypes lists the resource types (RFC 7644 §4: a ListResponse).
func (s *Server) resourceTypes(q *request) error {
	base := s.baseURL(q)
	var res []any
	for _, r := range schema.Resources() {
		res = append(res, r.ResourceType(base))
	}
	return writeJSON(q.w, http.StatusOK, listResponse{Schemas: []string{URNListResponse}, TotalResults: len(res),
		StartIndex: 1, ItemsPerPage: len(res), Resources: res})
}

func (s *Server) resourceType(q *request) error {
	for _, r := range schema.Resources() {
		if strings.EqualFold(r.Name, q.seg[1]) {
			return writeJSON(q.w, http.StatusOK, r.ResourceType(s.baseURL(q)))
		}
	}
	return errorf(http.StatusNotFound, "", "no resource type %q", q.seg[1])
}

// schemaDocs are every schema of every resource type, each once.
func schemaDocs(base string) []schema.SchemaDocument {
	var docs []schema.SchemaDocument
	for _, r := range schema.Resources() {
		docs = append(docs, r.SchemaDocuments(base)...)
	}
	return docs
}

func (s *Server) schemas(q *request) error {
	docs := schemaDocs(s.baseURL(q))
	res := make([]any, len(docs))
	for i := range docs {
		res[i] = docs[i]
	}
	return writeJSON(q.w, http.StatusOK, listResponse{Schemas: []string{URNListResponse}, TotalResults: len(res),
		StartIndex: 1, ItemsPerPage: len(res), Resources: res})
}

func (s *Server) schema(q *request) error {
	for _, d := range schemaDocs(s.baseURL(q)) {
		if strings.EqualFold(d.ID, q.seg[1]) {
			return writeJSON(q.w, http.StatusOK, d)
		}
	}
	return errorf(http.StatusNotFound, "", "no schema %q", q.seg[1])
}
