package main

// Issue 10's log-in/consent flow through the whole server: the patient
// picker posted again after consent, and the patient shown on the consent
// page.

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// step follows the browser's redirects on the server until a page (200) or
// a redirect to the app; it returns the last answer and, for the app, where
// it went.
func (b *flowBrowser) step(p *response, app flowClient) (*response, *url.URL) {
	b.h.t.Helper()
	for range 8 {
		if p.status != http.StatusSeeOther && p.status != http.StatusFound {
			return p, nil
		}
		loc, err := url.Parse(p.header.Get("Location"))
		if err != nil {
			b.h.t.Fatal(err)
		}
		if strings.HasPrefix(loc.String(), app.redirect) {
			return p, loc
		}
		p = b.send("GET", loc.String(), nil)
	}
	b.h.t.Fatal("too many redirects")
	return nil, nil
}

// pickPatient posts the picker page p (a 200 answer) with patient.
func (b *flowBrowser) pickPatient(p *response, patient string) *response {
	b.h.t.Helper()
	if p.status != http.StatusOK || !strings.Contains(string(p.body), `action="/pick-patient"`) {
		b.h.t.Fatalf("not the patient picker: %d %.300s", p.status, p.body)
	}
	return b.send("POST", "/pick-patient", url.Values{"csrf_token": {field(reCSRF, p.body)},
		"req": {field(reReq, p.body)}, "patient": {patient}})
}

// approve posts the consent page p (a 200 answer), allowing every scope.
func (b *flowBrowser) approve(p *response) *response {
	b.h.t.Helper()
	if p.status != http.StatusOK || !strings.Contains(string(p.body), `action="/consent"`) {
		b.h.t.Fatalf("not the consent page: %d %.300s", p.status, p.body)
	}
	f := url.Values{"csrf_token": {field(reCSRF, p.body)}, "req": {field(reReq, p.body)}, "decision": {"approve"}}
	for _, m := range reScope.FindAllSubmatch(p.body, -1) {
		f.Add("scope", html.UnescapeString(string(m[1])))
	}
	return b.send("POST", "/consent", f)
}

// TestIssue10D2_ConsentNotReusedForAnotherPatient: a practitioner picks
// patient A and approves the consent page, then (before the browser goes
// on) goes back to the picker and posts it with patient B. The consent
// given while A was in context must not be reused: the consent page is
// shown again, naming B, and the token carries B only after that fresh
// approval. The same holds when the consent page was reached but not yet
// answered.
func TestIssue10D2_ConsentNotReusedForAnotherPatient(t *testing.T) {
	h := newHarness(t)
	a, bp := h.patients["Lind"], h.patients["Yundt"]
	for _, approveFirst := range []bool{true, false} {
		// A client per case: no remembered consent from the case before.
		app := h.confidentialClient(fmt.Sprintf("Picker app %v", approveFirst))
		b := h.browser()
		b.login("doc", userPassword)
		r := b.request(app, "openid launch/patient patient/*.rs", "")
		picker, _ := b.step(b.send("GET", r.url(h.baseA), nil), app)
		pickURL := b.lastPickURL()
		consent, _ := b.step(b.pickPatient(picker, a), app)
		if !strings.Contains(string(consent.body), a) {
			t.Fatalf("approveFirst=%v: the consent page does not name patient A (%s)", approveFirst, a)
		}
		if approveFirst {
			if back := b.approve(consent); back.status != http.StatusSeeOther {
				t.Fatalf("approve: %d", back.status)
			}
		}
		// Back to the picker, and patient B this time.
		again := b.send("GET", pickURL, nil)
		page, back := b.step(b.pickPatient(again, bp), app)
		if back != nil {
			t.Fatalf("approveFirst=%v: after picking B the browser went to the app (%s) without a new consent", approveFirst, back.RawQuery)
		}
		body := string(page.body)
		if !strings.Contains(body, `action="/consent"`) {
			t.Fatalf("approveFirst=%v: after picking B: %d %.300s, want the consent page", approveFirst, page.status, page.body)
		}
		if !strings.Contains(body, bp) || strings.Contains(body, a) {
			t.Fatalf("approveFirst=%v: the consent page after picking B does not name B only", approveFirst)
		}
		_, back = b.step(b.approve(page), app)
		if back == nil {
			t.Fatalf("approveFirst=%v: no redirect to the app after the fresh approval", approveFirst)
		}
		tok := b.exchange(r, back)
		if tok["patient"] != bp {
			t.Fatalf("approveFirst=%v: token patient %v, want B %s", approveFirst, tok["patient"], bp)
		}
	}
}

// lastPickURL is the picker page of the request the browser's last page
// carried.
func (b *flowBrowser) lastPickURL() string {
	b.h.t.Helper()
	id := field(reReq, b.last)
	if id == "" {
		b.h.t.Fatalf("no request id on the last page: %.300s", b.last)
	}
	return "/pick-patient?" + url.Values{"req": {id}}.Encode()
}
