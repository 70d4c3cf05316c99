package micro

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	fjwt "github.com/ory/fosite/token/jwt"
	"golang.org/x/crypto/argon2"
)

// claims is a typical access token's payload (about 400 bytes of JSON).
func claims() map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss":       "https://smartgate.example.org",
		"sub":       "bench",
		"aud":       []string{"https://smartgate.example.org/fhir"},
		"client_id": "bench",
		"exp":       now + 3600,
		"iat":       now,
		"nbf":       now,
		"jti":       "3f9c0c43-4f5e-4c1a-9a8e-0d6f1f0e6c11",
		"scope":     "system/*.rs system/Patient.rs system/Observation.rs launch/patient",
		"patient":   "9afe28dc-7ad5-4e90-b6a6-16123eae98c3",
		"fhirUser":  "Practitioner/e34619ed-fc04-401f-a94c-1cf43395f4b3",
	}
}

func es256Key(b *testing.B) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func signES256(b *testing.B, k *ecdsa.PrivateKey) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := json.Marshal(claims())
	jws, err := s.Sign(payload)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// BenchmarkES256Sign: go-jose v4, claims marshalled and signed per op.
func BenchmarkES256Sign(b *testing.B) {
	k := es256Key(b)
	for b.Loop() {
		signES256(b, k)
	}
}

// BenchmarkES256Verify: parse, verify and decode the claims.
func BenchmarkES256Verify(b *testing.B) {
	k := es256Key(b)
	tok := signES256(b, k)
	for b.Loop() {
		obj, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			b.Fatal(err)
		}
		payload, err := obj.Verify(&k.PublicKey)
		if err != nil {
			b.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFositeES256Generate: fosite v0.49.0's JWT signer, as the floor
// server uses it.
func BenchmarkFositeES256Generate(b *testing.B) {
	k := es256Key(b)
	s := &fjwt.DefaultSigner{GetPrivateKey: func(context.Context) (any, error) { return k, nil }}
	ctx := context.Background()
	hdr := &fjwt.Headers{Extra: map[string]any{"typ": "at+jwt"}}
	for b.Loop() {
		if _, _, err := s.Generate(ctx, fjwt.MapClaims(claims()), hdr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFositeES256Validate: fosite's signature check of that token.
func BenchmarkFositeES256Validate(b *testing.B) {
	k := es256Key(b)
	s := &fjwt.DefaultSigner{GetPrivateKey: func(context.Context) (any, error) { return k, nil }}
	ctx := context.Background()
	tok, _, err := s.Generate(ctx, fjwt.MapClaims(claims()), &fjwt.Headers{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Validate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256SecretCheck: smartgate's client-secret check, SHA-256 of
// the presented 256-bit secret compared in constant time with the stored
// hash.
func BenchmarkSHA256SecretCheck(b *testing.B) {
	secret := []byte("hT3t3M5h2bQ0m1Yk9c8p7rVZ6xW5uA4sD3fG2hJ1kL0") // 43 chars, base64url of 32 bytes
	stored := sha256.Sum256(secret)
	for b.Loop() {
		got := sha256.Sum256(secret)
		if subtle.ConstantTimeCompare(got[:], stored[:]) != 1 {
			b.Fatal("mismatch")
		}
	}
}

// BenchmarkArgon2idVerify: one password verify at m=19 MiB, t=2, p=1 (OWASP
// minimum, smartgate's parameters). cores / this time = the OWin ceiling.
func BenchmarkArgon2idVerify(b *testing.B) {
	salt := []byte("0123456789abcdef")
	pw := []byte("correct horse battery staple")
	stored := argon2.IDKey(pw, salt, 2, 19*1024, 1, 32)
	for b.Loop() {
		got := argon2.IDKey(pw, salt, 2, 19*1024, 1, 32)
		if subtle.ConstantTimeCompare(got, stored) != 1 {
			b.Fatal("mismatch")
		}
	}
}
