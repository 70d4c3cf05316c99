package oauth2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/idp"
)

const callbackURI = "http://127.0.0.1:8080/login/fb/callback"

// open opens cfg as the provider "fb", failing the test on error.
func open(t testing.TB, cfg Config) *Connector {
	t.Helper()
	conn, err := cfg.Open("fb", nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// browse plays the browser: it follows conn's log-in URL to the fake's
// dialog and returns the State and the callback's query the dialog sent
// it back with.
func browse(t testing.TB, conn *Connector) (idp.State, url.Values) {
	t.Helper()
	st := idp.NewState(callbackURI)
	loginURL, err := conn.LoginURL(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), callbackURI+"?") {
		t.Fatalf("dialog answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if loc.Query().Get("state") != st.State {
		t.Fatalf("the callback's state %q is not the log-in's", loc.Query().Get("state"))
	}
	return st, loc.Query()
}

func TestFacebookLogIn(t *testing.T) {
	fb := newFakeFacebook(t)
	var logs bytes.Buffer
	cfg := fb.config()
	conn, err := cfg.Open("fb", slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	st, q := browse(t, conn)
	got, err := conn.HandleCallback(context.Background(), st, q)
	if err != nil {
		t.Fatal(err)
	}
	want := idp.Identity{Issuer: idp.FacebookIssuer, Subject: "10158000000000001", Email: "ann@example.org",
		Name: "Ann Example"}
	if got.Issuer != want.Issuer || got.Subject != want.Subject || got.Email != want.Email ||
		got.EmailVerified || got.Name != want.Name {
		t.Errorf("identity = %+v, want %+v (email unverified)", got, want)
	}
	if tc, mc, _ := fb.counts(); tc != 1 || mc != 1 {
		t.Errorf("token calls %d, /me calls %d; want 1 and 1", tc, mc)
	}
	// The code and the token are never logged.
	if strings.Contains(logs.String(), q.Get("code")) || strings.Contains(logs.String(), "EAAG") {
		t.Errorf("the log holds the code or a token:\n%s", logs.String())
	}
	if strings.Contains(fmt.Sprint(conn), fb.appSecret) {
		t.Errorf("the connector prints its secret: %v", conn)
	}
	slog.New(slog.NewTextHandler(&logs, nil)).Info("opened", "conn", conn)
	if strings.Contains(logs.String(), fb.appSecret) {
		t.Errorf("the connector logs its secret:\n%s", logs.String())
	}
	// The fake refuses a code used twice.
	if _, err := conn.HandleCallback(context.Background(), st, q); !errors.Is(err, idp.ErrUpstream) {
		t.Errorf("replayed code: %v, want ErrUpstream", err)
	}
}

func TestFacebookLoginURL(t *testing.T) {
	fb := newFakeFacebook(t)
	conn := open(t, fb.config())
	st := idp.NewState(callbackURI)
	raw, err := conn.LoginURL(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	want := map[string]string{"client_id": fb.appID, "redirect_uri": callbackURI, "response_type": "code",
		"state": st.State, "scope": "email public_profile", "code_challenge": st.Challenge(),
		"code_challenge_method": "S256"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if u.Path != "/v25.0/dialog/oauth" || q.Has("client_secret") || q.Has("code_verifier") {
		t.Errorf("log-in URL %s", raw)
	}
	if _, err := conn.LoginURL(context.Background(), idp.State{State: "s"}); err == nil {
		t.Error("an incomplete State was accepted")
	}
}

func TestFacebookDefaults(t *testing.T) {
	conn := open(t, Config{Preset: PresetFacebook, ClientID: "app", ClientSecret: "secret"})
	raw, err := conn.LoginURL(context.Background(), idp.NewState(callbackURI))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, FacebookAuthURL+"?") || conn.oauth.Endpoint.TokenURL != FacebookTokenURL ||
		conn.userinfo != FacebookUserInfoURL || conn.issuer != idp.FacebookIssuer {
		t.Errorf("defaults: %s, %s, %s, %s", raw, conn.oauth.Endpoint.TokenURL, conn.userinfo, conn.issuer)
	}
}

func TestFacebookErrorCallback(t *testing.T) {
	fb := newFakeFacebook(t)
	fb.with(func() { fb.deny = true })
	conn := open(t, fb.config())
	st, q := browse(t, conn)
	_, err := conn.HandleCallback(context.Background(), st, q)
	if !errors.Is(err, idp.ErrUpstream) || !strings.Contains(err.Error(), "access_denied (user_denied): Permissions error") {
		t.Errorf("error callback: %v, want ErrUpstream naming access_denied, user_denied and the description", err)
	}
	if tc, _, _ := fb.counts(); tc != 0 {
		t.Errorf("%d token calls after an error callback", tc)
	}
}

func TestFacebookCallbackWithoutCode(t *testing.T) {
	conn := open(t, newFakeFacebook(t).config())
	_, err := conn.HandleCallback(context.Background(), idp.NewState(callbackURI), url.Values{"state": {"x"}})
	if !errors.Is(err, idp.ErrUpstream) {
		t.Errorf("no code: %v, want ErrUpstream", err)
	}
}

// TestFacebookExchangeBinding: the code is bound to the log-in's PKCE
// verifier and redirect URI; the fake refuses any other.
func TestFacebookExchangeBinding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*idp.State)
	}{
		{"another verifier", func(st *idp.State) { st.Verifier = idp.NewState("").Verifier }},
		{"another redirect URI", func(st *idp.State) { st.RedirectURI = "http://127.0.0.1:8080/login/other/callback" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFakeFacebook(t)
			conn := open(t, fb.config())
			st, q := browse(t, conn)
			tc.change(&st)
			if _, err := conn.HandleCallback(context.Background(), st, q); !errors.Is(err, idp.ErrUpstream) {
				t.Errorf("%v, want ErrUpstream", err)
			}
			if _, mc, _ := fb.counts(); mc != 0 {
				t.Error("/me was called without a token")
			}
		})
	}
}

func TestFacebookWrongClientSecret(t *testing.T) {
	fb := newFakeFacebook(t)
	cfg := fb.config()
	cfg.ClientSecret = "not-the-app-secret"
	conn := open(t, cfg)
	st, q := browse(t, conn)
	_, err := conn.HandleCallback(context.Background(), st, q)
	if !errors.Is(err, idp.ErrUpstream) || strings.Contains(err.Error(), "not-the-app-secret") {
		t.Errorf("wrong app secret: %v, want ErrUpstream without the secret", err)
	}
}

// TestFacebookAppSecretProof: /me is called with the proof of the token
// under the app secret; the fake refuses a proof under another secret.
func TestFacebookAppSecretProof(t *testing.T) {
	fb := newFakeFacebook(t)
	fb.issue("EAAGtoken")
	wrong := fb.config()
	wrong.ClientSecret = "another-secret"
	_, err := open(t, wrong).fetchUserInfo(context.Background(), "EAAGtoken")
	if !errors.Is(err, idp.ErrUpstream) {
		t.Errorf("wrong proof: %v, want ErrUpstream", err)
	}
	if _, _, refused := fb.counts(); refused != 1 {
		t.Fatalf("the fake refused %d proofs, want 1", refused)
	}
	body, err := open(t, fb.config()).fetchUserInfo(context.Background(), "EAAGtoken")
	if err != nil || !bytes.Contains(body, []byte(`"id":"10158000000000001"`)) {
		t.Errorf("right proof: %s, %v", body, err)
	}
	if _, _, refused := fb.counts(); refused != 1 {
		t.Errorf("the right proof was refused")
	}
	// The proof is hex(HMAC-SHA256(secret, token)) (RFC 4231 test case 2).
	if got := appSecretProof("Jefe", "what do ya want for nothing?"); got != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Errorf("appSecretProof = %s", got)
	}
}

func TestFacebookHangingTokenEndpoint(t *testing.T) {
	fb := newFakeFacebook(t)
	fb.with(func() { fb.hang = true })
	cfg := fb.config()
	cfg.HTTPClient = idp.HTTPClient(nil, 200*time.Millisecond, 0)
	conn := open(t, cfg)
	st, q := browse(t, conn)
	_, err := conn.HandleCallback(context.Background(), st, q)
	if !errors.Is(err, idp.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("hanging token endpoint: %v, want ErrUnavailable (did not answer in time)", err)
	}
}

// TestFacebookHangingMe: a /me that does not answer is ErrUnavailable, and
// neither the token nor its appsecret_proof (in /me's URL) is logged.
func TestFacebookHangingMe(t *testing.T) {
	fb := newFakeFacebook(t)
	fb.with(func() { fb.hangMe = true })
	var logs bytes.Buffer
	cfg := fb.config()
	cfg.HTTPClient = idp.HTTPClient(nil, 200*time.Millisecond, 0)
	conn, err := cfg.Open("fb", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	st, q := browse(t, conn)
	_, err = conn.HandleCallback(context.Background(), st, q)
	if !errors.Is(err, idp.ErrUnavailable) || !strings.Contains(err.Error(), "userinfo endpoint did not answer in time") {
		t.Errorf("hanging /me: %v, want ErrUnavailable (did not answer in time)", err)
	}
	if !strings.Contains(logs.String(), "upstream call failed") {
		t.Errorf("the failure is not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "appsecret_proof") || strings.Contains(logs.String(), "EAAG") ||
		strings.Contains(err.Error(), "appsecret_proof") {
		t.Errorf("the log or the error holds the proof or the token:\n%s\n%v", logs.String(), err)
	}
}

func TestFacebookTooLargeAnswer(t *testing.T) {
	fb := newFakeFacebook(t)
	fb.with(func() { fb.meBody = []byte(`{"id":"1","name":"` + strings.Repeat("a", 64<<10) + `"}`) })
	cfg := fb.config()
	cfg.HTTPClient = idp.HTTPClient(nil, 0, 4<<10)
	conn := open(t, cfg)
	st, q := browse(t, conn)
	_, err := conn.HandleCallback(context.Background(), st, q)
	if !errors.Is(err, idp.ErrUnavailable) || !strings.Contains(err.Error(), "too large") {
		t.Errorf("too large /me: %v, want ErrUnavailable (too large)", err)
	}
}

func TestFacebookMissingID(t *testing.T) {
	fb := newFakeFacebook(t)
	fb.with(func() { fb.user = map[string]any{"name": "Nobody", "email": "nobody@example.org"} })
	conn := open(t, fb.config())
	st, q := browse(t, conn)
	if _, err := conn.HandleCallback(context.Background(), st, q); !errors.Is(err, idp.ErrInvalidToken) {
		t.Errorf("no id: %v, want ErrInvalidToken", err)
	}
}

// Facebook's email never counts as verified, whatever the answer says.
func TestFacebookEmailNeverVerified(t *testing.T) {
	id, err := identityOf([]byte(`{"id":"7","email":"a@example.org","email_verified":true,"verified":true}`),
		facebookClaims())
	if err != nil || id.EmailVerified || id.Email != "a@example.org" {
		t.Errorf("identity %+v, %v; want the email, unverified", id, err)
	}
}
