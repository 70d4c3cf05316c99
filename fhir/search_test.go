package fhir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/internal/shareddata"
	"github.com/smartgate/smartgate/fhir/search"
)

// synthea is a server loaded with all Synthea bundles, plus the bundles'
// resources as read from the files (for expectations computed
// independently of the server).
type synthea struct {
	*client
	files map[string][]map[string]any // file → resources (ids as in the file)
	// patients: Synthea identifier of each patient → server id
	patientIDs map[string]string
}

func loadSynthea(t *testing.T, cfg fhir.Config) *synthea {
	t.Helper()
	return loadSyntheaOn(t, cfg, openStore(t))
}

// loadSyntheaOn is loadSynthea on the store db.
func loadSyntheaOn(t *testing.T, cfg fhir.Config, db fhir.Store) *synthea {
	t.Helper()
	c := newServerOn(t, cfg, db)
	s := &synthea{client: c, files: map[string][]map[string]any{}, patientIDs: map[string]string{}}
	imported := 0
	start := time.Now()
	for _, f := range shareddata.SyntheaBundles(t) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Import(context.Background(), c.db, fh, fhir.ImportOptions{Registry: registry(t)})
		if err != nil {
			t.Fatalf("import %s: %v", f, err)
		}
		imported += res.Resources
		fh.Close()
		raw, _ := os.ReadFile(f)
		var b struct {
			Entry []struct {
				Resource map[string]any `json:"resource"`
			} `json:"entry"`
		}
		json.Unmarshal(raw, &b)
		for _, e := range b.Entry {
			s.files[f] = append(s.files[f], e.Resource)
		}
	}
	t.Logf("imported %d resources in %v", imported, time.Since(start))
	if imported != 8489 {
		t.Fatalf("imported %d resources, want 8489", imported)
	}
	return s
}

// search runs a search as admin and returns the bundle.
func (s *synthea) search(t *testing.T, query string, hdr ...string) *response {
	t.Helper()
	return s.do("GET", "/"+query, nil, hdr...).want(t, http.StatusOK)
}

func total(t *testing.T, r *response) int {
	t.Helper()
	f, ok := r.body["total"].(float64)
	if !ok {
		t.Fatalf("bundle without total: %.300s", r.raw)
	}
	return int(f)
}

func entries(r *response, mode string) []map[string]any {
	var out []map[string]any
	list, _ := r.body["entry"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		if str(m, "search", "mode") == mode {
			out = append(out, m["resource"].(map[string]any))
		}
	}
	return out
}

// countWhere counts resources of typ in the files that satisfy pred.
func (s *synthea) countWhere(typ string, pred func(r map[string]any) bool) int {
	n := 0
	for _, rs := range s.files {
		for _, r := range rs {
			if r["resourceType"] == typ && pred(r) {
				n++
			}
		}
	}
	return n
}

func codings(v any) [][2]string {
	m, _ := v.(map[string]any)
	list, _ := m["coding"].([]any)
	var out [][2]string
	for _, c := range list {
		cm := c.(map[string]any)
		out = append(out, [2]string{str(cm, "system"), str(cm, "code")})
	}
	return out
}

func hasCoding(v any, system, code string) bool {
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if hasCoding(e, system, code) {
				return true
			}
		}
		return false
	}
	for _, c := range codings(v) {
		if (system == "" || c[0] == system) && c[1] == code {
			return true
		}
	}
	return false
}

// firstPatient returns the server id and the file resources of one patient.
func (s *synthea) patient(t *testing.T, file string) (id string, res []map[string]any) {
	t.Helper()
	res = s.files[file]
	for _, r := range res {
		if r["resourceType"] == "Patient" {
			var synID string
			for _, idf := range r["identifier"].([]any) {
				if str(idf, "system") == "https://github.com/synthetichealth/synthea" {
					synID = str(idf, "value")
				}
			}
			b := s.search(t, "Patient?identifier=https://github.com/synthetichealth/synthea|"+synID)
			if total(t, b) != 1 {
				t.Fatalf("patient %s found %d times", synID, total(t, b))
			}
			return str(entries(b, "match")[0], "id"), res
		}
	}
	t.Fatal("no patient in file")
	return "", nil
}

// TestSynthea imports the 30 Synthea bundles with Import and runs the
// search tests on them.
func TestSynthea(t *testing.T) {
	t.Parallel()
	syntheaTests(t, loadSynthea(t, fhir.Config{}))
}

// syntheaTests are TestSynthea's tests on s, whatever its store
// (TestSyntheaPostgres runs them on store/postgres).
func syntheaTests(t *testing.T, s *synthea) {
	t.Run("search", func(t *testing.T) { searchSynthea(t, s) })
	t.Run("in-memory matcher agrees with the store", func(t *testing.T) { matcherAgrees(t, s) })
	// Last: it stores fixture resources in the database.
	t.Run("every search parameter", func(t *testing.T) { everySearchParameter(t, s) })
}

// matcherAgrees checks search.Registry.Matches (used for access decisions
// on single resources) against the storage's search on the same data.
func matcherAgrees(t *testing.T, s *synthea) {
	reg := registry(t)
	queries := map[string][]string{
		"Condition":    {"code:text=diab", "onset-date=ge2015", "abatement-date:missing=true", "clinical-status=active", "code:not=44054006", "_lastUpdated=gt2000"},
		"Immunization": {"vaccine-code=http://hl7.org/fhir/sid/cvx|140", "date=lt2016-01-01", "status=completed,not-done"},
		"Encounter":    {"class=AMB", "date=ap2018-06-01", "type:text=gen", "reason-code:missing=false", "subject=Patient/nope"},
		"Goal":         {"lifecycle-status=active", "lifecycle-status:not=active"},
	}
	for typ, qs := range queries {
		all := entries(s.search(t, typ+"?_count=1000"), "match")
		for _, q := range qs {
			want := map[string]bool{}
			r := s.search(t, typ+"?_count=1000&_elements=id&"+q)
			for _, e := range entries(r, "match") {
				want[str(e, "id")] = true
			}
			vals, _ := url.ParseQuery(q)
			pq, err := reg.ParseQuery(typ, vals, false)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, res := range all {
				raw, _ := json.Marshal(res)
				m, _ := search.Decode(raw)
				ok, err := reg.Matches(pq, m, raw, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if ok != want[str(res, "id")] {
					t.Errorf("%s?%s: %s matches in memory %v, in the store %v", typ, q, str(res, "id"), ok, !ok)
				}
				if ok {
					got++
				}
			}
			if got != len(want) {
				t.Errorf("%s?%s: %d in memory, %d in the store", typ, q, got, len(want))
			}
		}
	}
}

func searchSynthea(t *testing.T, s *synthea) {
	files := make([]string, 0, len(s.files))
	for f := range s.files {
		files = append(files, f)
	}
	sort.Strings(files)
	pid, pres := s.patient(t, files[0])
	var pat map[string]any
	for _, r := range pres {
		if r["resourceType"] == "Patient" {
			pat = r
		}
	}
	family := str(pat["name"].([]any)[0], "family")
	countIn := func(typ string, pred func(map[string]any) bool) int {
		n := 0
		for _, r := range pres {
			if r["resourceType"] == typ && (pred == nil || pred(r)) {
				n++
			}
		}
		return n
	}

	t.Run("totals per type", func(t *testing.T) {
		for typ, want := range map[string]int{"Observation": 4410, "Patient": 30, "Encounter": 701, "Claim": 877} {
			if got := total(t, s.search(t, typ+"?_summary=count")); got != want {
				t.Errorf("%s total %d, want %d", typ, got, want)
			}
		}
		r := s.search(t, "Observation?_summary=count")
		if _, ok := r.body["entry"]; ok {
			t.Error("_summary=count returned entries")
		}
		r = s.search(t, "Observation?_total=none&_count=2")
		if _, ok := r.body["total"]; ok || len(entries(r, "match")) != 2 {
			t.Errorf("_total=none: %.300s", r.raw)
		}
	})

	t.Run("token code with system", func(t *testing.T) {
		var obs map[string]any
		for _, r := range pres {
			if r["resourceType"] == "Observation" {
				obs = r
				break
			}
		}
		c := codings(obs["code"])[0]
		want := s.countWhere("Observation", func(r map[string]any) bool { return hasCoding(r["code"], c[0], c[1]) })
		if got := total(t, s.search(t, "Observation?code="+c[0]+"|"+c[1])); got != want {
			t.Errorf("code=%s|%s: got %d, want %d", c[0], c[1], got, want)
		}
		if got := total(t, s.search(t, "Observation?code="+c[1])); got != want {
			t.Errorf("code without system: got %d, want %d", got, want)
		}
		if got := total(t, s.search(t, "Observation?code=http://snomed.info/sct|"+c[1])); got != 0 {
			t.Errorf("wrong system matched %d", got)
		}
		if got := total(t, s.search(t, "Observation?code="+c[0]+"|")); got != 4410-s.countWhere("Observation", func(r map[string]any) bool {
			for _, cc := range codings(r["code"]) {
				if cc[0] == c[0] {
					return false
				}
			}
			return true
		}) {
			t.Errorf("code=system|: %d", got)
		}
	})

	t.Run("token category and :not", func(t *testing.T) {
		lab := s.countWhere("Observation", func(r map[string]any) bool { return hasCoding(r["category"], "", "laboratory") })
		if got := total(t, s.search(t, "Observation?category=laboratory")); got != lab {
			t.Errorf("category=laboratory %d, want %d", got, lab)
		}
		if got := total(t, s.search(t, "Observation?category:not=laboratory")); got != 4410-lab {
			t.Errorf("category:not %d, want %d", got, 4410-lab)
		}
		vs := s.countWhere("Observation", func(r map[string]any) bool { return hasCoding(r["category"], "", "vital-signs") })
		if got := total(t, s.search(t, "Observation?category=laboratory,vital-signs")); got != lab+vs {
			t.Errorf("OR: %d, want %d", got, lab+vs)
		}
	})

	t.Run("token :text", func(t *testing.T) {
		want := s.countWhere("Condition", func(r map[string]any) bool {
			return strings.HasPrefix(strings.ToLower(str(r["code"], "text")), "diabetes") ||
				strings.HasPrefix(strings.ToLower(str(r["code"].(map[string]any)["coding"].([]any)[0], "display")), "diabetes")
		})
		if got := total(t, s.search(t, "Condition?code:text=Diabetes")); got != want {
			t.Errorf("got %d, want %d", got, want)
		}
	})

	t.Run("patient compartment reference", func(t *testing.T) {
		want := countIn("Observation", nil)
		for _, q := range []string{"patient=" + pid, "patient=Patient/" + pid, "subject=Patient/" + pid, "subject:Patient=" + pid} {
			if got := total(t, s.search(t, "Observation?"+q)); got != want {
				t.Errorf("%s: %d, want %d", q, got, want)
			}
		}
	})

	t.Run("string name default, exact, contains, accents", func(t *testing.T) {
		want := s.countWhere("Patient", func(r map[string]any) bool {
			return strings.HasPrefix(strings.ToLower(str(r["name"].([]any)[0], "family")), strings.ToLower(family[:3]))
		})
		if got := total(t, s.search(t, "Patient?family="+strings.ToLower(family[:3]))); got != want {
			t.Errorf("family prefix %d, want %d", got, want)
		}
		if got := total(t, s.search(t, "Patient?family:exact="+family)); got < 1 {
			t.Error("family:exact found nothing")
		}
		if got := total(t, s.search(t, "Patient?family:exact="+strings.ToLower(family))); got != 0 {
			t.Error("family:exact is case-insensitive")
		}
		if got := total(t, s.search(t, "Patient?name:contains="+family[2:len(family)-1])); got < 1 {
			t.Error("name:contains found nothing")
		}
		c := s.do("POST", "/Patient", patient("Þórðardóttir Ñúñez")).want(t, http.StatusCreated)
		defer s.do("DELETE", "/Patient/"+str(c.body, "id"), nil)
		if got := total(t, s.search(t, "Patient?family=thordardottir")); got != 0 {
			t.Log("Þ is not decomposed (as expected)")
		}
		if got := total(t, s.search(t, "Patient?family=%C3%BE%C3%B3r%C3%B0ard%C3%B3ttir%20nun")); got != 1 {
			t.Errorf("accent-insensitive prefix: %d", got)
		}
		if got := total(t, s.search(t, "Patient?family=%C3%9E%C3%93R%C3%90ARDOTTIR")); got != 1 {
			t.Errorf("case-insensitive: %d", got)
		}
	})

	t.Run("date precision and prefixes", func(t *testing.T) {
		birth := str(pat, "birthDate")
		if got := total(t, s.search(t, "Patient?birthdate="+birth)); got < 1 {
			t.Errorf("birthdate=%s found nothing", birth)
		}
		year := birth[:4]
		want := s.countWhere("Patient", func(r map[string]any) bool { return strings.HasPrefix(str(r, "birthDate"), year) })
		if got := total(t, s.search(t, "Patient?birthdate="+year)); got != want {
			t.Errorf("birthdate=%s: %d, want %d", year, got, want)
		}
		cut := "2015-06-01"
		ct, _ := time.Parse("2006-01-02", cut)
		before := s.countWhere("Observation", func(r map[string]any) bool {
			tm, err := time.Parse(time.RFC3339, str(r, "effectiveDateTime"))
			return err == nil && tm.Before(ct)
		})
		if got := total(t, s.search(t, "Observation?date=lt"+cut)); got != before {
			t.Errorf("date=lt%s: %d, want %d", cut, got, before)
		}
		if got := total(t, s.search(t, "Observation?date=eb"+cut)); got != before {
			t.Errorf("date=eb%s: %d, want %d", cut, got, before)
		}
		after := s.countWhere("Observation", func(r map[string]any) bool {
			tm, err := time.Parse(time.RFC3339, str(r, "effectiveDateTime"))
			return err == nil && !tm.Before(ct)
		})
		if got := total(t, s.search(t, "Observation?date=ge"+cut)); got != after {
			t.Errorf("date=ge%s: %d, want %d", cut, got, after)
		}
		if got := total(t, s.search(t, "Observation?date=ge2015-01-01&date=lt2015-01-01")); got != 0 {
			t.Errorf("AND of disjoint ranges: %d", got)
		}
		if got := total(t, s.search(t, "Observation?date=ne"+cut)); got != 4410-s.countWhere("Observation", func(r map[string]any) bool {
			return strings.HasPrefix(str(r, "effectiveDateTime"), cut)
		}) {
			t.Errorf("date=ne: %d", got)
		}
		ap := total(t, s.search(t, "Observation?date=ap"+cut))
		eq := total(t, s.search(t, "Observation?date="+cut))
		if ap < eq {
			t.Errorf("ap (%d) narrower than eq (%d)", ap, eq)
		}
		if got := total(t, s.search(t, "Encounter?date=sa2100-01-01")); got != 0 {
			t.Errorf("sa future: %d", got)
		}
	})

	t.Run("quantity and number", func(t *testing.T) {
		want := s.countWhere("Observation", func(r map[string]any) bool {
			q, ok := r["valueQuantity"].(map[string]any)
			if !ok || q["code"] != "kg" {
				return false
			}
			f, _ := q["value"].(float64)
			return f > 80
		})
		if got := total(t, s.search(t, "Observation?value-quantity=gt80|http://unitsofmeasure.org|kg")); got != want {
			t.Errorf("value-quantity gt80 kg: %d, want %d", got, want)
		}
		if got := total(t, s.search(t, "Observation?value-quantity=gt80||kg")); got != want {
			t.Errorf("value-quantity gt80 ||kg: %d, want %d", got, want)
		}
		// No number parameter has values in the Synthea data; a RiskAssessment does.
		ra := map[string]any{"resourceType": "RiskAssessment", "status": "final",
			"subject":    map[string]any{"reference": "Patient/" + pid},
			"prediction": []any{map[string]any{"probabilityDecimal": 0.25}}}
		c := s.do("POST", "/RiskAssessment", ra).want(t, http.StatusCreated)
		defer s.do("DELETE", "/RiskAssessment/"+str(c.body, "id"), nil)
		for q, want := range map[string]int{"probability=0.25": 1, "probability=0.3": 1, "probability=0.2": 0, "probability=0.4": 0, "probability=gt0.2": 1,
			"probability=lt0.2": 0, "probability=ap0.24": 1, "probability=ne0.25": 0, "probability=le0.25": 1} {
			if got := total(t, s.search(t, "RiskAssessment?"+q)); got != want {
				t.Errorf("%s: %d, want %d", q, got, want)
			}
		}
	})

	t.Run("uri", func(t *testing.T) {
		// ImagingStudy has no uri params with data; Claim does not either.
		// Use the Resource-level _profile on a resource that carries one.
		p := patient("Profiled")
		p["meta"] = map[string]any{"profile": []any{"http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}}
		c := s.do("POST", "/Patient", p).want(t, http.StatusCreated)
		defer s.do("DELETE", "/Patient/"+str(c.body, "id"), nil)
		if got := total(t, s.search(t, "Patient?_profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient")); got != 1 {
			t.Errorf("_profile: %d", got)
		}
		if got := total(t, s.search(t, "Patient?_profile:below=http://hl7.org/fhir/us/core/")); got != 1 {
			t.Errorf("_profile:below: %d", got)
		}
	})

	t.Run(":missing", func(t *testing.T) {
		withAbatement := s.countWhere("Condition", func(r map[string]any) bool { _, ok := r["abatementDateTime"]; return ok })
		if got := total(t, s.search(t, "Condition?abatement-date:missing=false")); got != withAbatement {
			t.Errorf(":missing=false %d, want %d", got, withAbatement)
		}
		if got := total(t, s.search(t, "Condition?abatement-date:missing=true")); got != 241-withAbatement {
			t.Errorf(":missing=true %d, want %d", got, 241-withAbatement)
		}
	})

	t.Run("_id and _lastUpdated", func(t *testing.T) {
		if got := total(t, s.search(t, "Patient?_id="+pid)); got != 1 {
			t.Errorf("_id: %d", got)
		}
		if got := total(t, s.search(t, "Patient?_lastUpdated=gt2000-01-01")); got != 30 {
			t.Errorf("_lastUpdated: %d", got)
		}
		if got := total(t, s.search(t, "Patient?_lastUpdated=lt2000-01-01")); got != 0 {
			t.Errorf("_lastUpdated lt: %d", got)
		}
	})

	t.Run("chain", func(t *testing.T) {
		want := countIn("Observation", nil)
		got := total(t, s.search(t, "Observation?subject:Patient.family:exact="+family))
		others := s.countWhere("Patient", func(r map[string]any) bool { return str(r["name"].([]any)[0], "family") == family })
		if others == 1 && got != want {
			t.Errorf("chain: %d, want %d", got, want)
		}
		if got := total(t, s.search(t, "Observation?patient._id="+pid)); got != want {
			t.Errorf("chain _id: %d, want %d", got, want)
		}
		if got := total(t, s.search(t, "Encounter?service-provider.name:contains=zz-no-such")); got != 0 {
			t.Errorf("chain without match: %d", got)
		}
	})

	t.Run("_include and _revinclude", func(t *testing.T) {
		r := s.search(t, "Observation?patient="+pid+"&_count=3&_include=Observation:patient")
		if len(entries(r, "match")) != 3 {
			t.Fatalf("matches %d", len(entries(r, "match")))
		}
		inc := entries(r, "include")
		if len(inc) != 1 || inc[0]["resourceType"] != "Patient" || inc[0]["id"] != pid {
			t.Fatalf("included %v", inc)
		}
		// :iterate: Observations of the patient's first Encounter, then
		// that Encounter's service provider through the Encounter.
		obs := entries(s.search(t, "Observation?patient="+pid+"&_count=1&_include=Observation:encounter&_include:iterate=Encounter:service-provider"), "include")
		types := map[string]int{}
		for _, e := range obs {
			types[e["resourceType"].(string)]++
		}
		if types["Encounter"] != 1 || types["Organization"] != 1 {
			t.Errorf("_include:iterate included %v", types)
		}
		s.do("GET", "/Observation?_include=Encounter:service-provider", nil).wantOutcome(t, http.StatusBadRequest)
		rv := s.search(t, "Patient?_id="+pid+"&_revinclude=Encounter:patient")
		if got, want := len(entries(rv, "include")), countIn("Encounter", nil); got != want {
			t.Errorf("revinclude: %d, want %d", got, want)
		}
	})

	t.Run("_sort", func(t *testing.T) {
		r := s.search(t, "Observation?patient="+pid+"&_sort=-date&_count=20")
		var prev string
		for i, e := range entries(r, "match") {
			d := str(e, "effectiveDateTime")
			if i > 0 && d > prev {
				t.Fatalf("not sorted descending: %s after %s", d, prev)
			}
			prev = d
		}
		r = s.search(t, "Patient?_sort=birthdate&_count=30")
		prev = ""
		for _, e := range entries(r, "match") {
			d := str(e, "birthDate")
			if d < prev {
				t.Fatalf("not sorted ascending: %s after %s", d, prev)
			}
			prev = d
		}
	})

	t.Run("_elements", func(t *testing.T) {
		r := s.search(t, "Patient?_id="+pid+"&_elements=gender")
		e := entries(r, "match")[0]
		if _, ok := e["name"]; ok || e["gender"] == nil {
			t.Fatalf("_elements: %v", e)
		}
	})

	t.Run("lenient and strict", func(t *testing.T) {
		s.do("GET", "/Patient?shoe-size=42", nil).wantOutcome(t, http.StatusBadRequest)
		r := s.search(t, "Patient?shoe-size=42&_id="+pid, "Prefer", "handling=lenient")
		if total(t, r) != 1 || len(entries(r, "outcome")) != 1 {
			t.Fatalf("lenient: %.500s", r.raw)
		}
	})

	t.Run("POST _search", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.base+"/Observation/_search", strings.NewReader("patient="+pid+"&_summary=count"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b map[string]any
		json.NewDecoder(resp.Body).Decode(&b)
		if int(b["total"].(float64)) != countIn("Observation", nil) {
			t.Fatalf("POST _search total %v", b["total"])
		}
	})

	t.Run("paging stays correct while others write", func(t *testing.T) {
		want := countIn("Observation", nil)
		seen := map[string]bool{}
		next := s.base + "/Observation?patient=" + pid + "&_count=25"
		pages := 0
		for next != "" {
			req, _ := http.NewRequest("GET", next, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var b map[string]any
			json.NewDecoder(resp.Body).Decode(&b)
			resp.Body.Close()
			if int(b["total"].(float64)) != want {
				t.Fatalf("page %d total %v, want %d", pages, b["total"], want)
			}
			for _, e := range b["entry"].([]any) {
				id := str(e, "resource", "id")
				if seen[id] {
					t.Fatalf("%s seen twice", id)
				}
				seen[id] = true
			}
			// Another client writes between pages: a new matching resource.
			obs := map[string]any{"resourceType": "Observation", "status": "final",
				"code":    map[string]any{"text": "paging"},
				"subject": map[string]any{"reference": "Patient/" + pid}}
			s.do("POST", "/Observation", obs).want(t, http.StatusCreated)
			next = ""
			for _, l := range b["link"].([]any) {
				if str(l, "relation") == "next" {
					next = str(l, "url")
				}
			}
			pages++
		}
		if len(seen) != want {
			t.Fatalf("paged through %d resources, want %d", len(seen), want)
		}
		if pages != (want+24)/25 {
			t.Errorf("%d pages", pages)
		}
	})

	t.Run("paging a sorted search", func(t *testing.T) {
		seen := map[string]bool{}
		var prev string
		next := s.base + "/Patient?_sort=birthdate&_count=7"
		for next != "" {
			req, _ := http.NewRequest("GET", next, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var b map[string]any
			json.NewDecoder(resp.Body).Decode(&b)
			resp.Body.Close()
			list, _ := b["entry"].([]any)
			for _, e := range list {
				id, bd := str(e, "resource", "id"), str(e, "resource", "birthDate")
				if seen[id] || bd < prev {
					t.Fatalf("%s repeated or out of order (%s after %s)", id, bd, prev)
				}
				seen[id], prev = true, bd
			}
			next = ""
			for _, l := range b["link"].([]any) {
				if str(l, "relation") == "next" {
					next = str(l, "url")
				}
			}
		}
		if len(seen) != 30 {
			t.Fatalf("%d patients paged, want 30", len(seen))
		}
	})

	t.Run("compartment restriction seam", func(t *testing.T) {
		srv := fhir.New(fhir.Config{Auth: compartmentOnly{patient: pid}, Registry: registry(t)}, s.db, nil)
		mux := http.NewServeMux()
		srv.Register(mux)
		rec := func(path string) *response {
			w := newRecorder(mux, "GET", "/fhir/"+path)
			return w
		}
		want := total(t, s.search(t, "Observation?patient="+pid+"&_summary=count"))
		r := rec("Observation?_summary=count")
		if int(r.body["total"].(float64)) != want {
			t.Errorf("restricted search total %v, want %d", r.body["total"], want)
		}
		other, _ := s.patient(t, files[1])
		if r := rec("Patient/" + other); r.status != http.StatusNotFound {
			t.Errorf("other patient read: %d", r.status)
		}
		if r := rec("Patient/" + pid); r.status != http.StatusOK {
			t.Errorf("own patient read: %d", r.status)
		}
		// Encounters include the Organization (outside every compartment).
		r = rec("Encounter?_count=5&_include=Encounter:service-provider&_include=Encounter:patient")
		for _, e := range entries(r, "include") {
			if e["resourceType"] != "Patient" || e["id"] != pid {
				t.Errorf("restricted include returned %s/%s", e["resourceType"], e["id"])
			}
		}
		// The store counts versions by the compartment a resource is in
		// now; a version from another compartment is left out, so a
		// restricted history carries no total (no count oracle).
		if h := rec("Observation/_history?_count=1"); h.status != http.StatusOK || h.body["total"] != nil {
			t.Errorf("restricted type history: %d, total %v, want 200 and no total", h.status, h.body["total"])
		}
	})

	t.Run("query-restricted access seam", func(t *testing.T) {
		p := categoryOnly{reg: registry(t), anyOf: []url.Values{{"category": {"vital-signs"}}, {"category": {"laboratory"}, "patient": {pid}}}}
		srv := fhir.New(fhir.Config{Auth: p, Registry: registry(t)}, s.db, nil)
		mux := http.NewServeMux()
		srv.Register(mux)
		vs := total(t, s.search(t, "Observation?category=vital-signs&_summary=count"))
		labA := total(t, s.search(t, "Observation?category=laboratory&patient="+pid+"&_summary=count"))
		r := newRecorder(mux, "GET", "/fhir/Observation?_summary=count")
		if got := int(r.body["total"].(float64)); got != vs+labA {
			t.Errorf("restricted total %d, want %d", got, vs+labA)
		}
		otherLab := entries(s.search(t, "Observation?category=laboratory&_count=1&subject:Patient._id:not="+pid), "match")
		if len(otherLab) != 1 {
			t.Fatal("no laboratory Observation of another patient")
		}
		if r := newRecorder(mux, "GET", "/fhir/Observation/"+str(otherLab[0], "id")); r.status != http.StatusNotFound {
			t.Errorf("other patient's lab read: %d", r.status)
		}
		if r := newRecorder(mux, "GET", "/fhir/Condition"); r.status != http.StatusForbidden || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("Condition search: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
	})
}

// categoryOnly lets a caller see only Observations matching one of its
// searches, decided for single resources with Registry.Matches: the shape
// of SMART v2 query-restricted scopes.
type categoryOnly struct {
	reg   *search.Registry
	anyOf []url.Values
}

func (c categoryOnly) Authenticate(*http.Request) (fhir.Principal, error) { return c, nil }

func (c categoryOnly) Authorize(_ context.Context, req fhir.AccessRequest) error {
	if req.Type != "Observation" {
		return fhir.ErrInsufficientScope
	}
	if req.Resource == nil {
		return nil
	}
	m, err := search.Decode(req.Resource)
	if err != nil {
		return err
	}
	for _, f := range c.anyOf {
		q, err := c.reg.ParseQuery("Observation", f, false)
		if err != nil {
			return err
		}
		if ok, err := c.reg.Matches(q, m, req.Resource, time.Now()); err != nil || ok {
			return err
		}
	}
	return fhir.ErrHidden
}

func (c categoryOnly) Restrict(_ context.Context, _ fhir.Interaction, typ string) (fhir.Restriction, error) {
	if typ != "Observation" {
		return fhir.Restriction{}, fhir.ErrInsufficientScope
	}
	return fhir.Restriction{AnyOf: c.anyOf}, nil
}

func newRecorder(h http.Handler, method, path string) *response {
	req, _ := http.NewRequest(method, "http://fhir.test"+path, nil)
	w := &recorder{header: http.Header{}}
	h.ServeHTTP(w, req)
	r := &response{status: w.status, header: w.header, raw: w.body}
	json.Unmarshal(w.body, &r.body)
	return r
}

type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	r.body = append(r.body, b...)
	return len(b), nil
}

// queryFor builds a search value that must match the index entry e.
func queryFor(e search.Entry) url.Values {
	esc := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `|`, `\|`, `$`, `\$`)
	ms := func(f float64) string { return time.UnixMilli(int64(f)).UTC().Format("2006-01-02T15:04:05.000Z") }
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	switch e.Type {
	case search.TypeString:
		return url.Values{e.Param + ":exact": {esc.Replace(e.Code)}, e.Param: {esc.Replace(e.Code)}}
	case search.TypeURI:
		return url.Values{e.Param: {esc.Replace(e.Code)}}
	case search.TypeToken:
		if e.Code == "" {
			return url.Values{e.Param + ":text": {esc.Replace(e.Text)}}
		}
		return url.Values{e.Param: {esc.Replace(e.System) + "|" + esc.Replace(e.Code)}}
	case search.TypeReference:
		if e.RefType != "" {
			return url.Values{e.Param: {e.RefType + "/" + e.RefID}}
		}
		return url.Values{e.Param: {esc.Replace(e.Code)}}
	case search.TypeDate:
		v := url.Values{}
		if e.Lo > search.MinDate {
			v.Add(e.Param, "le"+ms(e.Lo))
		}
		if e.Hi < search.MaxDate {
			v.Add(e.Param, "ge"+ms(e.Hi))
		}
		if len(v) == 0 {
			return nil
		}
		return v
	case search.TypeNumber:
		return url.Values{e.Param: {num(e.Lo)}}
	case search.TypeQuantity:
		if e.System != "" && e.Code != "" {
			return url.Values{e.Param: {num(e.Lo) + "|" + esc.Replace(e.System) + "|" + esc.Replace(e.Code)}}
		}
		return url.Values{e.Param: {num(e.Lo)}}
	}
	panic(fmt.Sprintf("no query for %+v", e))
}
