package authz_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
)

// ccClient registers a client_credentials client (client_secret_basic).
func (e *env) ccClient(name string) (*authz.Client, string) {
	e.t.Helper()
	return e.createClient(authz.NewClient{Name: name, GrantTypes: []string{"client_credentials"}, Scopes: []string{"system/*.rs"}, AllowSystemScopes: true})
}

// ccToken gets a client_credentials access token for c.
func (e *env) ccToken(c *authz.Client, secret string) string {
	e.t.Helper()
	resp, m := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}, c.ID, secret)
	if resp.StatusCode != 200 {
		e.t.Fatalf("client_credentials: %d %v", resp.StatusCode, m)
	}
	return m["access_token"].(string)
}

func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) storedTokens(clientID string) int {
	e.t.Helper()
	n, err := e.db.CountTokens(context.Background(), clientID)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestI6_V1_V2_V4_StatelessClientCredentialsToken: a client_credentials access
// token is a signed JWT with no stored record; introspection answers for it
// as for a stored one, and RFC 7009 revocation makes it inactive for
// introspection and for the resource server (VerifyAccessToken).
func TestI6_V1_V2_V4_StatelessClientCredentialsToken(t *testing.T) {
	e := newEnv(t)
	rs, secret := e.ccClient("backend")
	tok := e.ccToken(rs, secret)
	if n := e.storedTokens(rs.ID); n != 0 {
		t.Fatalf("%d oauth_tokens rows for a client_credentials token, want none", n)
	}
	claims := jwtPart(t, tok, 1)
	if jti, _ := claims["jti"].(string); !strings.HasPrefix(jti, "cc.") {
		t.Fatalf("jti %q lacks the stateless mark", jti)
	}
	in := e.introspect(tok)
	if in["active"] != true || in["client_id"] != rs.ID || in["sub"] != rs.ID || in["scope"] != "system/*.rs" ||
		in["token_type"] != "Bearer" || in["iss"] != e.base || in["exp"] != claims["exp"] || in["iat"] != claims["iat"] {
		t.Fatalf("introspection %v (token claims %v)", in, claims)
	}
	if aud, _ := in["aud"].([]any); len(aud) != 2 || aud[0] != e.fhir {
		t.Fatalf("introspection aud %v", in["aud"])
	}
	ti, err := e.as.VerifyAccessToken(context.Background(), tok)
	if err != nil || ti.Grant != "client_credentials" || ti.Subject != rs.ID || ti.ClientID != rs.ID ||
		!slices.Equal(ti.Scopes, []string{"system/*.rs"}) || !slices.Contains(ti.Audience, e.fhir) ||
		ti.ExpiresAt.Unix() != int64(claims["exp"].(float64)) {
		t.Fatalf("VerifyAccessToken = %+v, %v", ti, err)
	}

	// V4: another client may not revoke it (and does not). fosite answers
	// such a request 200 (as for a stored token); the audit records the
	// refusal.
	other, osecret := e.ccClient("other")
	resp, _ := e.postForm("/oauth/revoke", url.Values{"token": {tok}}, other.ID, osecret)
	if resp.StatusCode >= 500 {
		t.Fatalf("another client's revocation: %d", resp.StatusCode)
	}
	if in := e.introspect(tok); in["active"] != true {
		t.Fatalf("another client revoked the token: %v", in)
	}
	evs, _ := e.db.AuditEvents(context.Background(), audit.Filter{Kind: "revoke"})
	if len(evs) != 1 || evs[0].ClientID != other.ID || evs[0].Outcome != audit.Failure {
		t.Fatalf("audit of another client's revocation: %+v", evs)
	}
	// V2: garbage and a truncated token are 200.
	for _, g := range []string{"garbage", tok[:len(tok)-4]} {
		if resp, _ := e.postForm("/oauth/revoke", url.Values{"token": {g}}, rs.ID, secret); resp.StatusCode != 200 {
			t.Fatalf("revoke %q: %d", g, resp.StatusCode)
		}
	}

	// V1: the owner revokes it.
	resp, m := e.postForm("/oauth/revoke", url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, rs.ID, secret)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %v", resp.StatusCode, m)
	}
	if in := e.introspect(tok); len(in) != 1 || in["active"] != false {
		t.Fatalf("revoked token introspects as %v", in)
	}
	if _, err := e.as.VerifyAccessToken(context.Background(), tok); err != authz.ErrInactiveToken {
		t.Fatalf("VerifyAccessToken(revoked) = %v", err)
	}
	// Revoking again is still 200 (RFC 7009 §2.2).
	if resp, _ := e.postForm("/oauth/revoke", url.Values{"token": {tok}}, rs.ID, secret); resp.StatusCode != 200 {
		t.Fatalf("second revocation: %d", resp.StatusCode)
	}
	// A new token of the same client is unaffected.
	if in := e.introspect(e.ccToken(rs, secret)); in["active"] != true {
		t.Fatalf("fresh token after revocation: %v", in)
	}
}

// TestI8_StatelessTokenExpiresAndListIsCleaned: an expired stateless token
// is inactive, and its revocation entry is dropped by maintenance.
func TestI8_StatelessTokenExpiresAndListIsCleaned(t *testing.T) {
	e := newEnv(t)
	rs, secret := e.ccClient("backend")
	tok := e.ccToken(rs, secret)
	if resp, _ := e.postForm("/oauth/revoke", url.Values{"token": {tok}}, rs.ID, secret); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	live := e.ccToken(rs, secret)
	e.clock.Advance(time.Hour)
	for _, tk := range []string{tok, live} {
		if in := e.introspect(tk); in["active"] != false {
			t.Fatalf("expired token: %v", in)
		}
	}
	count := func() int {
		n, err := e.db.CountRevokedAccessJTIs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 1 {
		t.Fatalf("%d revocation entries, want 1", count())
	}
	e.clock.Advance(25 * time.Hour)
	if err := e.as.MaintainOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d revocation entries left after expiry + 24h", n)
	}
}

// TestI8_StatelessTokenFollowsClient: the live client check. A disabled or
// deleted client's tokens are inactive, and so are they after the client id
// is deleted and registered again.
func TestI8_StatelessTokenFollowsClient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	rs, secret := e.ccClient("backend")
	tok := e.ccToken(rs, secret)

	// Changes go through the server's client cache, as the pages' do.
	clients := e.as.Clients()
	c, err := clients.GetClient(ctx, rs.ID)
	if err != nil {
		t.Fatal(err)
	}
	setDisabled := func(d bool) {
		t.Helper()
		if err := clients.UpdateClient(ctx, rs.ID, func(old authz.Client) (authz.Client, error) {
			old.Disabled = d
			return old, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled(true)
	if in := e.introspect(tok); in["active"] != false {
		t.Fatalf("token of a disabled client: %v", in)
	}
	setDisabled(false)
	if in := e.introspect(tok); in["active"] != true {
		t.Fatalf("token of a re-enabled client: %v", in)
	}

	if err := clients.DeleteClient(ctx, rs.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if in := e.introspect(tok); in["active"] != false {
		t.Fatalf("token of a deleted client: %v", in)
	}
	if _, err := e.as.VerifyAccessToken(ctx, tok); err != authz.ErrInactiveToken {
		t.Fatalf("VerifyAccessToken(deleted client) = %v", err)
	}
	// Same id registered again, later: the old token does not come back.
	iat := time.Unix(int64(jwtPart(t, tok, 1)["iat"].(float64)), 0)
	c.CreatedAt = iat.Add(time.Second)
	if err := clients.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if in := e.introspect(tok); in["active"] != false {
		t.Fatalf("old token of a re-created client id: %v", in)
	}
}

// TestI5_ForgedStatelessTokenIsInactive: the same claims with the stateless
// mark, signed with a key that is not ours (under our kid, or another), are
// inactive and cannot be revoked into the list.
func TestI5_ForgedStatelessTokenIsInactive(t *testing.T) {
	e := newEnv(t)
	rs, secret := e.ccClient("backend")
	tok := e.ccToken(rs, secret)
	hdr, claims := jwtPart(t, tok, 0), jwtPart(t, tok, 1)
	claims["jti"] = "cc.forged"
	payload, _ := json.Marshal(claims)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{hdr["kid"].(string), "foreign"} {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
			(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		forged, _ := jws.CompactSerialize()
		if in := e.introspect(forged); in["active"] != false {
			t.Fatalf("forged token (kid %s): %v", kid, in)
		}
		if _, err := e.as.VerifyAccessToken(context.Background(), forged); err != authz.ErrInactiveToken {
			t.Fatalf("VerifyAccessToken(forged) = %v", err)
		}
		if resp, _ := e.postForm("/oauth/revoke", url.Values{"token": {forged}}, rs.ID, secret); resp.StatusCode != 200 {
			t.Fatalf("revoke forged: %d", resp.StatusCode)
		}
	}
	if n, err := e.db.CountRevokedAccessJTIs(context.Background()); err != nil || n != 0 {
		t.Fatalf("revocation entries after forged revocations: %d, %v", n, err)
	}
	if in := e.introspect(tok); in["active"] != true {
		t.Fatalf("genuine token: %v", in)
	}
}
