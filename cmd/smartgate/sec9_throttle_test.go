package main

// Issue 9, defect 5: parallel log-in guesses must not outrun the lockout.
// Every guess is sent at once, on the log-in page and on the OWin password
// grant; the server says "wrong password" only after it has checked one, so
// the number of such answers is the number of passwords verified.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
)

// guessOutcome is how the server answered one guess.
type guessOutcome int

const (
	verified  guessOutcome = iota // the password was checked and was wrong
	throttled                     // refused before the password was checked
	accepted                      // the password was right
)

// guess is one log-in attempt: on the log-in page (web) or the OWin grant.
type guess struct {
	web            bool
	user, password string
	forwarded, xff string // Forwarded / X-Forwarded-For request headers
}

// loginForm fetches the log-in page once and returns a client holding its
// cookie and the form's CSRF token.
func (h *harness) loginForm() (*http.Client, string) {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: h.httpc.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r := h.get(c, h.baseA+"/login")
	if r.status != http.StatusOK {
		h.t.Fatalf("GET /login: %d", r.status)
	}
	return c, field(reCSRF, r.body)
}

func (h *harness) get(c *http.Client, target string) *response {
	h.t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// try sends one guess and classifies the answer; anything else fails the
// test.
func (h *harness) try(g guess, web *http.Client, csrf string) (guessOutcome, error) {
	var req *http.Request
	if g.web {
		f := url.Values{"csrf_token": {csrf}, "return_to": {"/account/apps"}, "username": {g.user}, "password": {g.password}}
		req, _ = http.NewRequest("POST", h.baseA+"/login", strings.NewReader(f.Encode()))
	} else {
		f := url.Values{"grant_type": {"password"}, "username": {g.user}, "password": {g.password}}
		req, _ = http.NewRequest("POST", h.baseA+"/oauth/token", strings.NewReader(f.Encode()))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if g.xff != "" {
		req.Header.Set("X-Forwarded-For", g.xff)
	}
	if g.forwarded != "" {
		req.Header.Set("Forwarded", g.forwarded)
	}
	c := h.httpc
	if g.web {
		c = web
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	switch {
	case g.web && resp.StatusCode == http.StatusSeeOther:
		return accepted, nil
	case g.web && resp.StatusCode == http.StatusUnauthorized && strings.Contains(body, "user name or password is not correct"):
		return verified, nil
	case g.web && resp.StatusCode == http.StatusTooManyRequests && strings.Contains(body, "Too many failed attempts"):
		return throttled, nil
	case !g.web && resp.StatusCode == http.StatusOK:
		return accepted, nil
	case !g.web && resp.StatusCode == http.StatusBadRequest && strings.Contains(body, `"invalid_grant"`) &&
		strings.Contains(body, "username or password is wrong"):
		return verified, nil
	case !g.web && resp.StatusCode == http.StatusBadRequest && strings.Contains(body, `"invalid_grant"`) &&
		strings.Contains(body, "Too many failed attempts") && resp.Header.Get("Retry-After") != "":
		return throttled, nil
	}
	return 0, fmt.Errorf("%s for %s: unexpected answer %d %.300s", map[bool]string{true: "log-in page", false: "OWin grant"}[g.web],
		g.user, resp.StatusCode, body)
}

// burst sends every guess at once and counts the outcomes.
func (h *harness) burst(gs []guess) map[guessOutcome]int {
	h.t.Helper()
	web, csrf := h.loginForm()
	var mu sync.Mutex
	counts := map[guessOutcome]int{}
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o, err := h.try(g, web, csrf)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			counts[o]++
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		h.t.Error(err)
	}
	if len(errs) > 0 {
		h.t.FailNow()
	}
	return counts
}

// one sends a single guess.
func (h *harness) one(g guess) guessOutcome {
	h.t.Helper()
	web, csrf := h.loginForm()
	o, err := h.try(g, web, csrf)
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

// auditRows waits for the audit batcher and returns the password-check
// records (log-in page and OWin) stored so far.
func (h *harness) auditRows(want func([]audit.Event) bool) []audit.Event {
	h.t.Helper()
	var evs []audit.Event
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs = evs[:0]
		for _, kind := range []string{"login", "owin"} {
			got, err := h.db.AuditEvents(context.Background(), audit.Filter{Kind: kind, Limit: 1000})
			if err != nil {
				h.t.Fatal(err)
			}
			evs = append(evs, got...)
		}
		if want(evs) || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wrongGuesses(n int, user string, web func(i int) bool) []guess {
	gs := make([]guess, n)
	for i := range gs {
		gs[i] = guess{web: web(i), user: user, password: fmt.Sprintf("wrong guess number %03d", i)}
	}
	return gs
}

// TestSec9D5_ParallelGuessesOnOneAccountVerifiedAtMostTen: 100 wrong
// guesses for one account sent at once, over the log-in page and the OWin
// grant together and over the grant alone: exactly 10 passwords are
// checked (one throttle for both paths, 10 per account), every other guess
// is refused unchecked, and then even the right password is refused on
// both paths. After 30 checked failures the address itself is locked: the
// administrator's right password is refused from it too.
func TestSec9D5_ParallelGuessesOnOneAccountVerifiedAtMostTen(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		user string
		web  func(i int) bool
	}{
		{"log-in page and OWin grant together", "doc", func(i int) bool { return i%2 == 0 }},
		{"OWin grant", "lind", func(int) bool { return false }},
		{"log-in page", "yundt", func(int) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			got := h.burst(wrongGuesses(100, tc.user, tc.web))
			if got[verified] != 10 || got[throttled] != 90 {
				t.Fatalf("100 parallel wrong guesses: %d checked, %d refused unchecked; want 10 and 90", got[verified], got[throttled])
			}
			for _, web := range []bool{true, false} {
				if o := h.one(guess{web: web, user: tc.user, password: userPassword}); o != throttled {
					t.Fatalf("right password after the lockout (web %v): outcome %d, want refused", web, o)
				}
			}
		})
	}
	h.t = t
	for _, web := range []bool{true, false} {
		if o := h.one(guess{web: web, user: "admin", password: adminPassword}); o != throttled {
			t.Fatalf("address locked after 30 failures, but the administrator's log-in (web %v) was not refused: %d", web, o)
		}
	}
	evs := h.auditRows(func(evs []audit.Event) bool { return len(evs) >= 1+300+6+2 }) // set-up log-in, bursts, right passwords, admin
	var failures int
	for _, ev := range evs {
		if ev.Outcome == audit.Failure {
			failures++
		}
	}
	if failures != 30 {
		t.Fatalf("audit: %d failed password checks recorded, want 30", failures)
	}
}

// TestSec9D5_ParallelGuessesFromOneAddressVerifiedAtMostThirty: 100 wrong
// guesses for 100 different accounts sent at once from one address, half on
// each path, each carrying a made-up X-Forwarded-For and Forwarded header.
// No proxy is trusted, so the headers are ignored: exactly 30 passwords are
// checked, the audit records name the real peer, and afterwards a right
// password from that address is refused.
func TestSec9D5_ParallelGuessesFromOneAddressVerifiedAtMostThirty(t *testing.T) {
	h := newHarness(t)
	gs := make([]guess, 100)
	for i := range gs {
		gs[i] = guess{web: i%2 == 0, user: fmt.Sprintf("nobody%03d", i), password: "wrong guess",
			xff: fmt.Sprintf("203.0.113.%d", i), forwarded: fmt.Sprintf("for=198.51.100.%d", i)}
	}
	got := h.burst(gs)
	if got[verified] != 30 || got[throttled] != 70 {
		t.Fatalf("100 parallel wrong guesses from one address: %d checked, %d refused unchecked; want 30 and 70", got[verified], got[throttled])
	}
	if o := h.one(guess{web: false, user: "doc", password: userPassword, xff: "203.0.113.200"}); o != throttled {
		t.Fatalf("right password from the locked address (with a forged X-Forwarded-For): outcome %d, want refused", o)
	}
	evs := h.auditRows(func(evs []audit.Event) bool { return len(evs) >= 102 }) // set-up log-in, burst, right password
	if len(evs) < 102 {
		t.Fatalf("%d audit records, want 102", len(evs))
	}
	for _, ev := range evs {
		if ev.Address != "127.0.0.1" {
			t.Fatalf("audit record names address %q, want the peer 127.0.0.1 (forwarded headers from an untrusted peer ignored): %+v", ev.Address, ev)
		}
	}
}

// TestSec9D5_ForwardedAddressFromTrustedProxy: with --trusted-proxies naming
// the peer, the client address is the rightmost forwarded address that is
// not itself a trusted proxy. Guesses whose X-Forwarded-For starts with a
// different made-up address count against that client: 30 checked, then its
// right password is refused, while another client behind the same proxy
// logs in and is audited under its own address.
func TestSec9D5_ForwardedAddressFromTrustedProxy(t *testing.T) {
	h := newHarness(t, "--trusted-proxies", "127.0.0.1,10.0.0.0/8")
	gs := make([]guess, 40)
	for i := range gs {
		gs[i] = guess{web: i%2 == 0, user: fmt.Sprintf("nobody%03d", i), password: "wrong guess",
			xff: fmt.Sprintf("198.51.100.%d, 203.0.113.5, 10.1.2.3", i)}
	}
	got := h.burst(gs)
	if got[verified] != 30 || got[throttled] != 10 {
		t.Fatalf("40 parallel wrong guesses from 203.0.113.5: %d checked, %d refused; want 30 and 10", got[verified], got[throttled])
	}
	if o := h.one(guess{web: true, user: "doc", password: userPassword, xff: "203.0.113.5"}); o != throttled {
		t.Fatalf("right password from the locked client: outcome %d, want refused", o)
	}
	if o := h.one(guess{web: true, user: "doc", password: userPassword, forwarded: `for="203.0.113.6:4711"`}); o != accepted {
		t.Fatalf("right password from another client behind the proxy (Forwarded): outcome %d, want accepted", o)
	}
	if o := h.one(guess{web: false, user: "lind", password: userPassword, xff: "2001:db8::7"}); o != accepted {
		t.Fatalf("right password from another client behind the proxy (X-Forwarded-For): outcome %d, want accepted", o)
	}
	count := func(evs []audit.Event) map[string]int {
		seen := map[string]int{}
		for _, ev := range evs {
			seen[ev.Address]++
		}
		return seen
	}
	// The audit batcher does not promise to store records in the order they
	// were made: wait for every address the test expects.
	seen := count(h.auditRows(func(evs []audit.Event) bool {
		c := count(evs)
		return c["203.0.113.5"] >= 41 && c["203.0.113.6"] > 0 && c["2001:db8::7"] > 0
	}))
	if seen["203.0.113.5"] != 41 || seen["203.0.113.6"] != 1 || seen["2001:db8::7"] != 1 {
		t.Fatalf("audit addresses %v, want 41 for 203.0.113.5 and one each for 203.0.113.6 and 2001:db8::7", seen)
	}
}
