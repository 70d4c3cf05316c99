package main

// A fake OpenID provider for the federated log-in tests (issue 12),
// written here and served by httptest on 127.0.0.1: discovery, JWKS,
// authorization (PKCE S256 required), token (client secret, single-use
// codes, the PKCE verifier checked), userinfo; id_tokens signed with a
// fresh RSA key. Its knobs make the bad inputs of the issue: a tampered
// claim, a corrupted signature, a key not in the JWKS under a known kid, a
// nonce of an earlier log-in, an error answer, a token endpoint that hangs.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// opUser is who logs in at the fake provider.
type opUser struct {
	sub, email, name string
	verified         bool
}

// opGrant is one authorization code's log-in.
type opGrant struct {
	user                          opUser
	nonce, challenge, redirectURI string
}

// fakeOP is the fake OpenID provider. Set its knobs (under mu, through
// the setters) before the step they change.
type fakeOP struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   string
	clientID string
	secret   string
	key      *rsa.PrivateKey
	kid      string
	release  chan struct{}

	mu     sync.Mutex
	user   opUser             // who logs in next
	codes  map[string]opGrant // live codes
	tokens map[string]opUser  // access tokens → person
	nonces []string           // every nonce the authorization endpoint saw
	// tamper changes the next id_tokens' claims.
	tamper func(claims map[string]any)
	// otherKey signs id_tokens with a key that is not in the JWKS (under
	// the JWKS's kid); corrupt flips a byte of the signature.
	otherKey *rsa.PrivateKey
	corrupt  bool
	// deny answers the authorization with error=access_denied.
	deny bool
	// hang makes the token endpoint wait until the caller gives up.
	hang bool
	// exchanges counts the token requests that were answered with tokens.
	exchanges int
}

func newFakeOP(t *testing.T, clientID, secret string) *fakeOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOP{t: t, clientID: clientID, secret: secret, key: key, kid: "op-key-1",
		codes: map[string]opGrant{}, tokens: map[string]opUser{}, release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /jwks", op.jwks)
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	mux.HandleFunc("GET /userinfo", op.userinfo)
	op.srv = httptest.NewServer(mux)
	op.issuer = op.srv.URL
	t.Cleanup(func() {
		close(op.release)
		op.srv.Close()
	})
	return op
}

// set changes the knobs under the lock.
func (op *fakeOP) set(f func(op *fakeOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

// reset puts every knob back and makes u the next person.
func (op *fakeOP) reset(u opUser) {
	op.set(func(op *fakeOP) {
		op.user, op.tamper, op.otherKey, op.corrupt, op.deny, op.hang = u, nil, nil, false, false, false
	})
}

func (op *fakeOP) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         op.issuer,
		"authorization_endpoint":                         op.issuer + "/authorize",
		"token_endpoint":                                 op.issuer + "/token",
		"jwks_uri":                                       op.issuer + "/jwks",
		"userinfo_endpoint":                              op.issuer + "/userinfo",
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"code_challenge_methods_supported":               []string{"S256"},
		"scopes_supported":                               []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post"},
		"authorization_response_iss_parameter_supported": true,
	})
}

func (op *fakeOP) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: op.key.Public(), KeyID: op.kid, Algorithm: string(jose.RS256), Use: "sig"}}})
}

// authorize logs the configured person in at once and sends the browser
// back with a code (or the configured error), state and iss (RFC 9207).
func (op *fakeOP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	if q.Get("client_id") != op.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" ||
		!strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		http.Error(w, "bad authorization request: "+q.Encode(), http.StatusBadRequest)
		return
	}
	op.mu.Lock()
	op.nonces = append(op.nonces, q.Get("nonce"))
	back := url.Values{"state": {q.Get("state")}, "iss": {op.issuer}}
	if op.deny {
		back.Set("error", "access_denied")
		back.Set("error_description", "the person said no")
	} else {
		code := randomString()
		op.codes[code] = opGrant{user: op.user, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri")}
		back.Set("code", code)
	}
	op.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token exchanges a code: client authenticated, code used once, the same
// redirect_uri, and the PKCE verifier matching the challenge.
func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != op.clientID || secret != op.secret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	op.mu.Lock()
	hang := op.hang
	op.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-op.release:
		}
		return
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	code := r.PostForm.Get("code")
	g, ok := op.codes[code]
	delete(op.codes, code)
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code" || !ok:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "unknown or used code"})
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri differs"})
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verifier does not match"})
		return
	}
	access := randomString()
	op.tokens[access] = g.user
	op.exchanges++
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300,
		"id_token": op.idToken(g)})
}

// idToken signs g's id_token, after the knobs (called under mu).
func (op *fakeOP) idToken(g opGrant) string {
	now := time.Now()
	claims := map[string]any{"iss": op.issuer, "sub": g.user.sub, "aud": op.clientID, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "nonce": g.nonce, "name": g.user.name}
	if g.user.email != "" {
		claims["email"], claims["email_verified"] = g.user.email, g.user.verified
	}
	if op.tamper != nil {
		op.tamper(claims)
	}
	key := op.key
	if op.otherKey != nil {
		key = op.otherKey
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: op.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		op.t.Error(err)
		return ""
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		op.t.Error(err)
		return ""
	}
	tok, _ := jws.CompactSerialize()
	if op.corrupt {
		parts := strings.Split(tok, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[len(sig)/2] ^= 0xff
		parts[2] = base64.RawURLEncoding.EncodeToString(sig)
		tok = strings.Join(parts, ".")
	}
	return tok
}

func (op *fakeOP) userinfo(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	u, ok := op.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	op.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	info := map[string]any{"sub": u.sub, "name": u.name}
	if u.email != "" {
		info["email"], info["email_verified"] = u.email, u.verified
	}
	writeJSON(w, http.StatusOK, info)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func randomString() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
