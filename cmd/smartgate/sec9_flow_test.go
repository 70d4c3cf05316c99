package main

// A browser for the issue-9 log-in/consent tests: one cookie jar kept across
// authorization requests, log-out and the admin pages, so that a test can
// see where a flow ends (a code, or an OAuth error redirect) and what the
// session does afterwards.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/smartgate/smartgate/authz"
)

// flowClient is a registered client as a test app sees it.
type flowClient struct {
	id, secret string // secret "": public client (PKCE only)
	redirect   string
}

// flowBrowser is one browser with its cookies.
type flowBrowser struct {
	h *harness
	c *http.Client
	// visited are the paths of the pages the last authorize went through.
	visited []string
	// pick is what the patient picker chooses.
	pick string
	// last is the last page the browser received; consent the last
	// consent page authorize answered.
	last    []byte
	consent []byte
}

func (h *harness) browser() *flowBrowser {
	jar, _ := cookiejar.New(nil)
	return &flowBrowser{h: h, c: &http.Client{Transport: h.httpc.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// confidentialClient registers a client_secret_basic client (it may
// introspect its own tokens) with a launch_uri.
func (h *harness) confidentialClient(name string) flowClient {
	h.t.Helper()
	c, secret, err := authz.CreateClient(context.Background(), h.db, authz.NewClient{Name: name,
		RedirectURIs: []string{redirectURI}, LaunchURI: "http://127.0.0.1:9/launch",
		TokenEndpointAuthMethod: authz.AuthClientSecretBasic}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return flowClient{id: c.ID, secret: secret, redirect: redirectURI}
}

func (b *flowBrowser) send(method, target string, form url.Values) *response {
	b.h.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = b.h.baseA + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	b.last = raw
	return &response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// login logs the browser in through the log-in page.
func (b *flowBrowser) login(user, password string) {
	b.h.t.Helper()
	b.passwordLogin(user, password, "/account/apps")
}

// logout logs the browser out through the log-out page.
func (b *flowBrowser) logout() {
	b.h.t.Helper()
	p := b.send("GET", "/logout", nil)
	r := b.send("POST", "/logout", url.Values{"csrf_token": {field(reCSRF, p.body)}})
	if r.status != http.StatusOK {
		b.h.t.Fatalf("log-out: %d %.300s", r.status, r.body)
	}
}

// flowRequest is one authorization request of a test app.
type flowRequest struct {
	client          flowClient
	scope, launch   string
	state, verifier string
}

func (b *flowBrowser) request(c flowClient, scope, launchValue string) *flowRequest {
	n := b.h.jti.Add(1)
	return &flowRequest{client: c, scope: scope, launch: launchValue, state: fmt.Sprintf("state-%08d", n),
		verifier: base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("sec9-verifier-%d-%d", n, time.Now().UnixNano())))}
}

func (r *flowRequest) url(base string) string {
	sum := sha256.Sum256([]byte(r.verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {r.client.id}, "redirect_uri": {r.client.redirect},
		"scope": {r.scope}, "state": {r.state}, "aud": {base + "/fhir"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if r.launch != "" {
		q.Set("launch", r.launch)
	}
	return base + "/oauth/authorize?" + q.Encode()
}

// authorize drives r through the pages (log-in as user, the picker choosing
// b.pick, consent approving every scope) until the browser leaves for the
// app, and returns where it went. A picker with b.pick == "" is an error.
func (b *flowBrowser) authorize(r *flowRequest, user, password string) (*url.URL, error) {
	b.visited = nil
	p := b.send("GET", r.url(b.h.baseA), nil)
	for range 12 {
		body := string(p.body)
		switch {
		case p.status == http.StatusSeeOther || p.status == http.StatusFound:
			loc, err := url.Parse(p.header.Get("Location"))
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(loc.String(), r.client.redirect) {
				if loc.Query().Get("state") != r.state {
					return nil, fmt.Errorf("state not echoed: %s", loc)
				}
				return loc, nil
			}
			if !loc.IsAbs() {
				b.visited = append(b.visited, loc.Path)
				loc, _ = url.Parse(b.h.baseA + loc.String())
			}
			p = b.send("GET", loc.String(), nil)
		case p.status == http.StatusOK && strings.Contains(body, `action="/login"`):
			p = b.send("POST", "/login", url.Values{"csrf_token": {field(reCSRF, p.body)},
				"return_to": {field(reReturnTo, p.body)}, "username": {user}, "password": {password}})
		case p.status == http.StatusOK && strings.Contains(body, `action="/pick-patient"`):
			if b.pick == "" {
				return nil, fmt.Errorf("unexpected patient picker")
			}
			p = b.send("POST", "/pick-patient", url.Values{"csrf_token": {field(reCSRF, p.body)},
				"req": {field(reReq, p.body)}, "patient": {b.pick}})
		case p.status == http.StatusOK && strings.Contains(body, `action="/consent"`):
			b.consent = p.body
			f := url.Values{"csrf_token": {field(reCSRF, p.body)}, "req": {field(reReq, p.body)}, "rev": {field(reRev, p.body)}, "decision": {"approve"}}
			for _, m := range reScope.FindAllSubmatch(p.body, -1) {
				f.Add("scope", html.UnescapeString(string(m[1])))
			}
			p = b.send("POST", "/consent", f)
		default:
			return nil, fmt.Errorf("unexpected answer %d: %.400s", p.status, p.body)
		}
	}
	return nil, fmt.Errorf("authorization flow did not finish")
}

// exchange redeems the code of back for r's client.
func (b *flowBrowser) exchange(r *flowRequest, back *url.URL) tokenResponse {
	b.h.t.Helper()
	code := back.Query().Get("code")
	if code == "" {
		b.h.t.Fatalf("no code: %s", back)
	}
	tr, status := b.h.tokenRequest(r.client, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {r.client.redirect}, "code_verifier": {r.verifier}})
	if status != http.StatusOK {
		b.h.t.Fatalf("token: %d %v", status, tr)
	}
	return tr
}

// tokenRequest posts form to the token endpoint as client c.
func (h *harness) tokenRequest(c flowClient, form url.Values) (tokenResponse, int) {
	h.t.Helper()
	return h.clientPost(c, "/oauth/token", form)
}

// clientPost posts form to an OAuth endpoint, authenticated as c (HTTP
// Basic for a confidential client, client_id for a public one).
func (h *harness) clientPost(c flowClient, path string, form url.Values) (tokenResponse, int) {
	h.t.Helper()
	if c.secret == "" {
		form.Set("client_id", c.id)
	}
	req, _ := http.NewRequest("POST", h.baseA+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.secret != "" {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	resp, err := h.httpc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := &response{status: resp.StatusCode}
	r.body, _ = io.ReadAll(resp.Body)
	tr := tokenResponse{}
	_ = json.Unmarshal(r.body, &tr)
	return tr, r.status
}
