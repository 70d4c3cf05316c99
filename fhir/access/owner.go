package access

import "github.com/smartgate/smartgate/account"

// OwnerElement names, per resource type, the element that says whose record
// a resource is: the one place this table lives (issue 9, defect 2). A write
// reached only through a compartment-limited scope (patient/ scopes, user/
// scopes of a patient user, a patient's OWin token) must have this element
// reference the context patient; types without an entry ("") cannot be
// written through such a scope.
//
// How it is derived: from the R4 Patient CompartmentDefinition
// (compartmentdefinition-patient.json) and the SearchParameters it names
// (search-parameters.json). For each listed type the element is the path of
// the type's "patient", "subject" or "beneficiary" compartment parameter
// (e.g. Condition's patient parameter is
// Condition.subject.where(resolve() is Patient), so the element is subject;
// AllergyIntolerance's is AllergyIntolerance.patient). The other
// compartment parameters of a type (performer, asserter, recorder, author,
// participant, sender, recipient, payee…) link a resource to a patient who
// took part in it, not to the patient whose record it is. owner_test.go
// checks every entry against the definitions and that every type of the
// compartment is either listed or deliberately left out.
//
// Left out, i.e. not writable through a compartment-limited scope: types
// whose patient link is not one owner (Appointment, AppointmentResponse,
// Schedule: shared between participants; Group: members; Person:
// links; AuditEvent, Provenance: records about other resources, whose owner
// is that of their targets, so not decidable from their content), and types
// that a clinician, payer or the system writes rather than a patient app
// (Account, Basic, BodyStructure, ChargeItem, ClaimResponse,
// ClinicalImpression, CommunicationRequest, Composition,
// CoverageEligibilityRequest, CoverageEligibilityResponse, DetectedIssue,
// DeviceRequest, DocumentManifest, EnrollmentRequest, EpisodeOfCare, Flag,
// ImmunizationEvaluation, ImmunizationRecommendation, Invoice,
// MeasureReport, MedicationDispense, MolecularSequence, NutritionOrder,
// RequestGroup, ResearchSubject, RiskAssessment, Specimen, SupplyDelivery,
// SupplyRequest, VisionPrescription). Types outside the Patient
// compartment (Practitioner, Organization, Medication…) are not reached
// by such scopes at all. Adding one is adding a case here.
func OwnerElement(resourceType string) string {
	switch resourceType {
	case "Patient":
		return "id" // a Patient is its own record
	case "AdverseEvent", "CarePlan", "CareTeam", "Communication", "Condition",
		"DeviceUseStatement", "DiagnosticReport", "DocumentReference", "Encounter",
		"Goal", "ImagingStudy", "List", "Media", "MedicationAdministration",
		"MedicationRequest", "MedicationStatement", "Observation", "Procedure",
		"QuestionnaireResponse", "ServiceRequest":
		return "subject"
	case "AllergyIntolerance", "Claim", "Consent", "ExplanationOfBenefit",
		"FamilyMemberHistory", "Immunization", "RelatedPerson":
		return "patient"
	case "Coverage":
		return "beneficiary"
	}
	return ""
}

// Owners returns the patient ids that the owner element of res (decoded
// JSON of resourceType) names, and false when resourceType has no owner
// element. A value that is not a relative reference "Patient/<id>" (an
// absolute URL, a versioned, contained or urn: reference, another type, an
// identifier-only reference) is returned as "", which no patient context
// equals: this server does not resolve references to its own base URL,
// so it does not take an absolute one as naming a local patient.
func Owners(resourceType string, res map[string]any) ([]string, bool) {
	el := OwnerElement(resourceType)
	if el == "" {
		return nil, false
	}
	if el == "id" {
		id, _ := res["id"].(string)
		return []string{id}, true
	}
	var out []string
	add := func(v any) {
		m, _ := v.(map[string]any)
		r, _ := m["reference"].(string)
		id, _ := account.PatientOf(r)
		out = append(out, id)
	}
	switch v := res[el].(type) {
	case nil:
	case []any:
		for _, e := range v {
			add(e)
		}
	default:
		add(v)
	}
	return out, true
}

// AdmitsWrite reports whether the grant lets a create, update or delete
// store or replace the content r (new content, or the stored content a
// write replaces). It is Admits plus, for a compartment-limited scope
// (Scope.Patient set), the owner rule of issue 9, defect 2: the type has
// an owner element (r.Owned), that element names Scope.Patient and nothing
// else (r.Owners), and every compartment the content is in is Scope.Patient's
// (r.Patients). Unrestricted scopes are decided as by Admits.
func (g Grant) AdmitsWrite(r Resource) bool { return g.admitsWrite(r, nil) }

// AdmitsWriteExplained is AdmitsWrite, recording its steps in e (nil
// records nothing).
func (g Grant) AdmitsWriteExplained(r Resource, e *Explanation) bool {
	ok := g.admitsWrite(r, e)
	e.admitted(ok)
	return ok
}

func (g Grant) admitsWrite(r Resource, e *Explanation) bool {
	if !g.Allowed {
		e.notAllowed()
		return false
	}
	e.resource(r)
	for i, s := range g.Scopes {
		if s.Patient != "" {
			owned := ownedBy(r, s.Patient)
			e.owner(s, r, owned)
			if !owned {
				continue
			}
		}
		if s.Query != nil {
			m := r.Matches != nil && r.Matches(s.Query)
			e.query(i, s, m)
			if !m {
				continue
			}
		}
		e.reached(i, s)
		return true
	}
	e.reachedNone(len(g.Scopes))
	return false
}

// ownedBy reports whether content r is patient's record and in no other
// patient's compartment.
func ownedBy(r Resource, patient string) bool {
	if !r.Owned || len(r.Owners) == 0 || len(r.Patients) == 0 {
		return false
	}
	for _, o := range r.Owners {
		if o != patient {
			return false
		}
	}
	for _, p := range r.Patients {
		if p != patient {
			return false
		}
	}
	return true
}

// WritesType reports whether some content of resourceType could be
// admitted by AdmitsWrite: false when every scope is compartment-limited
// and the type has no owner element, so that a write can be refused before
// its body is read.
func (g Grant) WritesType(resourceType string) bool {
	if !g.Allowed {
		return false
	}
	if OwnerElement(resourceType) != "" {
		return true
	}
	for _, s := range g.Scopes {
		if s.Patient == "" {
			return true
		}
	}
	return false
}
