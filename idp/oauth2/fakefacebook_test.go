package oauth2

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeFacebook serves Facebook Login's protocol shape on 127.0.0.1, as
// Facebook documents it for a manually built log-in flow:
//
//   - GET /v25.0/dialog/oauth: the log-in dialog; the person "logs in" at
//     once and the browser is sent to redirect_uri with a code and the
//     state (or, with deny, with error=access_denied, error_code,
//     error_description and error_reason=user_denied);
//   - POST /v25.0/oauth/access_token (Graph): client_id and client_secret
//     in the form, the code once, the same redirect_uri, and a
//     code_verifier whose S256 is the dialog's code_challenge; answers
//     {"access_token","token_type":"bearer","expires_in"}; refusals are
//     Graph error objects;
//   - GET /v25.0/me (Graph): the bearer token it issued, fields=id,name,email
//     and appsecret_proof = hex(HMAC-SHA256(app secret, token)), else a
//     Graph error (code 100 for a bad proof).
type fakeFacebook struct {
	srv       *httptest.Server
	quit      chan struct{} // closed when the test ends
	appID     string
	appSecret string

	mu     sync.Mutex
	user   map[string]any // the person /me describes
	deny   bool           // the dialog answers access_denied
	hang   bool           // the token endpoint never answers
	hangMe bool           // /me never answers
	meBody []byte         // when set, /me answers this instead
	codes  map[string]fbGrant
	tokens map[string]bool
	// counts of what happened
	tokenCalls, meCalls, proofRefused int
}

type fbGrant struct{ challenge, redirectURI string }

func newFakeFacebook(t *testing.T) *fakeFacebook {
	t.Helper()
	fb := &fakeFacebook{appID: "1234567890", appSecret: "the-app-secret",
		user:  map[string]any{"id": "10158000000000001", "name": "Ann Example", "email": "ann@example.org"},
		codes: map[string]fbGrant{}, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v25.0/dialog/oauth", fb.dialog)
	mux.HandleFunc("POST /v25.0/oauth/access_token", fb.token)
	mux.HandleFunc("GET /v25.0/me", fb.me)
	fb.srv = httptest.NewServer(mux)
	t.Cleanup(fb.srv.Close)
	fb.quit = make(chan struct{})
	t.Cleanup(func() { close(fb.quit) }) // before Close, which waits for the handlers
	return fb
}

// config is the facebook preset pointed at the fake.
func (fb *fakeFacebook) config() Config {
	return Config{Preset: PresetFacebook, ClientID: fb.appID, ClientSecret: fb.appSecret,
		AuthURL: fb.srv.URL + "/v25.0/dialog/oauth", TokenURL: fb.srv.URL + "/v25.0/oauth/access_token",
		UserInfoURL: fb.srv.URL + "/v25.0/me"}
}

func (fb *fakeFacebook) dialog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() || q.Get("client_id") != fb.appID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		http.Error(w, "bad dialog request", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	fb.mu.Lock()
	if fb.deny {
		back.Set("error", "access_denied")
		back.Set("error_code", "200")
		back.Set("error_description", "Permissions error")
		back.Set("error_reason", "user_denied")
	} else {
		code := fbRandom()
		fb.codes[code] = fbGrant{challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri")}
		back.Set("code", code)
	}
	fb.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (fb *fakeFacebook) token(w http.ResponseWriter, r *http.Request) {
	fb.mu.Lock()
	fb.tokenCalls++
	hang := fb.hang
	fb.mu.Unlock()
	if hang {
		r.ParseForm() // a server notices a client gone only once the body is read
		select {
		case <-r.Context().Done(): // the client gave up
		case <-fb.quit:
		}
		return
	}
	if r.ParseForm() != nil || r.PostForm.Get("client_id") != fb.appID || r.PostForm.Get("client_secret") != fb.appSecret {
		graphError(w, http.StatusBadRequest, "OAuthException", 1, "Error validating client secret.")
		return
	}
	fb.mu.Lock()
	g, ok := fb.codes[r.PostForm.Get("code")]
	delete(fb.codes, r.PostForm.Get("code"))
	fb.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !ok:
		graphError(w, http.StatusBadRequest, "OAuthException", 100, "This authorization code has been used.")
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		graphError(w, http.StatusBadRequest, "OAuthException", 100,
			"Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request")
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		graphError(w, http.StatusBadRequest, "OAuthException", 100, "Invalid code verifier")
	default:
		tok := "EAAG" + fbRandom()
		fb.mu.Lock()
		fb.tokens[tok] = true
		fb.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 5183944})
	}
}

func (fb *fakeFacebook) me(w http.ResponseWriter, r *http.Request) {
	fb.mu.Lock()
	hang := fb.hangMe
	fb.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-fb.quit:
		}
		return
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.meCalls++
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !fb.tokens[tok] {
		graphError(w, http.StatusBadRequest, "OAuthException", 190, "Invalid OAuth access token - Cannot parse access token")
		return
	}
	m := hmac.New(sha256.New, []byte(fb.appSecret))
	m.Write([]byte(tok))
	proof, err := hex.DecodeString(r.URL.Query().Get("appsecret_proof"))
	if err != nil || !hmac.Equal(proof, m.Sum(nil)) {
		fb.proofRefused++
		graphError(w, http.StatusBadRequest, "GraphMethodException", 100, "Invalid appsecret_proof provided in the API argument")
		return
	}
	if f := r.URL.Query().Get("fields"); f != "id,name,email" {
		graphError(w, http.StatusBadRequest, "OAuthException", 100, "unexpected fields "+f)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if fb.meBody != nil {
		w.Write(fb.meBody)
		return
	}
	json.NewEncoder(w).Encode(fb.user)
}

// with changes the fake's behaviour (under its lock).
func (fb *fakeFacebook) with(change func()) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	change()
}

// issue makes tok a token the fake accepts at /me.
func (fb *fakeFacebook) issue(tok string) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.tokens[tok] = true
}

func (fb *fakeFacebook) counts() (tokenCalls, meCalls, proofRefused int) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.tokenCalls, fb.meCalls, fb.proofRefused
}

func graphError(w http.ResponseWriter, status int, typ string, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code,
		"fbtrace_id": "AbCdEf"}})
}

func fbRandom() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
