package fhir

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// oauthURIsExtension is the SMART extension on
// CapabilityStatement.rest.security.
const oauthURIsExtension = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

// handleMetadata serves the CapabilityStatement. It is generated from the
// registry and the interactions implemented here, and needs no token.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) error {
	cs := s.capabilityStatement(r)
	if src, ok := s.st.(CapabilitySource); ok {
		if up, err := src.Capability(r.Context()); err == nil {
			narrowToUpstream(cs, up)
		} else {
			s.logger.WarnContext(r.Context(), "fhir: the upstream's CapabilityStatement", "err", err)
		}
	}
	s.localCapabilities(cs)
	s.writeJSON(w, http.StatusOK, cs)
	return nil
}

// CapabilitySource is a Store with a CapabilityStatement of its own (an
// upstream FHIR server, package fhir/upstream). /metadata is then the
// endpoint's statement narrowed to what the upstream offers too: types,
// interactions and search parameters both have; security stays the
// endpoint's (SMART, its oauth-uris). When the upstream's cannot be had,
// the endpoint's own is served.
type CapabilitySource interface {
	Capability(ctx context.Context) (map[string]any, error)
}

// narrowToUpstream keeps in cs (this endpoint's statement) only what up
// (the upstream's) offers as well, and names the upstream's software.
func narrowToUpstream(cs, up map[string]any) {
	rest, _ := cs["rest"].([]any)
	upRests, _ := up["rest"].([]any)
	var upRest map[string]any
	for _, r := range upRests {
		if m, _ := r.(map[string]any); m["mode"] == "server" {
			upRest = m
		}
	}
	if len(rest) == 0 || upRest == nil {
		return
	}
	ours := rest[0].(map[string]any)
	upTypes := map[string]map[string]any{}
	for _, r := range asList(upRest["resource"]) {
		if m, ok := r.(map[string]any); ok {
			if t, _ := m["type"].(string); t != "" {
				upTypes[t] = m
			}
		}
	}
	var kept []any
	for _, r := range asList(ours["resource"]) {
		m := r.(map[string]any)
		u := upTypes[m["type"].(string)]
		if u == nil {
			continue
		}
		m["interaction"] = intersectBy(m["interaction"], u["interaction"], "code")
		m["searchParam"] = intersectBy(m["searchParam"], u["searchParam"], "name")
		kept = append(kept, m)
	}
	ours["resource"] = kept
	ours["interaction"] = intersectBy(ours["interaction"], upRest["interaction"], "code")
	if sw, ok := up["software"].(map[string]any); ok {
		name, _ := sw["name"].(string)
		version, _ := sw["version"].(string)
		impl := cs["implementation"].(map[string]any)
		impl["description"] = strings.TrimSpace("smartgate enforcing SMART scopes in front of " + name + " " + version)
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// intersectBy keeps the elements of ours whose key also names an element
// of theirs; all of ours when theirs lists none (a statement that leaves a
// list out says nothing about it).
func intersectBy(ours, theirs any, key string) []any {
	if len(asList(theirs)) == 0 {
		return asList(ours)
	}
	have := map[string]bool{}
	for _, e := range asList(theirs) {
		if m, ok := e.(map[string]any); ok {
			if k, _ := m[key].(string); k != "" {
				have[k] = true
			}
		}
	}
	var out []any
	for _, e := range asList(ours) {
		if m, ok := e.(map[string]any); ok && have[fmt.Sprint(m[key])] {
			out = append(out, e)
		}
	}
	return out
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
