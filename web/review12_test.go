package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/store"
)

// Regression tests of the security review of issue 12.

// leavePendingLink makes an identity with no account here the browser's
// pending link (an attacker at a shared browser), as the needs-account
// page does.
func (f *fedEnv) leavePendingLink(t *testing.T, subject string) {
	t.Helper()
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: subject, Email: "doc@hospital.example", EmailVerified: false}
	st := f.start(f.client, "acme", "/")
	wantStatus(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}}), http.StatusForbidden)
	f.clock.Advance(time.Minute)
}

// noPendingLink fails unless browser bid has no pending link.
func (f *fedEnv) noPendingLink(t *testing.T, bid string) {
	t.Helper()
	if _, err := f.db.Pending(context.Background(), bid, pendingLinkID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the pending link is still there (%v)", err)
	}
}

func (f *fedEnv) bid() string { return f.srv.browser(cookieRequest(f.env, f.client)).BID }

// Shared browser: an identity left pending, then a log-in and a log-out by
// someone else; the next person's ordinary log-in is not offered the link.
// The log-out deleted the pending link and gave the browser a new id.
func TestPendingLinkNotOfferedAfterALogOut(t *testing.T) {
	f := newFedEnv(t)
	f.leavePendingLink(t, "s-attacker")
	old := f.bid()
	f.login("pat", "/")
	if f.bid() != old {
		t.Fatal("the log-in changed the browser id (pending authorization requests would be lost)")
	}
	lp := f.get("/logout")
	wantStatus(t, f.post("/logout", url.Values{"csrf_token": {csrfOf(t, lp.body)}}), http.StatusOK)
	if f.bid() == old {
		t.Fatal("the log-out kept the browser id")
	}
	f.noPendingLink(t, old)
	f.clock.Advance(time.Minute)
	if at := f.login("doc", "/account/apps"); at != "/account/apps" {
		t.Fatalf("doc's log-in went to %q", at)
	}
	wantStatus(t, f.get(LinkPath), http.StatusBadRequest)
	if f.links.linkedTo(acmeIssuer, "s-attacker") != "" {
		t.Fatal("linked")
	}
}

// An ordinary log-in (password, sign-in code, provider), not started from
// the needs-account page, drops the pending link: it is not offered later.
func TestPendingLinkDroppedByAnOrdinaryLogIn(t *testing.T) {
	for _, way := range []string{"password", "code", "provider"} {
		t.Run(way, func(t *testing.T) {
			f := newFedEnv(t)
			f.leavePendingLink(t, "s-attacker")
			back := authorizeURL("app", "openid")
			var at string
			switch way {
			case "password":
				at = f.login("doc", back)
			case "code":
				f.codes.codes["CODE"] = f.users["doc"].ID
				page := f.get(SignInCodePath + "?return_to=" + url.QueryEscape(back))
				at = location(t, f.post(SignInCodePath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "code": {"CODE"},
					"return_to": {hiddenValue(page.body, "return_to")}}))
			case "provider":
				f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-pat"}
				st := f.start(f.client, "acme", back)
				at = location(t, f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"c"}}))
			}
			if at != back {
				t.Fatalf("after the log-in: %q, want %q", at, back)
			}
			f.noPendingLink(t, f.bid())
			wantStatus(t, f.get(LinkPath), http.StatusBadRequest)
			if f.links.linkedTo(acmeIssuer, "s-attacker") != "" {
				t.Fatal("linked")
			}
		})
	}
}

// The log-in started from the needs-account page's link still reaches the
// confirmation, which names the provider and the account and marks an
// email the provider did not verify.
func TestPendingLinkConfirmationMarksAnUnverifiedEmail(t *testing.T) {
	f := newFedEnv(t)
	f.leavePendingLink(t, "s-new")
	at := f.login("doc", LinkPath)
	if at != LinkPath {
		t.Fatalf("after the log-in: %q", at)
	}
	page := f.get(at)
	wantStatus(t, page, http.StatusOK)
	for _, want := range []string{"<h1>Link this Acme ID account to your account here?</h1>",
		`<strong>doc@hospital.example</strong> <span class="muted">(not verified by the provider)</span>`,
		"<dt>Your account here</dt>\n<dd><strong>Dr. Doc</strong></dd>"} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("confirmation lacks %q:\n%s", want, page.body)
		}
	}
	r := f.post(LinkPath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "return_to": {hiddenValue(page.body, "return_to")},
		"decision": {"link"}})
	location(t, r)
	if got := f.links.linkedTo(acmeIssuer, "s-new"); got != f.users["doc"].ID {
		t.Fatalf("linked to %q", got)
	}
}

// A browser left logged in: linking a provider from LinksPath asks for a
// log-in of the last 10 minutes (audited); after logging in again (while
// still logged in) it works.
func TestLinkStartNeedsARecentLogIn(t *testing.T) {
	f := newFedEnv(t)
	f.login("doc", "/")
	f.clock.Advance(linkReauth + time.Second)
	page := f.get(LinksPath)
	wantStatus(t, page, http.StatusOK)
	f.other.ident = idp.Identity{Issuer: "https://other.example", Subject: "s-walkup"}
	r := f.post(LinksPath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "provider": {"other"}})
	at := location(t, r)
	if at != "/login?reason=link&return_to=%2Faccount%2Flinks" {
		t.Fatalf("stale link start went to %q", at)
	}
	ev := f.audit.find("link", audit.Denied)
	if len(ev) != 1 || ev[0].Actor != f.users["doc"].ID || ev[0].Action != "create" ||
		!strings.Contains(ev[0].Detail, "provider other") || !strings.Contains(ev[0].Detail, "re-authentication") {
		t.Fatalf("audit %+v", ev)
	}
	login := f.get(at)
	wantStatus(t, login, http.StatusOK)
	if !strings.Contains(login.body, "Please log in again to link a provider") {
		t.Fatalf("log-in page does not say why:\n%s", login.body)
	}
	// Log in again, while logged in: a fresh log-in, back to the links.
	r = f.post("/login", url.Values{"csrf_token": {csrfOf(t, login.body)}, "username": {"doc"}, "password": {testPassword},
		"return_to": {hiddenValue(login.body, "return_to")}})
	if got := location(t, r); got != LinksPath {
		t.Fatalf("after logging in again: %q", got)
	}
	page = f.get(LinksPath)
	r = f.post(LinksPath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "provider": {"other"}})
	to, err := url.Parse(location(t, r))
	if err != nil || to.Host != "idp.example" {
		t.Fatalf("fresh link start went to %q", r.Header.Get("Location"))
	}
	f.clock.Advance(5 * time.Minute)
	cb := f.callback(f.client, "other", url.Values{"state": {to.Query().Get("state")}, "code": {"c"}})
	if got := location(t, cb); got != LinksPath {
		t.Fatalf("after the callback: %q", got)
	}
	if got := f.links.linkedTo("https://other.example", "s-walkup"); got != f.users["doc"].ID {
		t.Fatalf("linked to %q", got)
	}
}

// The review's case: 20 minutes after the log-in, same live session, a
// walk-up identity is not linked.
func TestLinkWalkUpRefused(t *testing.T) {
	f := newFedEnv(t)
	f.login("doc", "/")
	f.clock.Advance(10 * time.Minute)
	f.get("/account/apps")
	f.clock.Advance(10 * time.Minute)
	page := f.get(LinksPath)
	wantStatus(t, page, http.StatusOK)
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-walkup"}
	r := f.post(LinksPath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "provider": {"acme"}})
	if to, _ := url.Parse(location(t, r)); to.Path != "/login" || f.acme.callbacks() != 0 {
		t.Fatalf("stale link start went to %q", r.Header.Get("Location"))
	}
	if f.links.linkedTo(acmeIssuer, "s-walkup") != "" {
		t.Fatal("a walk-up identity was linked 20 minutes after the log-in")
	}
}

// The callback checks the log-in again: a link started by a fresh log-in
// whose browser then carries an older session of the same account (here
// forged with the server's own cookie keys) is refused, and audited.
func TestLinkCallbackChecksTheLogInAgain(t *testing.T) {
	f := newFedEnv(t)
	oldClient := f.client
	f.login("doc", "/")
	oldSID := f.srv.browser(cookieRequest(f.env, oldClient)).SID
	f.clock.Advance(linkReauth + time.Minute)
	f.client = f.newClient()
	f.login("doc", "/")
	page := f.get(LinksPath)
	r := f.post(LinksPath, url.Values{"csrf_token": {csrfOf(t, page.body)}, "provider": {"other"}})
	to, _ := url.Parse(location(t, r))
	// Swap the fresh session for the old one, keeping the browser id.
	req := cookieRequest(f.env, f.client)
	b := f.srv.browser(req)
	b.SID, b.dirty = oldSID, true
	rec := httptest.NewRecorder()
	if err := f.srv.save(rec, req, b); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(f.ts.URL)
	f.client.Jar.SetCookies(u, rec.Result().Cookies())
	cb := f.callback(f.client, "other", url.Values{"state": {to.Query().Get("state")}, "code": {"c"}})
	wantStatus(t, cb, http.StatusForbidden)
	if !strings.Contains(cb.body, "Please log in again to link a provider") {
		t.Fatalf("page:\n%s", cb.body)
	}
	if f.links.linkedTo("https://other.example", "o-1") != "" {
		t.Fatal("linked with an old log-in")
	}
	if ev := f.audit.find("link", audit.Denied); len(ev) != 1 || ev[0].Actor != f.users["doc"].ID {
		t.Fatalf("audit %+v", ev)
	}
}

// Review 12b F1 (log-in CSRF through a shared browser): an upstream
// log-in started in a browser, then a log-in there by someone else, then
// the starter's callback sent to that browser: refused (400), the browser
// stays logged in as the person who logged in, and it is audited.
func TestReview12bPlantedUpstreamStartSurvivesNoLogIn(t *testing.T) {
	f := newFedEnv(t)
	st := f.start(f.client, "acme", "/account/apps") // attacker at the shared browser, walks away
	f.clock.Advance(time.Minute)
	f.login("doc", "/account/apps")                                   // the next person logs in (no log-out)
	f.acme.ident = idp.Identity{Issuer: acmeIssuer, Subject: "s-pat"} // the attacker's identity (pat's)
	r := f.callback(f.client, "acme", url.Values{"state": {st}, "code": {"attackers-code"}})
	wantStatus(t, r, http.StatusBadRequest)
	if now, _, _ := f.session(f.client); now != f.users["doc"].ID {
		t.Fatalf("after the planted callback the browser is logged in as %q, want doc", now)
	}
}
