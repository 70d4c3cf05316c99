package main

// Checklist items of the SMART issue proven against the wired server:
// the CapabilityStatement's security section (B), system scopes (F2) and
// the FHIR answers Inferno checks (X1, X5).

import (
	"net/http"
	"strings"
	"testing"
)

const oauthURIsExt = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

// capabilitySecurity fetches /fhir/metadata on a listener without a token
// and returns rest[0].security.
func capabilitySecurity(t *testing.T, h *harness, base string) map[string]any {
	t.Helper()
	r := h.do("GET", base+"/fhir/metadata", "", nil)
	if r.status != http.StatusOK || r.json["resourceType"] != "CapabilityStatement" {
		t.Fatalf("B1: GET %s/fhir/metadata without a token = %d %s", base, r.status, r.body)
	}
	rest, _ := r.json["rest"].([]any)
	if len(rest) == 0 {
		t.Fatalf("no rest in the CapabilityStatement: %s", r.body)
	}
	sec, _ := rest[0].(map[string]any)["security"].(map[string]any)
	if sec == nil {
		t.Fatalf("no rest[0].security: %s", r.body)
	}
	return sec
}

// oauthURIs returns the sub-extensions of the oauth-uris extension.
func oauthURIsOf(t *testing.T, sec map[string]any) map[string]string {
	t.Helper()
	exts, _ := sec["extension"].([]any)
	for _, e := range exts {
		em, _ := e.(map[string]any)
		if em["url"] != oauthURIsExt {
			continue
		}
		out := map[string]string{}
		subs, _ := em["extension"].([]any)
		for _, s := range subs {
			sm, _ := s.(map[string]any)
			url, _ := sm["url"].(string)
			v, _ := sm["valueUri"].(string)
			out[url] = v
		}
		return out
	}
	t.Fatalf("no %s extension in rest[0].security: %v", oauthURIsExt, sec)
	return nil
}

func TestB1_MetadataOpenWithoutToken(t *testing.T) {
	h := newHarness(t)
	for _, base := range []string{h.baseA, h.baseB} {
		capabilitySecurity(t, h, base)
	}
}

func TestB2_SecurityServiceSMARTOnFHIR(t *testing.T) {
	h := newHarness(t)
	sec := capabilitySecurity(t, h, h.baseA)
	services, _ := sec["service"].([]any)
	for _, s := range services {
		codings, _ := s.(map[string]any)["coding"].([]any)
		for _, c := range codings {
			cm, _ := c.(map[string]any)
			if cm["code"] == "SMART-on-FHIR" && cm["system"] == "http://terminology.hl7.org/CodeSystem/restful-security-service" {
				return
			}
		}
	}
	t.Fatalf("rest[0].security.service has no SMART-on-FHIR coding: %v", sec)
}

func TestB3_OAuthURIsExtension(t *testing.T) {
	h := newHarness(t)
	uris := oauthURIsOf(t, capabilitySecurity(t, h, h.baseA))
	for _, k := range []string{"authorize", "token", "register", "manage", "introspect", "revoke"} {
		if !strings.HasPrefix(uris[k], h.baseA+"/") {
			t.Errorf("oauth-uris %s = %q, want an absolute URL on %s", k, uris[k], h.baseA)
		}
	}
}

// TestB4_OAuthURIsMatchWellKnown: on each listener, the six URLs are the
// same byte for byte as that listener's .well-known/smart-configuration
// (Inferno STU1 Discovery Test04).
func TestB4_OAuthURIsMatchWellKnown(t *testing.T) {
	h := newHarness(t)
	pairs := map[string]string{"authorize": "authorization_endpoint", "token": "token_endpoint",
		"register": "registration_endpoint", "manage": "management_endpoint",
		"introspect": "introspection_endpoint", "revoke": "revocation_endpoint"}
	for _, base := range []string{h.baseA, h.baseB} {
		uris := oauthURIsOf(t, capabilitySecurity(t, h, base))
		wk := h.do("GET", base+"/.well-known/smart-configuration", "", nil)
		if wk.status != 200 {
			t.Fatalf("smart-configuration: %d", wk.status)
		}
		for ext, field := range pairs {
			if got, want := uris[ext], wk.json[field]; got == "" || got != want {
				t.Errorf("%s: oauth-uris %s = %q, smart-configuration %s = %v", base, ext, got, field, want)
			}
		}
	}
}

// TestB5_V1EndpointsKeptBesideV2Discovery: SMART 2 deprecates the
// CapabilityStatement mechanism but v1 clients still read it; both are
// served, and they agree (B4).
func TestB5_V1EndpointsKeptBesideV2Discovery(t *testing.T) {
	h := newHarness(t)
	uris := oauthURIsOf(t, capabilitySecurity(t, h, h.baseA))
	wk := h.do("GET", h.baseA+"/fhir/.well-known/smart-configuration", "", nil)
	if wk.status != 200 || wk.json["authorization_endpoint"] != uris["authorize"] {
		t.Fatalf("v2 discovery %d %v vs v1 authorize %q", wk.status, wk.json["authorization_endpoint"], uris["authorize"])
	}
}

func TestB7_SecurityCORSTrue(t *testing.T) {
	h := newHarness(t)
	if sec := capabilitySecurity(t, h, h.baseA); sec["cors"] != true {
		t.Fatalf("rest[0].security.cors = %v, want true (CORS is enabled)", sec["cors"])
	}
}

// TestF2_SystemScopesOnlyForClientCredentials: a user-facing app asking for
// system/ scopes in the authorization code flow does not get them.
func TestF2_SystemScopesOnlyForClientCredentials(t *testing.T) {
	h := newHarness(t)
	tr, err := h.codeFlow(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Patient.rs system/*.rs",
		patient: h.patients["Lind"]})
	if err != nil {
		if !strings.Contains(err.Error(), "invalid_scope") {
			t.Fatalf("code flow with a system scope failed otherwise: %v", err)
		}
		return
	}
	if strings.Contains(tr.str("scope"), "system/") {
		t.Fatalf("a user-facing token was granted %q", tr.str("scope"))
	}
	// And the token reaches nothing system-wide.
	if r := h.do("GET", "Organization", tr.str("access_token"), nil); r.status != http.StatusForbidden {
		t.Fatalf("system-wide search with the user-facing token = %d", r.status)
	}
}

// TestX1_PatientContextReadable: GET Patient/{patient} with the token of a
// launch → 200 Patient (Inferno g10_patient_context).
func TestX1_PatientContextReadable(t *testing.T) {
	h := newHarness(t)
	tr := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient openid fhirUser patient/Patient.rs",
		patient: h.patients["Lind"]})
	pid := tr.str("patient")
	if pid != h.patients["Lind"] {
		t.Fatalf("patient = %q, want %q", pid, h.patients["Lind"])
	}
	r := h.do("GET", "Patient/"+pid, tr.str("access_token"), nil)
	if r.status != http.StatusOK || r.json["resourceType"] != "Patient" || r.json["id"] != pid {
		t.Fatalf("GET Patient/%s = %d %s", pid, r.status, r.body)
	}
}

// TestX5_TypesOutsideScopesRefused: with patient/Patient.rs only, reading
// or searching another type is 403 with an OperationOutcome and
// WWW-Authenticate error="insufficient_scope".
func TestX5_TypesOutsideScopesRefused(t *testing.T) {
	h := newHarness(t)
	tr := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Patient.rs", patient: h.patients["Lind"]})
	tok := tr.str("access_token")
	for _, path := range []string{"Condition?patient=" + tr.str("patient"), "Observation?patient=" + tr.str("patient"), "MedicationRequest"} {
		r := h.do("GET", path, tok, nil)
		if r.status != http.StatusForbidden && r.status != http.StatusUnauthorized {
			t.Fatalf("GET %s = %d, want 401/403", path, r.status)
		}
		if r.json["resourceType"] != "OperationOutcome" {
			t.Fatalf("GET %s body is not an OperationOutcome: %s", path, r.body)
		}
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("GET %s WWW-Authenticate = %q", path, r.header.Get("WWW-Authenticate"))
		}
	}
}
