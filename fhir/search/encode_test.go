package search

import (
	"net/url"
	"reflect"
	"testing"
)

// Values is how a query is sent on to an upstream FHIR server: whatever
// ParseQuery accepted must come back as the same query, or the upstream
// would be asked something else than what was decided on.
func TestQueryValuesRoundTrip(t *testing.T) {
	reg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ typ, query string }{
		{"Observation", "patient=Patient/1&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"},
		{"Observation", "code=http://loinc.org|1234-5,http://loinc.org|9999-9&date=ge2020-01-01&date=lt2021"},
		{"Observation", "subject:Patient.name=Smith&_sort=-date,code&_count=7&_total=none"},
		{"Observation", "subject.name=Smith"},
		{"Observation", "value-quantity=gt5.4|http://unitsofmeasure.org|mg&code:not=abc"},
		{"Observation", "subject:Patient=123&_include=Observation:subject&_revinclude:iterate=Provenance:target"},
		{"Observation", "_include=Observation:subject:Patient&_elements=status,code&_summary=data"},
		{"Patient", "name:contains=a\\,b&birthdate=1990&_id=a,b&gender:missing=false"},
		{"Patient", "identifier=urn:x|a\\|b&_lastUpdated=gt2024-01-01T00:00:00Z"},
		{"Encounter", "status=finished&date=ap2020-05"},
	} {
		t.Run(tc.typ+"?"+tc.query, func(t *testing.T) {
			params, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := reg.ParseQuery(tc.typ, params, false)
			if err != nil {
				t.Fatal(err)
			}
			again, err := reg.ParseQuery(tc.typ, q.Values(), false)
			if err != nil {
				t.Fatalf("Values %v does not parse: %v", q.Values(), err)
			}
			if !reflect.DeepEqual(q, again) {
				t.Errorf("round trip changed the query:\n  values %v\n  first  %+v\n  again  %+v", q.Values(), q, again)
			}
		})
	}
}

func TestQueryValuesLeavesOutIgnoredAndCursor(t *testing.T) {
	reg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	q, err := reg.ParseQuery("Observation", url.Values{"nonsense": {"1"}, "code": {"a"}, "_cursor": {"xyz"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	v := q.Values()
	if v.Has("nonsense") || v.Has("_cursor") || v.Get("code") != "a" {
		t.Errorf("Values = %v; want code only (plus _count)", v)
	}
}

func TestCompartmentParams(t *testing.T) {
	reg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.CompartmentParams("Observation"); !reflect.DeepEqual(got, []string{"subject", "performer"}) {
		t.Errorf("Observation = %v; want [subject performer] (R4 CompartmentDefinition patient)", got)
	}
	if got := reg.CompartmentParams("Organization"); len(got) != 0 {
		t.Errorf("Organization = %v; want none", got)
	}
	got := reg.CompartmentParams("Observation")
	got[0] = "changed"
	if reg.CompartmentParams("Observation")[0] != "subject" {
		t.Error("CompartmentParams returned the registry's own slice")
	}
}
