package explain

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smartgate/smartgate/fhir"
)

func TestParseRequestLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Line
	}{
		{"GET /fhir/Observation/123", Line{Method: "GET", Interaction: fhir.InteractionRead, Type: "Observation", ID: "123"}},
		{"  get  /fhir/Observation/123  HTTP/1.1 ", Line{Method: "GET", Interaction: fhir.InteractionRead, Type: "Observation", ID: "123"}},
		{"GET https://ehr.example/fhir/Patient/p-1", Line{Method: "GET", Interaction: fhir.InteractionRead, Type: "Patient", ID: "p-1"}},
		{"GET Patient/p-1", Line{Method: "GET", Interaction: fhir.InteractionRead, Type: "Patient", ID: "p-1"}},
		{"GET /fhir/Observation?patient=X&category=laboratory", Line{Method: "GET", Interaction: fhir.InteractionSearchType, Type: "Observation", Query: "patient=X&category=laboratory"}},
		{"POST /fhir/Observation/_search", Line{Method: "POST", Interaction: fhir.InteractionSearchType, Type: "Observation"}},
		{"POST /fhir/Observation", Line{Method: "POST", Interaction: fhir.InteractionCreate, Type: "Observation"}},
		{"PUT /fhir/Observation/1", Line{Method: "PUT", Interaction: fhir.InteractionUpdate, Type: "Observation", ID: "1"}},
		{"DELETE /fhir/Observation/1", Line{Method: "DELETE", Interaction: fhir.InteractionDelete, Type: "Observation", ID: "1"}},
		{"GET /fhir/Observation/_history", Line{Method: "GET", Interaction: fhir.InteractionHistoryType, Type: "Observation"}},
		{"GET /fhir/Observation/1/_history", Line{Method: "GET", Interaction: fhir.InteractionHistoryInstance, Type: "Observation", ID: "1"}},
		{"GET /fhir/Observation/1/_history/3", Line{Method: "GET", Interaction: fhir.InteractionVRead, Type: "Observation", ID: "1", Version: 3}},
		{"GET /fhir/_history", Line{Method: "GET", Interaction: fhir.InteractionHistorySystem}},
	} {
		got, err := ParseRequestLine(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if again, err := ParseRequestLine(got.String()); err != nil || again != got {
			t.Errorf("%q: String %q parses to %+v, %v", tc.in, got.String(), again, err)
		}
	}
	for _, in := range []string{"", "GET", "GET /fhir/Patient/1 HTTP/1.1 extra", "PATCH /fhir/Patient/1", "GET /admin/users",
		"GET /fhir/", "GET /fhir/patient/1", "GET /fhir/Patient/a_b", "GET /fhir/Patient/1/_history/0", "GET /fhir/Patient/1/x",
		"POST /fhir/Patient/1", "GET ftp://x/fhir/Patient/1", "GET /fhir/Patient/1\nGET /fhir/Patient/2", "GET %zz",
		"GET /fhir/Patient/1/_history/1/x", "DELETE /fhir/_history", "GET /" + strings.Repeat("a", maxLine)} {
		if l, err := ParseRequestLine(in); err == nil {
			t.Errorf("%q parsed: %+v", in, l)
		}
	}
}

// FuzzParseRequestLine: any input either is refused or gives a line whose
// canonical form parses back to itself, with a valid type and id.
func FuzzParseRequestLine(f *testing.F) {
	for _, s := range []string{"GET /fhir/Observation/123", "GET /fhir/Observation?patient=X", "POST /fhir/Observation/_search",
		"GET /fhir/Observation/1/_history/3", "GET /fhir/_history", "GET https://h/fhir/Patient/1 HTTP/1.1", "PUT Patient/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseRequestLine(s)
		if err != nil {
			if !utf8.ValidString(err.Error()) && utf8.ValidString(s) {
				t.Fatalf("invalid message %q", err)
			}
			return
		}
		if l.Interaction == "" {
			t.Fatalf("%q: no interaction: %+v", s, l)
		}
		again, err := ParseRequestLine(l.String())
		if err != nil || again != l {
			t.Fatalf("%q: %+v, canonical %q parses to %+v, %v", s, l, l.String(), again, err)
		}
	})
}
