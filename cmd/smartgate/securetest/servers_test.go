package securetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store/sqlite"
)

// The configurations of the secure interface under test, one process
// each, started on first use and shared.
var configs = map[string]struct {
	policy string
	extra  []string
}{
	// allow: the other kinds of authentication decide. A proxy header is
	// configured, but trusted only from 10.9.9.9: from 127.0.0.1 it is a
	// forgery.
	"allow":  {policy: "allow", extra: []string{"--client-cert-header", "X-SSL-Client-Cert", "--trusted-proxies", "10.9.9.9"}},
	"reject": {policy: "reject"},
	"limit":  {policy: "limit"},
	// mixed: per case, and 127.0.0.1 is the trusted TLS-terminating proxy
	// whose header carries the client certificate.
	"mixed": {policy: "no_certificate=limit,unknown_certificate=reject,no_jwt=allow,bad_jwt=reject",
		extra: []string{"--client-cert-header", "X-SSL-Client-Cert", "--trusted-proxies", "127.0.0.1"}},
}

const (
	adminPassword   = "securetest administrator password 0123"
	patientUser     = "ann.alpha"
	patientPassword = "ann-alpha-password-0123456789"
	redirectURI     = "http://127.0.0.1:9/cb"
	extScope        = "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"
	extSubject      = "ext-subject-ann" // the patient user's subject at the external issuer
)

// regClient is a client registered by RFC 7591.
type regClient struct {
	ID  string
	Raw map[string]any // the registration response
	Err error          // why registration failed (the test that needs it fails with it)
}

// server is one running smartgate configuration and what was set up in it.
type server struct {
	name   string
	dir    string
	data   string
	p      *proc
	HTTPS  string // https://127.0.0.1:port
	HTTP   string // http://127.0.0.1:port (set-up only)
	pki    *pki
	Admin  string // the administrator's OWin token
	PatA   string // Patient ids: PatA is the patient user's own record
	PatB   string
	Org    string // an Organization (in no patient's compartment)
	UserID string // the patient user's account id (sub of this server's ID tokens)

	Trusted, Bound, Self, Listed regClient
	// ListErr: why `smartgate cert add` of pki.Listed failed.
	ListErr error

	dbOnce sync.Once
	db     *sqlite.DB
	dbErr  error

	idOnce   sync.Once
	idToken  string
	idErr    error
	issuer   string
	jwks     map[string]any
	jwksOnce sync.Once
}

var (
	serversMu sync.Mutex
	servers   = map[string]*serverSlot{}
)

type serverSlot struct {
	once sync.Once
	s    *server
	err  error
}

// srv returns the named configuration's server, starting it on first use.
func srv(t *testing.T, name string) *server {
	t.Helper()
	serversMu.Lock()
	slot := servers[name]
	if slot == nil {
		slot = &serverSlot{}
		servers[name] = slot
	}
	serversMu.Unlock()
	slot.once.Do(func() {
		// Should startServer end the test that runs it (t.Fatal), the
		// others learn it from this.
		slot.err = fmt.Errorf("its start failed in another test (see that one)")
		slot.s, slot.err = startServer(t, name)
	})
	if slot.err != nil {
		t.Fatalf("the %q server (--client-cert-policy %s): %v", name, configs[name].policy, slot.err)
	}
	return slot.s
}

func stopServers() {
	serversMu.Lock()
	defer serversMu.Unlock()
	for _, slot := range servers {
		if slot.s != nil {
			if slot.s.db != nil {
				slot.s.db.Close()
			}
			if slot.s.p != nil {
				slot.s.p.stop()
			}
		}
	}
	if ext.srv != nil {
		ext.srv.Close()
	}
}

func startServer(t *testing.T, name string) (*server, error) {
	cfg, ok := configs[name]
	if !ok {
		return nil, fmt.Errorf("no configuration %q", name)
	}
	p := certs(t)
	iss := externalIssuer(t)
	s := &server{name: name, dir: filepath.Join(tmpRoot, "srv-"+name), pki: p}
	s.data = filepath.Join(s.dir, "data")
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	file := filepath.Join(s.dir, "smartgate.yaml")
	yaml := fmt.Sprintf("trusted_jwt_issuers:\n  - issuer: %s\n    jwks_uri: %s/jwks\n", iss.issuer, iss.issuer)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	// The allow-list: `smartgate cert add` before the first start.
	if out, err := exec.Command(binary, "cert", "add", "--data", s.data, "--file", p.Listed.CertFile, "--note", "securetest").CombinedOutput(); err != nil {
		s.ListErr = fmt.Errorf("smartgate cert add --file %s: %v\n%s(the webcert helper's command)", p.Listed.CertFile, err, out)
	}
	var err error
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between the check and the start
		httpAddr, err1 := freePort()
		httpsAddr, err2 := freePort()
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("free ports: %v %v", err1, err2)
		}
		args := []string{"serve", "--config", file, "--data", s.data,
			"--http-addr", httpAddr, "--http-url", "http://" + httpAddr,
			"--https-addr", httpsAddr, "--https-url", "https://" + httpsAddr,
			"--tls-cert", p.Server.CertFile, "--tls-key", p.Server.KeyFile,
			"--client-ca", p.ClientCA.CertFile, "--client-cert-policy", cfg.policy,
			"--jwks-allow-private", "--log-format", "json"}
		args = append(args, cfg.extra...)
		s.p, err = startProc(s.dir, []string{"SMARTGATE_ADMIN_PASSWORD=" + adminPassword}, args...)
		if err == nil {
			s.HTTP, s.HTTPS = "http://"+httpAddr, "https://"+httpsAddr
			break
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
	}
	if s.p == nil {
		return nil, lastErr
	}
	if err := s.setUp(t); err != nil {
		s.p.stop()
		return nil, fmt.Errorf("set-up: %w", err)
	}
	return s, nil
}

// setUp gets the administrator's OWin token, stores two patients, an
// Organization and a patient account over the HTTP listener (loopback,
// not subject to the client-certificate policy), and registers the
// certificate clients by RFC 7591.
func (s *server) setUp(t *testing.T) error {
	plain := &http.Client{Timeout: 15 * time.Second}
	resp, err := plain.PostForm(s.HTTP+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}})
	if err != nil {
		return err
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	s.Admin, _ = tok["access_token"].(string)
	if s.Admin == "" {
		return fmt.Errorf("administrator's OWin token: %d %v", resp.StatusCode, tok)
	}
	create := func(body string) (string, error) {
		a := do(t, plain, "POST", s.HTTP+"/fhir/"+strings.SplitN(strings.Split(body, `"resourceType":"`)[1], `"`, 2)[0],
			strings.NewReader(body), "Authorization", "Bearer "+s.Admin, "Content-Type", "application/fhir+json")
		id, _ := a.json()["id"].(string)
		if a.Status != http.StatusCreated || id == "" {
			return "", fmt.Errorf("create: %s", a)
		}
		return id, nil
	}
	if s.PatA, err = create(`{"resourceType":"Patient","name":[{"family":"Alpha","given":["Ann"]}]}`); err != nil {
		return err
	}
	if s.PatB, err = create(`{"resourceType":"Patient","name":[{"family":"Beta","given":["Bo"]}]}`); err != nil {
		return err
	}
	if s.Org, err = create(`{"resourceType":"Organization","name":"Securetest Lab"}`); err != nil {
		return err
	}
	if _, err = create(`{"resourceType":"Observation","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/` + s.PatA + `"}}`); err != nil {
		return err
	}
	user, _ := json.Marshal(map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", extScope},
		"userName": patientUser, "password": patientPassword, "active": true,
		extScope: map[string]any{"fhirUser": "Patient/" + s.PatA, "roles": []string{"patient"}},
	})
	a := do(t, plain, "POST", s.HTTP+"/scim/v2/Users", bytes.NewReader(user),
		"Authorization", "Bearer "+s.Admin, "Content-Type", "application/scim+json")
	s.UserID, _ = a.json()["id"].(string)
	if a.Status != http.StatusCreated || s.UserID == "" {
		return fmt.Errorf("SCIM user: %s", a)
	}
	// The account's (issuer, subject) link to the trusted external
	// issuer, as a federated log-in would have made it (written into the
	// store: no page or API creates one without that log-in).
	if err := s.store(t).CreateLink(context.Background(), &account.Link{Issuer: externalIssuer(t).issuer, Subject: extSubject,
		UserID: s.UserID, Provider: "securetest"}); err != nil {
		return fmt.Errorf("link to the external issuer: %w", err)
	}
	// RFC 7591 over the HTTPS listener (/oauth is not subject to the
	// policy), the administrator's token as the initial access token.
	s.Trusted = s.register(t, map[string]any{
		"client_name":                "securetest backend (tls_client_auth)",
		"token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_subject_dn": s.pki.Trusted.SubjectDN(),
		"grant_types":                []string{"client_credentials", "authorization_code"},
		"response_types":             []string{"code"},
		"redirect_uris":              []string{redirectURI},
		"scope":                      "openid fhirUser system/Patient.rs system/Observation.rs",
	})
	s.Bound = s.register(t, map[string]any{
		"client_name":                                "securetest bound backend",
		"token_endpoint_auth_method":                 "tls_client_auth",
		"tls_client_auth_subject_dn":                 s.pki.Bound.SubjectDN(),
		"tls_client_certificate_bound_access_tokens": true,
		"grant_types":                                []string{"client_credentials"},
		"scope":                                      "system/Patient.rs system/Observation.rs",
	})
	jwk := s.pki.SelfSigned.JWK()
	jwk["kid"] = "self-signed-1"
	s.Self = s.register(t, map[string]any{
		"client_name":                "securetest self-signed backend",
		"token_endpoint_auth_method": "self_signed_tls_client_auth",
		"jwks":                       map[string]any{"keys": []any{jwk}},
		"tls_client_certificate_bound_access_tokens": true,
		"grant_types": []string{"client_credentials"},
		"scope":       "system/Patient.rs",
	})
	ljwk := s.pki.Listed.JWK()
	ljwk["kid"] = "listed-1"
	s.Listed = s.register(t, map[string]any{
		"client_name":                "securetest allow-listed self-signed backend",
		"token_endpoint_auth_method": "self_signed_tls_client_auth",
		"jwks":                       map[string]any{"keys": []any{ljwk}},
		"grant_types":                []string{"client_credentials"},
		"scope":                      "system/Patient.rs",
	})
	return nil
}

func (s *server) register(t *testing.T, meta map[string]any) regClient {
	body, _ := json.Marshal(meta)
	a := do(t, httpsClient(s.pki, nil), "POST", s.HTTPS+"/oauth/register", bytes.NewReader(body),
		"Authorization", "Bearer "+s.Admin, "Content-Type", "application/json")
	m := a.json()
	id, _ := m["client_id"].(string)
	if a.Status != http.StatusCreated || id == "" {
		return regClient{Err: fmt.Errorf("RFC 7591 registration of a %s client (%s) over the HTTPS listener: %s\n"+
			"(registering tls_client_auth / self_signed_tls_client_auth is the authtls helper's; /oauth/* outside the policy, under reject too, is certauth's)",
			meta["token_endpoint_auth_method"], meta["client_name"], a)}
	}
	return regClient{ID: id, Raw: m}
}

// need fails the test when c was not registered.
func (c regClient) need(t *testing.T) string {
	t.Helper()
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	return c.ID
}

// fhir is the HTTPS listener's FHIR base.
func (s *server) fhir(path string) string { return s.HTTPS + "/fhir/" + path }

// discovery is the HTTPS listener's OpenID configuration (issuer,
// jwks_uri).
func (s *server) serverKeys(t *testing.T) (issuer string, jwks map[string]any) {
	t.Helper()
	s.jwksOnce.Do(func() {
		c := httpsClient(s.pki, nil)
		a := do(t, c, "GET", s.HTTPS+"/.well-known/openid-configuration", nil)
		s.issuer, _ = a.json()["issuer"].(string)
		u, _ := a.json()["jwks_uri"].(string)
		if u != "" {
			s.jwks = do(t, c, "GET", u, nil).json()
		}
	})
	if s.issuer == "" || s.jwks == nil {
		t.Fatalf("%s: no issuer or JWKS in the OpenID configuration", s.name)
	}
	return s.issuer, s.jwks
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	scopeBox    = regexp.MustCompile(`<input type="checkbox" id="scope-\d+" name="scope" value="([^"]+)"`)
)

// IDToken is an OpenID Connect ID token of this server for the patient
// user, issued to the tls_client_auth client (aud = its client id) by a
// real authorization-code flow over the HTTPS listener: the log-in and
// consent pages, then the code exchanged at the token endpoint with the
// client's certificate (RFC 8705 §2).
func (s *server) IDToken(t *testing.T) string {
	t.Helper()
	id := s.Trusted.need(t)
	s.idOnce.Do(func() { s.idToken, s.idErr = s.authorizationCodeFlow(id, httpsClient(s.pki, s.pki.Trusted)) })
	if s.idErr != nil {
		t.Fatalf("ID token by the authorization-code flow: %v", s.idErr)
	}
	return s.idToken
}

// authorizationCodeFlow logs the patient user in for clientID and
// exchanges the code with exchange (the client's TLS identity).
func (s *server) authorizationCodeFlow(clientID string, exchange *http.Client) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {"openid fhirUser"}, "state": {"securetest-state-0123"}, "aud": {s.HTTPS + "/fhir"}, "nonce": {"n-0123456789"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	jar, _ := cookiejar.New(nil)
	browser := httpsClient(s.pki, nil)
	browser.Jar = jar
	next, _ := url.Parse(s.HTTPS + "/oauth/authorize?" + q.Encode())
	var form url.Values
	var code string
	for i := 0; i < 12 && code == ""; i++ {
		var resp *http.Response
		var err error
		if form != nil {
			resp, err = browser.PostForm(next.String(), form)
		} else {
			resp, err = browser.Get(next.String())
		}
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		form = nil
		if resp.StatusCode/100 == 3 {
			loc, err := next.Parse(resp.Header.Get("Location"))
			if err != nil {
				return "", err
			}
			if loc.Host == "127.0.0.1:9" {
				if code = loc.Query().Get("code"); code == "" {
					return "", fmt.Errorf("redirected to the app without a code: %s", loc)
				}
				break
			}
			next = loc
			continue
		}
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("%s: %d %.400s", next, resp.StatusCode, body)
		}
		page := string(body)
		form = url.Values{}
		for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		switch {
		case strings.Contains(page, `name="password"`):
			form.Set("username", patientUser)
			form.Set("password", patientPassword)
			next, _ = next.Parse("/login")
		case strings.Contains(page, `name="decision"`):
			for _, m := range scopeBox.FindAllStringSubmatch(page, -1) {
				form.Add("scope", html.UnescapeString(m[1]))
			}
			form.Set("decision", "approve")
			next, _ = next.Parse("/consent")
		default:
			return "", fmt.Errorf("unexpected page at %s: %.400s", next, page)
		}
	}
	if code == "" {
		return "", fmt.Errorf("no code after 12 steps")
	}
	// The code exchange authenticates the client by its certificate.
	resp, err := exchange.PostForm(s.HTTPS+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "client_id": {clientID}, "code_verifier": {verifier}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	idt, _ := tok["id_token"].(string)
	if resp.StatusCode != 200 || idt == "" {
		return "", fmt.Errorf("code exchange with tls_client_auth: %d %v (needs the authtls helper)", resp.StatusCode, tok)
	}
	return idt, nil
}

// ext is a trusted_jwt_issuers entry: an OpenID provider other than
// smartgate, whose JWKS a plain-HTTP loopback server serves (the servers
// run with --jwks-allow-private).
type extIssuer struct {
	once   sync.Once
	srv    *httptest.Server
	issuer string
	key    *rsa.PrivateKey
	err    error
}

var ext extIssuer

func externalIssuer(t *testing.T) *extIssuer {
	t.Helper()
	ext.once.Do(func() {
		ext.key, ext.err = rsa.GenerateKey(rand.Reader, 2048)
		if ext.err != nil {
			return
		}
		jwks, _ := json.Marshal(map[string]any{"keys": []any{rsaJWK(&ext.key.PublicKey, "ext-1")}})
		mux := http.NewServeMux()
		mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(jwks)
		})
		ext.srv = httptest.NewServer(mux)
		ext.issuer = ext.srv.URL
	})
	if ext.err != nil {
		t.Fatal(ext.err)
	}
	return &ext
}
