package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/smartgate/smartgate/store"
)

// EncounterSearch finds a patient's Encounter resources for the encounter
// picker (standalone launch with launch/encounter); the FHIR store
// implements it.
type EncounterSearch interface {
	// EncountersOf returns up to limit encounters of the patient, newest
	// first.
	EncountersOf(ctx context.Context, patientID string, limit int) ([]EncounterSummary, error)
	// Encounter returns one encounter, or an error wrapping
	// store.ErrNotFound.
	Encounter(ctx context.Context, id string) (*EncounterSummary, error)
}

// EncounterSummary is one row of the encounter picker.
type EncounterSummary struct {
	ID      string // bare Encounter id
	Patient string // bare id of the subject Patient
	Label   string // e.g. the encounter type
	Date    string // e.g. the start of the period
}

type pickEncounterView struct {
	CSRF       string
	ReqID      string
	User       string
	ClientName string
	Patient    string
	Encounters []EncounterSummary
}

func (s *Server) pickEncounterPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	reqID := r.URL.Query().Get("req")
	u, _, _, f, ok := s.loadPending(w, r, b, reqID)
	if !ok || !s.onPage(w, r, b, u, f, stateEncounter) {
		return
	}
	patient := f.patient()
	if patient == "" {
		s.fail(w, r, http.StatusBadRequest, "Please choose a patient first.", errors.New("pick encounter: no patient"))
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	list, err := s.cfg.Encounters.EncountersOf(r.Context(), patient, pickLimit)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, http.StatusOK, "pick-encounter", pickEncounterView{CSRF: b.CSRF, ReqID: reqID, User: u.Label(),
		ClientName: f.clientName(), Patient: patient, Encounters: list})
}

func (s *Server) pickEncounterSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "pick encounter")
	if !ok {
		return
	}
	u, _, p, f, ok := s.loadPending(w, r, b, r.PostFormValue("req"))
	if !ok {
		return
	}
	patient := f.patient()
	id := r.PostFormValue("encounter")
	if r.PostFormValue("skip") != "" {
		id = ""
	} else {
		enc, err := s.cfg.Encounters.Encounter(r.Context(), id)
		if id == "" || errors.Is(err, store.ErrNotFound) || err == nil && (patient == "" || enc.Patient != patient) {
			s.fail(w, r, http.StatusBadRequest, "Please choose an encounter from the list.", err)
			return
		} else if err != nil {
			s.fail(w, r, http.StatusInternalServerError, "", err)
			return
		}
	}
	g, err := next(f, pickedEncounter{User: u.ID, Encounter: id})
	s.move(w, r, p, g, err)
}
