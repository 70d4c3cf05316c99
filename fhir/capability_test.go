package fhir_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// TestCapabilityStatementClaims checks every claim of the
// CapabilityStatement against the server: each element of the statement
// has a check below (an element without one fails the test), and each
// resource's claims are exercised on that resource type, for all types.
// The searchParam, searchInclude and searchRevInclude lists are searched
// against the Synthea data by TestSynthea ("every search parameter"); here
// they are checked to be consistent with each other.
func TestCapabilityStatementClaims(t *testing.T) {
	t.Parallel()
	c := newServer(t, fhir.Config{})
	meta := c.do("GET", "/metadata", nil).want(t, http.StatusOK)
	h := &claimClient{base: c.base}

	// Top level: descriptive elements, and the formats.
	for k, v := range meta.body {
		switch k {
		case "resourceType", "status", "date", "publisher", "kind", "software", "implementation", "fhirVersion":
			// Descriptive: no behaviour to check.
		case "format":
			for _, f := range v.([]any) {
				r := h.do("GET", "/metadata?_format="+url.QueryEscape(f.(string)), nil)
				if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
					t.Errorf("format %s: %d %q", f, r.status, r.header.Get("Content-Type"))
				}
			}
		case "rest":
		default:
			t.Errorf("CapabilityStatement.%s has no check", k)
		}
	}
	rest := meta.body["rest"].([]any)[0].(map[string]any)
	for k := range rest {
		switch k {
		case "mode":
			if rest[k] != "server" {
				t.Errorf("mode %v", rest[k])
			}
		case "security":
			// cors: TestCORS; SMART service and oauth-uris: TestMetadata.
			if sec := rest[k].(map[string]any); sec["cors"] != true {
				t.Errorf("security %v", sec)
			}
		case "resource", "interaction", "searchParam":
		default:
			t.Errorf("CapabilityStatement.rest.%s has no check", k)
		}
	}
	t.Run("system interactions", func(t *testing.T) {
		for _, i := range rest["interaction"].([]any) {
			code := str(i, "code")
			check, ok := systemInteractionChecks[code]
			if !ok {
				t.Errorf("system interaction %s has no check", code)
				continue
			}
			t.Run(code, func(t *testing.T) { check(t, h) })
		}
	})
	t.Run("system search parameters", func(t *testing.T) {
		for _, sp := range rest["searchParam"].([]any) {
			name := str(sp, "name")
			check, ok := resultParamChecks[name]
			if !ok {
				t.Errorf("search parameter %s has no check", name)
				continue
			}
			t.Run(name, func(t *testing.T) { check(t, h, sp.(map[string]any)) })
		}
	})
	t.Run("resources", func(t *testing.T) {
		resources := rest["resource"].([]any)
		if len(resources) != len(registry(t).Types()) {
			t.Errorf("%d resources listed, %d types stored", len(resources), len(registry(t).Types()))
		}
		reg := registry(t)
		refParams := map[string]map[string]bool{} // type → reference parameter codes
		for _, r := range resources {
			rm := r.(map[string]any)
			refParams[str(rm, "type")] = map[string]bool{}
			for _, sp := range rm["searchParam"].([]any) {
				if str(sp, "type") == "reference" {
					refParams[str(rm, "type")][str(sp, "name")] = true
				}
			}
		}
		work := make(chan map[string]any)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for rm := range work {
					for _, msg := range resourceClaims(h, reg, rm, refParams) {
						t.Errorf("%s: %s", str(rm, "type"), msg)
					}
				}
			}()
		}
		for _, r := range resources {
			work <- r.(map[string]any)
		}
		close(work)
		wg.Wait()
	})
}

// claimClient makes requests from several goroutines; failures are
// returned, not fatal.
type claimClient struct{ base string }

func (h *claimClient) do(method, path string, body any, hdr ...string) *response {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		return &response{status: -1, raw: []byte(err.Error())}
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &response{status: -1, raw: []byte(err.Error())}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.body)
	return r
}

// resourceClaims checks the claims of one CapabilityStatement.rest.resource
// entry on its type and returns what is false.
func resourceClaims(h *claimClient, reg *search.Registry, rm map[string]any, refParams map[string]map[string]bool) []string {
	typ := str(rm, "type")
	var errs []string
	fail := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	expect := func(r *response, status int, what string) bool {
		if r.status != status {
			fail("%s: status %d, want %d: %.200s", what, r.status, status, r.raw)
			return false
		}
		return true
	}
	// The lifecycle every claim below relies on: a resource created, then
	// updated (versions 1 and 2).
	// The create (the server assigns the id) and the update are checked
	// by the create and update interactions.
	created := h.do("POST", "/"+typ, map[string]any{"resourceType": typ, "id": "ignored"})
	if created.status != http.StatusCreated {
		fail("create: %d %.200s", created.status, created.raw)
		return errs
	}
	id := str(created.body, "id")
	updated := h.do("PUT", "/"+typ+"/"+id, map[string]any{"resourceType": typ, "id": id, "language": "en"}, "If-Match", `W/"1"`)
	// Resources the conditional delete may use (from updateCreate and
	// conditionalCreate).
	var spare []string
	for k, v := range rm {
		switch k {
		case "type":
		case "profile":
			if v != "http://hl7.org/fhir/StructureDefinition/"+typ {
				fail("profile %v", v)
			}
		case "interaction":
			for _, i := range v.([]any) {
				code := str(i, "code")
				if code == "delete" {
					continue // last: it ends the resource
				}
				check, ok := typeInteractionChecks[code]
				if !ok {
					fail("interaction %s has no check", code)
					continue
				}
				if msg := check(h, typ, id, created, updated); msg != "" {
					fail("interaction %s: %s", code, msg)
				}
			}
		case "versioning":
			// versioned-update: versions are kept and If-Match is enforced.
			if v != "versioned-update" {
				fail("versioning %v has no check", v)
				break
			}
			r := h.do("PUT", "/"+typ+"/"+id, map[string]any{"resourceType": typ, "id": id}, "If-Match", `W/"1"`)
			expect(r, http.StatusPreconditionFailed, "update with a stale If-Match")
			if r := h.do("GET", "/"+typ+"/"+id+"/_history/1", nil); expect(r, http.StatusOK, "vread of version 1") && str(r.body, "meta", "versionId") != "1" {
				fail("vread version 1 returned %q", str(r.body, "meta", "versionId"))
			}
		case "readHistory":
			if v != true {
				fail("readHistory %v has no check", v)
				break
			}
			r := h.do("GET", "/"+typ+"/"+id+"/_history/1", nil)
			if expect(r, http.StatusOK, "read of a past version") && r.header.Get("ETag") != `W/"1"` {
				fail("past version ETag %q", r.header.Get("ETag"))
			}
		case "updateCreate":
			if v != true {
				fail("updateCreate %v has no check", v)
				break
			}
			nid := "uc-" + id
			if r := h.do("PUT", "/"+typ+"/"+nid, map[string]any{"resourceType": typ, "id": nid}); expect(r, http.StatusCreated, "update as create") {
				if str(r.body, "id") != nid {
					fail("update as create: %.200s", r.raw)
				}
				spare = append(spare, nid)
			}
		case "conditionalCreate":
			if v != true {
				fail("conditionalCreate %v has no check", v)
				break
			}
			r := h.do("POST", "/"+typ, map[string]any{"resourceType": typ}, "If-None-Exist", "_id="+id)
			if expect(r, http.StatusOK, "conditional create matching one") && str(r.body, "id") != id {
				fail("conditional create matching %s returned %q", id, str(r.body, "id"))
			}
			r = h.do("POST", "/"+typ, map[string]any{"resourceType": typ}, "If-None-Exist", "_id=none-such")
			if expect(r, http.StatusCreated, "conditional create matching none") {
				spare = append(spare, str(r.body, "id"))
			}
		case "conditionalRead":
			if v != "not-match" {
				fail("conditionalRead %v has no check", v)
				break
			}
			cur := h.do("GET", "/"+typ+"/"+id, nil).header.Get("ETag")
			r := h.do("GET", "/"+typ+"/"+id, nil, "If-None-Match", cur)
			expect(r, http.StatusNotModified, "read with If-None-Match of the current version")
			r = h.do("GET", "/"+typ+"/"+id, nil, "If-None-Match", `W/"1"`)
			expect(r, http.StatusOK, "read with If-None-Match of an old version")
		case "conditionalUpdate":
			if v != true {
				fail("conditionalUpdate %v has no check", v)
				break
			}
			r := h.do("PUT", "/"+typ+"?_id="+id, map[string]any{"resourceType": typ})
			if expect(r, http.StatusOK, "conditional update") && (str(r.body, "id") != id || str(r.body, "meta", "versionId") < "3") {
				fail("conditional update: %.200s", r.raw)
			}
		case "conditionalDelete":
			if v != "single" {
				fail("conditionalDelete %v has no check", v)
			}
			// Checked below, once the spare resources exist.
		case "searchParam":
			// Searched by TestSynthea; each listed once.
			seen := map[string]bool{}
			for _, sp := range v.([]any) {
				if seen[str(sp, "name")] {
					fail("searchParam %s listed twice", str(sp, "name"))
				}
				seen[str(sp, "name")] = true
			}
		case "searchInclude", "searchRevInclude":
			// Included by TestSynthea; here: each names a listed reference
			// parameter, and a reverse include one that may point here.
			for _, inc := range v.([]any) {
				src, code, _ := strings.Cut(inc.(string), ":")
				if !refParams[src][code] {
					fail("%s %s: not a listed reference parameter", k, inc)
				}
				if k == "searchInclude" && src != typ {
					fail("searchInclude %s of another type", inc)
				}
				if k == "searchRevInclude" && !slices.Contains(reg.Param(src, code).Targets, typ) {
					fail("searchRevInclude %s cannot point to %s", inc, typ)
				}
			}
		default:
			fail("CapabilityStatement.rest.resource.%s has no check", k)
		}
	}
	if rm["conditionalDelete"] == "single" {
		// single: more than one match is refused (412), one is deleted.
		for len(spare) < 2 {
			r := h.do("POST", "/"+typ, map[string]any{"resourceType": typ})
			if !expect(r, http.StatusCreated, "create") {
				return errs
			}
			spare = append(spare, str(r.body, "id"))
		}
		expect(h.do("DELETE", "/"+typ+"?_id="+spare[0]+","+spare[1], nil), http.StatusPreconditionFailed, "conditional delete matching two")
		expect(h.do("DELETE", "/"+typ+"?_id="+spare[0], nil), http.StatusNoContent, "conditional delete matching one")
		expect(h.do("GET", "/"+typ+"/"+spare[0], nil), http.StatusGone, "read after conditional delete")
	}
	// delete is checked last: it ends the resource.
	if slices.ContainsFunc(rm["interaction"].([]any), func(i any) bool { return str(i, "code") == "delete" }) {
		if msg := typeInteractionChecks["delete"](h, typ, id, created, updated); msg != "" {
			fail("interaction delete: %s", msg)
		}
	}
	return errs
}

// typeInteractionChecks check a type or instance interaction on a resource
// that was created (the answer is created) and updated once (updated;
// versions 1 and 2 exist) and return what is wrong ("" if nothing).
var typeInteractionChecks = map[string]func(h *claimClient, typ, id string, created, updated *response) string{
	"read": func(h *claimClient, typ, id string, created, updated *response) string {
		r := h.do("GET", "/"+typ+"/"+id, nil)
		if r.status != http.StatusOK || str(r.body, "id") != id || str(r.body, "resourceType") != typ || r.header.Get("ETag") == "" {
			return fmt.Sprintf("%d %.200s", r.status, r.raw)
		}
		return ""
	},
	"vread": func(h *claimClient, typ, id string, created, updated *response) string {
		r := h.do("GET", "/"+typ+"/"+id+"/_history/2", nil)
		if r.status != http.StatusOK || str(r.body, "meta", "versionId") != "2" {
			return fmt.Sprintf("%d %.200s", r.status, r.raw)
		}
		return ""
	},
	"update": func(_ *claimClient, _, _ string, _, r *response) string {
		if r.status != http.StatusOK || str(r.body, "language") != "en" || str(r.body, "meta", "versionId") != "2" {
			return fmt.Sprintf("%d %.200s", r.status, r.raw)
		}
		return ""
	},
	"delete": func(h *claimClient, typ, id string, created, updated *response) string {
		if r := h.do("DELETE", "/"+typ+"/"+id, nil); r.status != http.StatusNoContent {
			return fmt.Sprintf("%d %.200s", r.status, r.raw)
		}
		if r := h.do("GET", "/"+typ+"/"+id, nil); r.status != http.StatusGone {
			return fmt.Sprintf("read after delete: %d", r.status)
		}
		return ""
	},
	"history-instance": func(h *claimClient, typ, id string, created, updated *response) string {
		r := h.do("GET", "/"+typ+"/"+id+"/_history", nil)
		if r.status != http.StatusOK || str(r.body, "type") != "history" || len(entriesOf(r)) < 2 {
			return fmt.Sprintf("%d %.300s", r.status, r.raw)
		}
		for _, e := range entriesOf(r) {
			if str(e, "resource", "id") != id {
				return fmt.Sprintf("entry of %s", str(e, "resource", "id"))
			}
		}
		return ""
	},
	"history-type": func(h *claimClient, typ, id string, created, updated *response) string {
		r := h.do("GET", "/"+typ+"/_history?_count=1000", nil)
		if r.status != http.StatusOK || str(r.body, "type") != "history" {
			return fmt.Sprintf("%d %.300s", r.status, r.raw)
		}
		for _, e := range entriesOf(r) {
			if str(e, "resource", "resourceType") != typ && e["resource"] != nil {
				return "an entry of another type"
			}
			if str(e, "resource", "id") == id {
				return ""
			}
		}
		return id + " not in the type history"
	},
	"create": func(_ *claimClient, typ, id string, r, _ *response) string {
		if r.status != http.StatusCreated || id == "ignored" || id == "" || str(r.body, "resourceType") != typ ||
			!strings.HasSuffix(r.header.Get("Location"), "/"+typ+"/"+id+"/_history/1") || r.header.Get("ETag") != `W/"1"` {
			return fmt.Sprintf("%d %q %.200s", r.status, r.header.Get("Location"), r.raw)
		}
		return ""
	},
	"search-type": func(h *claimClient, typ, id string, created, updated *response) string {
		for _, m := range []string{"GET", "POST"} {
			var r *response
			if m == "GET" {
				r = h.do("GET", "/"+typ+"?_id="+id, nil)
			} else {
				req, _ := http.NewRequest("POST", h.base+"/"+typ+"/_search", strings.NewReader("_id="+id))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err.Error()
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r = &response{status: resp.StatusCode, raw: raw}
				json.Unmarshal(raw, &r.body)
			}
			if r.status != http.StatusOK || r.body["total"] != 1.0 || str(entriesOf(r)[0], "resource", "id") != id {
				return fmt.Sprintf("%s: %d %.300s", m, r.status, r.raw)
			}
		}
		return ""
	},
}

func entriesOf(r *response) []map[string]any {
	var out []map[string]any
	l, _ := r.body["entry"].([]any)
	for _, e := range l {
		out = append(out, e.(map[string]any))
	}
	return out
}

var systemInteractionChecks = map[string]func(t *testing.T, h *claimClient){
	"transaction": func(t *testing.T, h *claimClient) {
		b := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
			map[string]any{"fullUrl": "urn:uuid:6f1c2a52-8a0e-4a51-9d43-2d3c5b6a0001", "resource": patient("Tx"),
				"request": map[string]any{"method": "POST", "url": "Patient"}},
			map[string]any{"resource": map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "tx"},
				"subject": map[string]any{"reference": "urn:uuid:6f1c2a52-8a0e-4a51-9d43-2d3c5b6a0001"}},
				"request": map[string]any{"method": "POST", "url": "Observation"}},
		}}
		r := h.do("POST", "", b)
		if r.status != http.StatusOK || str(r.body, "type") != "transaction-response" || len(entriesOf(r)) != 2 {
			t.Fatalf("%d %.300s", r.status, r.raw)
		}
		// All or nothing: a failing entry leaves nothing behind.
		b["entry"] = append(b["entry"].([]any), map[string]any{"request": map[string]any{"method": "DELETE", "url": "Patient?shoe-size=1"}})
		if r := h.do("POST", "", b); r.status < 400 {
			t.Fatalf("failing transaction: %d", r.status)
		}
		if r := h.do("GET", "/Patient?family=Tx", nil); r.body["total"] != 1.0 {
			t.Fatalf("a failed transaction wrote: total %v", r.body["total"])
		}
	},
	"batch": func(t *testing.T, h *claimClient) {
		b := map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
			map[string]any{"resource": patient("Batch"), "request": map[string]any{"method": "POST", "url": "Patient"}},
			map[string]any{"request": map[string]any{"method": "GET", "url": "Patient/none-such"}},
		}}
		r := h.do("POST", "", b)
		if r.status != http.StatusOK || str(r.body, "type") != "batch-response" {
			t.Fatalf("%d %.300s", r.status, r.raw)
		}
		e := entriesOf(r)
		if !strings.HasPrefix(str(e[0], "response", "status"), "201") || !strings.HasPrefix(str(e[1], "response", "status"), "404") {
			t.Fatalf("batch entries answered %s, %s", str(e[0], "response", "status"), str(e[1], "response", "status"))
		}
	},
	"history-system": func(t *testing.T, h *claimClient) {
		p := h.do("POST", "/Patient", patient("Hist"))
		r := h.do("GET", "/_history?_count=1000", nil)
		if r.status != http.StatusOK || str(r.body, "type") != "history" {
			t.Fatalf("%d %.300s", r.status, r.raw)
		}
		for _, e := range entriesOf(r) {
			if str(e, "resource", "id") == str(p.body, "id") {
				return
			}
		}
		t.Fatal("the new Patient is not in the system history")
	},
}

// resultParamChecks check the search result parameters listed in
// rest.searchParam, each on Patients.
var resultParamChecks = map[string]func(t *testing.T, h *claimClient, sp map[string]any){
	"_count": func(t *testing.T, h *claimClient, _ map[string]any) {
		seedPatients(t, h)
		r := h.do("GET", "/Patient?family=Claim&_count=2", nil)
		if len(entriesOf(r)) != 2 || !hasLink(r, "next") {
			t.Fatalf("_count=2: %.300s", r.raw)
		}
	},
	"_sort": func(t *testing.T, h *claimClient, _ map[string]any) {
		seedPatients(t, h)
		for _, order := range []string{"birthdate", "-birthdate", "family", "-_lastUpdated"} {
			r := h.do("GET", "/Patient?family=Claim&_sort="+order, nil)
			var got []string
			for _, e := range entriesOf(r) {
				switch strings.TrimPrefix(order, "-") {
				case "birthdate":
					got = append(got, str(e, "resource", "birthDate"))
				case "family":
					got = append(got, str(e["resource"].(map[string]any)["name"].([]any)[0], "family"))
				default:
					got = append(got, str(e, "resource", "meta", "lastUpdated"))
				}
			}
			want := append([]string(nil), got...)
			sort.Strings(want)
			if strings.HasPrefix(order, "-") {
				slices.Reverse(want)
			}
			if len(got) != 3 || !slices.Equal(got, want) {
				t.Errorf("_sort=%s: %v", order, got)
			}
		}
		if r := h.do("GET", "/Patient?_sort=shoe-size", nil); r.status != http.StatusBadRequest {
			t.Errorf("_sort by an unknown parameter: %d", r.status)
		}
	},
	"_summary": func(t *testing.T, h *claimClient, sp map[string]any) {
		seedPatients(t, h)
		doc := str(sp, "documentation")
		r := h.do("GET", "/Patient?family=Claim&_summary=count", nil)
		if r.body["total"] != 3.0 || r.body["entry"] != nil {
			t.Errorf("_summary=count: %.300s", r.raw)
		}
		r = h.do("GET", "/Patient?family=Claim&_summary=data", nil)
		for _, e := range entriesOf(r) {
			if e["resource"].(map[string]any)["text"] != nil || str(e, "resource", "birthDate") == "" {
				t.Errorf("_summary=data: %.300s", r.raw)
			}
		}
		r = h.do("GET", "/Patient?family=Claim&_summary=false", nil)
		for _, e := range entriesOf(r) {
			if e["resource"].(map[string]any)["text"] == nil {
				t.Errorf("_summary=false left out text: %.300s", r.raw)
			}
		}
		// The values the server does not implement are refused, and the
		// statement says so.
		for _, v := range []string{"true", "text"} {
			if r := h.do("GET", "/Patient?_summary="+v, nil); r.status != http.StatusBadRequest {
				t.Errorf("_summary=%s: %d", v, r.status)
			}
			if !strings.Contains(doc, v) {
				t.Errorf("_summary documentation %q does not mention %s", doc, v)
			}
		}
		for _, v := range []string{"count", "data", "false"} {
			if !strings.Contains(doc, v) {
				t.Errorf("_summary documentation %q does not mention %s", doc, v)
			}
		}
	},
	"_elements": func(t *testing.T, h *claimClient, _ map[string]any) {
		seedPatients(t, h)
		r := h.do("GET", "/Patient?family=Claim&_elements=birthDate", nil)
		for _, e := range entriesOf(r) {
			res := e["resource"].(map[string]any)
			if res["name"] != nil || res["birthDate"] == nil || res["id"] == nil {
				t.Errorf("_elements=birthDate: %v", res)
			}
		}
	},
}

// seedPatients stores three Patients of family Claim… once.
func seedPatients(t *testing.T, h *claimClient) {
	t.Helper()
	if r := h.do("GET", "/Patient?family=Claim&_summary=count", nil); r.body["total"] == 3.0 {
		return
	}
	for i, bd := range []string{"1990-01-01", "1970-06-15", "1980-03-03"} {
		p := patient(fmt.Sprintf("Claim%c", 'C'-i))
		p["birthDate"] = bd
		p["text"] = map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml">Claim</div>`}
		if r := h.do("POST", "/Patient", p); r.status != http.StatusCreated {
			t.Fatalf("seed: %d %s", r.status, r.raw)
		}
	}
}

func hasLink(r *response, rel string) bool {
	l, _ := r.body["link"].([]any)
	for _, x := range l {
		if str(x, "relation") == rel {
			return true
		}
	}
	return false
}
