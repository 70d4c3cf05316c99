// Package picker answers the patient and encounter pickers of the log-in
// flow (web.PatientSearch and web.EncounterSearch) from the FHIR store: it
// runs the pickers' searches through the FHIR search registry and reduces
// each Patient or Encounter to the few fields a picker row shows.
package picker

import (
	"context"
	"fmt"
	"github.com/smartgate/smartgate/account"
	"net/url"
	"strings"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/web"
)

// Store is what the pickers read (store/sqlite implements it).
type Store interface {
	ReadResource(ctx context.Context, typ, id string) (*fhir.Resource, error)
	SearchResources(ctx context.Context, req fhir.SearchRequest) (*fhir.SearchResult, error)
}

// Directory implements web.PatientSearch and web.EncounterSearch over a
// FHIR store. Deleted resources are not found.
type Directory struct {
	st  Store
	reg *search.Registry
	now func() time.Time
}

var (
	_ web.PatientSearch   = (*Directory)(nil)
	_ web.EncounterSearch = (*Directory)(nil)
)

// New returns a Directory over st; reg parses the pickers' searches.
func New(st Store, reg *search.Registry) *Directory {
	return &Directory{st: st, reg: reg, now: time.Now}
}

// SearchPatients returns up to limit patients whose name matches q (all
// patients when q is blank), by family then given name.
func (d *Directory) SearchPatients(ctx context.Context, q string, limit int) ([]web.PatientSummary, error) {
	vals := url.Values{"_count": {fmt.Sprint(limit)}, "_sort": {"family,given"}}
	if q = strings.TrimSpace(q); q != "" {
		vals.Set("name", q)
	}
	return summaries(ctx, d, "Patient", vals, PatientSummary)
}

// Patient returns one patient, or an error wrapping store.ErrNotFound.
func (d *Directory) Patient(ctx context.Context, id string) (*web.PatientSummary, error) {
	return summary(ctx, d, "Patient", id, PatientSummary)
}

// EncountersOf returns up to limit encounters of the patient, newest first.
func (d *Directory) EncountersOf(ctx context.Context, patient string, limit int) ([]web.EncounterSummary, error) {
	vals := url.Values{"patient": {"Patient/" + patient}, "_count": {fmt.Sprint(limit)}, "_sort": {"-date"}}
	return summaries(ctx, d, "Encounter", vals, EncounterSummary)
}

// Encounter returns one encounter, or an error wrapping store.ErrNotFound.
func (d *Directory) Encounter(ctx context.Context, id string) (*web.EncounterSummary, error) {
	return summary(ctx, d, "Encounter", id, EncounterSummary)
}

// summaries runs a search of typ and summarises each match.
func summaries[T any](ctx context.Context, d *Directory, typ string, vals url.Values, summarise func(fhir.Resource) T) ([]T, error) {
	query, err := d.reg.ParseQuery(typ, vals, true)
	if err != nil {
		return nil, fmt.Errorf("picker: %s search: %w", typ, err)
	}
	res, err := d.st.SearchResources(ctx, fhir.SearchRequest{Query: query, Now: d.now()})
	if err != nil {
		return nil, fmt.Errorf("picker: %s search: %w", typ, err)
	}
	out := make([]T, 0, len(res.Matches))
	for _, m := range res.Matches {
		out = append(out, summarise(m))
	}
	return out, nil
}

// summary reads the current version of typ/id and summarises it; a
// deleted one is not found.
func summary[T any](ctx context.Context, d *Directory, typ, id string, summarise func(fhir.Resource) T) (*T, error) {
	r, err := d.st.ReadResource(ctx, typ, id)
	if err != nil {
		return nil, fmt.Errorf("picker: read %s/%s: %w", typ, id, err)
	}
	if r.Deleted {
		return nil, fmt.Errorf("picker: %s/%s was deleted: %w", typ, id, store.ErrNotFound)
	}
	s := summarise(*r)
	return &s, nil
}

// PatientSummary is the picker row of a Patient: its id, its first name
// (given names then family name, else the name's text) and its birth date.
// Content that does not decode yields the id alone.
func PatientSummary(r fhir.Resource) web.PatientSummary {
	s := web.PatientSummary{ID: r.ID}
	m, err := search.Decode(r.JSON)
	if err != nil {
		return s
	}
	s.BirthDate, _ = m["birthDate"].(string)
	names, _ := m["name"].([]any)
	if len(names) == 0 {
		return s
	}
	n, _ := names[0].(map[string]any)
	var parts []string
	given, _ := n["given"].([]any)
	for _, g := range given {
		if gs, ok := g.(string); ok {
			parts = append(parts, gs)
		}
	}
	if f, ok := n["family"].(string); ok {
		parts = append(parts, f)
	}
	s.Name = strings.Join(parts, " ")
	if t, ok := n["text"].(string); ok && s.Name == "" {
		s.Name = t
	}
	return s
}

// EncounterSummary is the picker row of an Encounter: its id, the bare id
// of its subject Patient (account.PatientOf: a relative reference Patient/<id>, the
// one reading the access rules use too), a label (the
// first type's text, else its first coding's display) and the start of its
// period. Content that does not decode yields the id alone.
func EncounterSummary(r fhir.Resource) web.EncounterSummary {
	s := web.EncounterSummary{ID: r.ID}
	m, err := search.Decode(r.JSON)
	if err != nil {
		return s
	}
	if subj, ok := m["subject"].(map[string]any); ok {
		ref, _ := subj["reference"].(string)
		s.Patient, _ = account.PatientOf(ref)
	}
	if types, ok := m["type"].([]any); ok && len(types) > 0 {
		if t, ok := types[0].(map[string]any); ok {
			s.Label, _ = t["text"].(string)
			if codings, ok := t["coding"].([]any); ok && len(codings) > 0 && s.Label == "" {
				if c, ok := codings[0].(map[string]any); ok {
					s.Label, _ = c["display"].(string)
				}
			}
		}
	}
	if p, ok := m["period"].(map[string]any); ok {
		s.Date, _ = p["start"].(string)
	}
	return s
}
