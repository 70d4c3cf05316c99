package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/launch"
)

// launchAPI posts body (a string, sent as it is) to the launch API at base
// with token ("" for none) and content type ct.
func (h *harness) launchAPI(base, method, token, ct, body string) *response {
	h.t.Helper()
	req, err := http.NewRequest(method, base+launch.APIPath, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.httpc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, body: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

// ehrClient registers a key-authenticated backend client (the harness's
// key) with scope and the administrator's launch flag allow, and returns
// its id.
func (h *harness) ehrClient(scope []string, allow bool) string {
	h.t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: h.key.Public(), KeyID: "k1", Algorithm: string(jose.ES384), Use: "sig"}}}
	jwks, _ := json.Marshal(set)
	c, _, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: "EHR", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, JWKS: string(jwks), Scopes: scope, AllowLaunchCreate: allow}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return c.ID
}

// clientToken runs client_credentials for client id (private_key_jwt with
// the harness's key) and returns the token endpoint's answer.
func (h *harness) clientToken(id, scope string) *response {
	h.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: h.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		h.t.Fatal(err)
	}
	claims := josejwt.Claims{Issuer: id, Subject: id, Audience: josejwt.Audience{h.baseA + "/oauth/token"},
		ID: fmt.Sprintf("launchapi-%d", h.jti.Add(1)), Expiry: josejwt.NewNumericDate(time.Now().Add(4 * time.Minute))}
	a, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		h.t.Fatal(err)
	}
	return h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}, nil)
}

// TestIssue15LaunchAPI (item 9): an EHR creates the same single-use,
// client-bound launch as /admin/launch through POST /api/launch, with an
// administrator's token or a launch:create token of a client an
// administrator allowed it; everyone else is refused before the body is
// read, and bad bodies get OAuth JSON errors.
func TestIssue15LaunchAPI(t *testing.T) {
	h := newHarness(t)
	lind, yundt := h.patients["Lind"], h.patients["Yundt"]
	adminOWin := h.owin("admin", adminPassword)
	body := func(patient string) string {
		return fmt.Sprintf(`{"client_id":%q,"patient":%q}`, h.public, patient)
	}
	const js = "application/json"

	ehr := h.ehrClient([]string{"system/*.rs", authz.ScopeLaunchCreate}, true)
	tr := h.clientToken(ehr, "launch:create")
	ehrToken, _ := tr.json["access_token"].(string)
	if tr.status != http.StatusOK || ehrToken == "" || tr.json["scope"] != "launch:create" {
		t.Fatalf("client_credentials launch:create for an allowed client: %d %s", tr.status, tr.body)
	}

	t.Run("administrator's OWin token, then a practitioner redeems it once", func(t *testing.T) {
		r := h.launchAPI(h.baseA, "POST", adminOWin, js, body(lind))
		if r.status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", launch.APIPath, r.status, r.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("headers: Cache-Control %q, Content-Type %q", cc, r.header.Get("Content-Type"))
		}
		value, _ := r.json["launch"].(string)
		u, err := url.Parse(fmt.Sprint(r.json["launch_uri"]))
		if err != nil || value == "" || !strings.HasPrefix(u.String(), launchURI+"?") || u.Query().Get("launch") != value ||
			u.Query().Get("iss") != h.baseA+"/fhir" || r.json["iss"] != h.baseA+"/fhir" || r.json["client_id"] != h.public ||
			r.json["patient"] != lind || r.json["expires_in"] != float64(300) {
			t.Fatalf("answer %s", r.body)
		}
		// A patient who is not the launch's cannot redeem it (issue 9 D7).
		if _, err := h.codeFlow(codeLaunch{user: "yundt", password: userPassword, scope: "launch openid fhirUser patient/*.rs", launch: value}); err == nil {
			t.Error("another patient redeemed the launch")
		}
		tok, err := h.codeFlow(codeLaunch{user: "doc", password: userPassword, scope: "launch openid fhirUser patient/*.rs", launch: value})
		if err != nil || tok.str("patient") != lind {
			t.Fatalf("token patient %q, want %q (%v)", tok.str("patient"), lind, err)
		}
		if _, err := h.codeFlow(codeLaunch{user: "doc", password: userPassword, scope: "launch openid fhirUser patient/*.rs", launch: value}); err == nil {
			t.Error("the launch value was redeemed twice")
		}
	})

	t.Run("EHR client token with launch:create, on the HTTP listener too", func(t *testing.T) {
		for _, base := range []string{h.baseA, h.baseB} {
			r := h.launchAPI(base, "POST", ehrToken, "application/json; charset=utf-8", body(yundt))
			if r.status != http.StatusCreated || r.json["iss"] != base+"/fhir" {
				t.Fatalf("%s: %d %s", base, r.status, r.body)
			}
			value, _ := r.json["launch"].(string)
			tok, err := h.codeFlow(codeLaunch{user: "doc", password: userPassword, scope: "launch openid fhirUser patient/*.rs",
				launch: value, aud: base + "/fhir"})
			if err != nil || tok.str("patient") != yundt {
				t.Fatalf("token patient %q, want %q (%v)", tok.str("patient"), yundt, err)
			}
		}
		h.waitAuditEvent(t, func(ev audit.Event) bool {
			return ev.Kind == "launch" && ev.Outcome == audit.Success && ev.Actor == ehr && ev.Patient == yundt &&
				ev.ClientID == h.public && strings.Contains(ev.Detail, ehr)
		})
	})

	t.Run("who may not", func(t *testing.T) {
		plain := h.ehrClient([]string{"system/*.rs", authz.ScopeLaunchCreate}, false)
		if r := h.clientToken(plain, "launch:create"); r.status != http.StatusBadRequest || r.json["error"] != "invalid_scope" {
			t.Errorf("launch:create for a client not allowed it: %d %s", r.status, r.body)
		}
		plainTok, _ := h.clientToken(plain, "system/*.rs").json["access_token"].(string)
		adminApp := h.code(codeLaunch{user: "admin", password: adminPassword, scope: "openid fhirUser user/*.rs"}).str("access_token")
		cases := []struct {
			name, token string
			status      int
			code        string
		}{
			{"no token", "", http.StatusUnauthorized, "invalid_token"},
			{"garbage token", "not-a-token", http.StatusUnauthorized, "invalid_token"},
			{"backend token without launch:create", h.backendToken("system/*.rs"), http.StatusForbidden, "insufficient_scope"},
			{"client not allowed launches", plainTok, http.StatusForbidden, "insufficient_scope"},
			{"practitioner's OWin token", h.owin("doc", userPassword), http.StatusForbidden, "insufficient_scope"},
			{"patient's OWin token", h.owin("lind", userPassword), http.StatusForbidden, "insufficient_scope"},
			{"patient without a record", h.owin("norecord", userPassword), http.StatusForbidden, "insufficient_scope"},
			{"an app's token of an administrator", adminApp, http.StatusForbidden, "insufficient_scope"},
		}
		for _, c := range cases {
			// A body the API would refuse: the token is decided first.
			r := h.launchAPI(h.baseA, "POST", c.token, "text/plain", "{")
			if r.status != c.status || r.json["error"] != c.code || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: %d %s (WWW-Authenticate %q)", c.name, r.status, r.body, r.header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("allowed no longer", func(t *testing.T) {
		id := h.ehrClient([]string{authz.ScopeLaunchCreate}, true)
		tok, _ := h.clientToken(id, "launch:create").json["access_token"].(string)
		if r := h.launchAPI(h.baseA, "POST", tok, js, body(lind)); r.status != http.StatusCreated {
			t.Fatalf("before: %d %s", r.status, r.body)
		}
		if err := h.db.UpdateClient(context.Background(), id, func(c authz.Client) (authz.Client, error) {
			c.AllowLaunchCreate = false
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(authz.ClientCacheTTL + 100*time.Millisecond) // written beside the server's cache
		if r := h.launchAPI(h.baseA, "POST", tok, js, body(lind)); r.status != http.StatusForbidden {
			t.Errorf("after the flag was cleared: %d %s", r.status, r.body)
		}
		h.waitAuditEvent(t, func(ev audit.Event) bool {
			return ev.Kind == "launch" && ev.Outcome == audit.Failure && ev.ClientID == id
		})
	})

	t.Run("bad requests", func(t *testing.T) {
		encs := h.searchIDs(adminOWin, "Encounter?patient="+yundt)
		if len(encs) == 0 {
			t.Fatal("no encounter of Yundt in the demo data")
		}
		for i, e := range encs {
			encs[i] = strings.TrimPrefix(e, "Encounter/")
		}
		cases := []struct {
			name, ct, body string
			status         int
		}{
			{"not JSON", "application/x-www-form-urlencoded", "client_id=" + h.public + "&patient=" + lind, http.StatusUnsupportedMediaType},
			{"malformed", js, `{"client_id":`, http.StatusBadRequest},
			{"two objects", js, body(lind) + body(lind), http.StatusBadRequest},
			{"unknown member", js, fmt.Sprintf(`{"client_id":%q,"patient":%q,"patientId":"x"}`, h.public, lind), http.StatusBadRequest},
			{"no client", js, fmt.Sprintf(`{"patient":%q}`, lind), http.StatusBadRequest},
			{"unknown client", js, fmt.Sprintf(`{"client_id":"nope","patient":%q}`, lind), http.StatusBadRequest},
			{"client without launch_uri", js, fmt.Sprintf(`{"client_id":%q,"patient":%q}`, h.backend, lind), http.StatusBadRequest},
			{"no patient", js, fmt.Sprintf(`{"client_id":%q}`, h.public), http.StatusBadRequest},
			{"patient not a FHIR id", js, body("<script>"), http.StatusBadRequest},
			{"patient that does not exist", js, body("no-such-patient"), http.StatusBadRequest},
			{"another patient's encounter", js, fmt.Sprintf(`{"client_id":%q,"patient":%q,"encounter":%q}`, h.public, lind, encs[0]), http.StatusBadRequest},
			{"fhirContext not an array", js, fmt.Sprintf(`{"client_id":%q,"patient":%q,"fhirContext":{"reference":"x"}}`, h.public, lind), http.StatusBadRequest},
			{"style URL not absolute", js, fmt.Sprintf(`{"client_id":%q,"patient":%q,"smart_style_url":"/x"}`, h.public, lind), http.StatusBadRequest},
			{"too large", js, fmt.Sprintf(`{"client_id":%q,"patient":%q,"intent":%q}`, h.public, lind, strings.Repeat("a", launch.MaxAPIBody)), http.StatusRequestEntityTooLarge},
		}
		for _, c := range cases {
			r := h.launchAPI(h.baseA, "POST", adminOWin, c.ct, c.body)
			if r.status != c.status || r.json["error"] != "invalid_request" || r.json["error_description"] == "" {
				t.Errorf("%s: %d %s", c.name, r.status, r.body)
			}
		}
		r := h.launchAPI(h.baseA, "POST", adminOWin, js,
			fmt.Sprintf(`{"client_id":%q,"patient":%q,"encounter":%q,"need_patient_banner":false}`, h.public, yundt, encs[0]))
		if r.status != http.StatusCreated || r.json["encounter"] != encs[0] {
			t.Errorf("with the patient's encounter: %d %s", r.status, r.body)
		}
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			r := h.launchAPI(h.baseA, m, adminOWin, "", "")
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" || r.json["error"] != "invalid_request" {
				t.Errorf("%s: %d %s", m, r.status, r.body)
			}
		}
	})
}

// TestIssue15LaunchCreateFlag: only an administrator's box on the client
// pages lets a client be granted launch:create; a registration request
// that asks for the scope registers it, but it is never granted, and My
// apps does not offer the box.
func TestIssue15LaunchCreateFlag(t *testing.T) {
	h := newHarness(t)
	admin := h.pageSession("admin", adminPassword)
	form := h.page(admin, "GET", h.baseA+"/admin/clients/new", nil)
	if !strings.Contains(string(form.body), `name="allow_launch_create"`) {
		t.Fatalf("the registration form lacks the launch box: %.3000s", form.body)
	}
	r := h.page(admin, "POST", h.baseA+"/admin/clients/new", url.Values{"csrf_token": {field(reCSRF, form.body)},
		"client_name": {"EHR integration"}, "grant_types": {"client_credentials"}, "token_endpoint_auth_method": {"client_secret_basic"},
		"scope": {"launch:create"}, "allow_launch_create": {"1"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("register: %d %.500s", r.status, r.body)
	}
	page := h.page(admin, "GET", h.baseA+r.header.Get("Location"), nil)
	id, secret := field(regexpClientID, page.body), field(regexpClientSecret, page.body)
	if c := h.client(id); !c.AllowLaunchCreate || c.AllowSCIM {
		t.Fatalf("stored client %+v", c)
	}
	tok := h.mustSecretToken(id, secret, "launch:create")
	if r := h.launchAPI(h.baseA, "POST", tok, "application/json", fmt.Sprintf(`{"client_id":%q,"patient":%q}`, h.public, h.patients["Lind"])); r.status != http.StatusCreated {
		t.Errorf("launch with the page-allowed client's token: %d %s", r.status, r.body)
	}

	reg := h.registerJSON("POST", h.baseA+"/oauth/register", h.owin("admin", adminPassword), map[string]any{"client_name": "Asks for it",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
		"scope": "launch:create", "allow_launch_create": true})
	regID, _ := reg.json["client_id"].(string)
	regSecret, _ := reg.json["client_secret"].(string)
	if reg.status != http.StatusCreated || h.client(regID).AllowLaunchCreate {
		t.Fatalf("RFC 7591 registration: %d %s", reg.status, reg.body)
	}
	if r := h.secretToken(regID, regSecret, "launch:create"); r.status != http.StatusBadRequest || r.json["error"] != "invalid_scope" {
		t.Errorf("launch:create before an administrator allowed it: %d %s", r.status, r.body)
	}

	// The CLI's flag, for an operator scripting an EHR integration.
	secret = strings.Repeat("launchcli-", 4)
	if out, errOut, code := runInProcess(t, h.cfg.DataDir, secret+"\n", "client", "add", "--id", "ehr-cli", "--secret-stdin",
		"--grant-types", "client_credentials", "--scope", "launch:create", "--allow-launch-create"); code != 0 {
		t.Fatalf("client add --allow-launch-create: exit %d %s %s", code, out, errOut)
	}
	if tok := h.mustSecretToken("ehr-cli", secret, "launch:create"); tok == "" {
		t.Error("no launch:create token for the CLI's client")
	}
	if _, _, code := runInProcess(t, h.cfg.DataDir, secret+"\n", "client", "add", "--id", "ehr-cli2", "--secret-stdin",
		"--grant-types", "client_credentials", "--scope", "system/*.rs", "--allow-launch-create"); code != 2 {
		t.Errorf("--allow-launch-create without the scope: exit %d, want 2", code)
	}

	doc := h.pageSession("doc", userPassword)
	if mine := h.page(doc, "GET", h.baseA+"/account/my-apps", nil); strings.Contains(string(mine.body), `name="allow_launch_create"`) {
		t.Error("My apps shows the administrator's launch box")
	}
}
