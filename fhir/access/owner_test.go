package access

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/fhir/internal/shareddata"
)

// TestSec9D2_OwnerTableFromDefinitions checks the owner table against the R4
// definitions in ../shared/fhir/r4: every owner element is the path of the
// type's patient, subject or beneficiary parameter of the Patient
// CompartmentDefinition, and every type of that compartment is either in
// the table or named in OwnerElement's documentation as left out.
func TestSec9D2_OwnerTableFromDefinitions(t *testing.T) {
	dir := filepath.Join(shareddata.SharedDir(t), "fhir", "r4")
	var comp struct {
		Resource []struct {
			Code  string   `json:"code"`
			Param []string `json:"param"`
		} `json:"resource"`
	}
	readJSON(t, filepath.Join(dir, "compartmentdefinition-patient.json"), &comp)
	var sps struct {
		Entry []struct {
			Resource struct {
				Code       string   `json:"code"`
				Base       []string `json:"base"`
				Expression string   `json:"expression"`
			} `json:"resource"`
		} `json:"entry"`
	}
	readJSON(t, filepath.Join(dir, "search-parameters.json"), &sps)
	expr := func(typ, code string) []string {
		for _, e := range sps.Entry {
			if e.Resource.Code == code && slices.Contains(e.Resource.Base, typ) {
				var out []string
				for _, b := range strings.Split(e.Resource.Expression, "|") {
					out = append(out, strings.TrimSpace(b))
				}
				return out
			}
		}
		return nil
	}
	src, err := os.ReadFile("owner.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	owned := 0
	for _, r := range comp.Resource {
		el := OwnerElement(r.Code)
		if el == "" {
			if len(r.Param) > 0 && !regexp.MustCompile(`\b`+r.Code+`\b`).MatchString(doc) {
				t.Errorf("%s is in the Patient compartment (%v) but neither in the owner table nor named as left out", r.Code, r.Param)
			}
			continue
		}
		owned++
		if r.Code == "Patient" {
			if el != "id" {
				t.Errorf("Patient owner %q, want id", el)
			}
			continue
		}
		found := false
		for _, code := range r.Param {
			if code != "patient" && code != "subject" && code != "beneficiary" {
				continue
			}
			for _, b := range expr(r.Code, code) {
				if b == r.Code+"."+el || b == r.Code+"."+el+".where(resolve() is Patient)" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s.%s is not the path of its patient/subject/beneficiary compartment parameter %v", r.Code, el, r.Param)
		}
	}
	if owned < 25 {
		t.Fatalf("only %d types in the owner table", owned)
	}
	for _, typ := range []string{"Observation", "Condition", "Encounter", "AllergyIntolerance", "Procedure",
		"MedicationRequest", "Immunization", "DiagnosticReport", "DocumentReference", "CarePlan", "Goal", "CareTeam",
		"Claim", "ExplanationOfBenefit", "Coverage", "QuestionnaireResponse", "MedicationStatement", "ServiceRequest", "Patient"} {
		if OwnerElement(typ) == "" {
			t.Errorf("%s has no owner element", typ)
		}
	}
	if OwnerElement("Provenance") != "" || OwnerElement("Practitioner") != "" {
		t.Error("Provenance and Practitioner must not be writable through a compartment-limited scope")
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestSec9D2_AdmitsWriteOwnerRule: the owner rule for compartment-limited scopes, and
// unrestricted scopes unaffected.
func TestSec9D2_AdmitsWriteOwnerRule(t *testing.T) {
	ref := func(r string) map[string]any { return map[string]any{"reference": r} }
	content := func(typ string, m map[string]any, patients ...string) Resource {
		m["resourceType"] = typ
		owners, owned := Owners(typ, m)
		return Resource{Patients: patients, Owners: owners, Owned: owned}
	}
	limited := Grant{Allowed: true, Scopes: []Scope{{Patient: "me"}}}
	open := Grant{Allowed: true, Unrestricted: true, Scopes: []Scope{{}}}
	for _, c := range []struct {
		name string
		r    Resource
		want bool
	}{
		{"own", content("Observation", map[string]any{"subject": ref("Patient/me")}, "me"), true},
		{"other-with-performer-me", content("Observation", map[string]any{"subject": ref("Patient/other"),
			"performer": []any{ref("Patient/me")}}, "me", "other"), false},
		{"own-with-performer-other", content("Observation", map[string]any{"subject": ref("Patient/me"),
			"performer": []any{ref("Patient/other")}}, "me", "other"), false},
		{"no-owner", content("Observation", map[string]any{"performer": []any{ref("Patient/me")}}, "me"), false},
		{"absolute", content("Observation", map[string]any{"subject": ref("https://x.example/fhir/Patient/me")}, "me"), false},
		{"versioned", content("Observation", map[string]any{"subject": ref("Patient/me/_history/1")}, "me"), false},
		{"group", content("Observation", map[string]any{"subject": ref("Group/me")}), false},
		{"not-in-table", content("Basic", map[string]any{"subject": ref("Patient/me")}, "me"), false},
		{"allergy", content("AllergyIntolerance", map[string]any{"patient": ref("Patient/me")}, "me"), true},
		{"coverage", content("Coverage", map[string]any{"beneficiary": ref("Patient/me")}, "me"), true},
		{"patient-self", content("Patient", map[string]any{"id": "me"}, "me"), true},
		{"patient-new", content("Patient", map[string]any{"id": "new"}, "new"), false},
		{"patient-linked", content("Patient", map[string]any{"id": "me", "link": []any{map[string]any{"other": ref("Patient/other")}}}, "me", "other"), false},
		{"owner-array", content("Observation", map[string]any{"subject": []any{ref("Patient/me"), ref("Patient/other")}}, "me", "other"), false},
	} {
		if got := limited.AdmitsWrite(c.r); got != c.want {
			t.Errorf("%s: compartment-limited AdmitsWrite = %v, want %v", c.name, got, c.want)
		}
		if !open.AdmitsWrite(c.r) {
			t.Errorf("%s: an unrestricted grant must admit it", c.name)
		}
	}
	if limited.WritesType("Basic") || !limited.WritesType("Observation") || !open.WritesType("Basic") {
		t.Error("WritesType")
	}
	if (Grant{}).AdmitsWrite(content("Observation", map[string]any{"subject": ref("Patient/me")}, "me")) {
		t.Error("a grant that is not allowed admits nothing")
	}
}
