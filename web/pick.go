package web

import (
	"errors"
	"net/http"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

type pickView struct {
	CSRF       string
	ReqID      string
	User       string
	ClientName string
	Query      string
	Patients   []PatientSummary
}

const pickLimit = 50

// pickPage lists patients (filtered by name) for a standalone launch with
// launch/patient by a user who may act for other patients (SMART IG,
// standalone apps).
func (s *Server) pickPage(w http.ResponseWriter, r *http.Request) {
	b := s.browser(r)
	q := r.URL.Query()
	reqID := q.Get("req")
	u, _, _, f, ok := s.loadPending(w, r, b, reqID)
	if !ok || !s.mayPick(w, r, u) || !s.onPage(w, r, b, u, f, statePatient) {
		return
	}
	if err := s.save(w, r, b); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	query := q.Get("name")
	if len(query) > 200 {
		query = query[:200]
	}
	list, err := s.cfg.Patients.SearchPatients(r.Context(), query, pickLimit)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, http.StatusOK, "pick", pickView{CSRF: b.CSRF, ReqID: reqID, User: u.Label(), ClientName: f.clientName(),
		Query: query, Patients: list})
}

func (s *Server) pickSubmit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.postedForm(w, r, "pick")
	if !ok {
		return
	}
	u, _, p, f, ok := s.loadPending(w, r, b, r.PostFormValue("req"))
	if !ok || !s.mayPick(w, r, u) {
		return
	}
	id := r.PostFormValue("patient")
	if _, err := s.cfg.Patients.Patient(r.Context(), id); err != nil || id == "" {
		status, msg := http.StatusInternalServerError, ""
		if id == "" || errors.Is(err, store.ErrNotFound) {
			status, msg = http.StatusBadRequest, "Please choose a patient from the list."
		}
		s.fail(w, r, status, msg, err)
		return
	}
	g, err := next(f, pickedPatient{User: u.ID, Patient: id})
	s.move(w, r, p, g, err)
}

// mayPick lets only users who may act for other patients (by their
// effective roles: a group may grant it) use the picker
// (a forged picker form from a patient is refused); otherwise it answers
// 403 and returns false.
func (s *Server) mayPick(w http.ResponseWriter, r *http.Request, u *account.User) bool {
	rights, err := s.rights(r.Context(), u)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return false
	}
	if account.MayActForOthers(rights.Roles) {
		return true
	}
	s.fail(w, r, http.StatusForbidden, "Your account may not choose a patient.",
		errors.New("patient picker: the account may not act for other patients"))
	return false
}
