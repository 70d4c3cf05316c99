package launch_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/internal/testclock"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
)

const password = "correct horse battery staple"

// The test FHIR data: two patients, an encounter of each.
const bundle = `{"resourceType":"Bundle","type":"collection","entry":[
 {"resource":{"resourceType":"Patient","id":"p1","name":[{"family":"One","given":["Pat"]}]}},
 {"resource":{"resourceType":"Patient","id":"p2","name":[{"family":"Two","given":["Pam"]}]}},
 {"resource":{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"}}},
 {"resource":{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"}}}
]}`

// env is the real thing over httptest: SQLite, authz, the pages, the FHIR
// endpoint with bearer tokens, and the EHR launch.
type env struct {
	t      *testing.T
	db     *sqlite.DB
	ts     *httptest.Server
	clock  *testclock.Clock
	as     *authz.Server
	launch *launch.Service
	assets fs.FS
	// app: public client with a launch_uri (keeps a query); other: a second
	// launchable public client; rs: confidential client that introspects
	// every client's tokens.
	app, other, plain *authz.Client
	rs                *authz.Client
	rsSecret          string
	users             map[string]*account.User
}

const (
	appRedirect   = "https://app.example/cb"
	appLaunch     = "https://app.example/launch?tenant=t1"
	otherRedirect = "https://other.example/cb"
	// altFHIRBase is another FHIR base of the server (another listener).
	altFHIRBase = "https://alt.example/fhir"
)

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, clock: testclock.New(time.Now().UTC().Truncate(time.Second)), assets: smartgate.Assets(""),
		users: map[string]*account.User{}}

	hasher := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 4)
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*account.User{
		{UserName: "admin", DisplayName: "Admin", FHIRUser: "Practitioner/d0", Roles: []string{account.RoleAdmin}},
		{UserName: "doc", DisplayName: "Dr. Doc", FHIRUser: "Practitioner/d1", Roles: []string{account.RolePractitioner}},
	} {
		u.Active, u.PasswordHash = true, hash
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		e.users[u.UserName] = u
	}
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fhir.Import(ctx, db, strings.NewReader(bundle), fhir.ImportOptions{Registry: reg}); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	e.ts = httptest.NewServer(mux)
	t.Cleanup(e.ts.Close)

	passwords := account.NewAuthenticator(db, hasher, account.NewThrottle(account.ThrottleConfig{}))
	pages, err := web.New(ctx, web.Config{Assets: e.assets, Store: db, Passwords: passwords,
		Patients: patients{db}, Encounters: encounters{db}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	stylePath, err := launch.StylePath(e.assets)
	if err != nil {
		t.Fatal(err)
	}
	e.launch, err = launch.New(launch.Config{Store: db, Clients: db, Resources: db, Pages: pages, Assets: e.assets,
		StylePath: stylePath, Now: e.clock.Now, Actor: func(ctx context.Context) string {
			if u, ok := web.UserFrom(ctx); ok {
				return u.ID
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.as, err = authz.New(authz.Config{
		BaseURLs:       []string{e.ts.URL},
		FHIRBaseURLs:   []string{e.ts.URL + "/fhir", altFHIRBase},
		ScopeStrategy:  smart.ScopeStrategy,
		SmartStylePath: stylePath,
		Launches:       e.launch,
		Now:            e.clock.Now,
	}, db, pages, userDirectory{db}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fhirSrv := fhir.New(fhir.Config{Auth: bearer.New(verifier{e.as}, reg, bearer.Options{Now: e.clock.Now}),
		Registry: reg, Now: e.clock.Now}, db, nil)
	static, _ := fs.Sub(e.assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	e.as.Register(mux)
	pages.Register(mux)
	fhirSrv.Register(mux)
	e.launch.Register(mux)

	e.app = e.client(authz.NewClient{Name: "Demo <b>App</b>", RedirectURIs: []string{appRedirect}, LaunchURI: appLaunch,
		TokenEndpointAuthMethod: authz.AuthNone})
	e.other = e.client(authz.NewClient{Name: "Other app", RedirectURIs: []string{otherRedirect},
		LaunchURI: "https://other.example/launch", TokenEndpointAuthMethod: authz.AuthNone})
	e.plain = e.client(authz.NewClient{Name: "No launch URI", RedirectURIs: []string{"https://plain.example/cb"},
		TokenEndpointAuthMethod: authz.AuthNone})
	var secret string
	e.rs, secret, err = authz.CreateClient(ctx, db, authz.NewClient{Name: "Resource server",
		GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: authz.AuthClientSecretBasic, IntrospectAll: true}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.rsSecret = secret
	return e
}

func (e *env) client(nc authz.NewClient) *authz.Client {
	e.t.Helper()
	c, _, err := authz.CreateClient(context.Background(), e.db, nc, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// userDirectory gives authz the accounts as cmd/smartgate does
// (authz.Accounts), without password log-ins.
type userDirectory struct{ db *sqlite.DB }

func (d userDirectory) Authenticate(ctx context.Context, username, password, address string) (authz.UserClaims, error) {
	return authz.Accounts{Store: d.db}.Authenticate(ctx, username, password, address)
}

func (d userDirectory) Claims(ctx context.Context, subject string) (authz.UserClaims, error) {
	return authz.Accounts{Store: d.db}.Claims(ctx, subject)
}

// verifier is the FHIR endpoint's verifier as cmd/smartgate wires it
// (bearer.AuthzVerifier), over the authorization server alone.
type verifier struct{ as *authz.Server }

func (v verifier) Verify(ctx context.Context, token string) (*access.Principal, time.Time, error) {
	return bearer.AuthzVerifier{Tokens: v.as}.Verify(ctx, token)
}

// patients is the picker's view of the FHIR store.
type patients struct{ db *sqlite.DB }

func (p patients) SearchPatients(ctx context.Context, _ string, _ int) ([]web.PatientSummary, error) {
	return []web.PatientSummary{{ID: "p1", Name: "Pat One"}, {ID: "p2", Name: "Pam Two"}}, nil
}

func (p patients) Patient(ctx context.Context, id string) (*web.PatientSummary, error) {
	r, err := p.db.ReadResource(ctx, "Patient", id)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, store.ErrNotFound
	}
	return &web.PatientSummary{ID: id}, nil
}

// encounters is the encounter picker's view of the test data.
type encounters struct{ db *sqlite.DB }

func (x encounters) EncountersOf(ctx context.Context, patient string, _ int) ([]web.EncounterSummary, error) {
	var out []web.EncounterSummary
	for _, id := range []string{"e1", "e2"} {
		if e, err := x.Encounter(ctx, id); err == nil && e.Patient == patient {
			out = append(out, *e)
		}
	}
	return out, nil
}

func (x encounters) Encounter(ctx context.Context, id string) (*web.EncounterSummary, error) {
	r, err := x.db.ReadResource(ctx, "Encounter", id)
	if err != nil {
		return nil, err
	}
	var m struct {
		Subject struct{ Reference string } `json:"subject"`
	}
	if err := json.Unmarshal(r.JSON, &m); err != nil {
		return nil, err
	}
	return &web.EncounterSummary{ID: id, Patient: strings.TrimPrefix(m.Subject.Reference, "Patient/")}, nil
}

// ---- a browser: cookie jar, no automatic redirects, form helpers ----

type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	// visited are the paths of our pages the flow went through.
	visited []string
	// encounter is what the encounter picker chooses ("": skip).
	encounter string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.ts.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &page{status: resp.StatusCode, header: resp.Header, body: string(body), url: req.URL}
}

func (b *browser) abs(ref string) string {
	u, err := url.Parse(b.base)
	if err != nil {
		b.t.Fatal(err)
	}
	r, err := u.Parse(ref)
	if err != nil {
		b.t.Fatal(err)
	}
	return r.String()
}

func (b *browser) get(ref string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.abs(ref), nil)
	return b.do(req)
}

func (b *browser) post(ref string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.abs(ref), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hidden returns the page's hidden form fields.
func (p *page) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

func (p *page) location() string { return p.header.Get("Location") }

// login logs the browser in as user.
func (b *browser) login(user string) {
	b.t.Helper()
	p := b.get("/login")
	f := p.hidden()
	f.Set("username", user)
	f.Set("password", password)
	f.Set("return_to", "/account/apps")
	if r := b.post("/login", f); r.status != http.StatusSeeOther {
		b.t.Fatalf("log-in as %s: %d %s", user, r.status, r.body)
	}
}

// authorize follows an authorization request through log-in (as user),
// patient picker (choosing pick) and consent (approving everything) until
// the browser leaves for the app, and returns where it went.
func (b *browser) authorize(start, user, pick string) *url.URL {
	b.t.Helper()
	p := b.get(start)
	for range 20 {
		switch {
		case p.status == http.StatusFound || p.status == http.StatusSeeOther:
			u, _ := url.Parse(b.abs(p.location()))
			if !strings.HasPrefix(u.String(), b.base+"/") {
				return u
			}
			b.visited = append(b.visited, u.Path)
			p = b.get(u.String())
		case p.status == http.StatusOK && p.url.Path == "/login":
			f := p.hidden()
			f.Set("username", user)
			f.Set("password", password)
			p = b.post("/login", f)
		case p.status == http.StatusOK && p.url.Path == "/pick-patient":
			f := p.hidden()
			f.Set("patient", pick)
			p = b.post("/pick-patient", f)
		case p.status == http.StatusOK && p.url.Path == "/pick-encounter":
			f := p.hidden()
			if b.encounter == "" {
				f.Set("skip", "1")
			} else {
				f.Set("encounter", b.encounter)
			}
			p = b.post("/pick-encounter", f)
		case p.status == http.StatusOK && p.url.Path == "/consent":
			f := p.hidden()
			f.Set("decision", "approve")
			for _, m := range regexp.MustCompile(`name="scope" value="([^"]+)"`).FindAllStringSubmatch(p.body, -1) {
				f.Add("scope", html.UnescapeString(m[1]))
			}
			p = b.post("/consent", f)
		default:
			b.t.Fatalf("authorization flow stuck at %s: %d %.300s", p.url, p.status, p.body)
		}
	}
	b.t.Fatal("authorization flow did not end")
	return nil
}

// ---- the app side ----

type request struct {
	client   *authz.Client
	redirect string
	scope    string
	launch   string
	state    string
	verifier string
	aud      string // default: the test server's FHIR base
}

func (e *env) request(c *authz.Client, redirect, scope, launchValue string) *request {
	v := make([]byte, 32)
	rand.Read(v)
	s := make([]byte, 8)
	rand.Read(s)
	return &request{client: c, redirect: redirect, scope: scope, launch: launchValue,
		verifier: base64.RawURLEncoding.EncodeToString(v), state: base64.RawURLEncoding.EncodeToString(s)}
}

func (r *request) url(base string) string {
	sum := sha256.Sum256([]byte(r.verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {r.client.ID}, "redirect_uri": {r.redirect},
		"scope": {r.scope}, "state": {r.state}, "aud": {base + "/fhir"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if r.launch != "" {
		q.Set("launch", r.launch)
	}
	if r.aud != "" {
		q.Set("aud", r.aud)
	}
	return base + "/oauth/authorize?" + q.Encode()
}

// postJSON posts a form and decodes the JSON answer.
func (e *env) postJSON(path string, form url.Values, user, pass string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		e.t.Fatalf("%s: not JSON: %v", path, err)
	}
	return resp.StatusCode, m
}

// exchange redeems the code of a successful redirect.
func (e *env) exchange(r *request, back *url.URL) map[string]any {
	e.t.Helper()
	q := back.Query()
	if q.Get("code") == "" || q.Get("state") != r.state {
		e.t.Fatalf("no code for state %s: %s", r.state, back)
	}
	status, m := e.postJSON("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {r.redirect}, "client_id": {r.client.ID}, "code_verifier": {r.verifier}}, "", "")
	if status != http.StatusOK {
		e.t.Fatalf("token: %d %v", status, m)
	}
	return m
}

// fhirGET reads a resource with a bearer token and returns the status.
func (e *env) fhirGET(path, token string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/fhir/"+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// ehrLaunch submits the /admin/launch form as the logged-in administrator
// b and returns the Location (the app's launch_uri with iss and launch).
func (e *env) ehrLaunch(b *browser, form url.Values) *url.URL {
	e.t.Helper()
	p := b.get("/admin/launch")
	if p.status != http.StatusOK {
		e.t.Fatalf("GET /admin/launch: %d", p.status)
	}
	f := p.hidden()
	for k, v := range form {
		f[k] = v
	}
	r := b.post("/admin/launch", f)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("POST /admin/launch: %d %.500s", r.status, r.body)
	}
	u, err := url.Parse(r.location())
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// launchValue launches app for patient (and encounter) as admin and returns
// the launch value.
func (e *env) launchValue(admin *browser, c *authz.Client, patient, encounter string) string {
	e.t.Helper()
	u := e.ehrLaunch(admin, url.Values{"client_id": {c.ID}, "patient": {patient}, "encounter": {encounter},
		"need_patient_banner": {"true"}, "intent": {"reconcile-medications"}})
	v := u.Query().Get("launch")
	if v == "" {
		e.t.Fatalf("no launch value in %s", u)
	}
	return v
}

func (e *env) adminBrowser() *browser {
	b := e.browser()
	b.login("admin")
	return b
}
