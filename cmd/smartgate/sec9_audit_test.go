package main

// Issue 9, defect 10: audit records carry the request id the middleware
// made safe, never the client's X-Request-Id as sent.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
)

var safeID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// rawRequest sends req's bytes as they are over a TLS connection to the
// https listener (Go's client refuses header values with line breaks) and
// returns the status and the X-Request-Id answered.
func (h *harness) rawRequest(req string) (int, string) {
	h.t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(h.baseA, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Request-Id")
}

// TestSec9D10_AuditRecordsCarryTheSanitisedRequestID sends a forged
// X-Request-Id (spaces, separators, a folded line) on every kind of audited
// request (OWin grant, token endpoint, log-in page, FHIR read and batch,
// client registration) and reads the stored audit rows: each carries the id
// the server answered in X-Request-Id (a fresh safe one), none the forged
// text. A well-formed client id is kept as it is.
func TestSec9D10_AuditRecordsCarryTheSanitisedRequestID(t *testing.T) {
	h := newHarness(t)
	forged := "forged id; actor=admin outcome=success"
	admin := h.owin("admin", adminPassword)
	patient := h.patients["Lind"]
	owinForm := url.Values{"grant_type": {"password"}, "username": {"doc"}, "password": {userPassword}}.Encode()
	batch := fmt.Sprintf(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/%s"}}]}`, patient)
	web, csrf := h.loginForm()
	loginForm := url.Values{"csrf_token": {csrf}, "username": {"doc"}, "password": {"not the password"}}.Encode()
	reg := `{"client_name":"audit probe","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`

	type probe struct {
		name, kind, method, target, ctype, body, token string
		client                                         *http.Client
	}
	probes := []probe{
		{"OWin grant", "owin", "POST", h.baseA + "/oauth/token", "application/x-www-form-urlencoded", owinForm, "", nil},
		{"token endpoint error", "token", "POST", h.baseA + "/oauth/token", "application/x-www-form-urlencoded", "grant_type=nonsense", "", nil},
		{"log-in page", "login", "POST", h.baseA + "/login", "application/x-www-form-urlencoded", loginForm, "", web},
		{"FHIR read", "fhir", "GET", h.baseA + "/fhir/Patient/" + patient, "", "", admin, nil},
		{"FHIR batch", "fhir", "POST", h.baseA + "/fhir", "application/fhir+json", batch, admin, nil},
		{"client registration", "client", "POST", h.baseA + "/oauth/register", "application/json", reg, admin, nil},
	}
	answered := map[string]string{} // probe name → X-Request-Id answered
	for _, p := range probes {
		for _, id := range []string{forged, "client-chosen-id-" + strings.ReplaceAll(p.kind, " ", "")} {
			var rd io.Reader
			if p.body != "" {
				rd = strings.NewReader(p.body)
			}
			req, _ := http.NewRequest(p.method, p.target, rd)
			if p.ctype != "" {
				req.Header.Set("Content-Type", p.ctype)
			}
			if p.token != "" {
				req.Header.Set("Authorization", "Bearer "+p.token)
			}
			req.Header.Set("X-Request-Id", id)
			c := p.client
			if c == nil {
				c = h.httpc
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			got := resp.Header.Get("X-Request-Id")
			if id == forged {
				if !safeID.MatchString(got) {
					t.Fatalf("%s: answered X-Request-Id %q is not a safe id", p.name, got)
				}
				answered[p.name] = got
			} else if got != id {
				t.Fatalf("%s: a well-formed X-Request-Id %q came back as %q", p.name, id, got)
			} else {
				answered[p.name+" (kept)"] = id
			}
		}
	}
	// A header folded over two lines (obsolete line folding) arrives joined.
	status, folded := h.rawRequest("GET /fhir/Patient/" + patient + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin +
		"\r\nX-Request-Id: forged\r\n actor=admin outcome=success\r\nConnection: close\r\n\r\n")
	if status == http.StatusOK {
		answered["FHIR read, folded header"] = folded
	} else if status != http.StatusBadRequest {
		t.Fatalf("folded X-Request-Id: status %d, want 200 (joined) or 400 (refused)", status)
	}

	var evs []audit.Event
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		evs, err = h.db.AuditEvents(context.Background(), audit.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, ev := range evs {
			ids[ev.RequestID] = true
		}
		missing := []string{}
		for name, id := range answered {
			if !ids[id] {
				missing = append(missing, name+" → "+id)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit record carries the request id answered for: %v", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, ev := range evs {
		if strings.Contains(ev.RequestID, "forged") || strings.Contains(ev.RequestID, "actor=") || !safeID.MatchString(ev.RequestID) {
			t.Fatalf("audit record stored request id %q: %+v", ev.RequestID, ev)
		}
	}
}
