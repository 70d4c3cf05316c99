package fhir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store/sqlite"
)

// The registry is immutable; tests share one to save its load time.
var sharedRegistry = sync.OnceValues(search.Load)

func registry(t testing.TB) *search.Registry {
	t.Helper()
	reg, err := sharedRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

type client struct {
	t    testing.TB
	base string
	db   fhir.Store
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func newServer(t testing.TB, cfg fhir.Config) *client {
	t.Helper()
	return newServerOn(t, cfg, openStore(t))
}

// newServerOn is newServer on the store db (a backend other than the
// default store/sqlite one).
func newServerOn(t testing.TB, cfg fhir.Config, db fhir.Store) *client {
	t.Helper()
	if cfg.Auth == nil {
		cfg.AccessControlOff = true
	}
	cfg.Registry = registry(t)
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	srv := fhir.New(cfg, db, nil)
	mux := http.NewServeMux()
	srv.Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &client{t: t, base: ts.URL + "/fhir", db: db}
}

func (c *client) do(method, path string, body any, hdr ...string) *response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return r
}

func (r *response) want(t testing.TB, status int) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// wantOutcome checks an error answer: status and an OperationOutcome body.
func (r *response) wantOutcome(t testing.TB, status int) {
	t.Helper()
	r.want(t, status)
	if r.body["resourceType"] != "OperationOutcome" {
		t.Fatalf("error body is not an OperationOutcome: %s", r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Fatalf("Content-Type %q", ct)
	}
}

func str(v any, path ...string) string {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func patient(family string) map[string]any {
	return map[string]any{
		"resourceType": "Patient",
		"name":         []any{map[string]any{"family": family, "given": []any{"Ann"}}},
		"gender":       "female",
		"birthDate":    "1980-05-17",
	}
}

func TestCRUDAndHistory(t *testing.T) {
	c := newServer(t, fhir.Config{})
	r := c.do("POST", "/Patient", patient("Müller")).want(t, http.StatusCreated)
	id := str(r.body, "id")
	if !search.ValidID(id) {
		t.Fatalf("server-assigned id %q", id)
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/fhir/Patient/"+id+"/_history/1") {
		t.Fatalf("Location %q", loc)
	}
	if r.header.Get("ETag") != `W/"1"` || r.header.Get("Last-Modified") == "" {
		t.Fatalf("ETag %q Last-Modified %q", r.header.Get("ETag"), r.header.Get("Last-Modified"))
	}
	if str(r.body, "meta", "versionId") != "1" || str(r.body, "meta", "lastUpdated") == "" {
		t.Fatalf("meta %v", r.body["meta"])
	}
	created := r.raw

	// The stored JSON is served as-is.
	rd := c.do("GET", "/Patient/"+id, nil, "Accept", "application/fhir+json").want(t, http.StatusOK)
	if !bytes.Equal(rd.raw, created) {
		t.Fatalf("read body differs from the create answer:\n%s\n%s", rd.raw, created)
	}
	if rd.header.Get("ETag") != `W/"1"` {
		t.Fatalf("read ETag %q", rd.header.Get("ETag"))
	}

	if nm := c.do("GET", "/Patient/"+id, nil, "If-None-Match", `W/"1"`); nm.status != http.StatusNotModified || len(nm.raw) != 0 {
		t.Fatalf("If-None-Match: %d %s", nm.status, nm.raw)
	}
	upd := patient("Meier")
	upd["id"] = id
	c.do("PUT", "/Patient/"+id, upd, "If-Match", `W/"7"`).wantOutcome(t, http.StatusPreconditionFailed)
	u := c.do("PUT", "/Patient/"+id, upd, "If-Match", `W/"1"`).want(t, http.StatusOK)
	if str(u.body, "meta", "versionId") != "2" || u.header.Get("ETag") != `W/"2"` {
		t.Fatalf("update answer %s", u.raw)
	}
	v1 := c.do("GET", "/Patient/"+id+"/_history/1", nil).want(t, http.StatusOK)
	if !bytes.Equal(v1.raw, created) {
		t.Fatal("vread of version 1 differs from what was created")
	}
	c.do("GET", "/Patient/"+id+"/_history/9", nil).wantOutcome(t, http.StatusNotFound)

	c.do("DELETE", "/Patient/"+id, nil).want(t, http.StatusNoContent)
	c.do("GET", "/Patient/"+id, nil).wantOutcome(t, http.StatusGone)
	c.do("GET", "/Patient/"+id+"/_history/2", nil).want(t, http.StatusOK)
	c.do("GET", "/Patient/"+id+"/_history/3", nil).wantOutcome(t, http.StatusGone)
	if s := c.do("GET", "/Patient?_id="+id, nil).want(t, http.StatusOK); s.body["total"] != 0.0 {
		t.Fatalf("deleted resource still found: %s", s.raw)
	}

	h := c.do("GET", "/Patient/"+id+"/_history", nil).want(t, http.StatusOK)
	if h.body["type"] != "history" || h.body["total"] != 3.0 {
		t.Fatalf("history %s", h.raw)
	}
	entries := h.body["entry"].([]any)
	wantMethods := []string{"DELETE", "PUT", "POST"}
	for i, e := range entries {
		if m := str(e, "request", "method"); m != wantMethods[i] {
			t.Fatalf("history entry %d method %q, want %q", i, m, wantMethods[i])
		}
	}
	if _, ok := entries[0].(map[string]any)["resource"]; ok {
		t.Fatal("the delete entry carries a resource")
	}
	th := c.do("GET", "/Patient/_history", nil).want(t, http.StatusOK)
	if th.body["total"] != 3.0 {
		t.Fatalf("type history total %v", th.body["total"])
	}
	c.do("POST", "/Observation", map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"}}).want(t, 201)
	sh := c.do("GET", "/_history?_count=2", nil).want(t, http.StatusOK)
	if sh.body["total"] != 4.0 || len(sh.body["entry"].([]any)) != 2 {
		t.Fatalf("system history %s", sh.raw)
	}
	var next string
	for _, l := range sh.body["link"].([]any) {
		if str(l, "relation") == "next" {
			next = str(l, "url")
		}
	}
	if !strings.Contains(next, "/fhir/_history?") {
		t.Fatalf("next link %q", next)
	}
	page2 := c.do("GET", strings.TrimPrefix(next, c.base), nil).want(t, http.StatusOK)
	if e := page2.body["entry"].([]any); len(e) != 2 || str(e[0], "request", "method") != "PUT" {
		t.Fatalf("system history page 2 %s", page2.raw)
	}

	// Create-on-update with a client id, then update after delete.
	p2 := patient("Zed")
	p2["id"] = "client-chosen-1"
	c.do("PUT", "/Patient/client-chosen-1", p2).want(t, http.StatusCreated)
	c.do("PUT", "/Patient/client-chosen-1", p2).want(t, http.StatusOK)
	upd["meta"] = map[string]any{}
	re := c.do("PUT", "/Patient/"+id, upd).want(t, http.StatusCreated)
	if str(re.body, "meta", "versionId") != "4" {
		t.Fatalf("version after re-create: %s", re.raw)
	}
}

func TestPreferReturn(t *testing.T) {
	c := newServer(t, fhir.Config{})
	m := c.do("POST", "/Patient", patient("A"), "Prefer", "return=minimal").want(t, http.StatusCreated)
	if len(m.raw) != 0 || m.header.Get("Location") == "" || m.header.Get("ETag") == "" {
		t.Fatalf("minimal: body %q, headers %v", m.raw, m.header)
	}
	o := c.do("POST", "/Patient", patient("B"), "Prefer", "return=OperationOutcome").want(t, http.StatusCreated)
	if o.body["resourceType"] != "OperationOutcome" {
		t.Fatalf("OperationOutcome: %s", o.raw)
	}
	r := c.do("POST", "/Patient", patient("C"), "Prefer", "return=representation").want(t, http.StatusCreated)
	if r.body["resourceType"] != "Patient" {
		t.Fatalf("representation: %s", r.raw)
	}
}

func TestConditionalCreate(t *testing.T) {
	c := newServer(t, fhir.Config{})
	p := patient("Cond")
	p["identifier"] = []any{map[string]any{"system": "urn:sys", "value": "42"}}
	a := c.do("POST", "/Patient", p, "If-None-Exist", "identifier=urn:sys|42").want(t, http.StatusCreated)
	b := c.do("POST", "/Patient", p, "If-None-Exist", "identifier=urn:sys|42").want(t, http.StatusOK)
	if str(a.body, "id") != str(b.body, "id") {
		t.Fatalf("conditional create made a second resource")
	}
	c.do("POST", "/Patient", p).want(t, http.StatusCreated)
	c.do("POST", "/Patient", p, "If-None-Exist", "identifier=urn:sys|42").wantOutcome(t, http.StatusPreconditionFailed)
	c.do("POST", "/Patient", p, "If-None-Exist", "bogus=1").wantOutcome(t, http.StatusBadRequest)
}

func TestBadInput(t *testing.T) {
	c := newServer(t, fhir.Config{MaxBodyBytes: 64 << 10})
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
	}{
		{"malformed JSON", "POST", "/Patient", `{"resourceType":"Patient",`, nil, 400},
		{"not an object", "POST", "/Patient", `[1,2]`, nil, 400},
		{"trailing data", "POST", "/Patient", `{"resourceType":"Patient"} {}`, nil, 400},
		{"resourceType disagrees with URL", "POST", "/Patient", obs, nil, 400},
		{"no resourceType", "POST", "/Patient", `{"id":"x"}`, nil, 400},
		{"unknown type in URL", "POST", "/Spaceship", `{"resourceType":"Spaceship"}`, nil, 404},
		{"unknown type read", "GET", "/Spaceship/1", "", nil, 404},
		{"id disagrees with URL", "PUT", "/Patient/abc", `{"resourceType":"Patient","id":"xyz"}`, nil, 400},
		{"update without id", "PUT", "/Patient/abc", `{"resourceType":"Patient"}`, nil, 400},
		{"invalid id in body", "PUT", "/Patient/abc", `{"resourceType":"Patient","id":"a/b"}`, nil, 400},
		{"id too long", "GET", "/Patient/" + strings.Repeat("a", 65), "", nil, 400},
		{"path traversal id", "GET", "/Patient/..%2F..%2Fetc", "", nil, 400},
		{"id with quote", "GET", "/Patient/a'b", "", nil, 400},
		{"xml accepted only", "GET", "/Patient", "", []string{"Accept", "application/fhir+xml"}, 406},
		{"_format xml", "GET", "/Patient?_format=xml", "", nil, 406},
		{"xml body", "POST", "/Patient", `<Patient/>`, []string{"Content-Type", "application/fhir+xml"}, 415},
		{"oversized body", "POST", "/Patient", `{"resourceType":"Patient","text":{"div":"` + strings.Repeat("x", 70<<10) + `"}}`, nil, 413},
		{"bad If-Match", "PUT", "/Patient/abc", `{"resourceType":"Patient","id":"abc"}`, []string{"If-Match", "soon"}, 400},
		{"unknown search param (strict)", "GET", "/Patient?shoe-size=42", "", nil, 400},
		{"bad date", "GET", "/Patient?birthdate=yesterday", "", nil, 400},
		{"bad modifier", "GET", "/Patient?name:sounds=x", "", nil, 400},
		{"bad _count", "GET", "/Patient?_count=-1", "", nil, 400},
		{"unknown route", "PATCH", "/Patient/abc", "{}", nil, 404},
		{"GET on the base", "GET", "", "", nil, 404},
		{"bundle of wrong type", "POST", "", `{"resourceType":"Bundle","type":"searchset"}`, nil, 400},
		{"not a bundle", "POST", "", `{"resourceType":"Patient"}`, nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := tc.hdr
			var body any
			if tc.body != "" {
				body = tc.body
			}
			c.do(tc.method, tc.path, body, hdr...).wantOutcome(t, tc.status)
		})
	}
	// Nothing was stored by any of them.
	if h := c.do("GET", "/Patient/_history", nil).want(t, 200); h.body["total"] != 0.0 {
		t.Fatalf("bad requests stored data: %s", h.raw)
	}
}

func TestSearchValuesWithSQLMetacharacters(t *testing.T) {
	c := newServer(t, fhir.Config{})
	c.do("POST", "/Patient", patient("O'Brien")).want(t, http.StatusCreated)
	for _, q := range []string{
		"name=" + "x'%20OR%20'1'='1",
		"name=%25",
		"name=_",
		"family=O'Brien%3BDROP%20TABLE%20fhir_resources%3B--",
		"identifier=a|b'--",
		"_id=abc",
	} {
		r := c.do("GET", "/Patient?"+q, nil).want(t, http.StatusOK)
		if r.body["total"] != 0.0 {
			t.Errorf("%s matched %v resources", q, r.body["total"])
		}
	}
	c.do("GET", "/Patient?family=a;b", nil).wantOutcome(t, http.StatusBadRequest)
	if r := c.do("GET", "/Patient?family=o'bri", nil).want(t, http.StatusOK); r.body["total"] != 1.0 {
		t.Fatalf("family=o'bri: %s", r.raw)
	}
	if r := c.do("GET", "/Patient", nil).want(t, http.StatusOK); r.body["total"] != 1.0 {
		t.Fatal("the patient is gone")
	}
}

func TestTransactionAllOrNothing(t *testing.T) {
	c := newServer(t, fhir.Config{})
	bundle := map[string]any{
		"resourceType": "Bundle", "type": "transaction",
		"entry": []any{
			map[string]any{"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
				"resource": patient("Tx"), "request": map[string]any{"method": "POST", "url": "Patient"}},
			map[string]any{"resource": map[string]any{"resourceType": "Observation", "id": "bad id!"},
				"request": map[string]any{"method": "PUT", "url": "Observation/bad id!"}},
		},
	}
	c.do("POST", "", bundle).wantOutcome(t, http.StatusBadRequest)
	// An entry that fails while applying (If-Match on a missing resource).
	bundle["entry"] = []any{
		bundle["entry"].([]any)[0],
		map[string]any{"resource": map[string]any{"resourceType": "Patient", "id": "p2"},
			"request": map[string]any{"method": "PUT", "url": "Patient/p2", "ifMatch": `W/"3"`}},
	}
	c.do("POST", "", bundle).wantOutcome(t, http.StatusPreconditionFailed)
	if h := c.do("GET", "/Patient/_history", nil).want(t, 200); h.body["total"] != 0.0 {
		t.Fatalf("failed transactions stored data: %s", h.raw)
	}
}

func TestTransactionRewritesReferences(t *testing.T) {
	c := newServer(t, fhir.Config{})
	raw, err := os.ReadFile(smallestBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	r := c.do("POST", "", raw).want(t, http.StatusOK)
	if r.body["type"] != "transaction-response" {
		t.Fatalf("type %v", r.body["type"])
	}
	var in struct {
		Entry []struct {
			FullURL  string         `json:"fullUrl"`
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	json.Unmarshal(raw, &in)
	out := r.body["entry"].([]any)
	if len(out) != len(in.Entry) {
		t.Fatalf("%d response entries for %d entries", len(out), len(in.Entry))
	}
	var patientID string
	for i, e := range out {
		if st := str(e, "response", "status"); st != "201 Created" {
			t.Fatalf("entry %d status %q", i, st)
		}
		if in.Entry[i].Resource["resourceType"] == "Patient" {
			loc := str(e, "response", "location")
			patientID = strings.Split(loc, "/")[1]
		}
	}
	obs := c.do("GET", "/Observation?subject=Patient/"+patientID+"&_count=1", nil).want(t, http.StatusOK)
	if obs.body["total"].(float64) == 0 {
		t.Fatal("no Observation references the new Patient id")
	}
	o := obs.body["entry"].([]any)[0]
	if ref := str(o, "resource", "subject", "reference"); ref != "Patient/"+patientID {
		t.Fatalf("subject.reference = %q, want Patient/%s", ref, patientID)
	}
	if strings.Contains(string(c.do("GET", "/Encounter?_count=1000", nil).raw), "urn:uuid:") {
		t.Fatal("urn:uuid: references remain after the transaction")
	}
}

func TestBatch(t *testing.T) {
	c := newServer(t, fhir.Config{})
	p := patient("Batch")
	p["id"] = "b1"
	bundle := map[string]any{
		"resourceType": "Bundle", "type": "batch",
		"entry": []any{
			map[string]any{"resource": p, "request": map[string]any{"method": "PUT", "url": "Patient/b1"}},
			map[string]any{"resource": map[string]any{"resourceType": "Patient", "id": "b2"},
				"request": map[string]any{"method": "PUT", "url": "Patient/b2", "ifMatch": `W/"5"`}},
			map[string]any{"request": map[string]any{"method": "GET", "url": "Patient/b1"}},
			map[string]any{"request": map[string]any{"method": "GET", "url": "Patient?family=bat&_count=5"}},
			map[string]any{"request": map[string]any{"method": "GET", "url": "Patient?shoe=1"}},
		},
	}
	r := c.do("POST", "", bundle).want(t, http.StatusOK)
	out := r.body["entry"].([]any)
	if st := str(out[0], "response", "status"); st != "201 Created" {
		t.Fatalf("entry 0: %q", st)
	}
	if st := str(out[1], "response", "status"); !strings.HasPrefix(st, "412") {
		t.Fatalf("entry 1: %q", st)
	}
	if str(out[1], "response", "outcome", "resourceType") != "OperationOutcome" {
		t.Fatal("failed batch entry has no OperationOutcome")
	}
	if str(out[2], "resource", "id") != "b1" {
		t.Fatalf("GET entry: %v", out[2])
	}
	ss := out[3].(map[string]any)["resource"].(map[string]any)
	if ss["type"] != "searchset" || len(ss["entry"].([]any)) != 1 || str(ss["entry"].([]any)[0], "resource", "id") != "b1" {
		t.Fatalf("search entry: %v", out[3])
	}
	if st := str(out[4], "response", "status"); !strings.HasPrefix(st, "400") {
		t.Fatalf("bad search entry: %q", st)
	}
}

func TestMetadata(t *testing.T) {
	c := newServer(t, fhir.Config{Auth: denyEverything{}, OAuthURIs: func(r *http.Request) map[string]string {
		return map[string]string{"authorize": "https://as.example/oauth/authorize", "token": "https://as.example/oauth/token"}
	}})
	r := c.do("GET", "/metadata", nil).want(t, http.StatusOK)
	if r.body["resourceType"] != "CapabilityStatement" || r.body["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %.200s", r.raw)
	}
	rest := r.body["rest"].([]any)[0].(map[string]any)
	sec := rest["security"].(map[string]any)
	ext := sec["extension"].([]any)[0].(map[string]any)
	if ext["url"] != "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris" {
		t.Fatalf("extension %v", ext)
	}
	got := map[string]string{}
	for _, e := range ext["extension"].([]any) {
		got[str(e, "url")] = str(e, "valueUri")
	}
	if got["authorize"] != "https://as.example/oauth/authorize" || got["token"] != "https://as.example/oauth/token" {
		t.Fatalf("oauth-uris %v", got)
	}
	// Data needs authentication.
	d := c.do("GET", "/Patient", nil)
	d.wantOutcome(t, http.StatusUnauthorized)
	if !strings.HasPrefix(d.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("WWW-Authenticate %q", d.header.Get("WWW-Authenticate"))
	}
}

func TestNoAuthenticatorMeansUnauthorized(t *testing.T) {
	db := openStore(t)
	srv := fhir.New(fhir.Config{Registry: registry(t)}, db, nil)
	mux := http.NewServeMux()
	srv.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/fhir/Patient/1", nil))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("status %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/fhir/metadata", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("metadata without token: %d", rec.Code)
	}
}

type denyEverything struct{}

func (denyEverything) Authenticate(*http.Request) (fhir.Principal, error) {
	return nil, fhir.ErrNoToken
}

// compartmentOnly is a Principal allowed to see one patient's compartment:
// the kind of decision the SMART enforcement plugs into the seam.
type compartmentOnly struct{ patient string }

func (c compartmentOnly) Authenticate(*http.Request) (fhir.Principal, error) { return c, nil }

func (c compartmentOnly) Authorize(_ context.Context, req fhir.AccessRequest) error {
	for _, p := range req.Patients {
		if p == c.patient {
			return nil
		}
	}
	if req.ID == "" {
		return nil
	}
	return fhir.ErrHidden
}

func (c compartmentOnly) Restrict(context.Context, fhir.Interaction, string) (fhir.Restriction, error) {
	return fhir.Restriction{Patients: []string{c.patient}}, nil
}

// Concurrent updates with the same If-Match: exactly one wins, the others
// get 412 (versions are checked inside the serialised write transaction).
func TestConcurrentIfMatch(t *testing.T) {
	c := newServer(t, fhir.Config{})
	p := patient("Race")
	p["id"] = "race"
	c.do("PUT", "/Patient/race", p).want(t, http.StatusCreated)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(p)
			req, _ := http.NewRequest("PUT", c.base+"/Patient/race", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("If-Match", `W/"1"`)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusPreconditionFailed:
		default:
			t.Fatalf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d updates succeeded with the same If-Match, want 1 (%v)", ok, statuses)
	}
	if v := c.do("GET", "/Patient/race", nil).want(t, 200); str(v.body, "meta", "versionId") != "2" {
		t.Fatalf("version %s", str(v.body, "meta", "versionId"))
	}
}

func TestCORS(t *testing.T) {
	c := newServer(t, fhir.Config{AllowOrigin: func(o string) bool { return o == "https://app.example" }})
	r := c.do("GET", "/metadata", nil, "Origin", "https://app.example").want(t, http.StatusOK)
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("ACAO %q", r.header.Get("Access-Control-Allow-Origin"))
	}
	if r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatal("credentials allowed")
	}
	r = c.do("GET", "/metadata", nil, "Origin", "https://evil.example").want(t, http.StatusOK)
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("foreign origin allowed")
	}
	p := c.do("OPTIONS", "/Patient/1", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "PUT")
	if p.status != http.StatusNoContent || !strings.Contains(p.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(p.header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Fatalf("preflight %d %v", p.status, p.header)
	}
	// A 401 also carries CORS headers, so that browsers can read it.
	d := newServer(t, fhir.Config{Auth: denyEverything{}})
	u := d.do("GET", "/Patient", nil, "Origin", "https://any.example")
	if u.status != http.StatusUnauthorized || u.header.Get("Access-Control-Allow-Origin") != "https://any.example" {
		t.Fatalf("401: %d %q", u.status, u.header.Get("Access-Control-Allow-Origin"))
	}
}

// storeRecorder writes audit events straight into the database.
type storeRecorder struct{ db *sqlite.DB }

func (r storeRecorder) Record(ctx context.Context, ev audit.Event) {
	r.db.InsertAudit(ctx, []audit.Event{ev})
}

type auditedPrincipal struct{ compartmentOnly }

func (a auditedPrincipal) Authenticate(*http.Request) (fhir.Principal, error) { return a, nil }
func (auditedPrincipal) AuditFields() (string, string, string, string) {
	return "user-1", "app-1", "p1", "patient/*.rs"
}

func TestAuditRecords(t *testing.T) {
	db := openStore(t)
	srv := fhir.New(fhir.Config{Auth: auditedPrincipal{compartmentOnly{patient: "p1"}}, Registry: registry(t),
		Audit: storeRecorder{db}}, db, nil)
	mux := http.NewServeMux()
	srv.Register(mux)
	newRecorder(mux, "GET", "/fhir/Patient/p1")
	newRecorder(mux, "GET", "/fhir/Observation?code=secret-value&patient=p1")
	newRecorder(mux, "GET", "/fhir/metadata")
	fhir.Import(context.Background(), db, strings.NewReader(`{"resourceType":"Patient","id":"p2"}`), fhir.ImportOptions{Registry: registry(t)})
	newRecorder(mux, "GET", "/fhir/Patient/p2")
	evs, err := db.AuditEvents(context.Background(), audit.Filter{Kind: "fhir"})
	if err != nil || len(evs) != 3 {
		t.Fatalf("audit events %+v, %v", evs, err)
	}
	hidden, search, read := evs[0], evs[1], evs[2]
	if hidden.Resource != "Patient/p2" || hidden.Detail != "404" || hidden.Outcome != audit.Denied {
		t.Errorf("hidden read event %+v", hidden)
	}
	if search.Action != "search-type" || search.Resource != "Observation?code,patient" || search.Outcome != audit.Success ||
		search.Actor != "user-1" || search.ClientID != "app-1" || search.Patient != "p1" {
		t.Errorf("search event %+v", search)
	}
	if strings.Contains(search.Resource, "secret-value") {
		t.Error("search values in the audit record")
	}
	if read.Action != "read" || read.Resource != "Patient/p1" || read.Detail != "404" || read.Outcome != audit.Failure {
		t.Errorf("read event %+v", read)
	}
}

func TestConditionalUpdateAndDelete(t *testing.T) {
	c := newServer(t, fhir.Config{})
	p := patient("Cond")
	p["identifier"] = []any{map[string]any{"system": "urn:sys", "value": "c1"}}
	a := c.do("PUT", "/Patient?identifier=urn:sys|c1", p).want(t, http.StatusCreated)
	id := str(a.body, "id")
	b := c.do("PUT", "/Patient?identifier=urn:sys|c1", p).want(t, http.StatusOK)
	if str(b.body, "id") != id || str(b.body, "meta", "versionId") != "2" {
		t.Fatalf("conditional update: %s", b.raw)
	}
	p["id"] = "someone-else"
	c.do("PUT", "/Patient?identifier=urn:sys|c1", p).wantOutcome(t, http.StatusBadRequest)
	delete(p, "id")
	c.do("POST", "/Patient", p).want(t, http.StatusCreated)
	c.do("PUT", "/Patient?identifier=urn:sys|c1", p).wantOutcome(t, http.StatusPreconditionFailed)
	c.do("DELETE", "/Patient?identifier=urn:sys|c1", nil).wantOutcome(t, http.StatusPreconditionFailed)
	c.do("DELETE", "/Patient/"+id, nil).want(t, http.StatusNoContent)
	c.do("DELETE", "/Patient?identifier=urn:sys|c1", nil).want(t, http.StatusNoContent)
	if r := c.do("GET", "/Patient?identifier=urn:sys|c1", nil).want(t, 200); r.body["total"] != 0.0 {
		t.Fatalf("conditional delete left %v", r.body["total"])
	}
	c.do("DELETE", "/Patient?identifier=urn:sys|none", nil).want(t, http.StatusNoContent)
	c.do("PUT", "/Patient", p).wantOutcome(t, http.StatusMethodNotAllowed)

	// In a transaction: a conditional update of an existing patient, and
	// an Observation referring to it by its fullUrl.
	p["identifier"] = []any{map[string]any{"system": "urn:sys", "value": "c2"}}
	existing := c.do("POST", "/Patient", p).want(t, http.StatusCreated)
	bundle := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"fullUrl": "urn:uuid:0d6c0d2c-7f0a-4d5e-9d1e-3b9a4f2f0001", "resource": p,
			"request": map[string]any{"method": "PUT", "url": "Patient?identifier=urn:sys|c2"}},
		map[string]any{"resource": map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
			"subject": map[string]any{"reference": "urn:uuid:0d6c0d2c-7f0a-4d5e-9d1e-3b9a4f2f0001"}},
			"request": map[string]any{"method": "POST", "url": "Observation"}},
	}}
	r := c.do("POST", "", bundle).want(t, http.StatusOK)
	if st := str(r.body["entry"].([]any)[0], "response", "status"); st != "200 OK" {
		t.Fatalf("conditional update entry: %s", st)
	}
	obs := c.do("GET", "/Observation?subject=Patient/"+str(existing.body, "id"), nil).want(t, 200)
	if obs.body["total"] != 1.0 {
		t.Fatalf("reference not rewritten to the matched patient: %s", obs.raw)
	}
}

// writeCompartment may write only in patient p1's compartment; it refuses
// with 403 what would touch or land elsewhere.
type writeCompartment struct{}

func (w writeCompartment) Authenticate(*http.Request) (fhir.Principal, error) { return w, nil }
func (writeCompartment) Authorize(_ context.Context, req fhir.AccessRequest) error {
	if req.ID == "" && req.Resource == nil {
		return nil // the type-level question: it has scope for every type
	}
	if len(req.Patients) == 1 && req.Patients[0] == "p1" {
		return nil
	}
	return fhir.ErrInsufficientScope
}
func (writeCompartment) Restrict(context.Context, fhir.Interaction, string) (fhir.Restriction, error) {
	return fhir.Restriction{Patients: []string{"p1"}}, nil
}

func TestWritesCannotLeaveTheCompartment(t *testing.T) {
	db := openStore(t)
	ndjson := `{"resourceType":"Patient","id":"p1"}
{"resourceType":"Patient","id":"p2"}
{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}
{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}}
`
	if _, err := fhir.Import(context.Background(), db, strings.NewReader(ndjson), fhir.ImportOptions{Registry: registry(t)}); err != nil {
		t.Fatal(err)
	}
	srv := fhir.New(fhir.Config{Auth: writeCompartment{}, Registry: registry(t)}, db, nil)
	mux := http.NewServeMux()
	srv.Register(mux)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	c := &client{t: t, base: ts.URL + "/fhir", db: db}
	obs := func(id, patient string) map[string]any {
		m := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "y"},
			"subject": map[string]any{"reference": "Patient/" + patient}}
		if id != "" {
			m["id"] = id
		}
		return m
	}
	c.do("PUT", "/Observation/o1", obs("o1", "p1")).want(t, http.StatusOK)
	c.do("PUT", "/Observation/o1", obs("o1", "p2")).wantOutcome(t, http.StatusForbidden) // move out
	c.do("PUT", "/Observation/o2", obs("o2", "p1")).wantOutcome(t, http.StatusForbidden) // take over
	c.do("POST", "/Observation", obs("", "p2")).wantOutcome(t, http.StatusForbidden)
	c.do("DELETE", "/Observation/o2", nil).wantOutcome(t, http.StatusForbidden)
	bundle := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": obs("", "p1"), "request": map[string]any{"method": "POST", "url": "Observation"}},
		map[string]any{"resource": obs("", "p2"), "request": map[string]any{"method": "POST", "url": "Observation"}},
	}}
	c.do("POST", "", bundle).wantOutcome(t, http.StatusForbidden)
	// A deleted resource of another patient cannot be taken over by
	// re-creating its id.
	admin := fhir.New(fhir.Config{AccessControlOff: true, Registry: registry(t)}, db, nil)
	amux := http.NewServeMux()
	admin.Register(amux)
	if r := newRecorder(amux, "DELETE", "/fhir/Observation/o2"); r.status != http.StatusNoContent {
		t.Fatalf("admin delete: %d", r.status)
	}
	c.do("PUT", "/Observation/o2", obs("o2", "p1")).wantOutcome(t, http.StatusForbidden)
	h, err := db.ResourceHistory(context.Background(), fhir.HistoryQuery{Type: "Observation"})
	if err != nil || h.Total != 4 {
		t.Fatalf("Observation history %d entries (want 4: two imports, one allowed update, the admin delete), %v", h.Total, err)
	}
	if r, _ := db.ReadResource(context.Background(), "Observation", "o2"); r.Version != 2 || !r.Deleted {
		t.Fatal("o2 was changed")
	}
}

// The SMART discovery document lives under /fhir/ but belongs to authz:
// its route must coexist with the FHIR routes on one mux.
func TestRoutesLeaveRoomForDiscovery(t *testing.T) {
	mux := http.NewServeMux()
	fhir.New(fhir.Config{AccessControlOff: true, Registry: registry(t)}, openStore(t), nil).Register(mux)
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"authorization_endpoint":"x"}`))
	})
	r := newRecorder(mux, "GET", "/fhir/.well-known/smart-configuration")
	if r.status != http.StatusOK || r.body["authorization_endpoint"] != "x" {
		t.Fatalf("discovery: %d %s", r.status, r.raw)
	}
}
