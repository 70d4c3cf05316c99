package fhir_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/internal/shareddata"
	"github.com/smartgate/smartgate/fhir/search"
)

// This file checks that every search parameter the CapabilityStatement
// lists works, against the database holding the 30 Synthea bundles:
//
//   - a parameter with values in the Synthea data is searched with values
//     taken from stored resources (each resource is found by its values);
//   - every other one gets a fixture resource, generated from the
//     parameter's FHIRPath expression and type (fixtureFor) and stored in the
//     same database; a search with the fixture's value must find exactly the
//     fixture (so nothing among the 8,489 Synthea resources matches it) and a
//     search with a near value must find nothing.
//
// testdata/search-param-coverage.tsv lists every listed parameter with how
// it is tested; the test fails when the list and the CapabilityStatement
// differ, and when a listed parameter is tested neither way.

// listedParam is one searchParam of one resource in the CapabilityStatement.
type listedParam struct {
	typ, code string
	ptype     search.Type
}

func (p listedParam) key() string { return p.typ + "." + p.code }

func listedParams(t *testing.T, s *synthea) (params []listedParam, includes, revIncludes map[string][]string) {
	t.Helper()
	meta := s.do("GET", "/metadata", nil).want(t, http.StatusOK)
	includes, revIncludes = map[string][]string{}, map[string][]string{}
	for _, r := range meta.body["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		rm := r.(map[string]any)
		typ := str(rm, "type")
		sps, _ := rm["searchParam"].([]any)
		for _, sp := range sps {
			params = append(params, listedParam{typ: typ, code: str(sp, "name"), ptype: search.Type(str(sp, "type"))})
		}
		for _, k := range []string{"searchInclude", "searchRevInclude"} {
			l, _ := rm[k].([]any)
			for _, v := range l {
				if k == "searchInclude" {
					includes[typ] = append(includes[typ], v.(string))
				} else {
					revIncludes[typ] = append(revIncludes[typ], v.(string))
				}
			}
		}
	}
	return params, includes, revIncludes
}

// searchCase is one search with its expected answer.
type searchCase struct {
	param string // Type.code the case tests
	query string // Type?...
	// want lists the ids of the matches, in any order (nil: none).
	want []string
	// wantIncluded lists Type/id of included resources that must be there.
	wantIncluded []string
}

// runCases runs the searches on a few goroutines, through a second
// server on the same database called in-process (the HTTP round trip
// costs more than the search under the race detector).
func (s *synthea) runCases(t *testing.T, cases []searchCase) {
	t.Helper()
	mux := http.NewServeMux()
	fhir.New(fhir.Config{AccessControlOff: true, Registry: registry(t)}, s.db, nil).Register(mux)
	work := make(chan searchCase)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if msg := check(mux, c); msg != "" {
					t.Errorf("%s: %s: %s", c.param, c.query, msg)
				}
			}
		}()
	}
	for _, c := range cases {
		work <- c
	}
	close(work)
	wg.Wait()
}

func check(h http.Handler, c searchCase) string {
	req := httptest.NewRequest("GET", "http://fhir.test/fhir/"+c.query, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return fmt.Sprintf("status %d: %.300s", w.Code, w.Body.Bytes())
	}
	var b map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		return err.Error()
	}
	r := &response{body: b}
	var got []string
	for _, e := range entries(r, "match") {
		got = append(got, str(e, "id"))
	}
	sort.Strings(got)
	want := append([]string(nil), c.want...)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		return fmt.Sprintf("matched %v, want %v", got, want)
	}
	if n, _ := b["total"].(float64); int(n) != len(want) {
		return fmt.Sprintf("total %v, want %d", b["total"], len(want))
	}
	inc := map[string]bool{}
	for _, e := range entries(r, "include") {
		inc[str(e, "resourceType")+"/"+str(e, "id")] = true
	}
	for _, w := range c.wantIncluded {
		if !inc[w] {
			return fmt.Sprintf("%s not included (included %v)", w, inc)
		}
	}
	return ""
}

// everySearchParameter tests each parameter of the CapabilityStatement
// against the Synthea data or a fixture (see the top of this file).
func everySearchParameter(t *testing.T, s *synthea) {
	reg := registry(t)
	listed, includes, revIncludes := listedParams(t, s)
	how := map[string]string{} // Type.code → data | fixture

	// Parameters with values in the data: each of two resources (spread
	// over the data) must be found by up to two of its values.
	dataTypes := map[string]bool{}
	for _, rs := range s.files {
		for _, r := range rs {
			dataTypes[str(r, "resourceType")] = true
		}
	}
	byType := map[string][]listedParam{}
	for _, p := range listed {
		byType[p.typ] = append(byType[p.typ], p)
	}
	var cases []searchCase
	// Which parameters have values in the data is decided on the bundle
	// files (all of them, in no server order).
	// The files' references (urn:uuid:… and Type?identifier=…) are
	// resolved first, as the import does.
	refs := map[string]string{}
	for _, rs := range s.files {
		for _, r := range rs {
			typ, id := str(r, "resourceType"), str(r, "id")
			refs["urn:uuid:"+id] = typ + "/" + id
			ids, _ := r["identifier"].([]any)
			for _, idf := range ids {
				refs[typ+"?identifier="+str(idf, "system")+"|"+str(idf, "value")] = typ + "/" + id
			}
		}
	}
	inData := map[string]bool{}
	for _, rs := range s.files {
		for _, r := range rs {
			typ := str(r, "resourceType")
			raw, _ := json.Marshal(resolveRefs(r, refs))
			m, err := search.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := reg.Extract(typ, m, raw)
			if err != nil {
				t.Fatal(err)
			}
			inData[typ+"._id"], inData[typ+"._lastUpdated"] = true, true
			for _, e := range idx {
				inData[typ+"."+e.Param] = true
			}
		}
	}
	for typ := range dataTypes {
		var want []listedParam
		for _, p := range byType[typ] {
			if inData[p.key()] {
				want = append(want, p)
				how[p.key()] = "data"
			}
		}
		// The stored resources, page by page until each of these
		// parameters has values in two of them.
		var all []map[string]any
		withValues := map[string][]int{}            // code → indexes into all
		values := map[string]map[int][]url.Values{} // code → resource → queries
		satisfied := func() bool {
			for _, p := range want {
				if len(withValues[p.code]) < 2 {
					return false
				}
			}
			return true
		}
		for next := "/" + typ + "?_count=1000"; next != "" && !satisfied(); {
			b := s.do("GET", next, nil).want(t, http.StatusOK)
			next = ""
			for _, l := range b.body["link"].([]any) {
				if str(l, "relation") == "next" {
					next = strings.TrimPrefix(str(l, "url"), s.base)
				}
			}
			for _, res := range entries(b, "match") {
				i := len(all)
				all = append(all, res)
				raw, _ := json.Marshal(res)
				m, err := search.Decode(raw)
				if err != nil {
					t.Fatal(err)
				}
				idx, err := reg.Extract(typ, m, raw)
				if err != nil {
					t.Fatal(err)
				}
				add := func(code string, v url.Values) {
					if values[code] == nil {
						values[code] = map[int][]url.Values{}
					}
					if len(values[code][i]) == 0 {
						withValues[code] = append(withValues[code], i)
					}
					values[code][i] = append(values[code][i], v)
				}
				add("_id", url.Values{"_id": {str(res, "id")}})
				add("_lastUpdated", url.Values{"_lastUpdated": {str(res, "meta", "lastUpdated")}})
				for _, e := range idx {
					if v := queryFor(e); v != nil {
						add(e.Param, v)
					}
				}
			}
		}
		for _, p := range want {
			idx := withValues[p.code]
			if len(idx) == 0 {
				t.Errorf("%s has values in the Synthea files but none in the stored resources", p.key())
				continue
			}
			step := max(1, len(idx)/2)
			for k := 0; k < len(idx) && k < 2*step; k += step {
				res := all[idx[k]]
				vs := values[p.code][idx[k]]
				for _, v := range vs[:min(2, len(vs))] {
					v.Set("_id", str(res, "id"))
					cases = append(cases, searchCase{param: p.key(), query: typ + "?" + v.Encode(), want: []string{str(res, "id")}})
				}
			}
		}
	}

	// Every other parameter: a fixture.
	var fixtures []*fixture
	targets := map[string]bool{} // Type/id of reference targets to store
	firstOfType := map[string]*fixture{}
	var pending []listedParam
	for _, p := range listed {
		if how[p.key()] != "" {
			continue
		}
		if p.code == "_id" || p.code == "_lastUpdated" {
			pending = append(pending, p)
			continue
		}
		f, err := fixtureFor(reg, p, len(fixtures)+1)
		if err != nil {
			t.Errorf("%s: no fixture: %v", p.key(), err)
			continue
		}
		fixtures = append(fixtures, f)
		if f.target != "" {
			targets[f.target] = true
		}
		if firstOfType[p.typ] == nil {
			firstOfType[p.typ] = f
		}
		how[p.key()] = "fixture"
	}
	// _id and _lastUpdated of types without data: on another fixture of
	// the type, or on a resource of their own.
	for _, p := range pending {
		f := firstOfType[p.typ]
		if f == nil {
			f = &fixture{param: p, id: fmt.Sprintf("fx%05d", len(fixtures)+1),
				res: map[string]any{"resourceType": p.typ}}
			fixtures = append(fixtures, f)
			firstOfType[p.typ] = f
		}
		how[p.key()] = "fixture"
	}
	storeFixtures(t, s, fixtures, targets)
	lastUpdated := map[string]string{}
	for _, p := range pending {
		f := firstOfType[p.typ]
		if p.code == "_id" {
			cases = append(cases, searchCase{param: p.key(), query: p.typ + "?_id=" + f.id, want: []string{f.id}},
				searchCase{param: p.key(), query: p.typ + "?_id=" + f.id + "x"})
			continue
		}
		lu, ok := lastUpdated[p.typ+"/"+f.id]
		if !ok {
			r := s.do("GET", "/"+p.typ+"/"+f.id, nil).want(t, http.StatusOK)
			lu = str(r.body, "meta", "lastUpdated")
			lastUpdated[p.typ+"/"+f.id] = lu
		}
		cases = append(cases,
			searchCase{param: p.key(), query: p.typ + "?_id=" + f.id + "&_lastUpdated=" + url.QueryEscape(lu), want: []string{f.id}},
			searchCase{param: p.key(), query: p.typ + "?_id=" + f.id + "&_lastUpdated=lt1990-01-01"})
	}
	// Reverse includes of the reference fixtures, by target type in
	// groups of 50: the targets must bring in the fixtures.
	revByTarget := map[string][]*fixture{}
	for _, f := range fixtures {
		if f.query == "" {
			continue
		}
		pos := searchCase{param: f.param.key(), query: f.param.typ + "?" + f.query, want: []string{f.id}}
		if f.target != "" {
			pos.query += "&_include=" + url.QueryEscape(f.param.typ+":"+f.param.code)
			pos.wantIncluded = []string{f.target}
			tt, _, _ := strings.Cut(f.target, "/")
			revByTarget[tt] = append(revByTarget[tt], f)
		}
		// The near value: only the count is needed.
		cases = append(cases, pos, searchCase{param: f.param.key(), query: f.param.typ + "?" + f.miss + "&_summary=count"})
	}
	for tt, fs := range revByTarget {
		for len(fs) > 0 {
			group := fs[:min(50, len(fs))]
			fs = fs[len(group):]
			c := searchCase{param: tt + " _revinclude of the reference fixtures"}
			q := url.Values{"_count": {"1000"}}
			var ids []string
			for _, f := range group {
				_, tid, _ := strings.Cut(f.target, "/")
				ids = append(ids, tid)
				q.Add("_revinclude", f.param.typ+":"+f.param.code)
				c.wantIncluded = append(c.wantIncluded, f.param.typ+"/"+f.id)
			}
			q.Set("_id", strings.Join(ids, ","))
			c.want, c.query = ids, tt+"?"+q.Encode()
			cases = append(cases, c)
		}
	}

	// Every searchInclude and searchRevInclude the statement lists is
	// accepted: all of a type's in one search, and each reverse include
	// once (it names the same parameter for every type it may point to).
	for typ, l := range includes {
		q := url.Values{"_id": {"none"}, "_include": l}
		cases = append(cases, searchCase{param: typ + " searchInclude", query: typ + "?" + q.Encode()})
	}
	revSeen := map[string]bool{}
	for typ, l := range revIncludes {
		q := url.Values{"_id": {"none"}}
		for _, inc := range l {
			if !revSeen[inc] {
				revSeen[inc] = true
				q.Add("_revinclude", inc)
			}
		}
		if len(q["_revinclude"]) > 0 {
			cases = append(cases, searchCase{param: typ + " searchRevInclude", query: typ + "?" + q.Encode()})
		}
	}
	s.runCases(t, cases)

	// Coverage: every listed parameter is tested, and the list is the
	// one recorded in testdata.
	var lines []string
	data, fix := 0, 0
	for _, p := range listed {
		switch how[p.key()] {
		case "data":
			data++
		case "fixture":
			fix++
		default:
			t.Errorf("%s is listed in the CapabilityStatement but not tested", p.key())
		}
		lines = append(lines, p.typ+"\t"+p.code+"\t"+string(p.ptype)+"\t"+how[p.key()])
	}
	sort.Strings(lines)
	t.Logf("%d listed parameters: %d tested with values from the Synthea data, %d with fixtures; %d searches",
		len(listed), data, fix, len(cases))
	compareGolden(t, "search-param-coverage.tsv", "# type\tparameter\tparameter type\ttested with (data: values of the Synthea resources; fixture: a generated resource)\n"+strings.Join(lines, "\n")+"\n")
}

// resolveRefs returns a copy of v with the references found in refs
// replaced.
func resolveRefs(v any, refs map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if r, ok := e.(string); ok && k == "reference" && refs[r] != "" {
				out[k] = refs[r]
				continue
			}
			out[k] = resolveRefs(e, refs)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolveRefs(e, refs)
		}
		return out
	}
	return v
}

// compareGolden compares got with testdata/name; SMARTGATE_UPDATE_GOLDEN=1
// rewrites the file.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if os.Getenv("SMARTGATE_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (SMARTGATE_UPDATE_GOLDEN=1 writes it)", err)
	}
	if string(want) == got {
		return
	}
	wl, gl := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(string(want), "\n") {
		wl[l] = true
	}
	for _, l := range strings.Split(got, "\n") {
		gl[l] = true
	}
	n := 0
	for l := range gl {
		if !wl[l] && n < 20 {
			t.Errorf("%s: new line %q", file, l)
			n++
		}
	}
	for l := range wl {
		if !gl[l] && n < 40 {
			t.Errorf("%s: missing line %q", file, l)
			n++
		}
	}
	t.Errorf("%s differs from what the server lists and tests (SMARTGATE_UPDATE_GOLDEN=1 rewrites it)", file)
}

// storeFixtures stores the fixtures and the reference targets with one
// transaction of PUTs.
func storeFixtures(t *testing.T, s *synthea, fixtures []*fixture, targets map[string]bool) {
	t.Helper()
	var list []any
	for _, f := range fixtures {
		f.res["id"] = f.id
		list = append(list, map[string]any{"resource": f.res,
			"request": map[string]any{"method": "PUT", "url": f.param.typ + "/" + f.id}})
	}
	for tg := range targets {
		typ, id, _ := strings.Cut(tg, "/")
		list = append(list, map[string]any{"resource": map[string]any{"resourceType": typ, "id": id},
			"request": map[string]any{"method": "PUT", "url": tg}})
	}
	b := s.do("POST", "", map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": list}).want(t, http.StatusOK)
	failed := false
	for i, e := range b.body["entry"].([]any) {
		if st := str(e, "response", "status"); !strings.HasPrefix(st, "201") {
			t.Errorf("storing %s: %s %v", list[i].(map[string]any)["request"].(map[string]any)["url"], st, e)
			failed = true
		}
	}
	if failed {
		t.FailNow()
	}
}

// fixture is a resource made to carry a value of one parameter.
type fixture struct {
	param listedParam
	id    string
	res   map[string]any
	// query must find exactly the fixture; miss must find nothing.
	query, miss string
	// target is the Type/id the fixture's reference points to.
	target string
}

// pathStep is one step of a parameter expression: a field (with the
// type of a cast on it), a where(field='value') or an extension('url').
type pathStep struct {
	field, cast, refType string
	where                map[string]string
}

// parseExpr reads one union branch of a search parameter expression of
// the shapes the R4 definitions use: Type.a.b, (Type.a as T).b,
// Type.a.as(T), .ofType(T), .where(resolve() is T), .where(f='v'),
// .extension('url').
func parseExpr(branch, typ string) ([]pathStep, bool) {
	b := strings.TrimSpace(branch)
	cast := ""
	if strings.HasPrefix(b, "(") {
		end := strings.LastIndex(b, ")")
		inner, rest := b[1:end], strings.TrimSpace(b[end+1:])
		if i := strings.Index(inner, " as "); i >= 0 {
			inner, cast = inner[:i], strings.TrimSpace(inner[i+4:])
		}
		steps, ok := parseExpr(inner, typ)
		if !ok || len(steps) == 0 {
			return nil, false
		}
		if cast != "" {
			steps[len(steps)-1].cast = cast
		}
		if rest != "" {
			more, ok := parseExpr(typ+rest, typ)
			if !ok {
				return nil, false
			}
			steps = append(steps, more...)
		}
		return steps, true
	}
	if i := strings.Index(b, " as "); i >= 0 {
		b, cast = b[:i], strings.TrimSpace(b[i+4:])
	}
	if !strings.HasPrefix(b, typ+".") {
		return nil, false
	}
	var steps []pathStep
	for _, part := range search.SplitTop(b[len(typ)+1:], '.') {
		last := len(steps) - 1
		switch {
		case strings.HasPrefix(part, "as(") || strings.HasPrefix(part, "ofType("):
			if last < 0 {
				return nil, false
			}
			steps[last].cast = part[strings.Index(part, "(")+1 : len(part)-1]
		case strings.HasPrefix(part, "where(resolve() is "):
			if last < 0 {
				return nil, false
			}
			steps[last].refType = strings.TrimSpace(part[len("where(resolve() is ") : len(part)-1])
		case strings.HasPrefix(part, "where("):
			f, v, ok := strings.Cut(part[6:len(part)-1], "=")
			if !ok || last < 0 {
				return nil, false
			}
			if steps[last].where == nil {
				steps[last].where = map[string]string{}
			}
			steps[last].where[strings.TrimSpace(f)] = strings.Trim(strings.TrimSpace(v), "'")
		case strings.HasPrefix(part, "extension('"):
			steps = append(steps, pathStep{field: "extension", where: map[string]string{"url": part[len("extension('") : len(part)-2]}})
		case strings.ContainsAny(part, "()[] "):
			return nil, false
		default:
			steps = append(steps, pathStep{field: part})
		}
	}
	if cast != "" && len(steps) > 0 {
		steps[len(steps)-1].cast = cast
	}
	return steps, len(steps) > 0
}

// choiceDefaults are the data types used for choice elements that the
// expressions name without a cast.
var choiceDefaults = map[string]string{
	"effective": "DateTime", "occurrence": "DateTime", "performed": "DateTime", "scheduled": "Period",
	"collected": "DateTime", "onset": "DateTime", "value": "String", "deceased": "Boolean",
	"medication": "CodeableConcept", "target": "Reference", "source": "Reference", "event": "Coding",
	"answer": "String", "multipleBirth": "Boolean", "doseNumber": "PositiveInt", "topic": "CodeableConcept",
	"occurred": "DateTime", "probability": "Decimal",
}

// choiceParents names (as Type.element) the choice elements the
// expressions name without a cast; the generator writes them with the data
// type of choiceDefaults.
var choiceParents = map[string]bool{
	"Observation.effective": true, "Observation.value": true, "ChargeItem.occurrence": true,
	"Procedure.performed": true, "CarePlan.scheduled": true, "Specimen.collected": true,
	"DeviceRequest.occurrence": true, "ServiceRequest.occurrence": true, "DiagnosticReport.effective": true,
	"RiskAssessment.occurrence": true, "Immunization.occurrence": true, "MessageDefinition.event": true,
	"MessageHeader.event": true, "ClinicalImpression.effective": true, "Condition.onset": true,
	"MedicationStatement.effective": true, "MedicationAdministration.effective": true, "Group.value": true,
	"Questionnaire.answer": true, "ImmunizationEvaluation.doseNumber": true,
	"Immunization.doseNumber": true, "Contract.topic": true, "ConceptMap.source": true, "ConceptMap.target": true,
	"Consent.source": true, "Provenance.occurred": true, "BiologicallyDerivedProduct.collected": true, "RiskAssessment.probability": true, "MedicationRequest.medication": true,
	"MedicationDispense.medication": true, "MedicationAdministration.medication": true,
	"MedicationStatement.medication": true, "Patient.deceased": true, "Patient.multipleBirth": true,
}

// identifierFields, contactFields, booleanFields and codeFields tell the
// token shapes the generator writes: Identifier, ContactPoint, boolean,
// a plain code; any other token is a CodeableConcept.
var (
	identifierFields = map[string]bool{"identifier": true, "masterIdentifier": true, "groupIdentifier": true,
		"requestIdentifier": true, "accessionIdentifier": true, "requisition": true}
	contactFields = map[string]bool{"telecom": true}
	booleanFields = map[string]bool{"active": true, "experimental": true, "abstract": true, "actual": true,
		"exclude": true, "deceased": true}
	codeFields = map[string]bool{"status": true, "use": true, "version": true, "intent": true, "priority": true,
		"language": true, "gender": true, "kind": true, "mode": true, "path": true, "uid": true, "lotNumber": true,
		"criticality": true, "base": true, "actuality": true, "derivation": true, "contentType": true,
		"subjectType": true, "confidentiality": true, "system": true, "name": true, "value": true}
)

const fxSystem = "http://example.org/smartgate/fixture"

// fixtureFor builds a resource of p.typ whose value of parameter p is
// unique to it (the n-th fixture), following the parameter's expression.
func fixtureFor(reg *search.Registry, p listedParam, n int) (*fixture, error) {
	sp := reg.Param(p.typ, p.code)
	if sp == nil {
		return nil, fmt.Errorf("not in the registry")
	}
	f := &fixture{param: p, id: fmt.Sprintf("fx%05d", n), res: map[string]any{"resourceType": p.typ}}
	if hand, ok := handFixtures[p.key()]; ok {
		hand(f)
		return f, nil
	}
	var steps []pathStep
	for _, b := range search.SplitTop(sp.Expression, '|') {
		if st, ok := parseExpr(b, p.typ); ok {
			steps = st
			break
		}
	}
	if steps == nil {
		return nil, fmt.Errorf("cannot generate a value for %q (add it to handFixtures)", sp.Expression)
	}
	cur := f.res
	parent := p.typ
	for i, st := range steps {
		key := st.field
		cast := st.cast
		if cast == "" && choiceParents[parent+"."+key] {
			cast = choiceDefaults[key]
		}
		if cast != "" && st.field != "extension" {
			key += strings.ToUpper(cast[:1]) + cast[1:]
		}
		if i < len(steps)-1 {
			child := map[string]any{}
			for k, v := range st.where {
				child[k] = v
			}
			if key == "extension" {
				cur[key] = []any{child}
			} else {
				cur[key] = child
			}
			cur, parent = child, p.typ
			continue
		}
		v, err := f.leaf(reg, sp, st, cast, n)
		if err != nil {
			return nil, err
		}
		if m, ok := v.(map[string]any); ok {
			for k, w := range st.where {
				m[k] = w
			}
		} else if len(st.where) > 0 {
			return nil, fmt.Errorf("where() on a primitive in %q", sp.Expression)
		}
		if key == "extension" {
			cur[key] = []any{v}
		} else {
			cur[key] = v
		}
	}
	// The generated resource must yield the value through the server's own
	// extraction, or the generator has misread the expression.
	raw, _ := json.Marshal(f.res)
	m, _ := search.Decode(raw)
	idx, err := reg.Extract(p.typ, m, raw)
	if err != nil {
		return nil, err
	}
	for _, e := range idx {
		if e.Param == p.code {
			return f, nil
		}
	}
	return nil, fmt.Errorf("generated %s yields no value of %s (%q)", raw, p.code, sp.Expression)
}

// leaf makes the value at the end of the path and sets the queries.
func (f *fixture) leaf(reg *search.Registry, sp *search.Param, st pathStep, cast string, n int) (any, error) {
	p := f.param
	tag := fmt.Sprintf("fx%05dq", n)
	switch p.ptype {
	case search.TypeString:
		f.query, f.miss = p.code+"="+strings.ToUpper(tag), p.code+"="+tag+"x"
		switch {
		case st.field == "name" && (p.typ == "Patient" || p.typ == "Practitioner" || p.typ == "RelatedPerson" || p.typ == "Person"):
			return map[string]any{"family": tag}, nil
		case st.field == "address":
			return map[string]any{"line": []any{tag}}, nil
		}
		return tag, nil
	case search.TypeURI:
		u := "http://example.org/fixture/" + tag
		f.query, f.miss = p.code+"="+url.QueryEscape(u), p.code+"="+url.QueryEscape(u+"x")
		return u, nil
	case search.TypeToken:
		switch {
		case booleanFields[st.field] || cast == "boolean" || cast == "Boolean":
			f.query = p.code + "=true&_id=" + f.id
			f.miss = p.code + "=false&_id=" + f.id
			return true, nil
		case identifierFields[st.field] || cast == "Identifier":
			f.query, f.miss = p.code+"="+url.QueryEscape(fxSystem+"|"+tag), p.code+"="+url.QueryEscape(fxSystem+"|"+tag+"x")
			return map[string]any{"system": fxSystem, "value": tag}, nil
		case contactFields[st.field] || st.where["system"] != "":
			f.query, f.miss = p.code+"="+tag, p.code+"="+tag+"x"
			return map[string]any{"system": "phone", "value": tag}, nil
		case cast == "Coding" || st.field == "tag" || st.field == "security" || st.field == "class":
			f.query, f.miss = p.code+"="+url.QueryEscape(fxSystem+"|"+tag), p.code+"="+url.QueryEscape("http://other.example|"+tag)
			return map[string]any{"system": fxSystem, "code": tag}, nil
		case cast == "" && codeFields[st.field], cast == "code", cast == "string", cast == "uri", cast == "id":
			f.query, f.miss = p.code+"="+tag, p.code+"="+tag+"x"
			return tag, nil
		}
		f.query, f.miss = p.code+"="+url.QueryEscape(fxSystem+"|"+tag), p.code+"="+url.QueryEscape("http://other.example|"+tag)
		return map[string]any{"coding": []any{map[string]any{"system": fxSystem, "code": tag}}}, nil
	case search.TypeReference:
		tt := st.refType
		if tt == "" {
			for _, c := range sp.Targets {
				if reg.IsType(c) {
					tt = c
					break
				}
			}
		}
		if tt == "" {
			// A canonical without target types: the URL itself.
			u := "http://example.org/fixture/Canonical/" + tag
			f.query, f.miss = p.code+"="+url.QueryEscape(u), p.code+"="+url.QueryEscape(u+"x")
			return u, nil
		}
		f.target = tt + "/fxt" + tag
		f.query, f.miss = p.code+"="+url.QueryEscape(f.target), p.code+"="+url.QueryEscape(f.target+"x")
		if st.field == "resource" || strings.HasSuffix(st.field, "Canonical") {
			// A canonical (RelatedArtifact.resource, instantiatesCanonical):
			// the target's URL.
			return "http://example.org/fhir/" + f.target, nil
		}
		return map[string]any{"reference": f.target}, nil
	case search.TypeDate:
		day := time.Date(1901, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n)
		d, miss := day.Format("2006-01-02"), day.AddDate(-100, 0, 0).Format("2006-01-02")
		f.query, f.miss = p.code+"="+d, p.code+"="+miss
		switch {
		case cast == "Period" || strings.HasSuffix(st.field, "eriod") || st.field == "planningHorizon":
			return map[string]any{"start": d + "T08:00:00Z", "end": d + "T09:00:00Z"}, nil
		case cast == "Timing":
			return map[string]any{"event": []any{d + "T08:00:00Z"}}, nil
		}
		return d, nil
	case search.TypeNumber:
		f.query, f.miss = p.code+"="+fmt.Sprint(100000+n), p.code+"="+fmt.Sprint(900000+n)
		return 100000 + n, nil
	case search.TypeQuantity:
		v := 100000 + n
		f.query = p.code + "=" + url.QueryEscape(fmt.Sprintf("%d|http://unitsofmeasure.org|mg", v))
		f.miss = p.code + "=" + url.QueryEscape(fmt.Sprintf("%d|http://unitsofmeasure.org|mg", 900000+n))
		if cast == "Money" {
			f.query, f.miss = p.code+"="+fmt.Sprint(v), p.code+"="+fmt.Sprint(900000+n)
			return map[string]any{"value": v, "currency": "USD"}, nil
		}
		return map[string]any{"value": v, "system": "http://unitsofmeasure.org", "code": "mg", "unit": "mg"}, nil
	}
	return nil, fmt.Errorf("parameter type %s", p.ptype)
}

// handFixtures are written by hand for expressions the generator cannot
// follow.
var handFixtures = map[string]func(f *fixture){
	"Patient.deceased": func(f *fixture) {
		f.res["deceasedBoolean"] = true
		f.query, f.miss = "deceased=true&_id="+f.id, "deceased=false&_id="+f.id
	},
}

// TestUnlistedSearchParameters checks that every R4 search parameter the
// CapabilityStatement leaves out (composite, special, without expression,
// or one the server cannot index) is refused: 400 in strict mode, ignored
// and reported under Prefer: handling=lenient. And that nothing is listed
// that R4 does not define.
func TestUnlistedSearchParameters(t *testing.T) {
	t.Parallel()
	c := newServer(t, fhir.Config{})
	reg := registry(t)
	meta := c.do("GET", "/metadata", nil).want(t, http.StatusOK)
	listed := map[string]bool{}
	for _, r := range meta.body["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		rm := r.(map[string]any)
		sps, _ := rm["searchParam"].([]any)
		for _, sp := range sps {
			listed[str(rm, "type")+"."+str(sp, "name")] = true
		}
	}
	raw, err := os.ReadFile(filepath.Join(shareddata.SharedDir(t), "fhir", "r4", "search-parameters.json"))
	if err != nil {
		t.Fatal(err)
	}
	var defs struct {
		Entry []struct {
			Resource struct {
				Code string   `json:"code"`
				Base []string `json:"base"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &defs); err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	var unlisted []string
	for _, e := range defs.Entry {
		for _, base := range e.Resource.Base {
			types := []string{base}
			if base == "Resource" || base == "DomainResource" {
				types = reg.Types()
			}
			for _, typ := range types {
				if !reg.IsType(typ) {
					continue
				}
				k := typ + "." + e.Resource.Code
				defined[k] = true
				if !listed[k] {
					unlisted = append(unlisted, k)
				}
			}
		}
	}
	for k := range listed {
		if !defined[k] {
			t.Errorf("%s is listed but R4 does not define it", k)
		}
	}
	sort.Strings(unlisted)
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				typ, code, _ := strings.Cut(k, ".")
				if msg := refused(c.base+"/"+typ+"?"+url.QueryEscape(code)+"=x", code); msg != "" {
					t.Errorf("%s: %s", k, msg)
				}
			}
		}()
	}
	for _, k := range unlisted {
		work <- k
	}
	close(work)
	wg.Wait()
	t.Logf("%d R4 parameters are not listed and are refused", len(unlisted))
	// The Bundle parameters that select resources, not References.
	for _, k := range []string{"Bundle.composition", "Bundle.message", "Observation.code-value-quantity", "Patient._text", "Location.near"} {
		if listed[k] || !defined[k] {
			t.Errorf("%s: listed %v, defined %v", k, listed[k], defined[k])
		}
	}
	compareGolden(t, "search-param-unlisted.txt", "# R4 search parameters the server does not support (refused with 400, or ignored under Prefer: handling=lenient)\n"+strings.Join(unlisted, "\n")+"\n")
}

// refused checks that a search is a 400 OperationOutcome in strict mode
// and, under Prefer: handling=lenient, a searchset whose outcome entry
// reports the parameter.
func refused(u, code string) string {
	for _, lenient := range []bool{false, true} {
		req, _ := http.NewRequest("GET", u, nil)
		if lenient {
			req.Header.Set("Prefer", "handling=lenient")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var b map[string]any
		if err := json.Unmarshal(raw, &b); err != nil {
			return err.Error()
		}
		switch {
		case !lenient && (resp.StatusCode != http.StatusBadRequest || b["resourceType"] != "OperationOutcome"):
			return fmt.Sprintf("strict: status %d: %.200s", resp.StatusCode, raw)
		case lenient && resp.StatusCode != http.StatusOK:
			return fmt.Sprintf("lenient: status %d: %.200s", resp.StatusCode, raw)
		case lenient:
			out := entries(&response{body: b}, "outcome")
			if len(out) != 1 || !strings.Contains(str(out[0]["issue"].([]any)[0], "diagnostics"), code) {
				return fmt.Sprintf("lenient: not reported: %.300s", raw)
			}
		}
	}
	return ""
}
