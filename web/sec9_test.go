package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
)

// TestSec9D6_SessionIdleTimeoutEnforcedServerSide: with the default
// settings a log-in session in use lives on past the idle timeout (30m),
// but one left unused for longer ends on the server: the next page asks for
// a log-in although the browser still holds a valid cookie, and the session
// is no longer live for anything tied to it. The hard lifetime still holds
// for a session in constant use.
func TestSec9D6_SessionIdleTimeoutEnforcedServerSide(t *testing.T) {
	e := newEnv(t)
	e.login("pat", "/account/apps")
	sid := e.sessionID()
	for range 4 {
		e.clock.Advance(20 * time.Minute)
		wantStatus(t, e.get("/account/apps"), http.StatusOK)
	}
	e.clock.Advance(31 * time.Minute)
	r := e.get("/account/apps")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("after 31 idle minutes: %d %s, want a log-in", r.StatusCode, r.Header.Get("Location"))
	}
	if live, err := account.SessionLive(context.Background(), e.db, sid, e.clock.Now()); live || err != nil {
		t.Fatalf("idle session still live: %v %v", live, err)
	}

	e = newEnv(t, func(c *Config) { c.SessionTTL = time.Hour })
	e.login("pat", "/account/apps")
	for range 2 {
		e.clock.Advance(25 * time.Minute)
		wantStatus(t, e.get("/account/apps"), http.StatusOK)
	}
	e.clock.Advance(11 * time.Minute)
	if r := e.get("/account/apps"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("past the session lifetime: %d", r.StatusCode)
	}
}

// sessionID is the id of the browser's live log-in session.
func (e *env) sessionID() string {
	e.t.Helper()
	start := authorizeURL("app", "openid")
	e.approveAll(start)
	return decodeDecision(e.t, e.get(start)).SessionID
}
