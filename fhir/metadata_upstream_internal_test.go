package fhir

import (
	"slices"
	"testing"
)

// In proxy mode /metadata offers only what both the endpoint enforces and
// the upstream serves; security stays the endpoint's.
func TestNarrowToUpstream(t *testing.T) {
	cs := map[string]any{
		"implementation": map[string]any{"description": "smartgate embedded FHIR R4 server"},
		"rest": []any{map[string]any{"mode": "server", "security": map[string]any{"cors": true},
			"interaction": []any{map[string]any{"code": "transaction"}, map[string]any{"code": "batch"}},
			"resource": []any{
				map[string]any{"type": "Patient", "interaction": []any{map[string]any{"code": "read"}, map[string]any{"code": "delete"}},
					"searchParam": []any{map[string]any{"name": "name"}, map[string]any{"name": "birthdate"}}},
				map[string]any{"type": "Observation", "interaction": []any{map[string]any{"code": "read"}},
					"searchParam": []any{map[string]any{"name": "code"}}},
				map[string]any{"type": "Basic", "interaction": []any{map[string]any{"code": "read"}}},
			}}},
	}
	up := map[string]any{
		"software": map[string]any{"name": "HAPI FHIR", "version": "7.0"},
		"rest": []any{map[string]any{"mode": "server", "security": map[string]any{"description": "the upstream's own"},
			"interaction": []any{map[string]any{"code": "batch"}},
			"resource": []any{
				map[string]any{"type": "Patient", "interaction": []any{map[string]any{"code": "read"}, map[string]any{"code": "search-type"}},
					"searchParam": []any{map[string]any{"name": "name"}}},
				map[string]any{"type": "Observation"}, // lists nothing: says nothing
			}}},
	}
	narrowToUpstream(cs, up)
	rest := cs["rest"].([]any)[0].(map[string]any)
	var types []string
	for _, r := range rest["resource"].([]any) {
		types = append(types, r.(map[string]any)["type"].(string))
	}
	if !slices.Equal(types, []string{"Patient", "Observation"}) {
		t.Errorf("types %v; want Patient, Observation (Basic is not upstream)", types)
	}
	p := rest["resource"].([]any)[0].(map[string]any)
	if got := len(p["interaction"].([]any)); got != 1 {
		t.Errorf("Patient interactions %v; want read only", p["interaction"])
	}
	if got := len(p["searchParam"].([]any)); got != 1 {
		t.Errorf("Patient search params %v; want name only", p["searchParam"])
	}
	if o := rest["resource"].([]any)[1].(map[string]any); len(o["interaction"].([]any)) != 1 || len(o["searchParam"].([]any)) != 1 {
		t.Errorf("Observation: an upstream that lists nothing removed %v", o)
	}
	if len(rest["interaction"].([]any)) != 1 {
		t.Errorf("system interactions %v; want batch only", rest["interaction"])
	}
	if rest["security"].(map[string]any)["description"] != nil {
		t.Error("the upstream's security replaced the endpoint's")
	}
	if d := cs["implementation"].(map[string]any)["description"]; d != "smartgate enforcing SMART scopes in front of HAPI FHIR 7.0" {
		t.Errorf("description %q", d)
	}
}
