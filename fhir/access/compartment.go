package access

// InPatientCompartment reports whether resources of type typ can be in a
// patient's compartment: the types of the R4 Patient CompartmentDefinition
// (compartmentdefinition-patient.json) that name a parameter, and Patient
// itself. compartment_test.go checks the list against the search
// registry's reading of the same definition
// (search.Registry.InPatientCompartment). The wildcard "*" and "" (every
// type, as system history asks) count as in it.
func InPatientCompartment(typ string) bool {
	switch typ {
	case "", "*":
		return true
	case "Account", "AdverseEvent", "AllergyIntolerance", "Appointment",
		"AppointmentResponse", "AuditEvent", "Basic", "BodyStructure", "CarePlan",
		"CareTeam", "ChargeItem", "Claim", "ClaimResponse", "ClinicalImpression",
		"Communication", "CommunicationRequest", "Composition", "Condition",
		"Consent", "Coverage", "CoverageEligibilityRequest",
		"CoverageEligibilityResponse", "DetectedIssue", "DeviceRequest",
		"DeviceUseStatement", "DiagnosticReport", "DocumentManifest",
		"DocumentReference", "Encounter", "EnrollmentRequest", "EpisodeOfCare",
		"ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal", "Group",
		"ImagingStudy", "Immunization", "ImmunizationEvaluation",
		"ImmunizationRecommendation", "Invoice", "List", "MeasureReport", "Media",
		"MedicationAdministration", "MedicationDispense", "MedicationRequest",
		"MedicationStatement", "MolecularSequence", "NutritionOrder",
		"Observation", "Patient", "Person", "Procedure", "Provenance",
		"QuestionnaireResponse", "RelatedPerson", "RequestGroup",
		"ResearchSubject", "RiskAssessment", "Schedule", "ServiceRequest",
		"Specimen", "SupplyDelivery", "SupplyRequest", "VisionPrescription":
		return true
	}
	return false
}

// AnonymousExcluded reports whether typ is one of the types outside the
// Patient compartment that the anonymous account never reaches either,
// whatever its scopes, because they routinely carry a patient's data or a
// secret without being in the compartment: Binary (attachments of
// documents), Bundle (stored documents and messages), Task (Task.for),
// Device (Device.patient), Subscription (channel headers may hold
// credentials) and Linkage (links records, a patient's among them).
func AnonymousExcluded(typ string) bool {
	switch typ {
	case "Binary", "Bundle", "Task", "Device", "Subscription", "Linkage":
		return true
	}
	return false
}
