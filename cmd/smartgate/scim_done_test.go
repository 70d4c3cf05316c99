package main

// Issue 11's "Done when", end to end on the real server with real tokens:
// a person created over SCIM (fhirUser and a password) logs in on the
// log-in page and gets a SMART token whose signed id_token carries that
// fhirUser; deactivating the person over SCIM (PATCH active false, PUT
// active false, DELETE) makes their access and refresh tokens inactive at
// introspection and refused at /fhir on the very next request, refuses the
// refresh grant and refuses their log-in.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	scimMediaType    = "application/scim+json"
	scimSmartgateURN = "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"
	scimCoreUserURN  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimPatchOpURN   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimPersonName   = "rosa.gerhold@example.org"
	scimPersonSecret = "a passphrase set over SCIM 0042"
	scimPersonScopes = "openid fhirUser offline_access launch/patient patient/*.rs"
)

// scimDo sends one SCIM request (body: JSON-encoded unless a string).
func (h *harness) scimDo(method, path, token string, body any) *response {
	h.t.Helper()
	var b any
	switch v := body.(type) {
	case nil:
	case string:
		b = v
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			h.t.Fatal(err)
		}
		b = string(raw)
	}
	hdr := http.Header{"Accept": {scimMediaType}}
	if b != nil {
		hdr.Set("Content-Type", scimMediaType)
	}
	return h.fhirRequest(h.t, method, h.baseA+"/scim/v2"+path, token, b, hdr)
}

// scimCreatePerson creates the Gerhold patient's person over SCIM with a
// password and returns their SCIM id.
func (h *harness) scimCreatePerson(token string) string {
	h.t.Helper()
	r := h.scimDo("POST", "/Users", token, map[string]any{
		"schemas":  []string{scimCoreUserURN, scimSmartgateURN},
		"userName": scimPersonName,
		"name":     map[string]any{"givenName": "Rosa", "familyName": "Gerhold"},
		"emails":   []any{map[string]any{"value": scimPersonName, "type": "work", "primary": true}},
		"active":   true,
		"password": scimPersonSecret,
		scimSmartgateURN: map[string]any{
			"fhirUser": "Patient/" + h.patients["Gerhold"],
			"roles":    []string{"patient"},
		},
	})
	id, _ := r.json["id"].(string)
	if r.status != http.StatusCreated || id == "" {
		h.t.Fatalf("SCIM create: %d %s", r.status, r.body)
	}
	if _, leaked := r.json["password"]; leaked {
		h.t.Fatalf("SCIM create returned the password: %s", r.body)
	}
	ext, _ := r.json[scimSmartgateURN].(map[string]any)
	if ext["fhirUser"] != "Patient/"+h.patients["Gerhold"] {
		h.t.Fatalf("SCIM create: smartgate extension %v", r.json[scimSmartgateURN])
	}
	return id
}

// scimLogin runs the authorization code flow through the log-in and
// consent pages as the SCIM person, for a confidential client.
func (h *harness) scimLogin(app flowClient) tokenResponse {
	h.t.Helper()
	b := h.browser()
	req := b.request(app, scimPersonScopes, "")
	back, err := b.authorize(req, scimPersonName, scimPersonSecret)
	if err != nil {
		h.t.Fatalf("log-in of the SCIM person: %v", err)
	}
	tr := b.exchange(req, back)
	if tr.str("access_token") == "" || tr.str("refresh_token") == "" || tr.str("id_token") == "" {
		h.t.Fatalf("token response: %v", tr)
	}
	return tr
}

func TestSCIMDoneWhen_CreatedPersonLogsIn(t *testing.T) {
	h := newHarness(t)
	tok := h.provisioningToken("Entra ID")
	h.scimCreatePerson(tok)
	app := h.confidentialClient("SCIM person's app")
	tr := h.scimLogin(app)

	claims := h.verifyIDToken(tr.str("id_token"), app.id)
	fu, _ := claims["fhirUser"].(string)
	ref, err := url.Parse(fu)
	if fu == "" || err != nil {
		t.Fatalf("id_token fhirUser = %v", claims["fhirUser"])
	}
	fhirBase, _ := url.Parse(h.baseA + "/fhir/")
	if got, want := fhirBase.ResolveReference(ref).String(), h.baseA+"/fhir/Patient/"+h.patients["Gerhold"]; got != want {
		t.Fatalf("id_token fhirUser %q resolves to %s, want %s", fu, got, want)
	}
	if tr["patient"] != h.patients["Gerhold"] {
		t.Errorf("launch context patient %v, want %s", tr["patient"], h.patients["Gerhold"])
	}
	if r := h.do("GET", "Patient/"+h.patients["Gerhold"], tr.str("access_token"), nil); r.status != http.StatusOK {
		t.Errorf("FHIR read of their own record: %d %.300s", r.status, r.body)
	}
	if r := h.do("GET", "Patient/"+h.patients["Lind"], tr.str("access_token"), nil); r.status == http.StatusOK {
		t.Errorf("FHIR read of another patient's record: %d, want a refusal", r.status)
	}
}

// verifyIDToken checks the id_token's signature against the server's JWKS
// (found through discovery), its issuer and audience, and returns its
// claims.
func (h *harness) verifyIDToken(idToken, clientID string) map[string]any {
	h.t.Helper()
	disc := h.getJSON(h.baseA + "/.well-known/openid-configuration")
	issuer, _ := disc["issuer"].(string)
	jwksURI, _ := disc["jwks_uri"].(string)
	if issuer == "" || jwksURI == "" {
		h.t.Fatalf("discovery: %v", disc)
	}
	resp, err := h.httpc.Get(jwksURI)
	if err != nil {
		h.t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		h.t.Fatalf("JWKS %s: %v %s", jwksURI, err, raw)
	}
	sig, err := jose.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA})
	if err != nil || len(sig.Signatures) != 1 {
		h.t.Fatalf("id_token: %v", err)
	}
	keys := set.Key(sig.Signatures[0].Header.KeyID)
	if len(keys) == 0 {
		h.t.Fatalf("id_token kid %q is not in the JWKS", sig.Signatures[0].Header.KeyID)
	}
	payload, err := sig.Verify(keys[0])
	if err != nil {
		h.t.Fatalf("id_token signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		h.t.Fatal(err)
	}
	if claims["iss"] != issuer {
		h.t.Errorf("id_token iss %v, want %s", claims["iss"], issuer)
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud != clientID {
			h.t.Errorf("id_token aud %q, want %s", aud, clientID)
		}
	case []any:
		if !slices.Contains(aud, any(clientID)) {
			h.t.Errorf("id_token aud %v, want %s", aud, clientID)
		}
	default:
		h.t.Errorf("id_token aud %v", claims["aud"])
	}
	return claims
}

func (h *harness) getJSON(target string) map[string]any {
	h.t.Helper()
	resp, err := h.httpc.Get(target)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %d %v", target, resp.StatusCode, err)
	}
	return m
}

// TestSCIMDoneWhen_DeactivationEndsTokens deactivates the person each way
// a provisioning client does, and checks on the very next requests that
// nothing they held still works.
func TestSCIMDoneWhen_DeactivationEndsTokens(t *testing.T) {
	for name, deactivate := range map[string]func(h *harness, tok, id string) *response{
		"PATCH active false": func(h *harness, tok, id string) *response {
			return h.scimDo("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{scimPatchOpURN},
				"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}})
		},
		"PUT active false": func(h *harness, tok, id string) *response {
			cur := h.scimDo("GET", "/Users/"+id, tok, nil)
			if cur.status != http.StatusOK {
				h.t.Fatalf("GET before PUT: %d %s", cur.status, cur.body)
			}
			cur.json["active"] = false
			return h.scimDo("PUT", "/Users/"+id, tok, cur.json)
		},
		"DELETE": func(h *harness, tok, id string) *response {
			return h.scimDo("DELETE", "/Users/"+id, tok, nil)
		},
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			h := newHarness(t)
			tok := h.provisioningToken("Okta")
			id := h.scimCreatePerson(tok)
			app := h.confidentialClient("SCIM person's app")
			tr := h.scimLogin(app)
			access, refresh := tr.str("access_token"), tr.str("refresh_token")
			own := "Patient/" + h.patients["Gerhold"]
			if r := h.do("GET", own, access, nil); r.status != http.StatusOK {
				t.Fatalf("FHIR before deactivation: %d %.300s", r.status, r.body)
			}
			if in, _ := h.clientPost(app, "/oauth/introspect", url.Values{"token": {access}}); in["active"] != true {
				t.Fatalf("introspection before deactivation: %v", in)
			}

			if r := deactivate(h, tok, id); r.status != http.StatusOK && r.status != http.StatusNoContent {
				t.Fatalf("%s: %d %s", name, r.status, r.body)
			}

			if r := h.do("GET", own, access, nil); r.status != http.StatusUnauthorized {
				t.Errorf("FHIR with the access token right after: %d, want 401 (%.200s)", r.status, r.body)
			}
			for kind, token := range map[string]string{"access": access, "refresh": refresh} {
				if in, st := h.clientPost(app, "/oauth/introspect", url.Values{"token": {token}}); st != http.StatusOK || in["active"] != false {
					t.Errorf("introspection of the %s token right after: %d %v, want active false", kind, st, in)
				}
			}
			if tr, st := h.tokenRequest(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); st != http.StatusBadRequest || tr["error"] != "invalid_grant" {
				t.Errorf("refresh grant right after: %d %v, want 400 invalid_grant", st, tr)
			}
			b := h.browser()
			if back, err := b.authorize(b.request(app, scimPersonScopes, ""), scimPersonName, scimPersonSecret); err == nil {
				t.Errorf("log-in right after reached the app: %s", back)
			}
			if r := h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {scimPersonName},
				"password": {scimPersonSecret}}, nil); r.status == http.StatusOK {
				t.Errorf("OWin password grant right after: %d %s", r.status, r.body)
			}
		})
	}
}
