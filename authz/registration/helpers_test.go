package registration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz/registration"
)

// testKeys are freshly generated keys for one test.
type testKeys struct {
	rsa2048 *rsa.PrivateKey
	rsa1024 *rsa.PrivateKey
	p256    *ecdsa.PrivateKey
	p384    *ecdsa.PrivateKey
}

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	r2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{rsa2048: r2048, rsa1024: r1024, p256: p256, p384: p384}
}

// jwk returns key as a JWK JSON object (a map, so that a test can add,
// change or remove members).
func jwk(t testing.TB, key any, kid, alg string) map[string]any {
	t.Helper()
	b, err := jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jwks returns a JWK Set document with the given keys.
func jwks(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// with returns a copy of m with the given members set (nil value: removed).
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// wantCode fails unless err is a *registration.Error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var re *registration.Error
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want *registration.Error %s", err, code)
	}
	if re.Code != code {
		t.Fatalf("error code = %s (%s), want %s", re.Code, re.Description, code)
	}
	if re.Description == "" {
		t.Fatalf("error %s has no description", re.Code)
	}
}

// admin is the policy of an administrator's registration.
func admin() registration.Policy {
	return registration.Policy{AnyScope: true, AllowConfidential: true}
}
