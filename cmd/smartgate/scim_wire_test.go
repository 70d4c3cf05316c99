package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestSCIMWired: /scim/v2 is served on both listeners by the one SCIM
// server, behind the SCIM authorizer, with locations on the listener the
// request came through, and SCIM error bodies (never plain text).
func TestSCIMWired(t *testing.T) {
	h := newHarness(t)
	admin := h.owin("admin", adminPassword)
	scimJSON := http.Header{"Content-Type": {"application/scim+json"}}

	r := h.fhirRequest(t, "POST", h.baseA+"/scim/v2/Users", admin,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"],
		"userName":"wired","password":"Wired-password-1",
		"urn:ietf:params:scim:schemas:extension:smartgate:2.0:User":{"roles":["practitioner"],"fhirUser":"Practitioner/wired"}}`, scimJSON)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /scim/v2/Users: %d %s", r.status, r.body)
	}
	id, _ := r.json["id"].(string)
	if loc := r.header.Get("Location"); loc != h.baseA+"/scim/v2/Users/"+id {
		t.Errorf("Location %q", loc)
	}
	if strings.Contains(string(r.body), "Wired-password-1") || strings.Contains(string(r.body), `"password"`) {
		t.Errorf("password in the answer: %s", r.body)
	}
	r = h.fhirRequest(t, "GET", h.baseB+"/scim/v2/Users/"+id, admin, nil, nil)
	if meta, _ := r.json["meta"].(map[string]any); r.status != http.StatusOK || meta["location"] != h.baseB+"/scim/v2/Users/"+id {
		t.Errorf("GET on the http listener: %d %s", r.status, r.body)
	}
	// The account SCIM made is the one the log-in uses.
	tok := h.owin("wired", "Wired-password-1")
	if r := h.do("GET", "metadata", tok, nil); r.status != http.StatusOK {
		t.Fatalf("FHIR with the SCIM-made account's token: %d", r.status)
	}
	if r := h.do("GET", "Patient?_count=1", tok, nil); r.status != http.StatusOK {
		t.Fatalf("FHIR search with the SCIM-made account's token: %d %s", r.status, r.body)
	}
	// Deactivated over SCIM (Entra ID's form): the token is refused on the
	// next FHIR request.
	r = h.fhirRequest(t, "PATCH", h.baseA+"/scim/v2/Users/"+id, admin,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, scimJSON)
	if r.status != http.StatusOK || r.json["active"] != false {
		t.Fatalf("PATCH active False: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "Patient?_count=1", tok, nil); r.status != http.StatusUnauthorized {
		t.Errorf("FHIR with a deactivated account's token: %d, want 401", r.status)
	}

	for _, base := range []string{h.baseA, h.baseB} {
		r = h.fhirRequest(t, "GET", base+"/scim/v2/Users", "", nil, nil)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Bearer realm="scim"` ||
			r.header.Get("Content-Type") != "application/scim+json; charset=utf-8" || r.json["status"] != "401" {
			t.Errorf("%s without a token: %d %q %s", base, r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
		r = h.fhirRequest(t, "GET", base+"/scim/v2/ServiceProviderConfig", "", nil, nil)
		if meta, _ := r.json["meta"].(map[string]any); r.status != http.StatusOK || meta["location"] != base+"/scim/v2/ServiceProviderConfig" {
			t.Errorf("%s ServiceProviderConfig: %d %s", base, r.status, r.body)
		}
		r = h.fhirRequest(t, "GET", base+"/scim/v2/Nope", admin, nil, nil)
		if r.status != http.StatusNotFound || r.header.Get("Content-Type") != "application/scim+json; charset=utf-8" {
			t.Errorf("%s unknown path: %d %q %s", base, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
}
