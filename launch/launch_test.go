package launch_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/smartgate/smartgate/launch"
)

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

const ehrScope = "launch openid fhirUser launch/patient launch/encounter patient/*.rs"

// ehrFlow: the administrator launches e.app for p1/e1, the app authorizes
// in the same browser; returns the request and where the browser went.
func (e *env) ehrFlow(admin *browser, scope string) (*request, *url.URL) {
	e.t.Helper()
	v := e.launchValue(admin, e.app, "p1", "e1")
	r := e.request(e.app, appRedirect, scope, v)
	return r, admin.authorize(r.url(e.ts.URL), "admin", "")
}

func wantNoCode(t *testing.T, back *url.URL, r *request) {
	t.Helper()
	q := back.Query()
	if q.Get("code") != "" || q.Get("error") != "invalid_request" || q.Get("state") != r.state {
		t.Fatalf("want an invalid_request error redirect with the state and no code, got %s", back)
	}
	if !strings.HasPrefix(back.String(), r.redirect+"?") {
		t.Fatalf("error went to %s, not the registered redirect URI", back)
	}
}

func TestAdminLaunchPage(t *testing.T) {
	e := newEnv(t)
	// Not logged in: sent to log in. Not an administrator: 403.
	anon := e.browser()
	if p := anon.get("/admin/launch"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login?") {
		t.Fatalf("anonymous: %d %s", p.status, p.location())
	}
	doc := e.browser()
	doc.login("doc")
	if p := doc.get("/admin/launch"); p.status != http.StatusForbidden {
		t.Fatalf("practitioner GET: %d, want 403", p.status)
	}
	if p := doc.post("/admin/launch", url.Values{"csrf_token": {"x"}, "client_id": {e.app.ID}, "patient": {"p1"}}); p.status != http.StatusForbidden {
		t.Fatalf("practitioner POST: %d, want 403", p.status)
	}

	admin := e.adminBrowser()
	p := admin.get("/admin/launch")
	if p.status != http.StatusOK {
		t.Fatalf("admin GET: %d", p.status)
	}
	for _, want := range []string{`<select id="client_id" name="client_id"`, `name="patient"`, `name="encounter"`,
		`<button type="submit"`, `value="` + e.app.ID + `"`, `value="` + e.other.ID + `"`, "Demo &lt;b&gt;App&lt;/b&gt;"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<b>App</b>") {
		t.Error("client_name markup is not escaped")
	}
	for _, absent := range []string{e.plain.ID, e.rs.ID} {
		if strings.Contains(p.body, absent) {
			t.Errorf("a client without launch_uri (%s) is listed", absent)
		}
	}
	if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("page headers: %v", p.header)
	}

	// CSRF: a missing or wrong token is refused and issues no launch.
	form := url.Values{"client_id": {e.app.ID}, "patient": {"p1"}}
	for _, tok := range []string{"", "forged"} {
		f := url.Values{"csrf_token": {tok}}
		for k, v := range form {
			f[k] = v
		}
		if r := admin.post("/admin/launch", f); r.status != http.StatusForbidden || r.location() != "" {
			t.Fatalf("csrf %q: %d %s", tok, r.status, r.location())
		}
	}

	// Bad input: the form again with a message, 400, no redirect.
	for name, f := range map[string]url.Values{
		"unknown patient":          {"client_id": {e.app.ID}, "patient": {"nobody"}},
		"no patient":               {"client_id": {e.app.ID}},
		"encounter of another":     {"client_id": {e.app.ID}, "patient": {"p1"}, "encounter": {"e2"}},
		"unknown encounter":        {"client_id": {e.app.ID}, "patient": {"p1"}, "encounter": {"nope"}},
		"client without launchuri": {"client_id": {e.plain.ID}, "patient": {"p1"}},
		"unknown client":           {"client_id": {"nope"}, "patient": {"p1"}},
		"patient in fhirContext":   {"client_id": {e.app.ID}, "patient": {"p1"}, "fhir_context": {`[{"reference":"Patient/p1"}]`}},
		"fhirContext not JSON":     {"client_id": {e.app.ID}, "patient": {"p1"}, "fhir_context": {`nope`}},
		"relative style URL":       {"client_id": {e.app.ID}, "patient": {"p1"}, "smart_style_url": {"/x.json"}},
	} {
		f.Set("csrf_token", p.hidden().Get("csrf_token"))
		r := admin.post("/admin/launch", f)
		if r.status != http.StatusBadRequest || r.location() != "" || !strings.Contains(r.body, `role="alert"`) {
			t.Errorf("%s: %d %s", name, r.status, r.location())
		}
	}

	// Success: 303 to launch_uri, its own query kept, with iss and launch.
	u := e.ehrLaunch(admin, url.Values{"client_id": {e.app.ID}, "patient": {"p1"}, "encounter": {"e1"}})
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != "https://app.example/launch" || q.Get("tenant") != "t1" ||
		q.Get("iss") != e.ts.URL+"/fhir" || !urlSafe.MatchString(q.Get("launch")) {
		t.Fatalf("Location = %s", u)
	}
	if !strings.HasPrefix(u.RawQuery, "tenant=t1&") {
		t.Errorf("launch_uri's query not kept as is: %s", u.RawQuery)
	}
	// The launch is stored under the SHA-256 of its value, by and for whom.
	sum := sha256.Sum256([]byte(q.Get("launch")))
	rec, err := e.db.Launch(context.Background(), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if rec.CreatedBy != e.users["admin"].ID || rec.ClientID != e.app.ID {
		t.Fatalf("stored launch: created_by %q client %q", rec.CreatedBy, rec.ClientID)
	}
}

func TestC15_LaunchValueIsURLSafe(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	seen := map[string]bool{}
	for range 20 {
		v := e.launchValue(admin, e.app, "p1", "")
		if !urlSafe.MatchString(v) || seen[v] {
			t.Fatalf("launch value %q is not a fresh 43-character base64url string", v)
		}
		seen[v] = true
	}
	// Only the SHA-256 of the value is stored: each launch is found under
	// it, and no table holds the value itself.
	for v := range seen {
		sum := sha256.Sum256([]byte(v))
		if _, err := e.db.Launch(context.Background(), sum[:]); err != nil {
			t.Fatalf("launch not stored under the SHA-256 of its value: %v", err)
		}
		if tables, err := e.db.TablesHolding(context.Background(), v); err != nil || len(tables) != 0 {
			t.Fatalf("a raw launch value is stored in %v (%v)", tables, err)
		}
	}
}

func TestE1_EHRLaunchPatientContext(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	r, back := e.ehrFlow(admin, ehrScope)
	for _, p := range admin.visited {
		if p == "/pick-patient" {
			t.Fatal("EHR launch showed the patient picker")
		}
	}
	tok := e.exchange(r, back)
	if tok["patient"] != "p1" {
		t.Fatalf("patient = %v, want the bare id p1", tok["patient"])
	}
	if st := e.fhirGET("Patient/p1", tok["access_token"].(string)); st != http.StatusOK {
		t.Fatalf("GET Patient/p1 with the token: %d", st)
	}
	if st := e.fhirGET("Patient/p2", tok["access_token"].(string)); st == http.StatusOK {
		t.Fatal("token reads another patient")
	}
}

func TestE1_StandalonePatientContext(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := e.request(e.app, appRedirect, "openid launch/patient patient/*.rs", "")
	tok := e.exchange(r, b.authorize(r.url(e.ts.URL), "doc", "p2"))
	if tok["patient"] != "p2" || tok["need_patient_banner"] != true {
		t.Fatalf("standalone context: %v", tok)
	}
	style, _ := tok["smart_style_url"].(string)
	if !strings.HasPrefix(style, e.ts.URL+"/static/smart-style.json?v=") {
		t.Fatalf("smart_style_url = %q", style)
	}
	if st := e.fhirGET("Patient/p2", tok["access_token"].(string)); st != http.StatusOK {
		t.Fatalf("GET Patient/p2: %d", st)
	}
}

func TestE2_EHRLaunchEncounterContext(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	r, back := e.ehrFlow(admin, ehrScope)
	tok := e.exchange(r, back)
	if tok["encounter"] != "e1" {
		t.Fatalf("encounter = %v, want the bare id e1", tok["encounter"])
	}
	if st := e.fhirGET("Encounter/e1", tok["access_token"].(string)); st != http.StatusOK {
		t.Fatalf("GET Encounter/e1 with the token: %d", st)
	}
}

// TestE5_LaunchImpliesPatientContext: with launch (and without
// launch/patient), the EHR's patient still arrives with the token.
func TestE5_LaunchImpliesPatientContext(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	r, back := e.ehrFlow(admin, "launch patient/*.rs")
	tok := e.exchange(r, back)
	if tok["patient"] != "p1" || tok["encounter"] != "e1" || tok["intent"] != "reconcile-medications" {
		t.Fatalf("context = %v", tok)
	}
	if st := e.fhirGET("Patient/p1", tok["access_token"].(string)); st != http.StatusOK {
		t.Fatalf("GET Patient/p1: %d", st)
	}
}

func TestE6_TypesOfContextFields(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	for _, banner := range []bool{true, false} {
		f := url.Values{"client_id": {e.app.ID}, "patient": {"p1"}, "intent": {"reconcile-medications"}}
		if banner {
			f.Set("need_patient_banner", "true")
		}
		v := e.ehrLaunch(admin, f).Query().Get("launch")
		r := e.request(e.app, appRedirect, ehrScope, v)
		tok := e.exchange(r, admin.authorize(r.url(e.ts.URL), "admin", ""))
		if b, ok := tok["need_patient_banner"].(bool); !ok || b != banner {
			t.Fatalf("need_patient_banner = %#v, want JSON %v", tok["need_patient_banner"], banner)
		}
		style, ok := tok["smart_style_url"].(string)
		if u, err := url.Parse(style); !ok || err != nil || !u.IsAbs() || u.Host == "" {
			t.Fatalf("smart_style_url = %#v, want an absolute URL", tok["smart_style_url"])
		}
		if s, ok := tok["intent"].(string); !ok || s != "reconcile-medications" {
			t.Fatalf("intent = %#v", tok["intent"])
		}
		if s, ok := tok["patient"].(string); !ok || s != "p1" {
			t.Fatalf("patient = %#v", tok["patient"])
		}
		if _, ok := tok["encounter"]; ok {
			t.Fatalf("encounter present although none was launched: %v", tok["encounter"])
		}
	}
}

func TestE7_FHIRContext(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	fc := `[{"reference":"Observation/o1"},{"canonical":"https://example.org/fhir/Questionnaire/q1|1.0","type":"Questionnaire"},` +
		`{"reference":"Patient/p2","role":"https://example.org/roles/sibling"}]`
	v := e.ehrLaunch(admin, url.Values{"client_id": {e.app.ID}, "patient": {"p1"}, "fhir_context": {fc}}).Query().Get("launch")
	r := e.request(e.app, appRedirect, ehrScope, v)
	tok := e.exchange(r, admin.authorize(r.url(e.ts.URL), "admin", ""))
	var want any
	json.Unmarshal([]byte(fc), &want)
	if !reflect.DeepEqual(tok["fhirContext"], want) {
		t.Fatalf("fhirContext = %#v, want %#v", tok["fhirContext"], want)
	}
}

func TestE9_RefreshKeepsContext(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	r, back := e.ehrFlow(admin, ehrScope+" offline_access")
	tok := e.exchange(r, back)
	rt, _ := tok["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	status, ref := e.postJSON("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {e.app.ID}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, ref)
	}
	for _, k := range []string{"patient", "encounter", "need_patient_banner", "smart_style_url", "intent"} {
		if _, ok := tok[k]; !ok || !reflect.DeepEqual(ref[k], tok[k]) {
			t.Errorf("%s: refresh %#v, first %#v", k, ref[k], tok[k])
		}
	}
}

func TestE10_StyleURLChangesWithContent(t *testing.T) {
	style := func(s string) string {
		p, err := launch.StylePath(fstest.MapFS{launch.StyleFile: {Data: []byte(s)}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, a2, b := style(`{"color_text":"#000"}`), style(`{"color_text":"#000"}`), style(`{"color_text":"#111"}`)
	if a != a2 || a == b || !regexp.MustCompile(`^/static/smart-style\.json\?v=[0-9a-f]{12}$`).MatchString(a) {
		t.Fatalf("style paths: %q %q %q", a, a2, b)
	}
	if _, err := launch.StylePath(fstest.MapFS{launch.StyleFile: {Data: []byte(`not json`)}}); err == nil {
		t.Fatal("a style sheet that is not JSON was accepted")
	}

	// The URL in the token names the served file's content and serves it.
	e := newEnv(t)
	admin := e.adminBrowser()
	r, back := e.ehrFlow(admin, ehrScope)
	tok := e.exchange(r, back)
	want, err := launch.StylePath(e.assets)
	if err != nil {
		t.Fatal(err)
	}
	if tok["smart_style_url"] != e.ts.URL+want {
		t.Fatalf("smart_style_url = %v, want %s", tok["smart_style_url"], e.ts.URL+want)
	}
	resp, err := http.Get(tok["smart_style_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || m["color_text"] == nil {
		t.Fatalf("style sheet: %d %v", resp.StatusCode, err)
	}
}

func TestE8_I3_IntrospectionEchoesContext(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	r, back := e.ehrFlow(admin, ehrScope)
	tok := e.exchange(r, back)
	status, in := e.postJSON("/oauth/introspect", url.Values{"token": {tok["access_token"].(string)}}, e.rs.ID, e.rsSecret)
	if status != http.StatusOK || in["active"] != true {
		t.Fatalf("introspect: %d %v", status, in)
	}
	for _, k := range []string{"patient", "encounter", "need_patient_banner", "smart_style_url", "intent"} {
		if _, ok := tok[k]; !ok || !reflect.DeepEqual(in[k], tok[k]) {
			t.Errorf("%s: introspection %#v, token %#v", k, in[k], tok[k])
		}
	}
}

func TestC14_TamperedLaunchRefused(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	v := e.launchValue(admin, e.app, "p1", "")
	flip := map[byte]byte{'A': 'B'}
	tampered := []byte(v)
	if c, ok := flip[tampered[0]]; ok {
		tampered[0] = c
	} else {
		tampered[0] = 'A'
	}
	for _, bad := range []string{string(tampered), v + "x", v[:42], "not-a-launch", strings.ReplaceAll(v, "-", "+")} {
		if bad == v {
			continue
		}
		r := e.request(e.app, appRedirect, ehrScope, bad)
		wantNoCode(t, admin.authorize(r.url(e.ts.URL), "admin", ""), r)
	}
	// The real one still works (the refusals did not use it up).
	r := e.request(e.app, appRedirect, ehrScope, v)
	if tok := e.exchange(r, admin.authorize(r.url(e.ts.URL), "admin", "")); tok["patient"] != "p1" {
		t.Fatalf("genuine launch after tampered ones: %v", tok)
	}
}

func TestC14_ExpiredLaunchRefused(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	v := e.launchValue(admin, e.app, "p1", "")
	e.clock.Advance(5*time.Minute + time.Second)
	r := e.request(e.app, appRedirect, ehrScope, v)
	wantNoCode(t, admin.authorize(r.url(e.ts.URL), "admin", ""), r)
}

func TestC14_ReusedLaunchRefused(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	r, back := e.ehrFlow(admin, ehrScope)
	e.exchange(r, back)
	// The same launch again, with a new state (another authorization), or
	// the very same request replayed: no code.
	again := e.request(e.app, appRedirect, ehrScope, r.launch)
	wantNoCode(t, admin.authorize(again.url(e.ts.URL), "admin", ""), again)
	wantNoCode(t, admin.authorize(r.url(e.ts.URL), "admin", ""), r)
}

// TestC14_LaunchUsedOnceAcrossPendingRequests: two authorization requests
// opened with one launch value may both reach the pages, but only the first
// to finish gets a code.
func TestC14_LaunchUsedOnceAcrossPendingRequests(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	v := e.launchValue(admin, e.app, "p1", "")
	r1 := e.request(e.app, appRedirect, ehrScope, v)
	r2 := e.request(e.app, appRedirect, ehrScope, v)
	first := admin.get(r1.url(e.ts.URL))
	second := admin.get(r2.url(e.ts.URL))
	if !strings.HasPrefix(first.location(), "/consent") || !strings.HasPrefix(second.location(), "/consent") {
		t.Fatalf("both requests should wait for consent: %s, %s", first.location(), second.location())
	}
	e.exchange(r1, admin.authorize(r1.url(e.ts.URL), "admin", ""))
	wantNoCode(t, admin.authorize(r2.url(e.ts.URL), "admin", ""), r2)
}

func TestC14_ForeignClientLaunchRefused(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	v := e.launchValue(admin, e.app, "p1", "")
	r := e.request(e.other, otherRedirect, ehrScope, v)
	wantNoCode(t, admin.authorize(r.url(e.ts.URL), "admin", ""), r)
	// The foreign attempt did not use it up for its own client.
	own := e.request(e.app, appRedirect, ehrScope, v)
	if tok := e.exchange(own, admin.authorize(own.url(e.ts.URL), "admin", "")); tok["patient"] != "p1" {
		t.Fatalf("own client after a foreign attempt: %v", tok)
	}
}

func TestResolveLaunchDirect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.adminBrowser()
	v := e.launchValue(admin, e.app, "p1", "e1")
	for name, tc := range map[string]struct {
		value, client string
		want          error
	}{
		"unknown":   {strings.Repeat("A", 43), e.app.ID, launch.ErrUnknown},
		"malformed": {"x", e.app.ID, launch.ErrUnknown},
		"foreign":   {v, e.other.ID, launch.ErrForeignClient},
	} {
		if _, err := e.launch.ResolveLaunch(ctx, tc.value, tc.client); err != tc.want {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	lc, err := e.launch.ResolveLaunch(ctx, v, e.app.ID)
	if err != nil || lc.Patient != "p1" || lc.Encounter != "e1" {
		t.Fatalf("ResolveLaunch = %+v, %v", lc, err)
	}
	if err := e.launch.ConsumeLaunch(ctx, v, e.other.ID); err == nil {
		t.Fatal("another client consumed the launch")
	}
	if err := e.launch.ConsumeLaunch(ctx, v, e.app.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.launch.ConsumeLaunch(ctx, v, e.app.ID); err != launch.ErrUsed {
		t.Fatalf("second ConsumeLaunch = %v, want ErrUsed", err)
	}
	if _, err := e.launch.ResolveLaunch(ctx, v, e.app.ID); err != launch.ErrUsed {
		t.Fatalf("ResolveLaunch after use = %v, want ErrUsed", err)
	}
}

// TestE2_StandaloneEncounterPicker: a standalone launch with
// launch/encounter asks for an encounter of the chosen patient.
func TestE2_StandaloneEncounterPicker(t *testing.T) {
	e := newEnv(t)
	scope := "openid launch/patient launch/encounter patient/*.rs"

	b := e.browser()
	b.encounter = "e1"
	r := e.request(e.app, appRedirect, scope, "")
	tok := e.exchange(r, b.authorize(r.url(e.ts.URL), "doc", "p1"))
	if tok["patient"] != "p1" || tok["encounter"] != "e1" {
		t.Fatalf("context = %v", tok)
	}
	if !slices.Contains(b.visited, "/pick-encounter") {
		t.Fatalf("no encounter picker: %v", b.visited)
	}
	if st := e.fhirGET("Encounter/e1", tok["access_token"].(string)); st != http.StatusOK {
		t.Fatalf("GET Encounter/e1: %d", st)
	}

	// The page lists only the patient's encounters; another patient's is
	// refused.
	b2 := e.browser()
	b2.login("doc")
	r2 := e.request(e.app, appRedirect, scope, "")
	p := b2.get(r2.url(e.ts.URL))
	for p.status == http.StatusSeeOther && !strings.HasPrefix(p.location(), "/pick-encounter") {
		if strings.HasPrefix(p.location(), "/pick-patient") {
			pp := b2.get(p.location())
			f := pp.hidden()
			f.Set("patient", "p1")
			p = b2.post("/pick-patient", f)
			continue
		}
		p = b2.get(p.location())
	}
	page := b2.get(p.location())
	if page.status != http.StatusOK || !strings.Contains(page.body, `name="encounter" value="e1"`) ||
		strings.Contains(page.body, `value="e2"`) {
		t.Fatalf("encounter picker: %d %s", page.status, page.body)
	}
	f := page.hidden()
	f.Set("encounter", "e2")
	if bad := b2.post("/pick-encounter", f); bad.status != http.StatusBadRequest {
		t.Fatalf("another patient's encounter: %d", bad.status)
	}
	f.Del("encounter")
	f.Set("csrf_token", "forged")
	f.Set("encounter", "e1")
	if bad := b2.post("/pick-encounter", f); bad.status != http.StatusForbidden {
		t.Fatalf("forged csrf: %d", bad.status)
	}

	// Skipping gives no encounter context.
	b3 := e.browser()
	r3 := e.request(e.app, appRedirect, scope, "")
	tok = e.exchange(r3, b3.authorize(r3.url(e.ts.URL), "doc", "p2"))
	if _, ok := tok["encounter"]; ok || tok["patient"] != "p2" {
		t.Fatalf("skipped encounter: %v", tok)
	}

	// An EHR launch without an encounter shows no encounter picker.
	admin := e.adminBrowser()
	v := e.launchValue(admin, e.app, "p1", "")
	r4 := e.request(e.app, appRedirect, scope+" launch", v)
	tok = e.exchange(r4, admin.authorize(r4.url(e.ts.URL), "admin", ""))
	if slices.Contains(admin.visited, "/pick-encounter") || tok["patient"] != "p1" {
		t.Fatalf("EHR launch: visited %v, token %v", admin.visited, tok)
	}
}

// TestC14_LaunchBoundToIss: the authorization request's aud must be the
// iss the app was launched with, even if it names another FHIR base of
// this server.
func TestC14_LaunchBoundToIss(t *testing.T) {
	e := newEnv(t)
	admin := e.adminBrowser()
	v := e.launchValue(admin, e.app, "p1", "")
	r := e.request(e.app, appRedirect, ehrScope, v)
	r.aud = altFHIRBase
	wantNoCode(t, admin.authorize(r.url(e.ts.URL), "admin", ""), r)
	own := e.request(e.app, appRedirect, ehrScope, v)
	own.aud = e.ts.URL + "/fhir/"
	tok := e.exchange(own, admin.authorize(own.url(e.ts.URL), "admin", ""))
	if tok["patient"] != "p1" {
		t.Fatalf("launch with aud = iss: %v", tok)
	}
	if _, ok := tok["Issuer"]; ok {
		t.Fatal("the launch's issuer leaked into the token response")
	}
}

// FuzzDecodeAPIRequest: the launch API's body parser never panics, and
// what it accepts is one object whose fhirContext, when set, is an array.
func FuzzDecodeAPIRequest(f *testing.F) {
	for _, s := range []string{`{"client_id":"a","patient":"p"}`, `{"client_id":"a","patient":"p","fhirContext":[{"reference":"Observation/1"}]}`,
		`{"fhirContext":{}}`, `{"x":1}`, `{}{}`, `[`, `null`, `{"need_patient_banner":false,"encounter":"e"}`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		req, err := launch.DecodeAPIRequest(strings.NewReader(s))
		if err != nil {
			return
		}
		if fc := strings.TrimSpace(string(req.FHIRContext)); fc != "" && fc != "null" {
			var items []map[string]any
			if json.Unmarshal(req.FHIRContext, &items) != nil {
				t.Fatalf("accepted fhirContext %s", fc)
			}
		}
	})
}
