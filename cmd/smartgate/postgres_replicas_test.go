package main

// Replica safety (issue 16): two smartgate processes on one PostgreSQL
// database, as two replicas behind one load balancer (both with the same
// public --http-url, each its own port and --data folder). What one replica
// spends (a refresh token, an authorization code, a client assertion's jti)
// is spent for the other, and a key rotation in the shared database is
// published by both.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/smartgate/smartgate/store/postgres/pgtest"
)

// publicURL is the one public base URL of both replicas (the load
// balancer's): the issuer, and the audience of client assertions.
const publicURL = "http://smartgate.test"

type replicas struct {
	t              *testing.T
	dbURL, dir     string
	baseA, baseB   string
	user, password string // the demo patient's log-in
}

// startReplicas starts replica A (which loads the demo) and replica B on a
// fresh database.
func startReplicas(t *testing.T) *replicas {
	t.Helper()
	r := &replicas{t: t, dbURL: pgtest.URL(t), dir: t.TempDir()}
	args := func(data string) []string {
		return []string{"--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", filepath.Join(r.dir, data),
			"--http-url", publicURL, "--log-level", "warn", "--database", r.dbURL}
	}
	a := start(t, r.dir, adminEnv(), append(args("a"), "--demo")...)
	b := start(t, r.dir, adminEnv(), args("b")...)
	if a.HTTPAddr == "" || b.HTTPAddr == "" || a.HTTPAddr == b.HTTPAddr {
		t.Fatalf("replica addresses %q and %q; stderr:\n%s\n%s", a.HTTPAddr, b.HTTPAddr, a.Stderr(), b.Stderr())
	}
	r.baseA, r.baseB = "http://"+a.HTTPAddr, "http://"+b.HTTPAddr
	login := regexp.MustCompile(`demo log-in \(patient\): user (\S+) password (\S+)`).FindStringSubmatch(a.Stdout())
	if login == nil {
		t.Fatalf("no demo patient log-in in %q", a.Stdout())
	}
	r.user, r.password = login[1], login[2]
	return r
}

// cli runs a smartgate command on the replicas' database.
func (r *replicas) cli(stdin string, args ...string) string {
	r.t.Helper()
	out, errOut, code := runInProcess(r.t, filepath.Join(r.dir, "cli"), stdin, append(args, "--database", r.dbURL)...)
	if code != 0 {
		r.t.Fatalf("smartgate %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// addClient registers a client with `smartgate client add` and returns its id.
func (r *replicas) addClient(args ...string) string {
	r.t.Helper()
	out := r.cli("", append([]string{"client", "add"}, args...)...)
	m := clientIDLine.FindStringSubmatch(out)
	if m == nil {
		r.t.Fatalf("no client_id in %q", out)
	}
	return m[1]
}

// tokenPost posts form to base's token endpoint and returns the status and
// the JSON answer.
func tokenPost(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("token endpoint of %s: %d %q", base, resp.StatusCode, body)
	}
	return resp.StatusCode, m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// oauthErr is a token answer's error and description (not its tokens), for
// failure messages.
func oauthErr(m map[string]any) string {
	if str(m, "error") == "" {
		return "no error (tokens issued)"
	}
	return str(m, "error") + ": " + str(m, "error_description")
}

func statusOf(r *http.Response) string {
	if r == nil {
		return "no answer"
	}
	return r.Status
}

// replicaRedirect is the redirect URI of the public test app.
const replicaRedirect = "http://127.0.0.1:9/callback"

// authorizationCode runs the authorization code flow (public client, PKCE
// S256) for the demo patient through the real pages of the replica at
// base, and returns the code (not yet redeemed) and the PKCE verifier.
// Absolute redirects name the public URL; they are followed on base.
func (r *replicas) authorizationCode(base, clientID, scope string) (code, verifier string) {
	t := r.t
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	state := fmt.Sprintf("state-%d", time.Now().UnixNano())
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {replicaRedirect},
		"scope": {scope}, "state": {state}, "aud": {publicURL + "/fhir"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	onBase := func(u *url.URL) string {
		return base + u.RequestURI()
	}
	var resp *http.Response
	var body []byte
	send := func(method, u string, f url.Values) {
		t.Helper()
		var err error
		if method == "GET" {
			resp, err = c.Get(u)
		} else {
			resp, err = c.PostForm(u, f)
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	send("GET", base+"/oauth/authorize?"+q.Encode(), nil)
	rePatient := regexp.MustCompile(`name="patient" value="([^"]+)"`)
	for step := 0; step < 12; step++ {
		page := string(body)
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(loc.String(), replicaRedirect) {
				if loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
					t.Fatalf("authorization answer %s", loc)
				}
				return loc.Query().Get("code"), verifier
			}
			send("GET", onBase(loc), nil)
		case resp.StatusCode == http.StatusOK && strings.Contains(page, `action="/login"`):
			send("POST", base+"/login", url.Values{"csrf_token": {field(reCSRF, body)}, "return_to": {field(reReturnTo, body)},
				"username": {r.user}, "password": {r.password}})
		case resp.StatusCode == http.StatusOK && strings.Contains(page, `action="/pick-patient"`):
			m := rePatient.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("patient picker without a patient: %.400s", page)
			}
			send("POST", base+"/pick-patient", url.Values{"csrf_token": {field(reCSRF, body)}, "req": {field(reReq, body)}, "patient": {m[1]}})
		case resp.StatusCode == http.StatusOK && strings.Contains(page, `action="/consent"`):
			f := url.Values{"csrf_token": {field(reCSRF, body)}, "req": {field(reReq, body)}, "rev": {field(reRev, body)}, "decision": {"approve"}}
			for _, m := range reScope.FindAllSubmatch(body, -1) {
				f.Add("scope", string(m[1]))
			}
			send("POST", base+"/consent", f)
		default:
			t.Fatalf("authorization flow: unexpected answer %d: %.400s", resp.StatusCode, body)
		}
	}
	t.Fatal("the authorization flow did not finish")
	return "", ""
}

// publicApp registers the public test app (authorization code with PKCE,
// and refresh tokens).
func (r *replicas) publicApp() string {
	return r.addClient("--public", "--name", "Replica test app", "--redirect-uri", replicaRedirect,
		"--grant-types", "authorization_code,refresh_token",
		"--scope", "openid fhirUser launch/patient patient/*.rs offline_access")
}

const appScope = "openid fhirUser launch/patient patient/*.rs offline_access"

// TestPostgresReplicaRefreshRotation: refresh tokens rotate across
// replicas, and reuse is detected across them. A's refresh token is
// refreshed on B (B sees A's grant); the successor is refreshed on A
// (rotates); the superseded one presented to B is refused (invalid_grant);
// and that reuse revokes the family: A then refuses the newest token it had
// issued itself.
func TestPostgresReplicaRefreshRotation(t *testing.T) {
	r := startReplicas(t)
	app := r.publicApp()
	code, verifier := r.authorizationCode(r.baseA, app, appScope)
	status, tok := tokenPost(t, r.baseA, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {replicaRedirect}, "client_id": {app}, "code_verifier": {verifier}})
	rt0 := str(tok, "refresh_token")
	if status != http.StatusOK || rt0 == "" {
		t.Fatalf("code on A: %d, error %q, scope %q: no refresh token", status, str(tok, "error"), str(tok, "scope"))
	}
	refresh := func(base, rt string) (int, map[string]any) {
		t.Helper()
		return tokenPost(t, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app}})
	}
	status, tok = refresh(r.baseB, rt0)
	rt1 := str(tok, "refresh_token")
	if status != http.StatusOK || rt1 == "" || rt1 == rt0 || str(tok, "access_token") == "" {
		t.Fatalf("A's refresh token on B: %d %s (want a new refresh token)", status, oauthErr(tok))
	}
	status, tok = refresh(r.baseA, rt1)
	rt2 := str(tok, "refresh_token")
	if status != http.StatusOK || rt2 == "" || rt2 == rt1 || str(tok, "access_token") == "" {
		t.Fatalf("B's refresh token on A: %d %s (want a new refresh token)", status, oauthErr(tok))
	}
	if status, tok = refresh(r.baseB, rt1); status != http.StatusBadRequest || str(tok, "error") != "invalid_grant" {
		t.Fatalf("the refresh token A rotated, on B: %d %s, want 400 invalid_grant", status, oauthErr(tok))
	}
	if status, tok = refresh(r.baseA, rt2); status != http.StatusBadRequest || str(tok, "error") != "invalid_grant" {
		t.Fatalf("A's newest refresh token after the reuse on B: %d %s, want 400 invalid_grant (the family revoked)", status, oauthErr(tok))
	}
}

// TestPostgresReplicaCodeSingleUse: an authorization code redeemed on
// replica A is refused on replica B (invalid_grant), and that reuse revokes
// what A issued for the code: its refresh token is refused on A and its
// access token on B's FHIR endpoint. A fresh code issued on A is redeemed
// on B (so B's refusal is the code's reuse, not a code of another replica).
func TestPostgresReplicaCodeSingleUse(t *testing.T) {
	r := startReplicas(t)
	app := r.publicApp()
	client := &http.Client{Timeout: 10 * time.Second}
	redeem := func(base, code, verifier string) (int, map[string]any) {
		t.Helper()
		return tokenPost(t, base, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {replicaRedirect}, "client_id": {app}, "code_verifier": {verifier}})
	}
	code, verifier := r.authorizationCode(r.baseA, app, appScope)
	status, tok := redeem(r.baseA, code, verifier)
	access, rt, patient := str(tok, "access_token"), str(tok, "refresh_token"), str(tok, "patient")
	if status != http.StatusOK || access == "" || rt == "" || patient == "" {
		t.Fatalf("code on A: %d %s", status, oauthErr(tok))
	}
	if resp, body := fhirDo(t, client, "GET", r.baseA+"/fhir/Patient/"+patient, access, nil); resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the code's access token on A: %s %.200s", statusOf(resp), body)
	}
	if status, tok := redeem(r.baseB, code, verifier); status != http.StatusBadRequest || str(tok, "error") != "invalid_grant" {
		t.Fatalf("the redeemed code on B: %d %s, want 400 invalid_grant", status, oauthErr(tok))
	}
	if status, tok := tokenPost(t, r.baseA, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app}}); status != http.StatusBadRequest || str(tok, "error") != "invalid_grant" {
		t.Fatalf("the code's refresh token on A after the reuse on B: %d %s, want 400 invalid_grant", status, oauthErr(tok))
	}
	if resp, body := fhirDo(t, client, "GET", r.baseB+"/fhir/Patient/"+patient, access, nil); resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the code's access token on B after the reuse: %s %.200s, want 401", statusOf(resp), body)
	}
	code, verifier = r.authorizationCode(r.baseA, app, appScope)
	if status, tok := redeem(r.baseB, code, verifier); status != http.StatusOK || str(tok, "access_token") == "" {
		t.Fatalf("a fresh code of A on B: %d %s", status, oauthErr(tok))
	}
}

// TestPostgresReplicaAssertionReplay: a private_key_jwt client assertion
// accepted on replica A is refused on replica B (its jti is spent in the
// shared database); a fresh assertion is accepted on B.
func TestPostgresReplicaAssertionReplay(t *testing.T) {
	r := startReplicas(t)
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: string(jose.ES384), Use: "sig"}}})
	jwks := filepath.Join(r.dir, "jwks.json")
	if err := os.WriteFile(jwks, set, 0o600); err != nil {
		t.Fatal(err)
	}
	backend := r.addClient("--name", "Replica backend", "--grant-types", "client_credentials", "--auth-method", "private_key_jwt",
		"--jwks-file", jwks, "--scope", "system/*.rs")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(jti string) string {
		a, err := josejwt.Signed(signer).Claims(josejwt.Claims{Issuer: backend, Subject: backend,
			Audience: josejwt.Audience{publicURL + "/oauth/token"}, ID: jti,
			Expiry: josejwt.NewNumericDate(time.Now().Add(4 * time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	grant := func(base, a string) (int, map[string]any) {
		t.Helper()
		return tokenPost(t, base, url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	}
	first := assertion("replica-1")
	if status, tok := grant(r.baseA, first); status != http.StatusOK || str(tok, "access_token") == "" {
		t.Fatalf("the assertion on A: %d %s", status, oauthErr(tok))
	}
	if status, tok := grant(r.baseB, first); status != http.StatusUnauthorized && status != http.StatusBadRequest || str(tok, "error") != "invalid_client" {
		t.Fatalf("the same assertion on B: %d %s, want invalid_client", status, oauthErr(tok))
	} else if d := str(tok, "error_description"); !strings.Contains(d, "jti") {
		t.Fatalf("the same assertion on B refused for another reason: %q", d)
	}
	if status, tok := grant(r.baseB, assertion("replica-2")); status != http.StatusOK || str(tok, "access_token") == "" {
		t.Fatalf("a fresh assertion on B: %d %s", status, oauthErr(tok))
	}
}

// keyReload is how long a replica may go on publishing its cached key set
// after another replica rotated the keys: authz's keyring reloads the
// signing keys from the store at most every minute (keyring.reloadEvery in
// authz/server.go). The test polls for that bound plus a margin.
const keyReload = time.Minute

// TestPostgresReplicaKeyRotation: after `smartgate keys rotate` on the
// shared database (with replica B's key set loaded before), B's
// /oauth/jwks lists the new keys within keyReload (plus 45 s of margin
// for a busy CI machine), and so does A's.
func TestPostgresReplicaKeyRotation(t *testing.T) {
	r := startReplicas(t)
	kids := func(base string) []string {
		t.Helper()
		resp, err := http.Get(base + "/oauth/jwks")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s/oauth/jwks: %d %v", base, resp.StatusCode, err)
		}
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.KeyID)
		}
		slices.Sort(out)
		return out
	}
	before := kids(r.baseB)
	if len(before) == 0 || !slices.Equal(before, kids(r.baseA)) {
		t.Fatalf("key sets before the rotation: A %v, B %v", kids(r.baseA), before)
	}
	r.cli("", "keys", "rotate")
	rotated := time.Now()
	deadline := rotated.Add(keyReload + 45*time.Second)
	for _, base := range []string{r.baseB, r.baseA} {
		for {
			now := kids(base)
			var added []string
			for _, k := range now {
				if !slices.Contains(before, k) {
					added = append(added, k)
				}
			}
			if len(added) >= 2 { // a new access-token key and a new id_token key
				t.Logf("%s publishes %v %v after the rotation", base, added, time.Since(rotated).Round(time.Second))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s/oauth/jwks after the rotation: %v (before %v): no new keys within %v", base, now, before, keyReload+15*time.Second)
			}
			time.Sleep(time.Second)
		}
	}
}
