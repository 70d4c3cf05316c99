package web

import (
	"net/url"
	"strings"
	"testing"
)

// TestReviewNo5xx (security review of issue 12): odd requests to the
// federated pages, logged out and in, never answer 5xx nor send the
// browser elsewhere.
func TestReviewNo5xx(t *testing.T) {
	f := newFedEnv(t)
	gets := []string{
		"/login/acme/callback", "/login/acme/callback?state=" + strings.Repeat("a", 600),
		"/login/acme/callback?state=a&state=b", "/login/nope/callback?state=x", "/login/nope",
		"/login/acme?return_to=" + url.QueryEscape("https://evil.example/"), "/login/acme?return_to=%2F%2Fevil.example",
		"/login/acme/callback?state=%00%ff", "/login/link", "/login/link?return_to=%2F%2Fevil", "/account/links",
		"/login/code?return_to=" + url.QueryEscape("/\\evil.example"), "/login/%ff", "/login/acme%2Fcallback",
	}
	for _, p := range gets {
		r := f.get(p)
		if r.StatusCode >= 500 {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
		if loc := r.Header.Get("Location"); strings.Contains(loc, "evil") {
			t.Errorf("GET %s: Location %s", p, loc)
		}
	}
	page := f.get("/login/code")
	csrf := csrfOf(t, page.body)
	for _, form := range []url.Values{
		{"code": {strings.Repeat("Z", 100000)}}, {"code": {"\x00\xff"}}, {"code": {"OOOO-IIII-LLLL"}},
		{"code": {"x"}, "return_to": {"//evil.example"}},
	} {
		form.Set("csrf_token", csrf)
		r := f.post("/login/code", form)
		if r.StatusCode >= 500 {
			t.Errorf("POST code %v: %d", form, r.StatusCode)
		}
	}
	for _, p := range []string{"/login/link", "/account/links", "/account/links/unlink"} {
		r := f.post(p, url.Values{"csrf_token": {csrf}, "provider": {"acme"}, "issuer": {"x"}, "subject": {"y"}, "decision": {"link"}})
		if r.StatusCode >= 500 {
			t.Errorf("POST %s logged out: %d", p, r.StatusCode)
		}
	}
	f.login("pat", "/")
	page = f.get("/account/links")
	csrf = csrfOf(t, page.body)
	for _, form := range []url.Values{{"provider": {"nope"}}, {"provider": {""}}, {}} {
		form.Set("csrf_token", csrf)
		if r := f.post("/account/links", form); r.StatusCode >= 500 {
			t.Errorf("POST links %v: %d", form, r.StatusCode)
		}
	}
	for _, form := range []url.Values{{"issuer": {"nope"}, "subject": {"x"}}, {}, {"issuer": {acmeIssuer}, "subject": {"s-pat"}}} {
		form.Set("csrf_token", csrf)
		if r := f.post("/account/links/unlink", form); r.StatusCode >= 500 {
			t.Errorf("POST unlink %v: %d", form, r.StatusCode)
		}
	}
	r := f.post("/login/link", url.Values{"csrf_token": {csrf}, "decision": {"link"}})
	if r.StatusCode >= 500 {
		t.Errorf("POST link without pending: %d", r.StatusCode)
	}
}
