package search

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofhir/fhirpath"

	"github.com/smartgate/smartgate/fhir/internal/shareddata"
)

var loadOnce = sync.OnceValues(Load)

func registry(t testing.TB) *Registry {
	t.Helper()
	r, err := loadOnce()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoadDefinitions(t *testing.T) {
	reg := registry(t)
	if len(reg.Types()) < 140 {
		t.Fatalf("%d resource types", len(reg.Types()))
	}
	for _, tc := range []struct{ typ, code string }{
		{"Observation", "code"}, {"Observation", "patient"}, {"Observation", "date"},
		{"Observation", "value-quantity"}, {"Patient", "name"}, {"Patient", "birthdate"},
		{"Encounter", "class"}, {"Condition", "onset-date"}, {"Patient", "_lastUpdated"}, {"Patient", "_id"},
	} {
		if p := reg.Param(tc.typ, tc.code); p == nil || !p.Supported() {
			t.Errorf("%s.%s not supported", tc.typ, tc.code)
		}
	}
	if !reg.InPatientCompartment("Observation") || reg.InPatientCompartment("Organization") {
		t.Error("compartment membership wrong")
	}
	if n := reg.Fallbacks(); n > 10 {
		t.Errorf("%d expressions fall back to the library", n)
	}
}

func TestBranchesFor(t *testing.T) {
	got := branchesFor("AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | (Observation.value as Quantity)", "Observation")
	if got != "(Observation.value as Quantity)" {
		t.Fatalf("got %q", got)
	}
	if got := branchesFor("Resource.meta.tag", "Patient"); got != "Patient.meta.tag" {
		t.Fatalf("got %q", got)
	}
	// R4's InsurancePlan-name is written relative to the resource.
	if got := branchesFor("name | alias", "InsurancePlan"); got != "InsurancePlan.name | InsurancePlan.alias" {
		t.Fatalf("got %q", got)
	}
	if p := registry(t).Param("InsurancePlan", "name"); p == nil || !p.Supported() {
		t.Fatal("InsurancePlan.name is not supported")
	}
}

func TestDateRange(t *testing.T) {
	ms := func(s string) float64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.UnixMilli())
	}
	tests := []struct {
		in     string
		lo, hi string
	}{
		{"2020", "2020-01-01T00:00:00Z", "2020-12-31T23:59:59.999Z"},
		{"2020-02", "2020-02-01T00:00:00Z", "2020-02-29T23:59:59.999Z"},
		{"2020-02-03", "2020-02-03T00:00:00Z", "2020-02-03T23:59:59.999Z"},
		{"2020-02-03T10:11:12Z", "2020-02-03T10:11:12Z", "2020-02-03T10:11:12.999Z"},
		{"2020-02-03T10:11:12+02:00", "2020-02-03T08:11:12Z", "2020-02-03T08:11:12.999Z"},
		{"2020-02-03T10:11:12.5-05:00", "2020-02-03T15:11:12.5Z", "2020-02-03T15:11:12.5Z"},
		{"2020-02-03T10:11", "2020-02-03T10:11:00Z", "2020-02-03T10:11:59.999Z"},
	}
	for _, tc := range tests {
		lo, hi, err := DateRange(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if lo != ms(tc.lo) || hi != ms(tc.hi) {
			t.Errorf("%s: [%v, %v], want [%s, %s]", tc.in, lo, hi, tc.lo, tc.hi)
		}
	}
	for _, bad := range []string{"", "20", "2020-13", "2020-02-30", "yesterday", "2020-01-01T25:00:00Z"} {
		if _, _, err := DateRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"Müller": "muller", " ÉLODIE ": "elodie", "O'Brien": "o'brien", "Ångström": "angstrom"} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseQuery(t *testing.T) {
	reg := registry(t)
	parse := func(typ, raw string, lenient bool) (*Query, error) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		return reg.ParseQuery(typ, v, lenient)
	}
	q, err := parse("Observation", "code=http://loinc.org|8302-6,|x,sys|&date=ge2020-01-01&date=lt2021&subject:Patient.name=smith&_include=Observation:patient&_revinclude=Provenance:target&_sort=-date,_id&_count=5000&value-quantity=le5.40|http://unitsofmeasure.org|mg&_elements=code,subject", false)
	if err != nil {
		t.Fatal(err)
	}
	if q.Count != MaxCount {
		t.Errorf("count %d", q.Count)
	}
	byParam := map[string][]Clause{}
	for _, c := range q.Clauses {
		byParam[c.Param] = append(byParam[c.Param], c)
	}
	code := byParam["code"][0]
	if len(code.Values) != 3 || code.Values[0].System != "http://loinc.org" || code.Values[0].Code != "8302-6" ||
		!code.Values[1].HasSystem || code.Values[1].System != "" || code.Values[2].Code != "" || code.Values[2].System != "sys" {
		t.Errorf("code values %+v", code.Values)
	}
	if d := byParam["date"]; len(d) != 2 || d[0].Values[0].Prefix != "ge" || d[1].Values[0].Prefix != "lt" {
		t.Errorf("date clauses %+v", d)
	}
	if s := byParam["subject"]; len(s) != 1 || s[0].Chain == nil || s[0].Chain.Types[0] != "Patient" || s[0].Chain.Inner.Param != "name" {
		t.Errorf("chain %+v", s)
	}
	vq := byParam["value-quantity"][0].Values[0]
	if vq.Prefix != "le" || vq.Num != 5.4 || math.Abs(vq.Lo-5.395) > 1e-9 || vq.Code != "mg" {
		t.Errorf("quantity %+v", vq)
	}
	if len(q.Includes) != 1 || len(q.RevIncludes) != 1 || len(q.Sort) != 2 || !q.Sort[0].Desc || len(q.Elements) != 2 {
		t.Errorf("result params %+v", q)
	}

	for _, bad := range []string{
		"foo=1", "code:exact=x", "date=tomorrow", "_sort=nope", "_include=Patient:name", "subject.nope=1",
		"name:missing=maybe", "_count=x", "_id=a/b", "_summary=true", "code=", "date:text=x", "value-quantity=abc",
		"subject:Spaceship=1", "_include=Observation:subject:Spaceship",
		"_cursor=", "_cursor=a&_cursor=b", "_cursor=" + strings.Repeat("A", maxCursor+1), "_snapshot=9", "_offset=2",
	} {
		if _, err := parse("Observation", bad, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A cursor is the store's: taken as written, left out of Encode.
	q, err = parse("Observation", "code=x&_cursor=AWsJAw", false)
	if err != nil || q.Cursor != "AWsJAw" {
		t.Errorf("_cursor: %+v %v", q, err)
	}
	if enc := Encode(url.Values{"code": {"x"}, "_cursor": {"AWsJAw"}}); enc.Encode() != "code=x" {
		t.Errorf("Encode kept the cursor: %v", enc)
	}
	q, err = parse("Observation", "foo=1&code=x", true)
	if err != nil || len(q.Ignored) != 1 || len(q.Clauses) != 1 {
		t.Errorf("lenient: %+v %v", q, err)
	}
	if _, err := parse("Spaceship", "", false); err == nil {
		t.Error("unknown type accepted")
	}
	q, _ = parse("Patient", `name=a\,b,c&identifier=x\|y|z`, false)
	for _, c := range q.Clauses {
		switch c.Param {
		case "name":
			if len(c.Values) != 2 || c.Values[0].Code != "a,b" {
				t.Errorf("escaped comma: %+v", c.Values)
			}
		case "identifier":
			if c.Values[0].System != "x|y" || c.Values[0].Code != "z" {
				t.Errorf("escaped pipe: %+v", c.Values)
			}
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"code=http://loinc.org|8302-6", "date=ge2020-01-01T00:00:00Z", "subject:Patient.name=x",
		"_include=Observation:patient", "value-quantity=ap5.4||mg", `name=a\,b`, "_sort=-date",
		"code:not=x&code:text=y", "name:missing=true", "_count=0&_summary=count",
	} {
		f.Add("Observation", s)
	}
	reg, err := Load()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, lenient := range []bool{false, true} {
			q, err := reg.ParseQuery(typ, v, lenient)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error of type %T: %v", err, err)
				}
				continue
			}
			if q.Count < 0 || q.Count > MaxCount {
				t.Fatalf("count %d", q.Count)
			}
			for _, c := range q.Clauses {
				if c.Missing == nil && c.Chain == nil && len(c.Values) == 0 {
					t.Fatalf("clause without values: %+v", c)
				}
			}
		}
	})
}

// TestCompiledMatchesLibrary evaluates every parameter of a sample of
// Synthea resources with the compiled evaluator and with gofhir/fhirpath
// and requires the same index values.
func TestCompiledMatchesLibrary(t *testing.T) {
	reg := registry(t)
	files := shareddata.SyntheaBundles(t)
	sort.Strings(files)
	perType := map[string]int{}
	compared := 0
	for _, f := range files[:2] {
		for _, res := range loadRewritten(t, f) {
			raw, _ := json.Marshal(res)
			m, err := Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			typ := m["resourceType"].(string)
			if perType[typ] >= 15 {
				continue
			}
			perType[typ]++
			for _, p := range reg.Params(typ) {
				prog, ok := p.eval.(compiled)
				if !ok {
					continue
				}
				fast, _ := prog.eval(m, nil)
				lib, err := fhirpath.Compile(p.Expression)
				if err != nil {
					t.Fatalf("%s.%s: %v", typ, p.Code, err)
				}
				col, err := lib.EvaluateWithOptions(raw, fhirpath.WithResolver(stubResolver{}))
				if err != nil {
					t.Fatalf("%s.%s: library: %v", typ, p.Code, err)
				}
				slow, err := fromCollection(col)
				if err != nil {
					t.Fatal(err)
				}
				a, b := entriesOf(p, fast), entriesOf(p, slow)
				if !reflect.DeepEqual(a, b) {
					t.Errorf("%s.%s (%s):\ncompiled %v\nlibrary  %v", typ, p.Code, p.Expression, a, b)
				}
				compared++
			}
		}
	}
	t.Logf("compared %d evaluations over %v", compared, perType)
}

func entriesOf(p *Param, nodes []node) []string {
	var out []string
	for _, n := range nodes {
		for _, e := range appendEntries(nil, p, n) {
			out = append(out, fmt.Sprintf("%+v", e))
		}
	}
	sort.Strings(out)
	return out
}

// loadRewritten returns the resources of a transaction bundle with their
// urn:uuid: references rewritten to Type/uuid, as a server does.
func loadRewritten(t testing.TB, file string) []map[string]any {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Entry []struct {
			FullURL  string         `json:"fullUrl"`
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s: %v", filepath.Base(file), err)
	}
	refs := map[string]string{}
	for _, e := range b.Entry {
		refs[e.FullURL] = e.Resource["resourceType"].(string) + "/" + strings.TrimPrefix(e.FullURL, "urn:uuid:")
	}
	var out []map[string]any
	for _, e := range b.Entry {
		rewrite(e.Resource, refs)
		out = append(out, e.Resource)
	}
	return out
}

func rewrite(v any, refs map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = rewrite(e, refs)
		}
	case []any:
		for i, e := range x {
			x[i] = rewrite(e, refs)
		}
	case string:
		if r, ok := refs[x]; ok {
			return r
		}
	}
	return v
}

func BenchmarkExtractObservation(b *testing.B) {
	reg := registry(b)
	files := shareddata.SyntheaBundles(b)
	sort.Strings(files)
	var obs []byte
	for _, r := range loadRewritten(b, files[0]) {
		if r["resourceType"] == "Observation" {
			obs, _ = json.Marshal(r)
			break
		}
	}
	b.Run("compiled", func(b *testing.B) {
		for b.Loop() {
			m, _ := Decode(obs)
			if _, err := reg.Extract("Observation", m, obs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		var exprs []*fhirpath.Expression
		for _, p := range reg.Params("Observation") {
			if p.Expression != "" {
				exprs = append(exprs, fhirpath.MustCompile(p.Expression))
			}
		}
		for b.Loop() {
			for _, e := range exprs {
				if _, err := e.EvaluateWithOptions(obs, fhirpath.WithResolver(stubResolver{})); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// FuzzExtract feeds arbitrary JSON (as a resource of a few types) to the
// extraction: whatever the shape of the elements, it must not panic.
func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Observation","code":{"coding":[{"system":"s","code":"c"}]},"valueQuantity":{"value":1.5,"unit":"kg"},"subject":{"reference":"Patient/1"},"effectivePeriod":{"start":"2020"}}`,
		`{"resourceType":"Patient","id":"x","name":"oops","birthDate":12,"deceasedBoolean":"yes","telecom":[{"system":"phone","value":1}]}`,
		`{"resourceType":"Condition","onsetDateTime":"2020-13-01","subject":[{"reference":["Patient/1"]}],"code":[[]]}`,
		`{"resourceType":"Encounter","period":{"start":{"x":1}},"participant":[{"individual":{"reference":"Practitioner/1/_history/2"}}]}`,
	} {
		f.Add(s)
	}
	reg, err := Load()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		m, err := Decode([]byte(raw))
		if err != nil {
			return
		}
		for _, typ := range []string{"Observation", "Patient", "Condition", "Encounter"} {
			m["resourceType"] = typ
			b, _ := json.Marshal(m)
			if _, err := reg.Extract(typ, m, b); err != nil {
				t.Logf("%s: %v", typ, err)
			}
			if _, err := reg.PatientCompartments(typ, m, b); err != nil {
				t.Logf("%s: %v", typ, err)
			}
		}
	})
}
