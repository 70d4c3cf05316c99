package rs_test

import (
	"context"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkJWKSVerify: one access token verified with cached keys.
func BenchmarkJWKSVerify(b *testing.B) {
	is := newIssuer(b)
	v := newJWKS(b, is, nil)
	tok := is.sign(is.claims(testAudience), nil)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorES256Verify: the floor of BenchmarkJWKSVerify: go-jose
// parses and verifies the same token with the key in hand and decodes its
// claims into a map, nothing checked.
func BenchmarkFloorES256Verify(b *testing.B) {
	is := newIssuer(b)
	tok := is.sign(is.claims(testAudience), nil)
	key := is.key.Public()
	b.ReportAllocs()
	for b.Loop() {
		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			b.Fatal(err)
		}
		payload, err := jws.Verify(key)
		if err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			b.Fatal(err)
		}
	}
}
