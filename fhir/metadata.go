package fhir

import (
	"net/http"
	"sort"
)

// oauthURIsExtension is the SMART extension on
// CapabilityStatement.rest.security.
const oauthURIsExtension = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

// handleMetadata serves the CapabilityStatement. It is generated from the
// registry and the interactions implemented here, and needs no token.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, http.StatusOK, s.capabilityStatement(r))
	return nil
}

var implementedInteractions = []Interaction{
	InteractionRead, InteractionVRead, InteractionUpdate, InteractionDelete,
	InteractionHistoryInstance, InteractionHistoryType, InteractionCreate, InteractionSearchType,
}

func (s *Server) capabilityStatement(r *http.Request) map[string]any {
	base := s.baseURL(r)
	var resources []any
	for _, t := range s.reg.Types() {
		var inter []any
		for _, i := range implementedInteractions {
			inter = append(inter, map[string]any{"code": string(i)})
		}
		var params []any
		var includes []string
		for _, p := range s.reg.Params(t) {
			sp := map[string]any{"name": p.Code, "type": string(p.Type)}
			if p.Definition != "" {
				sp["definition"] = p.Definition
			}
			params = append(params, sp)
			if p.Type == "reference" {
				includes = append(includes, t+":"+p.Code)
			}
		}
		sort.Strings(includes)
		res := map[string]any{
			"type":              t,
			"profile":           "http://hl7.org/fhir/StructureDefinition/" + t,
			"interaction":       inter,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": true,
			"conditionalRead":   "not-match",
			"conditionalUpdate": true,
			"conditionalDelete": "single",
			"searchParam":       params,
		}
		if len(includes) > 0 {
			res["searchInclude"] = includes
		}
		resources = append(resources, res)
	}
	// _revinclude: the reference parameters that may point to each type.
	rev := map[string][]string{}
	for _, t := range s.reg.Types() {
		for _, p := range s.reg.Params(t) {
			if p.Type == "reference" {
				for _, target := range p.Targets {
					rev[target] = append(rev[target], t+":"+p.Code)
				}
			}
		}
	}
	for _, r := range resources {
		m := r.(map[string]any)
		if l := rev[m["type"].(string)]; len(l) > 0 {
			sort.Strings(l)
			m["searchRevInclude"] = l
		}
	}
	security := map[string]any{
		"cors": true,
		"service": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR",
		}}, "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)"}},
	}
	if s.cfg.SecurityDescription != nil {
		if d := s.cfg.SecurityDescription(r); d != "" {
			security["description"] = d
		}
	}
	if s.cfg.OAuthURIs != nil {
		uris := s.cfg.OAuthURIs(r)
		keys := make([]string, 0, len(uris))
		for k := range uris {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ext []any
		for _, k := range keys {
			ext = append(ext, map[string]any{"url": k, "valueUri": uris[k]})
		}
		security["extension"] = []any{map[string]any{"url": oauthURIsExtension, "extension": ext}}
	}
	version := s.cfg.SoftwareVersion
	if version == "" {
		version = "dev"
	}
	return map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-01-01",
		"publisher":    "smartgate",
		"kind":         "instance",
		"software":     map[string]any{"name": "smartgate", "version": version},
		"implementation": map[string]any{
			"description": "smartgate embedded FHIR R4 server",
			"url":         base,
		},
		"fhirVersion": "4.0.1",
		"format":      []any{"application/fhir+json", "json"},
		"rest": []any{map[string]any{
			"mode":     "server",
			"security": security,
			"resource": resources,
			"interaction": []any{map[string]any{"code": "transaction"}, map[string]any{"code": "batch"},
				map[string]any{"code": "history-system"}},
			"searchParam": []any{
				map[string]any{"name": "_count", "type": "number"},
				map[string]any{"name": "_sort", "type": "string"},
				map[string]any{"name": "_summary", "type": "token", "documentation": "count, data and false; " +
					"true and text are not supported (400): the server keeps no list of summary elements"},
				map[string]any{"name": "_elements", "type": "string"},
			},
		}},
	}
}
