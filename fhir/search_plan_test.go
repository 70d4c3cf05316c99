package fhir_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/fhir"
)

// labObservation is an Observation of patient p with one category code.
func labObservation(id, p, category string) map[string]any {
	return map[string]any{
		"resourceType": "Observation", "id": id, "status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}}}},
		"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "718-7"}}},
		"subject": map[string]any{"reference": "Patient/" + p},
	}
}

// pageThrough follows next links from query and returns the ids of every
// match, and the total of each page (-1 when absent).
func pageThrough(t *testing.T, c *client, query string) (ids []string, totals []int) {
	t.Helper()
	next := "/" + query
	for next != "" {
		r := c.do("GET", next, nil).want(t, http.StatusOK)
		tot := -1
		if f, ok := r.body["total"].(float64); ok {
			tot = int(f)
		}
		totals = append(totals, tot)
		for _, e := range entries(r, "match") {
			ids = append(ids, str(e, "id"))
		}
		next = ""
		links, _ := r.body["link"].([]any)
		for _, l := range links {
			if str(l, "relation") == "next" {
				u, err := url.Parse(str(l, "url"))
				if err != nil {
					t.Fatal(err)
				}
				next = strings.TrimPrefix(u.Path, "/fhir") + "?" + u.RawQuery
			}
		}
		if len(totals) > 20 {
			t.Fatal("more than 20 pages")
		}
	}
	sort.Strings(ids)
	return ids, totals
}

// Searches with several parameters, paged, with deleted and updated
// resources and a compartment limit, return exactly the matching current
// resources, and every page reports the same total (FHIR R4 search 3.1.1.5:
// total is the number of matches, not of the page).
func TestSearchSeveralParametersPagedWithDeletes(t *testing.T) {
	for _, restricted := range []bool{false, true} {
		t.Run(fmt.Sprintf("compartment=%v", restricted), func(t *testing.T) {
			cfg := fhir.Config{}
			if restricted {
				cfg.Auth = compartmentOnly{patient: "p1"}
			}
			c := newServer(t, cfg)
			// Data is written through an unrestricted endpoint on the
			// same database.
			srv := fhir.New(fhir.Config{AccessControlOff: true, Registry: registry(t)}, c.db, nil)
			mux := http.NewServeMux()
			srv.Register(mux)
			ts := httptest.NewServer(mux)
			t.Cleanup(ts.Close)
			admin := &client{t: t, base: ts.URL + "/fhir", db: c.db}
			for _, p := range []string{"p1", "p2"} {
				admin.do("PUT", "/Patient/"+p, map[string]any{"resourceType": "Patient", "id": p}).want(t, http.StatusCreated)
			}
			var want []string
			for i := range 12 {
				for _, p := range []string{"p1", "p2"} {
					cat := "laboratory"
					if i%3 == 0 {
						cat = "vital-signs"
					}
					id := fmt.Sprintf("%s-o%02d", p, i)
					admin.do("PUT", "/Observation/"+id, labObservation(id, p, cat)).want(t, http.StatusCreated)
					if p == "p1" && cat == "laboratory" && i != 4 && i != 5 {
						want = append(want, id)
					}
				}
			}
			// A deleted match, and a match moved out of the category.
			admin.do("DELETE", "/Observation/p1-o04", nil).want(t, http.StatusNoContent)
			admin.do("PUT", "/Observation/p1-o05", labObservation("p1-o05", "p1", "imaging")).want(t, http.StatusOK)
			sort.Strings(want)

			for _, q := range []string{
				"Observation?patient=p1&category=laboratory&_count=3",
				"Observation?category=laboratory&patient=Patient/p1&_count=4",
				"Observation?subject=Patient/p1&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&code=718-7&_count=5",
				"Observation?patient=p1&category=laboratory&_count=100",
			} {
				ids, totals := pageThrough(t, c, q)
				if strings.Join(ids, ",") != strings.Join(want, ",") {
					t.Errorf("%s: ids %v, want %v", q, ids, want)
				}
				for _, tot := range totals {
					if tot != len(want) {
						t.Errorf("%s: page totals %v, want %d on each", q, totals, len(want))
						break
					}
				}
			}
			// _summary=count and _total=none.
			r := c.do("GET", "/Observation?patient=p1&category=laboratory&_summary=count", nil).want(t, http.StatusOK)
			if total(t, r) != len(want) {
				t.Errorf("_summary=count total %d, want %d", total(t, r), len(want))
			}
			r = c.do("GET", "/Observation?patient=p1&category=laboratory&_total=none&_count=2", nil).want(t, http.StatusOK)
			if _, ok := r.body["total"]; ok {
				t.Errorf("_total=none answered a total: %.200s", r.raw)
			}
			// The other patient: nothing when restricted to p1.
			r = c.do("GET", "/Observation?patient=p2&category=laboratory", nil).want(t, http.StatusOK)
			wantOther := 8
			if restricted {
				wantOther = 0
			}
			if total(t, r) != wantOther || len(entries(r, "match")) != wantOther {
				t.Errorf("patient=p2: total %d, %d entries, want %d", total(t, r), len(entries(r, "match")), wantOther)
			}
		})
	}
}
