package picker_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/picker"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
)

const bundle = `{"resourceType":"Bundle","type":"collection","entry":[
 {"resource":{"resourceType":"Patient","id":"p1","birthDate":"1970-05-01","name":[{"given":["Ann","Marie"],"family":"Zeller"}]}},
 {"resource":{"resourceType":"Patient","id":"p2","name":[{"given":["Bob"],"family":"Avery"}]}},
 {"resource":{"resourceType":"Patient","id":"p3","name":[{"given":["Cleo"],"family":"Avery"}]}},
 {"resource":{"resourceType":"Patient","id":"gone","name":[{"family":"Deleted"}]}},
 {"resource":{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
  "type":[{"coding":[{"display":"Check-up"}]}],"period":{"start":"2020-01-01","end":"2020-01-01"}}},
 {"resource":{"resourceType":"Encounter","id":"e3","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
  "type":[{"text":"Follow-up"}],"period":{"start":"2021-01-01","end":"2021-01-01"}}},
 {"resource":{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"}}}]}`

// newDirectory imports the bundle into a fresh SQLite store and deletes
// Patient/gone through the FHIR endpoint.
func newDirectory(t *testing.T) *picker.Directory {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fhir.Import(ctx, db, strings.NewReader(bundle), fhir.ImportOptions{Registry: reg}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	fhir.New(fhir.Config{AccessControlOff: true, Registry: reg}, db, nil).Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/fhir/Patient/gone", nil))
	if rec.Code != http.StatusNoContent && rec.Code != http.StatusOK {
		t.Fatalf("DELETE Patient/gone: %d %s", rec.Code, rec.Body)
	}
	return picker.New(db, reg)
}

func TestSearchPatients(t *testing.T) {
	d := newDirectory(t)
	for _, tc := range []struct {
		name, query string
		limit       int
		want        []string
	}{
		{"all, by family then given", "", 10, []string{"p2", "p3", "p1"}},
		{"limit", "", 1, []string{"p2"}},
		{"name match", "zel", 10, []string{"p1"}},
		{"blank query is all", "  ", 10, []string{"p2", "p3", "p1"}},
		{"no match", "nobody", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := d.SearchPatients(context.Background(), tc.query, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range list {
				ids = append(ids, p.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("SearchPatients(%q, %d) = %v, want %v", tc.query, tc.limit, ids, tc.want)
			}
		})
	}
}

func TestPatient(t *testing.T) {
	d := newDirectory(t)
	ctx := context.Background()
	for _, tc := range []struct {
		id   string
		want web.PatientSummary
	}{
		{"p1", web.PatientSummary{ID: "p1", Name: "Ann Marie Zeller", BirthDate: "1970-05-01"}},
		{"p2", web.PatientSummary{ID: "p2", Name: "Bob Avery"}},
	} {
		got, err := d.Patient(ctx, tc.id)
		if err != nil || *got != tc.want {
			t.Errorf("Patient(%s) = %+v, %v; want %+v", tc.id, got, err, tc.want)
		}
	}
	for _, id := range []string{"gone", "nope"} {
		if p, err := d.Patient(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Patient(%s) = %+v, %v; want store.ErrNotFound", id, p, err)
		}
	}
}

// TestEncounters (was cmd/smartgate's TestE2_EncounterDirectory): a
// patient's encounters newest first with their labels and dates; one
// encounter by id with its patient; an unknown one not found.
func TestEncounters(t *testing.T) {
	d := newDirectory(t)
	ctx := context.Background()
	list, err := d.EncountersOf(ctx, "p1", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []web.EncounterSummary{{ID: "e3", Patient: "p1", Label: "Follow-up", Date: "2021-01-01"},
		{ID: "e1", Patient: "p1", Label: "Check-up", Date: "2020-01-01"}}
	if !slices.Equal(list, want) {
		t.Fatalf("EncountersOf(p1) = %+v, want %+v", list, want)
	}
	if list, err := d.EncountersOf(ctx, "p1", 1); err != nil || len(list) != 1 || list[0].ID != "e3" {
		t.Fatalf("EncountersOf(p1, 1) = %+v, %v", list, err)
	}
	e, err := d.Encounter(ctx, "e2")
	if err != nil || e.Patient != "p2" {
		t.Fatalf("Encounter(e2) = %+v, %v", e, err)
	}
	if _, err := d.Encounter(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Encounter(nope) = %v", err)
	}
}

func TestEncounterSummary(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       web.EncounterSummary
	}{
		{"relative subject", `{"subject":{"reference":"Patient/a"},"type":[{"text":"T"}],"period":{"start":"2020"}}`,
			web.EncounterSummary{ID: "x", Patient: "a", Label: "T", Date: "2020"}},
		// An absolute reference is not read as a local patient (another
		// host's Patient/a is not ours): the same rule as fhir/access.
		{"absolute subject", `{"subject":{"reference":"https://h.example/fhir/Patient/a"}}`, web.EncounterSummary{ID: "x"}},
		{"other type", `{"subject":{"reference":"Group/a"}}`, web.EncounterSummary{ID: "x"}},
		{"no word boundary", `{"subject":{"reference":"XPatient/a"}}`, web.EncounterSummary{ID: "x"}},
		{"coding display when no text", `{"type":[{"coding":[{"display":"D"}]}]}`, web.EncounterSummary{ID: "x", Label: "D"}},
		{"not JSON", `{`, web.EncounterSummary{ID: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := picker.EncounterSummary(fhir.Resource{ID: "x", JSON: []byte(tc.json)}); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPatientSummary(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       web.PatientSummary
	}{
		{"given and family", `{"name":[{"given":["A","B"],"family":"C"}],"birthDate":"2000"}`, web.PatientSummary{ID: "x", Name: "A B C", BirthDate: "2000"}},
		{"first name only", `{"name":[{"family":"C"},{"family":"D"}]}`, web.PatientSummary{ID: "x", Name: "C"}},
		{"text when no parts", `{"name":[{"text":"T"}]}`, web.PatientSummary{ID: "x", Name: "T"}},
		{"no name", `{}`, web.PatientSummary{ID: "x"}},
		{"not JSON", `nope`, web.PatientSummary{ID: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := picker.PatientSummary(fhir.Resource{ID: "x", JSON: []byte(tc.json)}); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
