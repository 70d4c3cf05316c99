package securetest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

var b64 = base64.RawURLEncoding

func rsaJWK(pub *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64.EncodeToString(pub.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
}

// jwt encodes header and claims and signs them with sign (nil: no
// signature, as alg "none" has).
func jwt(header, claims map[string]any, sign func(input []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sig := []byte{}
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64.EncodeToString(sig)
}

func rs256(key *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		sum := sha256.Sum256(in)
		sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		return sig
	}
}

func hs256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

// claimsOf decodes a JWT's payload.
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact serialization: %.40s…", token)
	}
	raw, err := b64.DecodeString(parts[1])
	var m map[string]any
	if err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("JWT payload does not decode")
	}
	return m
}

// serverRSAKey is the first RSA signing key of the server's JWKS, with its kid.
func serverRSAKey(t *testing.T, jwks map[string]any) (*rsa.PublicKey, string) {
	t.Helper()
	keys, _ := jwks["keys"].([]any)
	for _, k := range keys {
		m, _ := k.(map[string]any)
		if m["kty"] != "RSA" {
			continue
		}
		n, err1 := b64.DecodeString(m["n"].(string))
		e, err2 := b64.DecodeString(m["e"].(string))
		if err1 != nil || err2 != nil {
			continue
		}
		kid, _ := m["kid"].(string)
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, kid
	}
	t.Fatalf("no RSA key in the server's JWKS: %v", jwks)
	return nil, ""
}

// badIDTokens are the ID tokens that must never name a user (issue 13's
// bad input): each claims to be this server's ID token for the patient
// user, issued to the certificate's client.
func badIDTokens(t *testing.T, s *server, clientID string) map[string]string {
	t.Helper()
	issuer, jwks := s.serverKeys(t)
	pub, kid := serverRSAKey(t, jwks)
	now := time.Now()
	claims := func() map[string]any {
		return map[string]any{"iss": issuer, "sub": s.UserID, "aud": clientID,
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "nonce": "n-0123456789"}
	}
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	spkiPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
	jwkJSON, _ := json.Marshal(rsaJWK(pub, kid))

	out := map[string]string{
		"alg none": jwt(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claims(), nil),
		"alg None": jwt(map[string]any{"alg": "None", "typ": "JWT"}, claims(), nil),
		// Algorithm confusion: HS256 with the server's public key as the
		// HMAC secret, in the encodings libraries have been fooled by.
		"HS256 with the public key (PEM SPKI)":  jwt(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims(), hs256(spkiPEM)),
		"HS256 with the public key (PEM PKCS1)": jwt(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims(), hs256(pkcs1PEM)),
		"HS256 with the public key (DER)":       jwt(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims(), hs256(spki)),
		"HS256 with the public key (JWK)":       jwt(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims(), hs256(jwkJSON)),
		// Signed by someone else under the server's kid.
		"bad signature": jwt(map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, claims(), rs256(attacker)),
	}
	// A foreign issuer: a provider nobody configured, signing with its own
	// key (its JWKS is nowhere the server would look).
	foreign := claims()
	foreign["iss"] = "https://idp.attacker.example"
	out["foreign issuer"] = jwt(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "attacker-1"}, foreign, rs256(attacker))
	// A trusted issuer's genuinely signed token, expired (beyond any leeway).
	e := externalIssuer(t)
	expired := map[string]any{"iss": e.issuer, "sub": "ext-subject-1", "aud": clientID,
		"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}
	out["expired (trusted issuer)"] = jwt(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "ext-1"}, expired, rs256(e.key))
	// The same issuer, not yet valid (nbf an hour ahead).
	early := map[string]any{"iss": e.issuer, "sub": "ext-subject-1", "aud": clientID,
		"iat": now.Unix(), "nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}
	out["not yet valid (trusted issuer)"] = jwt(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "ext-1"}, early, rs256(e.key))
	// Right signature, wrong audience: issued to some other client.
	other := map[string]any{"iss": e.issuer, "sub": "ext-subject-1", "aud": "some-other-client",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	out["audience of another client (trusted issuer)"] = jwt(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "ext-1"}, other, rs256(e.key))
	return out
}

// tamperedSignature is a real token with one signature byte changed.
func tamperedSignature(token string) string {
	i := strings.LastIndexByte(token, '.')
	sig, err := b64.DecodeString(token[i+1:])
	if err != nil || len(sig) == 0 {
		return token + "x"
	}
	sig[len(sig)/2] ^= 0x5a
	return token[:i+1] + b64.EncodeToString(sig)
}
