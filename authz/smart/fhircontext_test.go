package smart_test

import (
	"encoding/json"
	"testing"

	"github.com/smartgate/smartgate/authz/smart"
)

// TestE7_FHIRContext proves checklist E7: the shape of fhirContext items in
// SMART 2.2 token responses. Items are written as JSON, as a token response
// carries them.
func TestE7_FHIRContext(t *testing.T) {
	for _, tc := range []struct {
		name, items string
		ok          bool
	}{
		{"absent", `null`, true},
		{"empty", `[]`, true},
		{"reference", `[{"reference":"DiagnosticReport/123"}]`, true},
		{"reference with type and role", `[{"reference":"List/123","type":"List","role":"https://example.org/med-list-at-home"},{"reference":"List/456","role":"https://example.org/med-list-at-hospital"}]`, true},
		{"canonical", `[{"canonical":"http://example.org/fhir/Questionnaire/phq-9|1.0.0","type":"Questionnaire"}]`, true},
		{"canonical without version", `[{"canonical":"https://example.org/Questionnaire/phq-9"}]`, true},
		{"identifier", `[{"identifier":{"system":"urn:oid:1.2.3","value":"abc"},"type":"ServiceRequest"}]`, true},
		{"role launch", `[{"reference":"ImagingStudy/1","role":"launch"}]`, true},
		{"urn role", `[{"reference":"ImagingStudy/1","role":"urn:example:role"}]`, true},
		{"Patient with a real role", `[{"reference":"Patient/456","role":"https://example.org/referring-patient"}]`, true},

		{"nothing to point at", `[{"type":"Observation"}]`, false},
		{"empty object", `[{}]`, false},
		{"absolute reference", `[{"reference":"http://example.org/fhir/Observation/1"}]`, false},
		{"reference without id", `[{"reference":"Observation"}]`, false},
		{"reference with bad id", `[{"reference":"Observation/a_b"}]`, false},
		{"reference with bad type", `[{"reference":"observation/1"}]`, false},
		{"reference not a string", `[{"reference":{"reference":"Observation/1"}}]`, false},
		{"empty reference", `[{"reference":""}]`, false},
		{"relative canonical", `[{"canonical":"Questionnaire/phq-9"}]`, false},
		{"canonical not Type/id", `[{"canonical":"http://example.org/phq-9"}]`, false},
		{"identifier not an object", `[{"identifier":"abc"}]`, false},
		{"identifier empty", `[{"identifier":{}}]`, false},
		{"bad type", `[{"reference":"Observation/1","type":"observation"}]`, false},
		{"type disagrees with reference", `[{"reference":"Observation/1","type":"Condition"}]`, false},
		{"empty role", `[{"reference":"Observation/1","role":""}]`, false},
		{"relative role", `[{"reference":"Observation/1","role":"med-list"}]`, false},
		{"Patient in fhirContext", `[{"reference":"Patient/123"}]`, false},
		{"Encounter in fhirContext", `[{"reference":"Encounter/9"}]`, false},
		{"Encounter with launch role", `[{"reference":"Encounter/9","role":"launch"}]`, false},
		{"Patient by identifier and type", `[{"identifier":{"value":"x"},"type":"Patient"}]`, false},
		{"second item bad", `[{"reference":"Observation/1"},{"reference":"Patient/1"}]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var items []map[string]any
			if err := json.Unmarshal([]byte(tc.items), &items); err != nil {
				t.Fatal(err)
			}
			err := smart.ValidFHIRContext(items)
			if (err == nil) != tc.ok {
				t.Errorf("ValidFHIRContext(%s) = %v, want ok=%v", tc.items, err, tc.ok)
			}
		})
	}
}
